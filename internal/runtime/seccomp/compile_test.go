package seccomp

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/hako-dev/hako/internal/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func uptr(v uint) *uint { return &v }

// compileTest compiles cfg as if native were the kernel's architecture and
// checks the program like the kernel would.
func compileTest(t testing.TB, cfg *specs.LinuxSeccomp, native specs.Arch) []unix.SockFilter {
	t.Helper()
	f, err := compileFor(cfg, lookupArch(native))
	if err != nil {
		t.Fatal(err)
	}
	if err := verify(f.Program()); err != nil {
		t.Fatalf("%v\n%s", err, disasm(f.Program()))
	}
	return f.Program()
}

// sys returns the number of a syscall on an architecture.
func sys(t testing.TB, a specs.Arch, name string) uint32 {
	t.Helper()
	nr, ok := lookupArch(a).nr(sysIndex(name))
	if !ok {
		t.Fatalf("%s has no %s", a, name)
	}
	return nr
}

func token(a specs.Arch) uint32 { return lookupArch(a).token }

// expect runs prog on c and checks the result against want and the oracle.
func expect(t testing.TB, prog []unix.SockFilter, cfg *specs.LinuxSeccomp, native specs.Arch, c call, want uint32) {
	t.Helper()
	got, _, err := run(prog, c, lookupArch(native).big)
	if err != nil {
		t.Fatalf("%+v: %v\n%s", c, err, disasm(prog))
	}
	if o := oracle(t, cfg, native, c); o != want {
		t.Errorf("%+v: the oracle says %#x, the test wants %#x", c, o, want)
	}
	if got != want {
		t.Errorf("nr %#x arch %#x args %#x: got %#x, want %#x", c.nr, c.arch, c.args, got, want)
	}
}

const (
	allow = unix.SECCOMP_RET_ALLOW
	eperm = unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
)

func errno(e unix.Errno) uint32 { return unix.SECCOMP_RET_ERRNO | uint32(e) }

func TestActions(t *testing.T) {
	cfg := &specs.LinuxSeccomp{
		DefaultAction:   specs.ActErrno,
		DefaultErrnoRet: uptr(uint(unix.EACCES)),
		ListenerPath:    "/run/agent.sock",
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"read"}, Action: specs.ActAllow},
			{Names: []string{"write"}, Action: specs.ActLog},
			{Names: []string{"getpid"}, Action: specs.ActKill},
			{Names: []string{"gettid"}, Action: specs.ActKillThread},
			{Names: []string{"getppid"}, Action: specs.ActKillProcess},
			{Names: []string{"getuid"}, Action: specs.ActTrap},
			{Names: []string{"getgid"}, Action: specs.ActErrno},
			{Names: []string{"geteuid"}, Action: specs.ActErrno, ErrnoRet: uptr(uint(unix.EINVAL))},
			{Names: []string{"getegid"}, Action: specs.ActTrace},
			{Names: []string{"getpgrp"}, Action: specs.ActTrace, ErrnoRet: uptr(5)},
			{Names: []string{"sync"}, Action: specs.ActNotify},
			{Names: []string{"mkdir", "rmdir"}, Action: specs.ActErrno, ErrnoRet: uptr(0)},
		},
	}
	prog := compileTest(t, cfg, specs.ArchX86_64)
	for name, want := range map[string]uint32{
		"read":    allow,
		"write":   unix.SECCOMP_RET_LOG,
		"getpid":  unix.SECCOMP_RET_KILL_THREAD,
		"gettid":  unix.SECCOMP_RET_KILL_THREAD,
		"getppid": unix.SECCOMP_RET_KILL_PROCESS,
		"getuid":  unix.SECCOMP_RET_TRAP,
		"getgid":  eperm,
		"geteuid": errno(unix.EINVAL),
		"getegid": unix.SECCOMP_RET_TRACE | uint32(unix.EPERM),
		"getpgrp": unix.SECCOMP_RET_TRACE | 5,
		"sync":    unix.SECCOMP_RET_USER_NOTIF,
		"mkdir":   unix.SECCOMP_RET_ERRNO,
		"rmdir":   unix.SECCOMP_RET_ERRNO,
		"chdir":   errno(unix.EACCES), // not listed: the default
	} {
		expect(t, prog, cfg, specs.ArchX86_64, call{nr: sys(t, specs.ArchX86_64, name), arch: unix.AUDIT_ARCH_X86_64}, want)
	}
}

// values around the interesting edges of 64-bit comparisons.
var edgeValues = []uint64{
	0, 1, 2, 7, 8, 9, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff,
	1 << 32, 1<<32 + 1, 1<<32 + 8, 0x1234_5678_0000_0008, 0x1234_5678_ffff_ffff,
	0xffff_ffff_0000_0000, 0xffff_ffff_0000_0008, 0xffff_ffff_ffff_fffe, 0xffff_ffff_ffff_ffff,
}

func TestOperators(t *testing.T) {
	ops := []specs.LinuxSeccompOperator{
		specs.OpEqualTo, specs.OpNotEqual, specs.OpGreaterThan, specs.OpGreaterEqual,
		specs.OpLessThan, specs.OpLessEqual, specs.OpMaskedEqual,
	}
	type kernel struct {
		native specs.Arch
		extra  []specs.Arch
	}
	for _, k := range []kernel{
		{specs.ArchX86_64, []specs.Arch{specs.ArchX86, specs.ArchX32}}, // little-endian, wide and narrow
		{specs.ArchS390X, nil},                         // big-endian, wide
		{specs.ArchPPC64, []specs.Arch{specs.ArchPPC}}, // big-endian, narrow
	} {
		for _, op := range ops {
			for _, v := range edgeValues {
				for _, idx := range []uint{0, 5} {
					v2 := uint64(0)
					if op == specs.OpMaskedEqual {
						v2 = v & 0x0000_00ff_0000_0f0f
					}
					cfg := &specs.LinuxSeccomp{
						DefaultAction: specs.ActErrno,
						Architectures: k.extra,
						Syscalls: []specs.LinuxSyscall{{
							Names:  []string{"read"},
							Action: specs.ActAllow,
							Args:   []specs.LinuxSeccompArg{{Index: idx, Op: op, Value: v, ValueTwo: v2}},
						}},
					}
					prog := compileTest(t, cfg, k.native)
					for _, a := range append([]specs.Arch{k.native}, k.extra...) {
						narrow := lookupArch(a).narrow
						for _, arg := range edgeValues {
							var args [6]uint64
							args[idx] = arg
							args[5-idx] = ^arg // the other arguments do not matter
							want := eperm
							if holds(cond{idx: idx, op: op, v: v, v2: v2}, arg, narrow) ||
								op == specs.OpMaskedEqual && (v == 0 || narrow && uint32(v) == 0) {
								want = allow
							}
							expect(t, prog, cfg, k.native, call{nr: sys(t, a, "read"), arch: token(a), args: args}, want)
						}
					}
				}
			}
		}
	}
}

func TestConditionsAreANDedEntriesORed(t *testing.T) {
	cfg := &specs.LinuxSeccomp{
		DefaultAction: specs.ActErrno,
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"read"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{
				{Index: 2, Op: specs.OpEqualTo, Value: 3},
				{Index: 0, Op: specs.OpGreaterThan, Value: 10},
			}},
			{Names: []string{"read"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{
				{Index: 1, Op: specs.OpEqualTo, Value: 7},
			}},
			// Two conditions on one argument: ORed, as runc does.
			{Names: []string{"write"}, Action: specs.ActLog, Args: []specs.LinuxSeccompArg{
				{Index: 0, Op: specs.OpEqualTo, Value: 1},
				{Index: 0, Op: specs.OpEqualTo, Value: 2},
			}},
		},
	}
	prog := compileTest(t, cfg, specs.ArchX86_64)
	read, write := sys(t, specs.ArchX86_64, "read"), sys(t, specs.ArchX86_64, "write")
	for _, tc := range []struct {
		nr   uint32
		args [6]uint64
		want uint32
	}{
		{read, [6]uint64{11, 0, 3}, allow},
		{read, [6]uint64{10, 0, 3}, eperm},
		{read, [6]uint64{11, 0, 4}, eperm},
		{read, [6]uint64{0, 7, 0}, allow},
		{read, [6]uint64{0, 1<<32 | 7, 0}, eperm},
		{write, [6]uint64{1}, unix.SECCOMP_RET_LOG},
		{write, [6]uint64{2}, unix.SECCOMP_RET_LOG},
		{write, [6]uint64{3}, eperm},
	} {
		expect(t, prog, cfg, specs.ArchX86_64, call{nr: tc.nr, arch: unix.AUDIT_ARCH_X86_64, args: tc.args}, tc.want)
	}
}

func TestMergeLikeLibseccomp(t *testing.T) {
	cfg := &specs.LinuxSeccomp{
		DefaultAction: specs.ActErrno,
		Syscalls: []specs.LinuxSyscall{
			// Same action and errno as the default: dropped, so the
			// conditional rule after it decides.
			{Names: []string{"read"}, Action: specs.ActErrno, ErrnoRet: uptr(uint(unix.EPERM))},
			{Names: []string{"read"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Op: specs.OpEqualTo, Value: 1}}},
			// An unconditional rule wins over conditional ones, before or
			// after it; the first unconditional one wins.
			{Names: []string{"write"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Op: specs.OpEqualTo, Value: 1}}},
			{Names: []string{"write"}, Action: specs.ActErrno, ErrnoRet: uptr(uint(unix.ENOENT))},
			{Names: []string{"write"}, Action: specs.ActLog},
			// A condition that cannot fail makes the rule unconditional.
			{Names: []string{"open"}, Action: specs.ActErrno, ErrnoRet: uptr(uint(unix.EIO)), Args: []specs.LinuxSeccompArg{{Index: 0, Op: specs.OpEqualTo, Value: 1}}},
			{Names: []string{"open"}, Action: specs.ActLog, Args: []specs.LinuxSeccompArg{{Index: 3, Op: specs.OpMaskedEqual, Value: 0, ValueTwo: 5}}},
			// Overlapping conditional rules: the first one listed decides.
			{Names: []string{"close"}, Action: specs.ActLog, Args: []specs.LinuxSeccompArg{{Index: 0, Op: specs.OpLessThan, Value: 10}}},
			{Names: []string{"close"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Op: specs.OpLessThan, Value: 20}}},
		},
	}
	prog := compileTest(t, cfg, specs.ArchX86_64)
	nr := func(name string) uint32 { return sys(t, specs.ArchX86_64, name) }
	for _, tc := range []struct {
		nr   uint32
		arg  uint64
		want uint32
	}{
		{nr("read"), 1, allow},
		{nr("read"), 2, eperm},
		{nr("write"), 1, errno(unix.ENOENT)},
		{nr("write"), 2, errno(unix.ENOENT)},
		{nr("open"), 0, unix.SECCOMP_RET_LOG},
		{nr("close"), 5, unix.SECCOMP_RET_LOG},
		{nr("close"), 15, allow},
		{nr("close"), 25, eperm},
	} {
		expect(t, prog, cfg, specs.ArchX86_64, call{nr: tc.nr, arch: unix.AUDIT_ARCH_X86_64, args: [6]uint64{tc.arg}}, tc.want)
	}

	// A rule with the default action leaves no trace in the program.
	kill := &specs.LinuxSeccomp{
		DefaultAction: specs.ActKillThread,
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"read"}, Action: specs.ActKill}, // the same as KILL_THREAD
			{Names: []string{"write"}, Action: specs.ActAllow},
		},
	}
	withRule := compileTest(t, kill, specs.ArchX86_64)
	kill.Syscalls = kill.Syscalls[1:]
	if without := compileTest(t, kill, specs.ArchX86_64); !slices.Equal(withRule, without) {
		t.Errorf("a rule with the default action changed the program:\n%s\n%s", disasm(withRule), disasm(without))
	}
}

func TestArchitectures(t *testing.T) {
	cfg := &specs.LinuxSeccomp{
		DefaultAction: specs.ActErrno,
		Architectures: []specs.Arch{specs.ArchX86, specs.ArchAARCH64, specs.ArchARM, specs.ArchS390X, specs.ArchSH},
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"mkdirat", "getcwd", "socket"}, Action: specs.ActAllow},
		},
	}
	f, err := compileFor(cfg, lookupArch(specs.ArchX86_64))
	if err != nil {
		t.Fatal(err)
	}
	if w := f.Warnings(); len(w) != 1 || w[0] != "linux.seccomp.architectures[4]: no syscall table for SCMP_ARCH_SH, its syscalls are refused" {
		t.Errorf("warnings: %q", w)
	}
	prog := compileTest(t, cfg, specs.ArchX86_64)
	for _, a := range []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchAARCH64, specs.ArchARM} {
		for _, name := range []string{"mkdirat", "getcwd"} {
			expect(t, prog, cfg, specs.ArchX86_64, call{nr: sys(t, a, name), arch: token(a)}, allow)
		}
		expect(t, prog, cfg, specs.ArchX86_64, call{nr: sys(t, a, "chdir"), arch: token(a)}, eperm)
	}
	// x32 is not listed: its numbers are bad-arch, except -1.
	expect(t, prog, cfg, specs.ArchX86_64, call{nr: sys(t, specs.ArchX32, "getcwd"), arch: unix.AUDIT_ARCH_X86_64}, badArch)
	expect(t, prog, cfg, specs.ArchX86_64, call{nr: x32Bit, arch: unix.AUDIT_ARCH_X86_64}, badArch)
	expect(t, prog, cfg, specs.ArchX86_64, call{nr: ^uint32(0) - 1, arch: unix.AUDIT_ARCH_X86_64}, badArch)
	expect(t, prog, cfg, specs.ArchX86_64, call{nr: ^uint32(0), arch: unix.AUDIT_ARCH_X86_64}, eperm)
	// Unlisted architectures, and big-endian ones a little-endian kernel
	// never runs, are bad-arch.
	for _, tok := range []uint32{unix.AUDIT_ARCH_PPC64LE, unix.AUDIT_ARCH_S390X, unix.AUDIT_ARCH_SH, 0} {
		expect(t, prog, cfg, specs.ArchX86_64, call{nr: 1, arch: tok}, badArch)
	}

	// With x32 listed.
	cfg.Architectures = []specs.Arch{specs.ArchX32}
	prog = compileTest(t, cfg, specs.ArchX86_64)
	for _, name := range []string{"mkdirat", "getcwd"} {
		expect(t, prog, cfg, specs.ArchX86_64, call{nr: sys(t, specs.ArchX32, name), arch: unix.AUDIT_ARCH_X86_64}, allow)
	}
	expect(t, prog, cfg, specs.ArchX86_64, call{nr: sys(t, specs.ArchX32, "chdir"), arch: unix.AUDIT_ARCH_X86_64}, eperm)
	expect(t, prog, cfg, specs.ArchX86_64, call{nr: unix.AUDIT_ARCH_I386, arch: unix.AUDIT_ARCH_I386}, badArch)

	// x32 listed without x86_64 on an x86_64 kernel: the native
	// architecture is always included.
	cfg.Architectures = []specs.Arch{specs.ArchX32}
	prog = compileTest(t, cfg, specs.ArchAARCH64)
	expect(t, prog, cfg, specs.ArchAARCH64, call{nr: sys(t, specs.ArchX32, "getcwd"), arch: unix.AUDIT_ARCH_X86_64}, allow)
	expect(t, prog, cfg, specs.ArchAARCH64, call{nr: sys(t, specs.ArchX86_64, "getcwd"), arch: unix.AUDIT_ARCH_X86_64}, badArch)
	expect(t, prog, cfg, specs.ArchAARCH64, call{nr: sys(t, specs.ArchAARCH64, "getcwd"), arch: unix.AUDIT_ARCH_AARCH64}, allow)
}

func TestMultiplexedSocketcall(t *testing.T) {
	cfg := &specs.LinuxSeccomp{
		DefaultAction: specs.ActErrno,
		Architectures: []specs.Arch{specs.ArchX86},
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"socket"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{
				{Index: 0, Op: specs.OpEqualTo, Value: unix.AF_INET},
				{Index: 2, Op: specs.OpEqualTo, Value: 0},
			}},
			{Names: []string{"shmget"}, Action: specs.ActAllow},
			{Names: []string{"send"}, Action: specs.ActLog}, // no direct syscall on x86
		},
	}
	prog := compileTest(t, cfg, specs.ArchX86_64)
	x86 := func(name string, args ...uint64) call {
		c := call{nr: sys(t, specs.ArchX86, name), arch: unix.AUDIT_ARCH_I386}
		copy(c.args[:], args)
		return c
	}
	for _, tc := range []struct {
		c    call
		want uint32
	}{
		{x86("socket", unix.AF_INET, 1, 0), allow},
		{x86("socket", unix.AF_UNIX, 1, 0), eperm},
		// socketcall(SYS_SOCKET, args): the first argument is replaced by
		// the call number, the others are kept (libseccomp).
		{x86("socketcall", 1, 0, 0), allow},
		{x86("socketcall", 1, 0, 1), eperm},
		{x86("socketcall", 2, 0, 0), eperm},
		{x86("socketcall", 9), unix.SECCOMP_RET_LOG},
		{x86("ipc", 23), allow},
		{x86("ipc", 24), eperm},
		{x86("shmget"), allow},
	} {
		expect(t, prog, cfg, specs.ArchX86_64, tc.c, tc.want)
	}
	// x86_64 has neither multiplexer.
	expect(t, prog, cfg, specs.ArchX86_64, call{nr: sys(t, specs.ArchX86_64, "socket"), arch: unix.AUDIT_ARCH_X86_64, args: [6]uint64{unix.AF_INET}}, allow)
}

func TestENOSYS(t *testing.T) {
	base := []specs.LinuxSyscall{{Names: []string{"read", "mkdir"}, Action: specs.ActAllow}}
	mkdir := sys(t, specs.ArchX86_64, "mkdir")
	for _, tc := range []struct {
		def    specs.LinuxSeccompAction
		errno  *uint
		enosys bool
	}{
		{specs.ActErrno, nil, true},
		{specs.ActErrno, uptr(uint(unix.ENOSYS)), true},
		{specs.ActKill, nil, true},
		{specs.ActKillProcess, nil, true},
		{specs.ActTrap, nil, true},
		{specs.ActAllow, nil, false},
		{specs.ActLog, nil, false},
		{specs.ActTrace, nil, false},
	} {
		t.Run(string(tc.def), func(t *testing.T) {
			cfg := &specs.LinuxSeccomp{
				DefaultAction:   tc.def,
				DefaultErrnoRet: tc.errno,
				Architectures:   []specs.Arch{specs.ArchX86, specs.ArchX32},
				Syscalls:        base,
			}
			if tc.def == specs.ActAllow {
				cfg.Syscalls = []specs.LinuxSyscall{{Names: []string{"read", "mkdir"}, Action: specs.ActErrno}}
			}
			def, _ := action("", tc.def, tc.errno, "")
			prog := compileTest(t, cfg, specs.ArchX86_64)
			high := def
			if tc.enosys {
				high = retENOSYS
			}
			for _, c := range []struct {
				nr   uint32
				want uint32
			}{
				{mkdir - 1, def},
				{mkdir + 1, high},
				{1000, high},
				{x32Bit - 1, high},
				{x32Bit + 1, def},          // x32 write, below x32 mkdir
				{x32Bit + mkdir + 1, high}, // above the highest common x32 syscall
				{x32Bit + 511, high},
				// x32's own range (rt_sigaction...) is above every
				// syscall the filter names, so it is "newer" too.
				{x32Bit + 512, high},
				{x32Bit + 547, high},
				{x32Bit + 548, high},
				{^uint32(0), high},
			} {
				expect(t, prog, cfg, specs.ArchX86_64, call{nr: c.nr, arch: unix.AUDIT_ARCH_X86_64}, c.want)
			}
			x86mkdir := sys(t, specs.ArchX86, "mkdir")
			expect(t, prog, cfg, specs.ArchX86_64, call{nr: x86mkdir - 1, arch: unix.AUDIT_ARCH_I386}, def)
			expect(t, prog, cfg, specs.ArchX86_64, call{nr: x86mkdir + 1, arch: unix.AUDIT_ARCH_I386}, high)
		})
	}

	// ARM's private syscalls do not stop the ENOSYS range below them.
	cfg := &specs.LinuxSeccomp{
		DefaultAction: specs.ActErrno,
		Syscalls:      []specs.LinuxSyscall{{Names: []string{"mkdir", "set_tls"}, Action: specs.ActAllow}},
	}
	prog := compileTest(t, cfg, specs.ArchARM)
	armMkdir := sys(t, specs.ArchARM, "mkdir")
	for _, c := range []struct {
		nr   uint32
		want uint32
	}{
		{armMkdir, allow},
		{armMkdir + 1, retENOSYS},
		{0x0f0000 - 1, retENOSYS},
		{0x0f0002, eperm}, // cacheflush: private, unlisted
		{0x0f0005, allow}, // set_tls
		{0x0f0006, retENOSYS},
	} {
		expect(t, prog, cfg, specs.ArchARM, call{nr: c.nr, arch: unix.AUDIT_ARCH_ARM}, c.want)
	}

	// A profile without syscalls has no ENOSYS range (like runc).
	empty := &specs.LinuxSeccomp{DefaultAction: specs.ActErrno}
	prog = compileTest(t, empty, specs.ArchX86_64)
	expect(t, prog, empty, specs.ArchX86_64, call{nr: 1000, arch: unix.AUDIT_ARCH_X86_64}, eperm)
}

// randomProfile makes a profile of n entries over the names of a.
func randomProfile(r *rand.Rand, a specs.Arch, extra []specs.Arch, n int) *specs.LinuxSeccomp {
	actions := []specs.LinuxSeccompAction{
		specs.ActAllow, specs.ActAllow, specs.ActAllow, specs.ActErrno, specs.ActLog,
		specs.ActKillProcess, specs.ActTrap, specs.ActTrace, specs.ActNotify,
	}
	ops := []specs.LinuxSeccompOperator{
		specs.OpEqualTo, specs.OpNotEqual, specs.OpGreaterThan, specs.OpGreaterEqual,
		specs.OpLessThan, specs.OpLessEqual, specs.OpMaskedEqual,
	}
	var names []string
	for i := range nSysNames {
		if _, ok := lookupArch(a).nr(i); ok {
			names = append(names, sysNames[sysNameOff[i]:sysNameOff[i+1]])
		}
	}
	cfg := &specs.LinuxSeccomp{
		DefaultAction: []specs.LinuxSeccompAction{specs.ActErrno, specs.ActAllow, specs.ActKillProcess}[r.IntN(3)],
		Architectures: extra,
		ListenerPath:  "/agent",
	}
	for range n {
		sc := specs.LinuxSyscall{Action: actions[r.IntN(len(actions))]}
		for range 1 + r.IntN(3) {
			sc.Names = append(sc.Names, names[r.IntN(len(names))])
		}
		if sc.Action == specs.ActErrno && r.IntN(2) == 0 {
			sc.ErrnoRet = uptr(uint(r.IntN(200)))
		}
		for range r.IntN(4) {
			sc.Args = append(sc.Args, specs.LinuxSeccompArg{
				Index:    uint(r.IntN(6)),
				Op:       ops[r.IntN(len(ops))],
				Value:    edgeValues[r.IntN(len(edgeValues))],
				ValueTwo: edgeValues[r.IntN(len(edgeValues))],
			})
		}
		cfg.Syscalls = append(cfg.Syscalls, sc)
	}
	return cfg
}

// randomCalls makes calls that hit the profile's rules and their edges.
func randomCalls(r *rand.Rand, cfg *specs.LinuxSeccomp, archs []specs.Arch, n int) []call {
	var calls []call
	for range n {
		a := lookupArch(archs[r.IntN(len(archs))])
		c := call{arch: a.token}
		switch r.IntN(4) {
		case 0:
			c.nr = r.Uint32N(600) + a.base
		case 1:
			c.nr = r.Uint32()
		default:
			sc := cfg.Syscalls[r.IntN(len(cfg.Syscalls))]
			name := sc.Names[r.IntN(len(sc.Names))]
			if nr, ok := a.nr(sysIndex(name)); ok {
				c.nr = nr
			}
			for _, arg := range sc.Args {
				v := arg.Value + uint64(r.IntN(3)) - 1
				if r.IntN(3) == 0 {
					v ^= uint64(r.Uint32()) << 32
				}
				c.args[arg.Index] = v
			}
		}
		calls = append(calls, c)
	}
	return calls
}

func TestRandomProfiles(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	kernels := []struct {
		native specs.Arch
		extra  []specs.Arch
	}{
		{specs.ArchX86_64, []specs.Arch{specs.ArchX86, specs.ArchX32}},
		{specs.ArchAARCH64, []specs.Arch{specs.ArchARM}},
		{specs.ArchS390X, nil},
		{specs.ArchPPC64, []specs.Arch{specs.ArchPPC}},
		{specs.ArchMIPSEL64, []specs.Arch{specs.ArchMIPSEL}},
		{specs.ArchRISCV64, nil},
		{specs.ArchLOONGARCH64, nil},
		{specs.ArchPPC64LE, nil},
	}
	n := 300
	if testing.Short() {
		n = 30
	}
	for i := range n {
		k := kernels[i%len(kernels)]
		cfg := randomProfile(r, k.native, k.extra, 1+r.IntN(60))
		prog := compileTest(t, cfg, k.native)
		all := append([]specs.Arch{k.native}, k.extra...)
		for _, c := range randomCalls(r, cfg, all, 200) {
			want := oracle(t, cfg, k.native, c)
			got, _, err := run(prog, c, lookupArch(k.native).big)
			if err != nil || got != want {
				t.Fatalf("profile %d (%s): %+v: got %#x (%v), want %#x", i, k.native, c, got, err, want)
			}
		}
	}
}

// A profile far bigger than 256 instructions needs long jumps.
func TestLongJumps(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	cfg := randomProfile(r, specs.ArchX86_64, []specs.Arch{specs.ArchX86, specs.ArchX32}, 120)
	prog := compileTest(t, cfg, specs.ArchX86_64)
	long := 0
	for _, ins := range prog {
		if ins.Code == opJa {
			long++
		}
	}
	t.Logf("%d rules: %d instructions, %d long jumps", len(cfg.Syscalls), len(prog), long)
	if len(prog) < 1000 || long == 0 {
		t.Fatalf("%d instructions, %d long jumps: the test does not exercise long jumps", len(prog), long)
	}
	all := []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32}
	for _, c := range randomCalls(r, cfg, all, 20000) {
		want := oracle(t, cfg, specs.ArchX86_64, c)
		if got, _, err := run(prog, c, false); err != nil || got != want {
			t.Fatalf("%+v: got %#x (%v), want %#x", c, got, err, want)
		}
	}
}

func TestTooBig(t *testing.T) {
	cfg := &specs.LinuxSeccomp{DefaultAction: specs.ActErrno}
	for i := range 3000 {
		cfg.Syscalls = append(cfg.Syscalls, specs.LinuxSyscall{
			Names:  []string{"ioctl"},
			Action: specs.ActAllow,
			Args:   []specs.LinuxSeccompArg{{Index: 1, Op: specs.OpEqualTo, Value: uint64(i)}},
		})
	}
	_, err := Compile(cfg)
	if !errdefs.IsInvalidArgument(err) {
		t.Fatalf("got %v, want an invalid-argument error", err)
	}
	t.Log(err)
}

func ExampleCompile() {
	f, err := Compile(&specs.LinuxSeccomp{
		DefaultAction: specs.ActErrno,
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"read", "write", "exit_group", "no_such_syscall"}, Action: specs.ActAllow},
		},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(f.Warnings())
	// Output: [linux.seccomp.syscalls[0].names[3]: unknown syscall "no_such_syscall" ignored]
}
