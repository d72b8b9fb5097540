package runtime

import (
	"fmt"
	"os"

	"github.com/hako-dev/hako/internal/runtime/linux"

	"golang.org/x/sys/unix"
)

// sendConsole hands a terminal's master side to the process listening on a
// console socket (runc's --console-socket protocol: one message whose
// payload is the terminal's name and whose SCM_RIGHTS carry the fd).
func sendConsole(path string, master *os.File) error {
	c, err := linux.DialUnix(path)
	if err != nil {
		return fmt.Errorf("console socket %s: %w", path, err)
	}
	defer unix.Close(c)
	name := master.Name()
	if name == "" {
		name = "/dev/ptmx"
	}
	if err := linux.SendFDs(c, []byte(name), int(master.Fd())); err != nil {
		return fmt.Errorf("console socket %s: send terminal: %w", path, err)
	}
	return nil
}
