package linux

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// capNames is indexed by capability number (linux/capability.h).
var capNames = [...]string{
	"CAP_CHOWN",
	"CAP_DAC_OVERRIDE",
	"CAP_DAC_READ_SEARCH",
	"CAP_FOWNER",
	"CAP_FSETID",
	"CAP_KILL",
	"CAP_SETGID",
	"CAP_SETUID",
	"CAP_SETPCAP",
	"CAP_LINUX_IMMUTABLE",
	"CAP_NET_BIND_SERVICE",
	"CAP_NET_BROADCAST",
	"CAP_NET_ADMIN",
	"CAP_NET_RAW",
	"CAP_IPC_LOCK",
	"CAP_IPC_OWNER",
	"CAP_SYS_MODULE",
	"CAP_SYS_RAWIO",
	"CAP_SYS_CHROOT",
	"CAP_SYS_PTRACE",
	"CAP_SYS_PACCT",
	"CAP_SYS_ADMIN",
	"CAP_SYS_BOOT",
	"CAP_SYS_NICE",
	"CAP_SYS_RESOURCE",
	"CAP_SYS_TIME",
	"CAP_SYS_TTY_CONFIG",
	"CAP_MKNOD",
	"CAP_LEASE",
	"CAP_AUDIT_WRITE",
	"CAP_AUDIT_CONTROL",
	"CAP_SETFCAP",
	"CAP_MAC_OVERRIDE",
	"CAP_MAC_ADMIN",
	"CAP_SYSLOG",
	"CAP_WAKE_ALARM",
	"CAP_BLOCK_SUSPEND",
	"CAP_AUDIT_READ",
	"CAP_PERFMON",
	"CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
}

// KnownCapabilities returns every capability name hako knows, in number
// order.
func KnownCapabilities() []string { return capNames[:] }

// CapabilityNumber returns the number of a capability name ("CAP_SYS_ADMIN").
func CapabilityNumber(name string) (int, bool) {
	for i, n := range capNames {
		if n == name {
			return i, true
		}
	}
	return 0, false
}

// LastCap returns the highest capability number the running kernel knows.
// It asks prctl(PR_CAPBSET_READ), which refuses numbers above it, in a
// binary search (six calls, cheaper than reading the sysctl file).
func LastCap() int {
	known := func(c int) bool {
		_, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(c), 0, 0, 0)
		return err == nil
	}
	if !known(0) {
		b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
		if err == nil {
			if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				return n
			}
		}
		return len(capNames) - 1
	}
	lo, hi := 0, 63 // known(lo); the answer is in [lo, hi]
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if known(mid) {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo
}

// CapSet is a set of capabilities as a bit mask (bit n = capability n).
type CapSet uint64

// ParseCapSet turns capability names into a set. Names unknown to hako are
// an error (field names the list); names the running kernel does not
// support (above lastCap) are dropped and returned so the caller can warn.
func ParseCapSet(field string, names []string, lastCap int) (CapSet, []string, error) {
	var s CapSet
	var unsupported []string
	for i, n := range names {
		c, ok := CapabilityNumber(strings.ToUpper(n))
		if !ok {
			return 0, nil, fmt.Errorf("%s[%d]: unknown capability %q", field, i, n)
		}
		if c > lastCap {
			unsupported = append(unsupported, n)
			continue
		}
		s |= 1 << uint(c)
	}
	return s, unsupported, nil
}

// Caps are the five capability sets of a process.
type Caps struct {
	Bounding, Effective, Inheritable, Permitted, Ambient CapSet
}

// DropBounding removes every capability not in keep from the calling
// thread's bounding set. It needs CAP_SETPCAP.
func DropBounding(keep CapSet, lastCap int) error {
	for c := 0; c <= lastCap; c++ {
		if keep&(1<<uint(c)) != 0 {
			continue
		}
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil {
			if err == unix.EINVAL {
				continue // not supported by this kernel
			}
			return fmt.Errorf("drop %s from the bounding set: %w", capNames[c], err)
		}
	}
	return nil
}

// SetCaps sets the effective, permitted and inheritable sets of the calling
// thread, then raises the ambient ones.
func SetCaps(c Caps) error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	data[0].Effective = uint32(c.Effective)
	data[1].Effective = uint32(c.Effective >> 32)
	data[0].Permitted = uint32(c.Permitted)
	data[1].Permitted = uint32(c.Permitted >> 32)
	data[0].Inheritable = uint32(c.Inheritable)
	data[1].Inheritable = uint32(c.Inheritable >> 32)
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("set capabilities: %w", err)
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil && c.Ambient != 0 {
		return fmt.Errorf("clear ambient capabilities: %w", err)
	}
	for n := 0; n < 64; n++ {
		if c.Ambient&(1<<uint(n)) == 0 {
			continue
		}
		// The kernel raises an ambient capability only if it is also
		// permitted and inheritable; like runc, treat the others as not
		// asked for rather than failing the container.
		if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, uintptr(n), 0, 0); err != nil && err != unix.EPERM {
			return fmt.Errorf("raise ambient capability %s: %w", capName(n), err)
		}
	}
	return nil
}

func capName(n int) string {
	if n < len(capNames) {
		return capNames[n]
	}
	return "capability " + strconv.Itoa(n)
}
