package seccomp

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Filter is a compiled seccomp filter with what it takes to install it.
type Filter struct {
	prog      []unix.SockFilter
	flags     uintptr
	specAllow bool
	notify    bool
	log       bool
	warnings  []string
}

// Validate checks cfg without compiling it. Errors name the field, as in
// `linux.seccomp.syscalls[3].action: unknown action "SCMP_ACT_FOO"`, and
// are errdefs.ErrInvalidArgument.
func Validate(cfg *specs.LinuxSeccomp) error {
	_, err := parse(cfg, nativeArch())
	return err
}

// Compile validates cfg and compiles it for the native architecture and
// those cfg lists. It returns nil for a configuration that disables seccomp
// (no default action and no syscalls).
func Compile(cfg *specs.LinuxSeccomp) (*Filter, error) {
	return compileFor(cfg, nativeArch())
}

func compileFor(cfg *specs.LinuxSeccomp, native *arch) (*Filter, error) {
	p, err := parse(cfg, native)
	if p == nil || err != nil {
		return nil, err
	}
	prog, warnings, err := compile(p)
	if err != nil {
		return nil, err
	}
	return &Filter{prog: prog, flags: p.flags, specAllow: p.specAllow, notify: p.notify, log: p.log, warnings: warnings}, nil
}

// Load compiles cfg and installs it on the calling thread; see
// [Filter.Load].
func Load(cfg *specs.LinuxSeccomp) (listenerFD int, err error) {
	f, err := Compile(cfg)
	if f == nil || err != nil {
		return -1, err
	}
	return f.Load()
}

// Program returns the classic-BPF program. It must not be modified.
func (f *Filter) Program() []unix.SockFilter { return f.prog }

// Warnings returns what the compiler ignored, for the caller to log:
// syscall names no table knows (misspelt, or newer than hako) and
// architectures without a table. Each names its field.
func (f *Filter) Warnings() []string { return f.warnings }

// Notify reports whether a rule uses SCMP_ACT_NOTIFY: Load then returns a
// listener descriptor for the seccomp agent.
func (f *Filter) Notify() bool { return f.notify }

// Actions returns the action names Validate accepts.
func Actions() []string {
	return []string{
		string(specs.ActAllow), string(specs.ActErrno), string(specs.ActKill),
		string(specs.ActKillProcess), string(specs.ActKillThread), string(specs.ActLog),
		string(specs.ActNotify), string(specs.ActTrace), string(specs.ActTrap),
	}
}

// Operators returns the argument operator names Validate accepts.
func Operators() []string {
	return []string{
		string(specs.OpEqualTo), string(specs.OpGreaterEqual), string(specs.OpGreaterThan),
		string(specs.OpLessEqual), string(specs.OpLessThan), string(specs.OpMaskedEqual),
		string(specs.OpNotEqual),
	}
}

// Archs returns the architectures hako has syscall tables for. Validate
// also accepts the runtime-spec's other architectures, whose syscalls are
// then refused.
func Archs() []string {
	out := make([]string, len(archs))
	for i := range archs {
		out[i] = string(archs[i].name)
	}
	return out
}

// KnownFlags returns the filter flags Validate accepts.
func KnownFlags() []string {
	return []string{
		"SECCOMP_FILTER_FLAG_TSYNC",
		string(specs.LinuxSeccompFlagLog),
		string(specs.LinuxSeccompFlagSpecAllow),
		string(specs.LinuxSeccompFlagWaitKillableRecv),
	}
}
