package linux

import (
	"bytes"
	"strconv"

	"golang.org/x/sys/unix"
)

// HomeDir returns the home directory of uid from an /etc/passwd file, or
// "/" when the file or the entry is missing (as runc does for HOME).
func HomeDir(passwd string, uid uint32) string {
	fd, err := unix.Open(passwd, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "/"
	}
	defer unix.Close(fd)
	return HomeDirFD(fd, uid)
}

// HomeDirFD is HomeDir for an open passwd file (the caller closes it).
func HomeDirFD(fd int, uid uint32) string {
	b, err := readAll(fd, 4096)
	if err != nil {
		return "/"
	}
	return homeIn(b, uid)
}

// homeIn finds uid's home in passwd's content: name:pw:uid:gid:gecos:home:shell.
func homeIn(passwd []byte, uid uint32) string {
	want := strconv.AppendUint(nil, uint64(uid), 10)
	for len(passwd) > 0 {
		line := passwd
		if i := bytes.IndexByte(passwd, '\n'); i >= 0 {
			line, passwd = passwd[:i], passwd[i+1:]
		} else {
			passwd = nil
		}
		var fields [7][]byte
		n := 0
		for n < len(fields) {
			i := bytes.IndexByte(line, ':')
			if i < 0 {
				fields[n] = line
				n++
				break
			}
			fields[n], line = line[:i], line[i+1:]
			n++
		}
		if n >= 6 && bytes.Equal(fields[2], want) && len(fields[5]) > 0 {
			return string(fields[5])
		}
	}
	return "/"
}
