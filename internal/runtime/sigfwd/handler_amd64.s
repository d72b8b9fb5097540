#include "textflag.h"

// handler is entered by the kernel (the C calling convention, DI = the
// signal number) on the receiving thread's signal stack. It sends the
// signal to the target, or holds it. It uses no stack and calls nothing.
TEXT handler<>(SB),NOSPLIT|NOFRAME,$0-0
	LOCK
	INCQ	·inflight(SB)
	MOVQ	·targetFD(SB), AX
	TESTQ	AX, AX
	JS	bypid
	MOVQ	DI, SI		// sig
	MOVQ	AX, DI		// pidfd
	XORL	DX, DX		// info: NULL, as kill
	XORL	R10, R10	// flags
	MOVL	$424, AX	// SYS_pidfd_send_signal
	SYSCALL
	JMP	done
bypid:
	MOVQ	·targetPid(SB), AX
	TESTQ	AX, AX
	JLE	hold
	MOVQ	DI, SI		// sig
	MOVQ	AX, DI		// pid
	MOVL	$62, AX		// SYS_kill
	SYSCALL
	JMP	done
hold:
	MOVL	DI, CX
	MOVL	$1, AX
	SHLQ	CX, AX
	LOCK
	ORQ	AX, ·pending(SB)
done:
	LOCK
	DECQ	·inflight(SB)
	RET

// restorer returns from the handler (sa_restorer).
TEXT restorer<>(SB),NOSPLIT|NOFRAME,$0-0
	MOVL	$15, AX		// SYS_rt_sigreturn
	SYSCALL
	INT	$3

// func handlerPC() uintptr
TEXT ·handlerPC(SB),NOSPLIT,$0-8
	LEAQ	handler<>(SB), AX
	MOVQ	AX, ret+0(FP)
	RET

// func restorerPC() uintptr
TEXT ·restorerPC(SB),NOSPLIT,$0-8
	LEAQ	restorer<>(SB), AX
	MOVQ	AX, ret+0(FP)
	RET
