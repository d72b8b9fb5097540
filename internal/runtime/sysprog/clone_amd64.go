// The ABI wrapper through which the child enters Go code calls into the
// race detector's runtime in -race builds, which a child sharing the
// runtime's memory must not: race builds (tests) start forks.

//go:build !race

package sysprog

import "unsafe"

// childArgs is what the child started by rawCloneVM runs.
type childArgs struct {
	ops    unsafe.Pointer
	n      int
	slots  *[maxSlots]uintptr
	report uintptr
}

// cloneVM is available: the child can share the runtime's memory.
const cloneVM = true

func rawCloneVM(args *cloneArgs, size uintptr, a *childArgs) (pid uintptr, errno uintptr)

// childEntry is where rawCloneVM's child starts, on its own stack.
//
//go:nosplit
//go:norace
//go:nocheckptr
func childEntry(a *childArgs) {
	child(a.ops, a.n, a.slots, a.report, 0)
}
