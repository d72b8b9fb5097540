//go:build !race

#include "textflag.h"

// func rawCloneVM(args *cloneArgs, size uintptr, a *childArgs) (pid uintptr, errno uintptr)
//
// clone3 with the child on its own stack (args.stack), sharing the
// caller's memory (CLONE_VM). The child calls childEntry(a), which never
// returns.
TEXT ·rawCloneVM(SB),NOSPLIT|NOFRAME,$0-40
	MOVQ	args+0(FP), DI
	MOVQ	size+8(FP), SI
	MOVQ	a+16(FP), R12
	MOVQ	$435, AX	// SYS_clone3
	SYSCALL
	CMPQ	AX, $0
	JEQ	child
	CMPQ	AX, $0xfffffffffffff001
	JLS	ok
	MOVQ	$-1, pid+24(FP)
	NEGQ	AX
	MOVQ	AX, errno+32(FP)
	RET
ok:
	MOVQ	AX, pid+24(FP)
	MOVQ	$0, errno+32(FP)
	RET
child:
	// On the new stack; R12 survived the system call.
	ANDQ	$~15, SP
	SUBQ	$16, SP
	MOVQ	R12, 0(SP)
	CALL	·childEntry(SB)
	MOVQ	$2, DI
	MOVQ	$231, AX	// SYS_exit_group
	SYSCALL
	INT	$3
