package linux

import (
	"golang.org/x/sys/unix"
)

// Namespace kinds as the runtime spec names them, with their clone flag and
// their file name under /proc/PID/ns.
type NSKind struct {
	Spec  string // "pid", "network", ...
	Proc  string // "pid", "net", ...
	Flag  uintptr
	Order int // join order: lower first
}

var nsKinds = [...]NSKind{
	{"pid", "pid", unix.CLONE_NEWPID, 0},
	{"network", "net", unix.CLONE_NEWNET, 1},
	{"ipc", "ipc", unix.CLONE_NEWIPC, 2},
	{"uts", "uts", unix.CLONE_NEWUTS, 3},
	{"cgroup", "cgroup", unix.CLONE_NEWCGROUP, 4},
	{"mount", "mnt", unix.CLONE_NEWNS, 5},
	{"time", "time", unix.CLONE_NEWTIME, 6},
	{"user", "user", unix.CLONE_NEWUSER, 7},
}

// NamespaceKinds lists every namespace kind hako knows.
func NamespaceKinds() []NSKind { return nsKinds[:] }

// LookupNS finds a namespace kind by its runtime-spec name.
func LookupNS(spec string) (NSKind, bool) {
	for _, k := range nsKinds {
		if k.Spec == spec {
			return k, true
		}
	}
	return NSKind{}, false
}

// SameNamespace reports whether two namespace files refer to the same
// namespace (same device and inode).
func SameNamespace(a, b string) bool {
	var sa, sb unix.Stat_t
	if unix.Stat(a, &sa) != nil || unix.Stat(b, &sb) != nil {
		return false
	}
	return sa.Dev == sb.Dev && sa.Ino == sb.Ino
}
