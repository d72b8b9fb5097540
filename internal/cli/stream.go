package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/hako-dev/hako/internal/client"
	"github.com/moby/moby/api/pkg/stdcopy"
	"golang.org/x/sys/unix"
)

// errDetached says the user typed the detach keys: the container goes on
// without us.
var errDetached = errors.New("read escape sequence")

// defaultDetachKeys is ctrl-p ctrl-q.
var defaultDetachKeys = []byte{16, 17}

// stdio is the CLI side of an attach or exec: where input comes from and
// output goes.
type stdio struct {
	in          io.Reader // nil: stdin not attached
	out, errOut io.Writer // nil: not attached
	tty         bool      // the output is a terminal's raw bytes, not stdcopy frames
	detachKeys  []byte    // the sequence the daemon detaches on, watched for in the input
}

// relay copies in to the connection and the connection's output to out
// and errOut until the output ends. A stdin that ends is passed on as a
// half-close and the output goes on; the detach keys (which the daemon
// acts on) end the relay with errDetached once the daemon lets go.
func (s stdio) relay(ctx context.Context, conn *client.HijackedConn) error {
	tty := s.tty
	if mux, ok := conn.Multiplexed(); ok {
		tty = !mux
	}
	outDone := make(chan error, 1)
	go func() {
		var err error
		switch {
		case tty:
			_, err = io.Copy(orDiscard(s.out), conn)
		default:
			_, err = stdcopy.StdCopy(orDiscard(s.out), orDiscard(s.errOut), conn)
		}
		outDone <- err
	}()

	var detached atomic.Bool
	if s.in != nil {
		go func() {
			w := &detachWatch{w: conn, keys: s.detachKeys, seen: func() { detached.Store(true) }}
			io.Copy(w, s.in)
			if !w.done {
				conn.CloseWrite()
			}
		}()
	}
	select {
	case err := <-outDone:
		if detached.Load() {
			return errDetached
		}
		if err != nil && (errors.Is(err, os.ErrClosed) || errors.Is(err, syscall.ECONNRESET)) {
			err = nil
		}
		return err
	case <-ctx.Done():
		conn.Close()
		return ctx.Err()
	}
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// detachWatch passes the input through, noting when it carries the
// detach sequence; it writes nothing after it.
type detachWatch struct {
	w       io.Writer
	keys    []byte
	matched int
	done    bool
	seen    func()
}

func (d *detachWatch) Write(p []byte) (int, error) {
	if d.done {
		return 0, errDetached
	}
	if len(d.keys) == 0 {
		return d.w.Write(p)
	}
	for i, b := range p {
		switch {
		case b == d.keys[d.matched]:
			d.matched++
		case b == d.keys[0]:
			d.matched = 1
		default:
			d.matched = 0
		}
		if d.matched == len(d.keys) {
			d.done = true
			d.seen()
			if _, err := d.w.Write(p[:i+1]); err != nil {
				return 0, err
			}
			return 0, errDetached
		}
	}
	return d.w.Write(p)
}

// parseDetachKeys reads docker's detach key syntax: a comma-separated
// list of single characters and ctrl-X (X a letter or one of @[\]^_).
// "" is the default, ctrl-p,ctrl-q.
func parseDetachKeys(s string) ([]byte, error) {
	if s == "" {
		return defaultDetachKeys, nil
	}
	var keys []byte
	for _, k := range strings.Split(s, ",") {
		if ctl, ok := strings.CutPrefix(strings.ToLower(k), "ctrl-"); ok && len(ctl) == 1 {
			c := ctl[0]
			switch {
			case c >= 'a' && c <= 'z':
				keys = append(keys, c-'a'+1)
				continue
			case strings.IndexByte("@[\\]^_", c) >= 0:
				keys = append(keys, c-'@')
				continue
			}
		}
		if len(k) != 1 {
			return nil, fmt.Errorf("invalid detach keys (%s): unknown character: '%s'", s, k)
		}
		keys = append(keys, k[0])
	}
	return keys, nil
}

// fdOf returns the file descriptor behind a stream, if it has one.
func fdOf(v any) (int, bool) {
	if f, ok := v.(interface{ Fd() uintptr }); ok {
		return int(f.Fd()), true
	}
	return 0, false
}

// isTerminalStream reports whether a stream is a terminal.
func isTerminalStream(v any) bool {
	fd, ok := fdOf(v)
	return ok && isTerminal(uintptr(fd))
}

// makeRaw puts the terminal behind in into raw mode (no echo, no line
// editing, no signals from ^C: the container's terminal does all that)
// and returns the function that restores it, safe to call more than once.
// It does nothing when in is not a terminal.
func makeRaw(in any) (restore func(), err error) {
	fd, ok := fdOf(in)
	if !ok {
		return func() {}, nil
	}
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return func() {}, nil // not a terminal
	}
	raw := *old
	// cfmakeraw(3)
	raw.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	raw.Oflag &^= unix.OPOST
	raw.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	raw.Cflag &^= unix.CSIZE | unix.PARENB
	raw.Cflag |= unix.CS8
	raw.Cc[unix.VMIN], raw.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &raw); err != nil {
		return nil, fmt.Errorf("set the terminal to raw mode: %w", err)
	}
	return sync.OnceFunc(func() { unix.IoctlSetTermios(fd, unix.TCSETS, old) }), nil
}

// ttySize returns the size of the terminal behind out (0, 0 if none).
func ttySize(out any) (height, width uint) {
	fd, ok := fdOf(out)
	if !ok {
		return 0, 0
	}
	ws, err := unix.IoctlGetWinsize(fd, unix.TIOCGWINSZ)
	if err != nil {
		return 0, 0
	}
	return uint(ws.Row), uint(ws.Col)
}

// followTTYSize sets the container's (or exec's) terminal to the size of
// ours now and after every SIGWINCH, until the returned stop is called.
func followTTYSize(ctx context.Context, out any, resize func(ctx context.Context, h, w uint) error) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, unix.SIGWINCH)
	// The first resize is made before returning, so that the size is set
	// before any input reaches the container (and is not cancelled by a
	// container that exits at once).
	if h, w := ttySize(out); h > 0 || w > 0 {
		resize(ctx, h, w)
	}
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-winch:
				if h, w := ttySize(out); h > 0 || w > 0 {
					resize(ctx, h, w)
				}
			}
		}
	}()
	return func() {
		signal.Stop(winch)
		cancel()
	}
}

// proxiedSignals are the signals --sig-proxy forwards: those a user or
// a supervisor sends to stop, reload or pause a program. Docker forwards
// every signal, but asking the Go runtime for each one costs a thread
// hand-off per signal (2 ms of every `run`), and the rest (SIGCHLD,
// SIGPIPE, SIGWINCH, SIGURG, faults) concern only the CLI itself.
var proxiedSignals = []os.Signal{
	unix.SIGHUP, unix.SIGINT, unix.SIGQUIT, unix.SIGTERM, unix.SIGUSR1, unix.SIGUSR2,
	unix.SIGALRM, unix.SIGCONT, unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU, unix.SIGXCPU, unix.SIGXFSZ,
}

// proxySignals forwards the signals the CLI receives to the container
// (docker's --sig-proxy) until stop is called.
func proxySignals(ctx context.Context, kill func(ctx context.Context, sig string) error) (stop func()) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	sigc := make(chan os.Signal, 64)
	signal.Notify(sigc, proxiedSignals...)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case s := <-sigc:
				sig, ok := s.(syscall.Signal)
				if !ok {
					continue
				}
				name := strings.TrimPrefix(unix.SignalName(sig), "SIG")
				if name == "" {
					continue
				}
				kill(ctx, name)
			}
		}
	}()
	return func() {
		signal.Stop(sigc)
		cancel()
	}
}
