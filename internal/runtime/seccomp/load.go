package seccomp

import (
	"fmt"
	"runtime"
	"unsafe"

	"github.com/hako-dev/hako/internal/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Load installs the filter on the calling thread with seccomp(2)
// SECCOMP_SET_MODE_FILTER. Call it on the locked OS thread
// (runtime.LockOSThread) that will execve the container process, after
// setting no_new_privs or while holding CAP_SYS_ADMIN, and as late as
// possible: from then on the thread's own syscalls are filtered too. Other
// threads are filtered only with SECCOMP_FILTER_FLAG_TSYNC.
//
// The flags are those of the configuration; without any listed,
// SECCOMP_FILTER_FLAG_SPEC_ALLOW where the kernel has it (as runc and crun
// do). If a rule uses SCMP_ACT_NOTIFY, Load adds
// SECCOMP_FILTER_FLAG_NEW_LISTENER and returns the listener descriptor for
// the seccomp agent; otherwise it returns -1. The thread must not need a
// syscall the filter sends to the agent before the agent has that
// descriptor.
func (f *Filter) Load() (listenerFD int, err error) {
	flags := f.flags
	if f.notify {
		flags |= unix.SECCOMP_FILTER_FLAG_NEW_LISTENER
		if flags&unix.SECCOMP_FILTER_FLAG_TSYNC != 0 {
			// Otherwise the kernel refuses TSYNC with a listener: the
			// return value could not tell a descriptor from a thread ID.
			flags |= unix.SECCOMP_FILTER_FLAG_TSYNC_ESRCH
		}
	} else {
		// Only meaningful for (and only accepted with) a listener.
		flags &^= unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
	}
	if f.log && !actionAvail(unix.SECCOMP_RET_LOG) {
		// Older kernels would kill where the profile asks to log.
		return -1, fmt.Errorf("SCMP_ACT_LOG: not supported by this kernel (Linux 4.14 or later): %w", errdefs.ErrNotImplemented)
	}
	r, errno := setFilter(flags|specAllow(f.specAllow), f.prog)
	if errno == unix.EINVAL && f.specAllow {
		r, errno = setFilter(flags, f.prog) // kernels before 4.17
	}
	switch {
	case errno == unix.EACCES:
		return -1, fmt.Errorf("loading the seccomp filter: needs no_new_privs or CAP_SYS_ADMIN: %w", errdefs.ErrPermissionDenied)
	case errno == unix.ESRCH, errno == 0 && !f.notify && r != 0:
		return -1, fmt.Errorf("loading the seccomp filter: SECCOMP_FILTER_FLAG_TSYNC: another thread has a different filter")
	case errno == unix.EINVAL:
		if err := unsupported(flags); err != nil {
			return -1, err
		}
		return -1, fmt.Errorf("loading the seccomp filter: %w", errno)
	case errno != 0:
		return -1, fmt.Errorf("loading the seccomp filter: %w", errno)
	}
	if !f.notify {
		return -1, nil
	}
	return int(r), nil
}

func specAllow(on bool) uintptr {
	if on {
		return unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW
	}
	return 0
}

func setFilter(flags uintptr, prog []unix.SockFilter) (uintptr, unix.Errno) {
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	r, _, errno := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, flags, uintptr(unsafe.Pointer(&fprog)))
	runtime.KeepAlive(prog)
	return r, errno
}

// unsupported returns an error naming the first of flags this kernel lacks.
func unsupported(flags uintptr) error {
	for _, f := range []struct {
		bit  uintptr
		name string
	}{
		{unix.SECCOMP_FILTER_FLAG_NEW_LISTENER, "SCMP_ACT_NOTIFY (Linux 5.0 or later)"},
		{unix.SECCOMP_FILTER_FLAG_TSYNC, "SECCOMP_FILTER_FLAG_TSYNC"},
		{unix.SECCOMP_FILTER_FLAG_LOG, "SECCOMP_FILTER_FLAG_LOG (Linux 4.14 or later)"},
		{unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW, "SECCOMP_FILTER_FLAG_SPEC_ALLOW (Linux 4.17 or later)"},
		{unix.SECCOMP_FILTER_FLAG_TSYNC_ESRCH, "SECCOMP_FILTER_FLAG_TSYNC with SCMP_ACT_NOTIFY (Linux 5.7 or later)"},
		{unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV, "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (Linux 5.19 or later)"},
	} {
		if flags&f.bit != 0 && !flagAvail(f.bit) {
			return fmt.Errorf("%s: not supported by this kernel: %w", f.name, errdefs.ErrNotImplemented)
		}
	}
	return nil
}

// flagAvail reports whether the kernel knows a filter flag: it checks the
// flags before it reads the program, so a NULL program fails with EFAULT
// when they are known and EINVAL when not (libseccomp probes the same way).
func flagAvail(flag uintptr) bool {
	flags := flag
	if flag == unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV {
		flags |= unix.SECCOMP_FILTER_FLAG_NEW_LISTENER // refused without it
	}
	_, _, errno := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, flags, 0)
	return errno == unix.EFAULT
}

// actionAvail asks the kernel whether it knows a SECCOMP_RET_* action.
func actionAvail(action uint32) bool {
	_, _, errno := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_GET_ACTION_AVAIL, 0, uintptr(unsafe.Pointer(&action)))
	return errno == 0
}

// SupportedFlags returns the KnownFlags the running kernel supports.
func SupportedFlags() []string {
	var out []string
	for _, name := range KnownFlags() {
		if flagAvail(flagValue(specs.LinuxSeccompFlag(name))) {
			out = append(out, name)
		}
	}
	return out
}

// Prepared is a filter ready to be installed by a process that cannot run
// Go code (the runtime's forked init, package sysprog): the arguments of
// seccomp(2), checked against the kernel beforehand. Flags carries
// SECCOMP_FILTER_FLAG_SPEC_ALLOW where wanted; a kernel that refuses it
// (EINVAL, before 4.17) gets FallbackFlags.
type Prepared struct {
	Prog          *unix.SockFprog
	Flags         uintptr
	FallbackFlags uintptr
}

// Prepare checks what Load would check before installing f, for a filter
// without SCMP_ACT_NOTIFY.
func (f *Filter) Prepare() (*Prepared, error) {
	if f.notify {
		return nil, fmt.Errorf("SCMP_ACT_NOTIFY needs the seccomp agent protocol: %w", errdefs.ErrNotImplemented)
	}
	if f.log && !actionAvail(unix.SECCOMP_RET_LOG) {
		return nil, fmt.Errorf("SCMP_ACT_LOG: not supported by this kernel (Linux 4.14 or later): %w", errdefs.ErrNotImplemented)
	}
	flags := f.flags &^ unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
	if err := unsupported(flags); err != nil {
		return nil, err
	}
	prog := f.prog
	return &Prepared{
		Prog:          &unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]},
		Flags:         flags | specAllow(f.specAllow),
		FallbackFlags: flags,
	}, nil
}
