package process

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// ExecFailure turns a failed execve of the container process into a
// message that says what to do, as crun does, and a shell-like status:
// 127 for not found, 126 otherwise. exists tells whether file exists in
// the container (an ENOENT for an existing file means its interpreter or
// dynamic loader is missing).
func ExecFailure(file string, err error, exists bool) *ChildError {
	switch {
	case errors.Is(err, unix.ENOENT):
		if exists {
			return &ChildError{Code: 127, Msg: fmt.Sprintf("exec %q: no such file or directory (the program exists: is its interpreter or dynamic loader missing from the image, or does a script have DOS line endings?)", file)}
		}
		return &ChildError{Code: 127, Msg: fmt.Sprintf("exec %q: no such file or directory", file)}
	case errors.Is(err, unix.EACCES):
		return &ChildError{Code: 126, Msg: fmt.Sprintf("exec %q: permission denied (is it executable, and on a filesystem mounted without noexec?)", file)}
	case errors.Is(err, unix.ENOEXEC):
		return &ChildError{Code: 126, Msg: fmt.Sprintf("exec %q: exec format error (built for another architecture, or a script without a #! line?)", file)}
	case errors.Is(err, unix.EISDIR):
		return &ChildError{Code: 126, Msg: fmt.Sprintf("exec %q: is a directory", file)}
	}
	return &ChildError{Code: 126, Msg: fmt.Sprintf("exec %q: %v", file, err)}
}
