package runtime

import (
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// ttyRelay connects the caller's terminal to a container's: raw mode on
// the caller's side, bytes copied both ways, window size followed.
type ttyRelay struct {
	master  *os.File
	restore *unix.Termios
	out     sync.WaitGroup
}

func newTTYRelay(master *os.File) *ttyRelay {
	r := &ttyRelay{master: master}
	if t, err := unix.IoctlGetTermios(0, unix.TCGETS); err == nil {
		saved := *t
		r.restore = &saved
		raw := *t
		raw.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
		raw.Oflag &^= unix.OPOST
		raw.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
		raw.Cflag &^= unix.CSIZE | unix.PARENB
		raw.Cflag |= unix.CS8
		raw.Cc[unix.VMIN] = 1
		raw.Cc[unix.VTIME] = 0
		unix.IoctlSetTermios(0, unix.TCSETS, &raw)
		r.resize()
	}
	go io.Copy(master, os.Stdin)
	r.out.Add(1)
	go func() {
		defer r.out.Done()
		io.Copy(os.Stdout, master)
	}()
	return r
}

func (r *ttyRelay) resize() {
	if ws, err := unix.IoctlGetWinsize(0, unix.TIOCGWINSZ); err == nil {
		unix.IoctlSetWinsize(int(r.master.Fd()), unix.TIOCSWINSZ, ws)
	}
}

// wait lets the container's last output through, then restores the
// caller's terminal.
func (r *ttyRelay) wait() {
	done := make(chan struct{})
	go func() { r.out.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
	}
	r.close()
}

func (r *ttyRelay) close() {
	r.master.Close()
	if r.restore != nil {
		unix.IoctlSetTermios(0, unix.TCSETS, r.restore)
	}
}
