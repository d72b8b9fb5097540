package runtime

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/hako-dev/hako/internal/runtime/process"
	"github.com/hako-dev/hako/internal/runtime/sigfwd"
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
	// Signals are caught from before the container exists, so that none
	// is missed; they are held until it runs.
	sr := StartSignalRelay()
	defer sr.Stop()
	c, err := r.create(id, &o.CreateOptions, false)
	sr.ready()
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
	sr.target(c.child.PidFD, c.child.Proc(), relay)
	ws, err := c.child.Wait()
	sr.Stop()
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

// relayedSignals are forwardedSignals but SIGWINCH (see SignalRelay).
var relayedSignals = []unix.Signal{
	unix.SIGHUP, unix.SIGINT, unix.SIGQUIT, unix.SIGTERM, unix.SIGUSR1, unix.SIGUSR2,
	unix.SIGCONT, unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU, unix.SIGALRM,
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

// WaitForeground waits for an exec'd process in the foreground: the
// signals sr caught (since before the process started, so that none is
// missed) are forwarded to it, its terminal relayed, and its status
// returned. It stops sr.
func WaitForeground(p *Process, sr *SignalRelay) (int, error) {
	defer sr.Stop()
	sr.ready()
	var relay *ttyRelay
	if p.Console != nil {
		relay = newTTYRelay(p.Console)
	}
	sr.target(p.child.PidFD, p.Pid, relay)
	code, err := p.Wait()
	sr.Stop()
	if relay != nil {
		relay.wait()
	}
	return code, err
}

// SignalRelay forwards the signals of forwardedSignals that the runtime
// gets to a foreground container process, as a shell does to its job.
//
// Where package sigfwd has a handler (amd64) it does: one rt_sigaction
// per signal, where os/signal takes a round trip with a thread it starts
// for each (~0.1 ms each; 5% of a whole run's CPU time). SIGWINCH is then
// left alone unless there is a terminal to resize, which needs Go code
// and so os/signal. Elsewhere os/signal does it all.
type SignalRelay struct {
	fwd      *sigfwd.Forwarder
	sigc     chan os.Signal
	notified chan struct{} // os/signal: closed once Notify returned
	done     chan struct{}
	stopped  bool
}

// StartSignalRelay catches the signals to forward; they are held until
// the process to forward them to exists.
func StartSignalRelay() *SignalRelay {
	sr := &SignalRelay{}
	if f, err := sigfwd.Start(relayedSignals); err == nil {
		sr.fwd = f
		return sr
	}
	// Registering costs a round trip with Go's signal thread per
	// signal: done while the container is being created (see ready).
	sr.sigc = make(chan os.Signal, 32)
	sr.notified = make(chan struct{})
	go func() {
		signal.Notify(sr.sigc, forwardedSignals...)
		close(sr.notified)
	}()
	return sr
}

// ready returns once every signal is caught.
func (sr *SignalRelay) ready() {
	if sr.notified != nil {
		<-sr.notified
	}
}

// target starts forwarding to the process (pidfd, or pid where pidfd is
// -1), beginning with the signals that arrived meanwhile; SIGWINCH
// resizes relay's terminal instead.
func (sr *SignalRelay) target(pidfd, pid int, relay *ttyRelay) {
	sr.done = make(chan struct{})
	if sr.fwd != nil {
		sr.fwd.Target(pidfd, pid)
		if relay == nil {
			return
		}
		sr.sigc = make(chan os.Signal, 4)
		signal.Notify(sr.sigc, unix.SIGWINCH)
	}
	go forward(sr.sigc, pid, relay, sr.done)
}

// Stop ends the forwarding; it may be called more than once.
func (sr *SignalRelay) Stop() {
	if sr.stopped {
		return
	}
	sr.stopped = true
	if sr.done != nil {
		close(sr.done)
	}
	if sr.fwd != nil {
		sr.fwd.Stop()
	}
	if sr.sigc != nil {
		stopSignals(sr.sigc)
	}
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

// WaitPid is the process a supervisor reaps for the container's exit:
// the init, or the holder that forked it (whose exit is the init's; see
// process.MsgPid).
func (c *Created) WaitPid() int { return c.child.Proc() }

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
