package seccomp

import (
	"fmt"
	"slices"

	"github.com/hako-dev/hako/internal/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// badArch is what a syscall of an architecture the profile does not list
// gets. libseccomp (and so runc and crun) default to killing the thread,
// which leaves the rest of a multi-threaded process running without it;
// hako kills the process. Kernels older than 4.14 read this as "kill the
// thread".
const badArch = unix.SECCOMP_RET_KILL_PROCESS

// retENOSYS is what a syscall newer than the profile gets, see enosys.
const retENOSYS = unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)

// profile is a validated seccomp configuration.
type profile struct {
	def     uint32 // default action, as a SECCOMP_RET_* value
	enosys  bool   // syscalls above the profile's highest one return ENOSYS
	archs   []*arch
	entries []entry

	flags     uintptr // SECCOMP_FILTER_FLAG_*
	specAllow bool    // no flags listed: add SPEC_ALLOW where the kernel has it
	notify    bool
	log       bool // some rule logs: the kernel must know SECCOMP_RET_LOG

	warnings []string
}

// entry is one element of linux.seccomp.syscalls.
type entry struct {
	field string // "linux.seccomp.syscalls[i]"
	act   uint32
	names []string
	// sets are alternative condition sets (ORed); each set is ANDed. An
	// entry without args has one empty set.
	sets [][]cond
}

type cond struct {
	idx uint
	op  specs.LinuxSeccompOperator
	v   uint64 // value; the mask for SCMP_CMP_MASKED_EQ
	v2  uint64 // valueTwo: the masked value for SCMP_CMP_MASKED_EQ
}

func invalid(format string, args ...any) error {
	return fmt.Errorf(format+": %w", append(args, errdefs.ErrInvalidArgument)...)
}

// action returns the SECCOMP_RET_* value of an OCI action.
func action(field string, a specs.LinuxSeccompAction, errnoRet *uint, errnoField string) (uint32, error) {
	data := uint32(unix.EPERM)
	if errnoRet != nil {
		if a != specs.ActErrno && a != specs.ActTrace {
			return 0, invalid("%s: only SCMP_ACT_ERRNO and SCMP_ACT_TRACE take an errno, not %s", errnoField, a)
		}
		if *errnoRet > unix.SECCOMP_RET_DATA {
			return 0, invalid("%s: %d is out of range (0-65535)", errnoField, *errnoRet)
		}
		data = uint32(*errnoRet)
	}
	switch a {
	case specs.ActKill, specs.ActKillThread:
		return unix.SECCOMP_RET_KILL_THREAD, nil
	case specs.ActKillProcess:
		return unix.SECCOMP_RET_KILL_PROCESS, nil
	case specs.ActTrap:
		return unix.SECCOMP_RET_TRAP, nil
	case specs.ActErrno:
		return unix.SECCOMP_RET_ERRNO | data, nil
	case specs.ActTrace:
		return unix.SECCOMP_RET_TRACE | data, nil
	case specs.ActAllow:
		return unix.SECCOMP_RET_ALLOW, nil
	case specs.ActLog:
		return unix.SECCOMP_RET_LOG, nil
	case specs.ActNotify:
		return unix.SECCOMP_RET_USER_NOTIF, nil
	case "":
		return 0, invalid("%s: missing", field)
	}
	return 0, invalid("%s: unknown action %q", field, a)
}

func knownOp(op specs.LinuxSeccompOperator) bool {
	switch op {
	case specs.OpNotEqual, specs.OpLessThan, specs.OpLessEqual, specs.OpEqualTo,
		specs.OpGreaterEqual, specs.OpGreaterThan, specs.OpMaskedEqual:
		return true
	}
	return false
}

func flagValue(f specs.LinuxSeccompFlag) uintptr {
	switch f {
	case "SECCOMP_FILTER_FLAG_TSYNC":
		return unix.SECCOMP_FILTER_FLAG_TSYNC
	case specs.LinuxSeccompFlagLog:
		return unix.SECCOMP_FILTER_FLAG_LOG
	case specs.LinuxSeccompFlagSpecAllow:
		return unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW
	case specs.LinuxSeccompFlagWaitKillableRecv:
		return unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
	}
	return 0
}

// parse validates cfg for a kernel whose native architecture is native.
// It returns nil for a configuration that disables seccomp: no default
// action and no syscalls, as runc treats it.
func parse(cfg *specs.LinuxSeccomp, native *arch) (*profile, error) {
	if cfg == nil || cfg.DefaultAction == "" && len(cfg.Syscalls) == 0 {
		return nil, nil
	}
	if native == nil {
		return nil, fmt.Errorf("linux.seccomp: no syscall table for this architecture: %w", errdefs.ErrNotImplemented)
	}
	p := &profile{}
	var err error
	if p.def, err = action("linux.seccomp.defaultAction", cfg.DefaultAction, cfg.DefaultErrnoRet, "linux.seccomp.defaultErrnoRet"); err != nil {
		return nil, err
	}
	switch p.def {
	case unix.SECCOMP_RET_USER_NOTIF:
		return nil, invalid("linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be the default action")
	case unix.SECCOMP_RET_KILL_PROCESS, unix.SECCOMP_RET_KILL_THREAD, unix.SECCOMP_RET_TRAP:
		p.enosys = true
	case unix.SECCOMP_RET_LOG:
		p.log = true
	default:
		p.enosys = p.def&unix.SECCOMP_RET_ACTION_FULL == unix.SECCOMP_RET_ERRNO && p.def != retENOSYS
	}

	p.archs = append(p.archs, native)
	for i, name := range cfg.Architectures {
		a := lookupArch(name)
		switch {
		case a == nil && !knownArch(name):
			return nil, invalid("linux.seccomp.architectures[%d]: unknown architecture %q", i, name)
		case a == nil:
			p.warnings = append(p.warnings, fmt.Sprintf("linux.seccomp.architectures[%d]: no syscall table for %s, its syscalls are refused", i, name))
		case a.big != native.big:
			// The kernel cannot run syscalls of the other byte order.
		case !slices.Contains(p.archs, a):
			p.archs = append(p.archs, a)
		}
	}

	if cfg.Flags == nil {
		p.specAllow = true
	}
	for i, f := range cfg.Flags {
		v := flagValue(f)
		if v == 0 {
			return nil, invalid("linux.seccomp.flags[%d]: unknown flag %q", i, f)
		}
		p.flags |= v
	}

	notifyAt := -1
	p.entries = make([]entry, len(cfg.Syscalls))
	for i := range cfg.Syscalls {
		sc := &cfg.Syscalls[i]
		e := &p.entries[i]
		e.field = fmt.Sprintf("linux.seccomp.syscalls[%d]", i)
		if e.act, err = action(e.field+".action", sc.Action, sc.ErrnoRet, e.field+".errnoRet"); err != nil {
			return nil, err
		}
		switch e.act {
		case unix.SECCOMP_RET_USER_NOTIF:
			if notifyAt < 0 {
				notifyAt = i
			}
		case unix.SECCOMP_RET_LOG:
			p.log = true
		}
		if len(sc.Names) == 0 {
			return nil, invalid("%s.names: empty", e.field)
		}
		for j, n := range sc.Names {
			if n == "" {
				return nil, invalid("%s.names[%d]: empty", e.field, j)
			}
		}
		e.names = sc.Names
		var conds []cond
		var seen [6]bool
		repeated := false
		for k, arg := range sc.Args {
			if arg.Index >= 6 {
				return nil, invalid("%s.args[%d].index: %d is out of range (0-5)", e.field, k, arg.Index)
			}
			if !knownOp(arg.Op) {
				if arg.Op == "" {
					return nil, invalid("%s.args[%d].op: missing", e.field, k)
				}
				return nil, invalid("%s.args[%d].op: unknown operator %q", e.field, k, arg.Op)
			}
			repeated = repeated || seen[arg.Index]
			seen[arg.Index] = true
			conds = append(conds, cond{idx: arg.Index, op: arg.Op, v: arg.Value, v2: arg.ValueTwo})
		}
		switch {
		case repeated:
			// Two conditions on one argument: like runc and crun, make each
			// condition a rule of its own (they are ORed, not ANDed).
			// libseccomp refuses such a rule, and profiles (Docker's among
			// them) are written for this behaviour.
			for _, c := range conds {
				e.sets = append(e.sets, []cond{c})
			}
		default:
			slices.SortStableFunc(conds, func(a, b cond) int { return int(a.idx) - int(b.idx) })
			e.sets = [][]cond{conds}
		}
	}
	if notifyAt >= 0 {
		if cfg.ListenerPath == "" {
			return nil, invalid("linux.seccomp.listenerPath: missing, and syscalls[%d] uses SCMP_ACT_NOTIFY", notifyAt)
		}
		p.notify = true
	}
	if cfg.ListenerMetadata != "" && cfg.ListenerPath == "" {
		return nil, invalid("linux.seccomp.listenerMetadata: set without listenerPath")
	}
	return p, nil
}
