package linux

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// OpenPty opens a new pseudo-terminal pair from the ptmx device at ptmx
// (inside the container's devpts, so the peer belongs to its namespace).
// The peer is opened with TIOCGPTPEER, without a path lookup under /dev/pts.
func OpenPty(ptmx string) (master, peer *os.File, err error) {
	mfd, err := unix.Open(ptmx, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("open %s: %w", ptmx, err)
	}
	if err := unix.IoctlSetPointerInt(mfd, unix.TIOCSPTLCK, 0); err != nil {
		unix.Close(mfd)
		return nil, nil, fmt.Errorf("unlock pty: %w", err)
	}
	// TIOCGPTPEER takes the open flags of the peer as its argument.
	r, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(mfd), unix.TIOCGPTPEER, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC)
	pfd := int(r)
	if errno != 0 {
		err := error(errno)
		// Kernels before 4.13: fall back to the pts path.
		n, err2 := unix.IoctlGetInt(mfd, unix.TIOCGPTN)
		if err2 != nil {
			unix.Close(mfd)
			return nil, nil, fmt.Errorf("get pty peer: %w", err)
		}
		pfd, err = unix.Open(fmt.Sprintf("/dev/pts/%d", n), unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
		if err != nil {
			unix.Close(mfd)
			return nil, nil, fmt.Errorf("open pty peer: %w", err)
		}
	}
	return os.NewFile(uintptr(mfd), "pty-master"), os.NewFile(uintptr(pfd), "pty-peer"), nil
}

// SetWinsize sets a terminal's size.
func SetWinsize(fd uintptr, rows, cols uint16) error {
	return unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols})
}

// GetWinsize reads a terminal's size.
func GetWinsize(fd uintptr) (rows, cols uint16, err error) {
	ws, err := unix.IoctlGetWinsize(int(fd), unix.TIOCGWINSZ)
	if err != nil {
		return 0, 0, err
	}
	return ws.Row, ws.Col, nil
}
