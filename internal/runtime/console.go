package runtime

import (
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// sendConsole hands a terminal's master side to the process listening on a
// console socket (runc's --console-socket protocol: one message whose
// payload is the terminal's name and whose SCM_RIGHTS carry the fd).
func sendConsole(path string, master *os.File) error {
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return fmt.Errorf("console socket %s: %w", path, err)
	}
	defer c.Close()
	name := master.Name()
	if name == "" {
		name = "/dev/ptmx"
	}
	if _, _, err := c.WriteMsgUnix([]byte(name), unix.UnixRights(int(master.Fd())), nil); err != nil {
		return fmt.Errorf("console socket %s: send terminal: %w", path, err)
	}
	return nil
}
