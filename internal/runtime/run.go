package runtime

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/hako-dev/hako/internal/runtime/process"
	"golang.org/x/sys/unix"
)

// RunOptions add to CreateOptions what run needs.
type RunOptions struct {
	CreateOptions
	// Detach returns once the process runs instead of waiting for it.
	Detach bool
	// Keep leaves a stopped container's state in place (runc run --keep).
	Keep bool
}

// Run creates and starts a container in one go. In the foreground it
// forwards signals to the container, relays its terminal, waits for it,
// deletes it (unless Keep) and returns its exit status.
func (r *Runtime) Run(id string, o *RunOptions) (int, error) {
	if !o.Detach {
		return r.runForeground(id, o)
	}
	c, err := r.create(id, &o.CreateOptions, false)
	if err != nil {
		return -1, err
	}
	if err := c.startRun(); err != nil {
		c.Delete(true)
		return -1, err
	}
	return 0, nil
}

func (r *Runtime) runForeground(id string, o *RunOptions) (int, error) {
	// Registering a signal costs a round trip with Go's signal thread
	// (~0.1 ms each): do it while the container is being created, and
	// finish before it starts so that no signal is missed.
	sigc := make(chan os.Signal, 32)
	notified := make(chan struct{})
	go func() {
		signal.Notify(sigc, forwardedSignals...)
		close(notified)
	}()
	defer stopSignals(sigc)
	c, err := r.create(id, &o.CreateOptions, false)
	<-notified
	if err != nil {
		return ExecFailureCode(err), err
	}
	var relay *ttyRelay
	if c.Console != nil {
		relay = newTTYRelay(c.Console)
	}
	if err := c.startRun(); err != nil {
		if relay != nil {
			relay.close()
		}
		c.Delete(true)
		return ExecFailureCode(err), err
	}
	done := make(chan struct{})
	go forward(sigc, c.child.Pid, relay, done)
	ws, err := c.child.Wait()
	close(done)
	code := exitStatus(ws)
	if relay != nil {
		relay.wait()
	}
	if !o.Keep {
		if derr := c.Delete(true); derr != nil && err == nil {
			err = derr
		}
	}
	return code, err
}

// ExecFailureCode is the exit status to report when err says the container
// process could not be executed: 127 (not found) or 126 (cannot execute),
// as a shell would; -1 for other errors.
func ExecFailureCode(err error) int {
	var ce *process.ChildError
	if errors.As(err, &ce) && ce.Code != 0 {
		return ce.Code
	}
	return -1
}

// forwardedSignals are relayed to a foreground container, as a shell
// relays them to its job. SIGKILL and SIGSTOP cannot be caught; SIGCHLD,
// SIGPIPE and SIGURG (Go's preemption signal) concern the runtime itself.
var forwardedSignals = []os.Signal{
	unix.SIGHUP, unix.SIGINT, unix.SIGQUIT, unix.SIGTERM, unix.SIGUSR1, unix.SIGUSR2,
	unix.SIGWINCH, unix.SIGCONT, unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU, unix.SIGALRM,
}

// startRun lets the init of a container created for run go on, and waits
// until it has executed the container process.
func (c *Created) startRun() error {
	if c.forked != nil {
		return c.startForked()
	}
	child := c.child
	if err := child.Conn.Send(&process.Message{Type: process.MsgStart}); err != nil {
		return c.initDied(child, err)
	}
	m, _, err := child.Conn.Recv()
	child.Conn.Close()
	switch {
	case err == nil && m.Type == process.MsgError:
		child.Wait()
		return &process.ChildError{Msg: m.Error, Code: m.Code}
	case err != nil && !errors.Is(err, process.ErrClosed):
		return fmt.Errorf("start container %q: %w", c.st.ID, err)
	}
	return c.poststart()
}

// WaitForeground waits for an exec'd process in the foreground: signals
// are forwarded to it, its terminal relayed, and its status returned.
func WaitForeground(p *Process) (int, error) {
	sigc := make(chan os.Signal, 32)
	signal.Notify(sigc, forwardedSignals...)
	defer stopSignals(sigc)
	var relay *ttyRelay
	if p.Console != nil {
		relay = newTTYRelay(p.Console)
	}
	done := make(chan struct{})
	go forward(sigc, p.Pid, relay, done)
	code, err := p.Wait()
	close(done)
	if relay != nil {
		relay.wait()
	}
	return code, err
}

// stopSignals ends the relay of signals to sigc without waiting for it:
// signal.Stop waits until Go's signal loop is idle, which costs as much
// as a millisecond, at the very end of a foreground run or exec. Nothing
// needs it done before returning: sigc is never closed, and a signal that
// arrives meanwhile lands in its buffer, unread.
func stopSignals(sigc chan os.Signal) {
	go signal.Stop(sigc)
}

// forward relays the signals arriving on sigc to pid until done closes;
// SIGWINCH resizes the relayed terminal instead.
func forward(sigc <-chan os.Signal, pid int, relay *ttyRelay, done <-chan struct{}) {
	for {
		select {
		case s := <-sigc:
			sig := s.(syscall.Signal)
			switch sig {
			case unix.SIGCHLD, unix.SIGURG, unix.SIGPIPE:
			case unix.SIGWINCH:
				if relay != nil {
					relay.resize()
				}
			default:
				unix.Kill(pid, sig)
			}
		case <-done:
			return
		}
	}
}

// CreateSupervised creates a container whose caller stays the init's
// parent and supervisor (the engine's monitor): no exec.fifo, no console
// socket (the terminal's master side comes back in Console). Start it with
// Begin; reap it with waitid on a pidfd, not through the runtime.
func (r *Runtime) CreateSupervised(id string, o *CreateOptions) (*Created, error) {
	return r.create(id, o, false)
}

// Begin lets a container made by CreateSupervised execute its process and
// returns once it has (or has failed to: a *process.ChildError carrying
// 126 or 127, see ExecFailureCode).
func (c *Created) Begin() error {
	err := c.startRun()
	if c.child.PidFD >= 0 {
		unix.Close(c.child.PidFD)
		c.child.PidFD = -1
	}
	return err
}
