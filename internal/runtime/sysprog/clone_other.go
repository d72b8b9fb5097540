//go:build !amd64 || race

package sysprog

import "unsafe"

type childArgs struct {
	ops    unsafe.Pointer
	n      int
	slots  *[maxSlots]uintptr
	report uintptr
}

const cloneVM = false

func rawCloneVM(args *cloneArgs, size uintptr, a *childArgs) (pid uintptr, errno uintptr) {
	panic("sysprog: no CLONE_VM start on this architecture")
}
