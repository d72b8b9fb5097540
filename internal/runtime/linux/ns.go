package linux

import (
	"fmt"
	"golang.org/x/sys/unix"
	"strconv"
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

// ForeignNamespaces returns the kinds of namespace process pid is in that
// the calling thread is not (kinds this kernel lacks left out): those an
// exec into pid's container must join. Each namespace directory is opened
// once and its entries' link texts ("net:[4026531840]") compared: a
// readlinkat names a namespace without the nsfs dentry and inode an
// fstatat of the link makes the kernel find (40 µs for the eight kinds
// against 67 here). thread-self, not self: the process's main thread may
// have been left in another namespace.
func ForeignNamespaces(pid int) ([]NSKind, error) {
	dir := "/proc/" + strconv.Itoa(pid) + "/ns"
	theirs, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dir, err)
	}
	defer unix.Close(theirs)
	ours, err := unix.Open("/proc/thread-self/ns", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open /proc/thread-self/ns: %w", err)
	}
	defer unix.Close(ours)
	var out []NSKind
	var a, b [64]byte
	for _, k := range nsKinds {
		n, err := unix.Readlinkat(theirs, k.Proc, a[:])
		if err != nil {
			continue // a kernel without that kind
		}
		if m, err := unix.Readlinkat(ours, k.Proc, b[:]); err == nil && string(a[:n]) == string(b[:m]) {
			continue
		}
		out = append(out, k)
	}
	return out, nil
}
