package seccomp

import (
	"runtime"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

//go:generate go run mksyscalls.go

// noSys marks a name an architecture's table lacks.
const noSys = 0xffff

// x32Bit is __X32_SYSCALL_BIT: x32 syscalls are x86_64 syscalls (same audit
// arch) with this bit set in the number.
const x32Bit = 0x40000000

// arch describes one seccomp architecture.
type arch struct {
	name  specs.Arch
	token uint32 // AUDIT_ARCH_*, as seccomp_data.arch reports it
	nrs   *[nSysNames]uint16
	base  uint32 // added to every table number (x32's __X32_SYSCALL_BIT)
	// private is the first number of a range of architecture-private
	// syscalls far above the generic ones (x32's 512-547, ARM's 0x0f0000),
	// 0 if none. The ENOSYS range stops below it.
	private uint32
	// lo and hi bound the syscall numbers this architecture owns among
	// those sharing its token (x86_64 and x32 split AUDIT_ARCH_X86_64).
	lo, hi uint32
	narrow bool // 32-bit ABI: libseccomp compares only the low word of arguments
	big    bool // big-endian
	// mux: socket and SysV IPC calls also go through socketcall(2) and
	// ipc(2), and rules on them are duplicated there as libseccomp does.
	mux bool
}

// archs lists every architecture with a syscall table, sorted by name.
var archs = [...]arch{
	{name: specs.ArchAARCH64, token: unix.AUDIT_ARCH_AARCH64, nrs: &nrAARCH64, hi: ^uint32(0)},
	{name: specs.ArchARM, token: unix.AUDIT_ARCH_ARM, nrs: &nrARM, private: 0x0f0000, hi: ^uint32(0), narrow: true},
	{name: specs.ArchLOONGARCH64, token: unix.AUDIT_ARCH_LOONGARCH64, nrs: &nrLOONGARCH64, hi: ^uint32(0)},
	{name: specs.ArchMIPS, token: unix.AUDIT_ARCH_MIPS, nrs: &nrMIPS, hi: ^uint32(0), narrow: true, big: true, mux: true},
	{name: specs.ArchMIPS64, token: unix.AUDIT_ARCH_MIPS64, nrs: &nrMIPS64, hi: ^uint32(0), big: true},
	{name: specs.ArchMIPSEL, token: unix.AUDIT_ARCH_MIPSEL, nrs: &nrMIPS, hi: ^uint32(0), narrow: true, mux: true},
	{name: specs.ArchMIPSEL64, token: unix.AUDIT_ARCH_MIPSEL64, nrs: &nrMIPS64, hi: ^uint32(0)},
	{name: specs.ArchPPC, token: unix.AUDIT_ARCH_PPC, nrs: &nrPPC, hi: ^uint32(0), narrow: true, big: true, mux: true},
	{name: specs.ArchPPC64, token: unix.AUDIT_ARCH_PPC64, nrs: &nrPPC64, hi: ^uint32(0), big: true, mux: true},
	{name: specs.ArchPPC64LE, token: unix.AUDIT_ARCH_PPC64LE, nrs: &nrPPC64, hi: ^uint32(0), mux: true},
	{name: specs.ArchRISCV64, token: unix.AUDIT_ARCH_RISCV64, nrs: &nrRISCV64, hi: ^uint32(0)},
	{name: specs.ArchS390X, token: unix.AUDIT_ARCH_S390X, nrs: &nrS390X, hi: ^uint32(0), big: true, mux: true},
	{name: specs.ArchX32, token: unix.AUDIT_ARCH_X86_64, nrs: &nrX32, base: x32Bit, private: x32Bit + 512, lo: x32Bit, hi: ^uint32(0), narrow: true},
	{name: specs.ArchX86, token: unix.AUDIT_ARCH_I386, nrs: &nrX86, hi: ^uint32(0), narrow: true, mux: true},
	{name: specs.ArchX86_64, token: unix.AUDIT_ARCH_X86_64, nrs: &nrX86_64, hi: x32Bit - 1},
}

// knownArch reports whether the runtime-spec defines name, table or not.
func knownArch(name specs.Arch) bool {
	switch name {
	case specs.ArchX86, specs.ArchX86_64, specs.ArchX32, specs.ArchARM, specs.ArchAARCH64,
		specs.ArchMIPS, specs.ArchMIPS64, specs.ArchMIPS64N32, specs.ArchMIPSEL,
		specs.ArchMIPSEL64, specs.ArchMIPSEL64N32, specs.ArchPPC, specs.ArchPPC64,
		specs.ArchPPC64LE, specs.ArchS390, specs.ArchS390X, specs.ArchPARISC,
		specs.ArchPARISC64, specs.ArchRISCV64, specs.ArchLOONGARCH64, specs.ArchM68K,
		specs.ArchSH, specs.ArchSHEB:
		return true
	}
	return false
}

// lookupArch returns the table-backed architecture called name, or nil.
func lookupArch(name specs.Arch) *arch {
	lo, hi := 0, len(archs)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if archs[m].name < name {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(archs) && archs[lo].name == name {
		return &archs[lo]
	}
	return nil
}

// nativeArch is the architecture of this binary, which the kernel runs
// natively; nil on architectures without a table.
func nativeArch() *arch {
	switch runtime.GOARCH {
	case "amd64":
		return lookupArch(specs.ArchX86_64)
	case "386":
		return lookupArch(specs.ArchX86)
	case "arm64":
		return lookupArch(specs.ArchAARCH64)
	case "arm":
		return lookupArch(specs.ArchARM)
	case "riscv64":
		return lookupArch(specs.ArchRISCV64)
	case "ppc64le":
		return lookupArch(specs.ArchPPC64LE)
	case "ppc64":
		return lookupArch(specs.ArchPPC64)
	case "s390x":
		return lookupArch(specs.ArchS390X)
	case "loong64":
		return lookupArch(specs.ArchLOONGARCH64)
	case "mips":
		return lookupArch(specs.ArchMIPS)
	case "mipsle":
		return lookupArch(specs.ArchMIPSEL)
	case "mips64":
		return lookupArch(specs.ArchMIPS64)
	case "mips64le":
		return lookupArch(specs.ArchMIPSEL64)
	}
	return nil
}

// sysIndex returns the index of a syscall name in the tables, or -1.
func sysIndex(name string) int {
	lo, hi := 0, nSysNames
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if sysNames[sysNameOff[m]:sysNameOff[m+1]] < name {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < nSysNames && sysNames[sysNameOff[lo]:sysNameOff[lo+1]] == name {
		return lo
	}
	return -1
}

// nr returns the number of the syscall with table index i on a.
func (a *arch) nr(i int) (uint32, bool) {
	v := a.nrs[i]
	switch {
	case v == noSys:
		return 0, false
	case v >= 0xf000: // ARM private: __ARM_NR_BASE + n
		return 0x0f0000 + uint32(v-0xf000), true
	}
	return a.base + uint32(v), true
}

// Multiplexed socket and IPC calls: the call numbers socketcall(2) and
// ipc(2) take as their first argument (SYS_* of linux/net.h, and the SEMOP...
// SHMCTL numbers of the kernel's ipc/syscall.c).
func muxCall(name string) (via string, call uint32) {
	switch name {
	case "socket":
		return "socketcall", 1
	case "bind":
		return "socketcall", 2
	case "connect":
		return "socketcall", 3
	case "listen":
		return "socketcall", 4
	case "accept":
		return "socketcall", 5
	case "getsockname":
		return "socketcall", 6
	case "getpeername":
		return "socketcall", 7
	case "socketpair":
		return "socketcall", 8
	case "send":
		return "socketcall", 9
	case "recv":
		return "socketcall", 10
	case "sendto":
		return "socketcall", 11
	case "recvfrom":
		return "socketcall", 12
	case "shutdown":
		return "socketcall", 13
	case "setsockopt":
		return "socketcall", 14
	case "getsockopt":
		return "socketcall", 15
	case "sendmsg":
		return "socketcall", 16
	case "recvmsg":
		return "socketcall", 17
	case "accept4":
		return "socketcall", 18
	case "recvmmsg":
		return "socketcall", 19
	case "sendmmsg":
		return "socketcall", 20
	case "semop":
		return "ipc", 1
	case "semget":
		return "ipc", 2
	case "semctl":
		return "ipc", 3
	case "semtimedop":
		return "ipc", 4
	case "msgsnd":
		return "ipc", 11
	case "msgrcv":
		return "ipc", 12
	case "msgget":
		return "ipc", 13
	case "msgctl":
		return "ipc", 14
	case "shmat":
		return "ipc", 21
	case "shmdt":
		return "ipc", 22
	case "shmget":
		return "ipc", 23
	case "shmctl":
		return "ipc", 24
	}
	return "", 0
}
