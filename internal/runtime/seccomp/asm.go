package seccomp

import "golang.org/x/sys/unix"

// Classic-BPF opcodes the compiler emits.
const (
	opLd   = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
	opAnd  = unix.BPF_ALU | unix.BPF_AND | unix.BPF_K
	opJa   = unix.BPF_JMP | unix.BPF_JA
	opJeq  = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
	opJgt  = unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K
	opJge  = unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K
	opJset = unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K
	opRet  = unix.BPF_RET | unix.BPF_K
)

// maxInsns is the kernel's BPF_MAXINSNS.
const maxInsns = 4096

// asm assembles a program backwards, last instruction first. Classic BPF
// only jumps forward, so every jump target already has its final distance
// from the end when the jump is emitted: offsets are known at once, and a
// conditional jump whose 8-bit offset would overflow gets a 32-bit "ja"
// trampoline (or, for a return, a fresh copy of the return) placed right
// after it.
type asm struct {
	rev  []unix.SockFilter // the program reversed: rev[len-1] runs first
	rets map[uint32]int    // position of the nearest "ret k" for each k
}

// A target is where control goes: an emitted instruction, or a "ret k"
// that is materialized near each jump that needs it.
type target struct {
	pos int // index in rev
	ret bool
	k   uint32
}

func retTo(k uint32) target { return target{ret: true, k: k} }

func (a *asm) emit(code uint16, jt, jf uint8, k uint32) target {
	a.rev = append(a.rev, unix.SockFilter{Code: code, Jt: jt, Jf: jf, K: k})
	return target{pos: len(a.rev) - 1}
}

// reach returns the position of t if an instruction emitted next can jump
// there with an 8-bit offset.
func (a *asm) reach(t target) (int, bool) {
	q := len(a.rev)
	if t.ret {
		p, ok := a.rets[t.k]
		return p, ok && q-p-1 <= 0xff
	}
	return t.pos, q-t.pos-1 <= 0xff
}

// near places t right here: a copy of a return, or a long jump to an
// instruction.
func (a *asm) near(t target) target {
	if t.ret {
		n := a.emit(opRet, 0, 0, t.k)
		a.rets[t.k] = n.pos
		return n
	}
	return a.emit(opJa, 0, 0, uint32(len(a.rev)-t.pos-1))
}

// jmp emits a conditional jump on the accumulator against k.
func (a *asm) jmp(code uint16, k uint32, jt, jf target) target {
	for {
		pt, okt := a.reach(jt)
		pf, okf := a.reach(jf)
		switch {
		case !okt:
			jt = a.near(jt)
		case !okf:
			jf = a.near(jf)
		default:
			q := len(a.rev)
			return a.emit(code, uint8(q-pt-1), uint8(q-pf-1), k)
		}
	}
}

// seq emits an instruction that falls through to next.
func (a *asm) seq(code uint16, k uint32, next target) target {
	if next.ret || next.pos != len(a.rev)-1 {
		a.near(next)
	}
	return a.emit(code, 0, 0, k)
}

// program returns the assembled program in execution order.
func (a *asm) program() []unix.SockFilter {
	p := make([]unix.SockFilter, len(a.rev))
	for i, ins := range a.rev {
		p[len(p)-1-i] = ins
	}
	return p
}
