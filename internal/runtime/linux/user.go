package linux

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// HomeDir returns the home directory of uid from an /etc/passwd file, or
// "/" when the file or the entry is missing (as runc does for HOME).
func HomeDir(passwd string, uid uint32) string {
	f, err := os.Open(passwd)
	if err != nil {
		return "/"
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	want := strconv.FormatUint(uint64(uid), 10)
	for s.Scan() {
		// name:pw:uid:gid:gecos:home:shell
		fields := strings.Split(s.Text(), ":")
		if len(fields) >= 6 && fields[2] == want && fields[5] != "" {
			return fields[5]
		}
	}
	return "/"
}
