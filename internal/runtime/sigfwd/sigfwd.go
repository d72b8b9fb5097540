// Package sigfwd relays the signals a process receives to another
// process, from a signal handler of its own rather than through os/signal.
//
// A foreground "run" relays a dozen signals to its container. os/signal
// enables each with a round trip to a thread it dedicates to signal
// masks (runtime.ensureSigM), which it starts first: about 0.1 ms and
// two context switches per signal, 5% of the CPU time of a whole "run".
// This installs, with one rt_sigaction per signal, a handler of a dozen
// instructions that only sends the signal on (pidfd_send_signal, or kill
// when there is no pidfd). It touches nothing of Go's: it runs on the
// receiving thread's signal stack, which Go gives every thread, and keeps
// its state in three words it updates atomically. Signals that arrive
// before there is a process to send them to are held, and sent once
// there is one (Target).
//
// Only one Forwarder can be active at a time, and no other code of the
// process may handle the same signals meanwhile (os/signal's Notify
// would take them back).
package sigfwd

import (
	"errors"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The handler's state, read and written by handler_amd64.s.
var (
	// targetFD is a pidfd to send to, or -1.
	targetFD atomic.Int64
	// targetPid is the pid to send to when targetFD is -1, or 0: hold.
	targetPid atomic.Int64
	// pending holds, as bit n, the signals n that arrived with no target.
	pending atomic.Uint64
	// inflight counts the handlers running.
	inflight atomic.Int64
)

func init() { targetFD.Store(-1) }

// sigaction is the kernel's struct sigaction on amd64.
type sigaction struct {
	handler  uintptr
	flags    uint64
	restorer uintptr
	mask     uint64
}

const (
	saOnstack  = 0x08000000
	saRestart  = 0x10000000
	saRestorer = 0x04000000
)

// Forwarder relays signals while it is active.
type Forwarder struct {
	sigs []unix.Signal
	old  []sigaction
	fd   int // the Forwarder's own duplicate of the target's pidfd
}

var (
	mu     sync.Mutex
	active bool
)

// ErrUnavailable is returned where there is no handler for the
// architecture: use os/signal.
var ErrUnavailable = errors.New("sigfwd: not available on this architecture")

// Start installs the handler for sigs. They are held until Target.
func Start(sigs []unix.Signal) (*Forwarder, error) {
	if !Available() {
		return nil, ErrUnavailable
	}
	mu.Lock()
	defer mu.Unlock()
	if active {
		return nil, errors.New("sigfwd: a forwarder is already active")
	}
	targetFD.Store(-1)
	targetPid.Store(0)
	pending.Store(0)
	f := &Forwarder{fd: -1}
	act := sigaction{
		handler:  handlerPC(),
		flags:    saOnstack | saRestart | saRestorer,
		restorer: restorerPC(),
		mask:     0, // the signal itself is blocked while it is handled
	}
	for _, s := range sigs {
		if s <= 0 || s >= 64 {
			f.restore()
			return nil, errors.New("sigfwd: signal out of range")
		}
		var old sigaction
		if err := rtSigaction(s, &act, &old); err != nil {
			f.restore()
			return nil, err
		}
		f.sigs = append(f.sigs, s)
		f.old = append(f.old, old)
	}
	active = true
	return f, nil
}

// Target makes the signals go to the process of pidfd (or, if pidfd is
// negative, to pid), and sends it the signals held so far, in ascending
// order. pidfd stays the caller's: the Forwarder uses a duplicate.
func (f *Forwarder) Target(pidfd, pid int) error {
	if pidfd >= 0 {
		fd, err := unix.FcntlInt(uintptr(pidfd), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			return err
		}
		f.fd = fd
		targetFD.Store(int64(fd))
	} else {
		targetPid.Store(int64(pid))
	}
	// A handler that saw no target may still be recording its signal.
	quiesce()
	held := pending.Swap(0)
	for s := unix.Signal(1); s < 64; s++ {
		if held&(1<<s) != 0 {
			f.send(s, pid)
		}
	}
	return nil
}

func (f *Forwarder) send(s unix.Signal, pid int) {
	if f.fd >= 0 {
		unix.PidfdSendSignal(f.fd, s, nil, 0)
		return
	}
	unix.Kill(pid, s)
}

// Stop restores the handlers Start replaced; signals arriving from then
// on get their previous handling. The signals held, if Target was never
// called, are dropped.
func (f *Forwarder) Stop() {
	mu.Lock()
	defer mu.Unlock()
	f.restore()
	targetFD.Store(-1)
	targetPid.Store(0)
	quiesce()
	pending.Store(0)
	if f.fd >= 0 {
		unix.Close(f.fd)
		f.fd = -1
	}
	active = false
}

func (f *Forwarder) restore() {
	for i, s := range f.sigs {
		rtSigaction(s, &f.old[i], nil)
	}
	f.sigs, f.old = nil, nil
}

// quiesce waits until no handler runs: each is a few instructions and
// one system call.
func quiesce() {
	for inflight.Load() != 0 {
		unix.Syscall(unix.SYS_SCHED_YIELD, 0, 0, 0)
	}
}

func rtSigaction(s unix.Signal, act, old *sigaction) error {
	_, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(s), uintptr(unsafe.Pointer(act)), uintptr(unsafe.Pointer(old)), 8, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}
