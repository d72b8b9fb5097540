// Package sysprog runs a program of system calls in a forked child of the
// runtime, without executing a second Go binary.
//
// A container's init mostly makes system calls whose arguments are known
// before it starts: mounts, pivot_root, sethostname, prctl, capset, setuid,
// seccomp. The runtime compiles them into a Prog, forks (clone3 without
// CLONE_VM) and the child runs the program with raw system calls and
// nothing else: no allocation, no scheduler, no stack growth, since the
// Go runtime's other threads do not exist in the child. The program ends by
// executing a program (execve), or the child reports which call failed
// and with what errno, and exits.
//
// The little control flow a container's setup needs is expressed per call:
// an errno may be tolerated (and then some of the following calls
// skipped), success may skip calls, a result may be kept in a slot and
// passed to later calls, as a descriptor number or as a /proc/self/fd/N
// path.
package sysprog

import (
	"fmt"
	goruntime "runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Slot holds the result of a call (a descriptor) for later calls.
type Slot uint8

const maxSlots = 32

// Arg is an argument of a call.
type Arg struct {
	kind argKind
	v    uintptr
	buf  []byte
}

type argKind uint8

const (
	argImm argKind = iota
	argBuf
	argSlot
	argFdPath
)

// Imm is an integer argument.
func Imm[T ~int | ~int32 | ~int64 | ~uint | ~uint32 | ~uint64 | ~uintptr](v T) Arg {
	return Arg{kind: argImm, v: uintptr(v)}
}

// Str is a NUL-terminated string argument.
func Str(s string) Arg {
	b := make([]byte, len(s)+1)
	copy(b, s)
	return Arg{kind: argBuf, buf: b}
}

// Bytes passes a pointer to b, which the program keeps alive.
func Bytes(b []byte) Arg {
	if len(b) == 0 {
		b = make([]byte, 1)
	}
	return Arg{kind: argBuf, buf: b}
}

// Ptr passes a pointer to memory the caller keeps alive until the child
// has started (Prog.Keep).
func Ptr(p unsafe.Pointer) Arg { return Arg{kind: argImm, v: uintptr(p)} }

// Fd passes the descriptor kept in s.
func Fd(s Slot) Arg { return Arg{kind: argSlot, v: uintptr(s)} }

// FdPath passes "/proc/self/fd/N" for the descriptor N kept in s.
func FdPath(s Slot) Arg { return Arg{kind: argFdPath, v: uintptr(s)} }

// op is one call as the child reads it: no Go pointers, so that nothing
// the child touches needs the garbage collector's write barriers.
type op struct {
	nr   uintptr
	args [6]uintptr
	// slotArgs: bit i set means args[i] is a slot number.
	slotArgs uint8
	// pathArg is 1+i when args[i] is pathBuf, to fill with
	// /proc/self/fd/<slot pathSlot> (the child writes bytes only, which
	// need no write barrier).
	pathBuf  *[32]byte
	pathArg  uint8
	pathSlot uint8
	out      uint8 // 1+slot receiving the result, or 0
	flags    uint8
	tolA     uint64 // errnos (bit e for e < 64) tolerated, then skipA calls skipped
	tolB     uint64
	skipA    uint16
	skipB    uint16
	skipOK   uint16
}

const (
	flagWantByte uint8 = 1 << iota // a read that must return 1
)

// Op is a call being added to a program.
type Op struct {
	p *Prog
	i int
}

// Prog is a program of calls.
type Prog struct {
	ops []op
	// descs say what each call does, in two parts joined by ": " (most
	// are never read: they are built only into an error message).
	descs [][2]string
	keep  [][]byte
	ptrs  []any
	slots int
	// Report is the descriptor (in the child) to which a failure record is
	// written: a Record.
	Report int
	// NoShare makes the child a copy of the runtime (fork) rather than a
	// process sharing its memory (CLONE_VM), which it is where the
	// architecture allows: a program that waits for the runtime before
	// it executes (see Start) needs nothing else, but a shared child's
	// memory must stay valid until it has executed.
	NoShare bool
	child   *childArgs
	stack   []byte
}

// childStack is the size of a child's own stack when it shares the
// runtime's memory; the child calls two frames deep.
const childStack = 64 << 10

// Record is what the child writes to Report when a call fails.
type Record struct {
	Magic uint32
	Index uint32
	Errno uint32
	_     uint32
}

// RecordMagic marks a Record written by a failing call; the trampoline
// writes ExecMagic when executing the container process failed.
const (
	RecordMagic = 0x48414b4f // "HAKO"
	ExecMagic   = 0x45584543 // "EXEC"
)

// NewSlot reserves a slot.
func (p *Prog) NewSlot() Slot {
	if p.slots >= maxSlots {
		panic("sysprog: out of slots")
	}
	p.slots++
	return Slot(p.slots - 1)
}

// Sys adds a call; desc says what it does, for errors ("mount proc on
// /proc").
func (p *Prog) Sys(desc string, nr uintptr, args ...Arg) *Op {
	return p.Sys2(desc, "", nr, args...)
}

// Sys2 adds a call described by what and detail ("mounts[2] (tmpfs on
// /dev)", "mount"), which are joined only when a message needs them.
func (p *Prog) Sys2(what, detail string, nr uintptr, args ...Arg) *Op {
	if p.ops == nil {
		// Room for any container's program up front: a large allocation
		// takes fresh zeroed pages, of which only those used are ever
		// touched, while growing the slices would copy them.
		p.ops = make([]op, 0, 1024)
		p.descs = make([][2]string, 0, 1024)
		p.keep = make([][]byte, 0, 1024)
	}
	if len(args) > 6 {
		panic("sysprog: more than 6 arguments")
	}
	var o op
	o.nr = nr
	for i, a := range args {
		switch a.kind {
		case argImm:
			o.args[i] = a.v
		case argBuf:
			p.keep = append(p.keep, a.buf)
			o.args[i] = uintptr(unsafe.Pointer(&a.buf[0]))
		case argSlot:
			o.args[i] = a.v
			o.slotArgs |= 1 << i
		case argFdPath:
			b := new([32]byte)
			copy(b[:], "/proc/self/fd/")
			o.pathBuf = b
			o.args[i] = uintptr(unsafe.Pointer(b))
			o.pathArg = uint8(i + 1)
			o.pathSlot = uint8(a.v)
		}
	}
	p.ops = append(p.ops, o)
	p.descs = append(p.descs, [2]string{what, detail})
	return &Op{p, len(p.ops) - 1}
}

// Keep keeps v alive as long as the program (memory passed with Ptr).
func (p *Prog) Keep(v any) { p.ptrs = append(p.ptrs, v) }

func (o *Op) op() *op { return &o.p.ops[o.i] }

// Out keeps the call's result in a new slot.
func (o *Op) Out() Slot {
	s := o.p.NewSlot()
	o.op().out = uint8(s) + 1
	return s
}

// OutTo keeps the call's result in s.
func (o *Op) OutTo(s Slot) *Op {
	o.op().out = uint8(s) + 1
	return o
}

// Tolerate makes the errnos listed not a failure: the next skip calls are
// skipped instead. Two sets can be given per call.
func (o *Op) Tolerate(skip int, errnos ...syscall.Errno) *Op {
	var m uint64
	for _, e := range errnos {
		if e >= 64 {
			panic("sysprog: errno out of range")
		}
		m |= 1 << uint(e)
	}
	x := o.op()
	if x.tolA == 0 {
		x.tolA, x.skipA = m, uint16(skip)
	} else {
		x.tolB, x.skipB = m, uint16(skip)
	}
	return o
}

// SkipOnSuccess skips the next n calls when this one succeeds.
func (o *Op) SkipOnSuccess(n int) *Op {
	o.op().skipOK = uint16(n)
	return o
}

// WantByte makes a read fail (EPIPE) unless it returns one byte: a wait
// for the runtime's go-ahead, which fails when the runtime is gone.
func (o *Op) WantByte() *Op {
	o.op().flags |= flagWantByte
	return o
}

// Len is the number of calls so far.
func (p *Prog) Len() int { return len(p.ops) }

// Describe says what call i does.
func (p *Prog) Describe(i int) string {
	if i < 0 || i >= len(p.descs) {
		return fmt.Sprintf("call %d", i)
	}
	if d := p.descs[i]; d[1] != "" {
		return d[0] + ": " + d[1]
	}
	return p.descs[i][0]
}

// Error is a failed call of a program.
type Error struct {
	Desc  string
	Errno syscall.Errno
}

func (e *Error) Error() string { return e.Desc + ": " + e.Errno.Error() }
func (e *Error) Unwrap() error { return e.Errno }

// Decode turns a Record read from the child into an error.
func (p *Prog) Decode(r Record) error {
	return &Error{Desc: p.Describe(int(r.Index)), Errno: syscall.Errno(r.Errno)}
}

// cloneArgs is struct clone_args.
type cloneArgs struct {
	flags      uint64
	pidfd      uint64
	childTID   uint64
	parentTID  uint64
	exitSignal uint64
	stack      uint64
	stackSize  uint64
	tls        uint64
	setTID     uint64
	setTIDSize uint64
	cgroup     uint64
}

// Start starts a child that runs the program. cloneFlags are the
// namespaces to create; cgroupFD >= 0 places the child in that cgroup v2
// directory (CLONE_INTO_CGROUP). It returns the child's pid and a pidfd.
//
// The caller's thread is the one cloned: namespaces it entered with setns
// are the child's. Unless NoShare, the child shares the runtime's memory
// (CLONE_VM, on a stack of its own): no page tables are copied and no
// page is copied on write afterwards, which a fork of a large process
// (the engine's monitor) pays for. The program, which the child reads,
// must then stay alive (referenced) until the child has executed its
// process or exited.
func (p *Prog) Start(cloneFlags uintptr, cgroupFD int) (pid, pidfd int, err error) {
	if len(p.ops) == 0 {
		return 0, -1, fmt.Errorf("sysprog: empty program")
	}
	goruntime.LockOSThread()
	defer goruntime.UnlockOSThread()
	syscall.ForkLock.Lock()
	defer syscall.ForkLock.Unlock()

	pfd := int32(-1)
	args := cloneArgs{
		flags:      uint64(cloneFlags) | unix.CLONE_PIDFD,
		pidfd:      uint64(uintptr(unsafe.Pointer(&pfd))),
		exitSignal: uint64(unix.SIGCHLD),
	}
	if cgroupFD >= 0 {
		args.flags |= unix.CLONE_INTO_CGROUP
		args.cgroup = uint64(cgroupFD)
	}
	// The child's own memory: its slots and, sharing the runtime's
	// memory, its stack (both kept with the program, which must outlive
	// the child's execve).
	p.child = &childArgs{ops: unsafe.Pointer(&p.ops[0]), n: len(p.ops), slots: new([maxSlots]uintptr), report: uintptr(p.Report)}
	vm := cloneVM && !p.NoShare
	if vm {
		p.stack = make([]byte, childStack)
		args.flags |= unix.CLONE_VM
		args.stack = uint64(uintptr(unsafe.Pointer(&p.stack[0])))
		args.stackSize = childStack
	}

	all := ^uint64(0)
	var old uint64
	syscall.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&all)), uintptr(unsafe.Pointer(&old)), 8, 0, 0)
	var r uintptr
	var e syscall.Errno
	if vm {
		var errno uintptr
		r, errno = rawCloneVM(&args, unsafe.Sizeof(args), p.child)
		e = syscall.Errno(errno)
	} else {
		r, _, e = syscall.RawSyscall6(unix.SYS_CLONE3, uintptr(unsafe.Pointer(&args)), unsafe.Sizeof(args), 0, 0, 0, 0)
		if e == 0 && r == 0 {
			c := p.child
			child(c.ops, c.n, c.slots, c.report, 0)
		}
	}
	syscall.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&old)), 0, 8, 0, 0)
	goruntime.KeepAlive(p)
	if e != 0 {
		return 0, -1, fmt.Errorf("clone3: %w", e)
	}
	return int(r), int(pfd), nil
}

// child runs in the forked process. It must call nothing that can grow
// the stack, allocate or schedule: only itself and raw system calls.
//
//go:nosplit
//go:norace
//go:nocheckptr
func child(ops unsafe.Pointer, n int, slots *[maxSlots]uintptr, report, oldMask uintptr) {
	for i := 0; i < n; i++ {
		o := (*op)(unsafe.Add(ops, uintptr(i)*unsafe.Sizeof(op{})))
		a := o.args
		for j := 0; j < 6; j++ {
			if o.slotArgs&(1<<j) != 0 {
				a[j] = slots[a[j]&(maxSlots-1)]
			}
		}
		if o.pathArg != 0 {
			fillFdPath(o.pathBuf, slots[o.pathSlot&(maxSlots-1)])
		}
		r, _, e := syscall.RawSyscall6(o.nr, a[0], a[1], a[2], a[3], a[4], a[5])
		if e == 0 && o.flags&flagWantByte != 0 && r != 1 {
			e = syscall.EPIPE
		}
		if e != 0 {
			bit := uint64(0)
			if e < 64 {
				bit = 1 << uint(e)
			}
			switch {
			case o.tolA&bit != 0:
				i += int(o.skipA)
				continue
			case o.tolB&bit != 0:
				i += int(o.skipB)
				continue
			}
			rec := [4]uint32{RecordMagic, uint32(i), uint32(e), 0}
			syscall.RawSyscall6(unix.SYS_WRITE, report, uintptr(unsafe.Pointer(&rec)), 16, 0, 0, 0)
			syscall.RawSyscall6(unix.SYS_EXIT_GROUP, 1, 0, 0, 0, 0, 0)
		}
		if o.out != 0 {
			slots[(o.out-1)&(maxSlots-1)] = r
		}
		i += int(o.skipOK)
	}
	// A program that does not execute anything exits.
	syscall.RawSyscall6(unix.SYS_EXIT_GROUP, 0, 0, 0, 0, 0, 0)
}

// fillFdPath writes fd's decimal digits and a NUL after "/proc/self/fd/".
//
//go:nosplit
//go:norace
//go:nocheckptr
func fillFdPath(buf *[32]byte, fd uintptr) {
	var digits [20]byte
	n := 0
	for {
		digits[n] = byte('0' + fd%10)
		n++
		fd /= 10
		if fd == 0 || n == len(digits) {
			break
		}
	}
	p := 14
	for k := n - 1; k >= 0; k-- {
		buf[p] = digits[k]
		p++
	}
	buf[p] = 0
}
