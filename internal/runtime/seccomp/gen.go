package seccomp

import specs "github.com/opencontainers/runtime-spec/specs-go"

// gen generates the program from the segments of each section.
type gen struct {
	asm
	big bool   // seccomp_data is big-endian
	def uint32 // default action
}

// tree emits a binary search over the segments' start numbers; the
// accumulator holds the syscall number.
func (g *gen) tree(segs []seg) target {
	if len(segs) == 1 {
		s := segs[0]
		if s.rules == nil {
			return retTo(s.ret)
		}
		return g.block(s.rules)
	}
	m := len(segs) / 2
	hi := g.tree(segs[m:])
	lo := g.tree(segs[:m])
	return g.jmp(opJge, segs[m].start, hi, lo)
}

// Accumulator states, besides the argument word numbers 0-11 (2*index for
// the low word, 2*index+1 for the high one).
const (
	aUnknown = -1
	aMasked  = -2 // an argument word ANDed with a mask
)

// cont is where a piece of code starts: full loads what it needs first;
// when the accumulator already holds word, body skips that load.
type cont struct {
	full target
	word int
	body target
}

func retCont(k uint32) cont { return cont{full: retTo(k), word: aUnknown} }

// from is where to go with the accumulator in state a.
func (e cont) from(a int) target {
	if e.word >= 0 && e.word == a {
		return e.body
	}
	return e.full
}

// block emits the argument checks of one syscall's conditional rules:
// the first rule whose conditions all hold decides, else the default.
func (g *gen) block(rules []rule) target {
	next := retCont(g.def)
	for r := len(rules) - 1; r >= 0; r-- {
		match := retCont(rules[r].act)
		conds := rules[r].conds
		for c := len(conds) - 1; c >= 0; c-- {
			match = g.cond(conds[c], rules[r].arch.narrow, match, next)
		}
		next = match
	}
	return next.full
}

// offset of argument word w in seccomp_data.
func (g *gen) offset(w int) uint32 {
	off := uint32(offArgs + 8*(w/2))
	if (w%2 == 1) != g.big { // high word of little-endian, low of big-endian
		off += 4
	}
	return off
}

func (g *gen) ld(w int, next target) cont {
	return cont{full: g.seq(opLd, g.offset(w), next), word: w, body: next}
}

// cond emits one comparison of a 64-bit argument against c's value as
// 32-bit comparisons of its words (on 32-bit ABIs, of its low word only,
// as libseccomp does), continuing at match or fail.
func (g *gen) cond(c cond, narrow bool, match, fail cont) cont {
	lo, hi := 2*int(c.idx), 2*int(c.idx)+1
	vl, vh := uint32(c.v), uint32(c.v>>32)
	if narrow {
		var t target
		switch c.op {
		case specs.OpEqualTo:
			t = g.jmp(opJeq, vl, match.from(lo), fail.from(lo))
		case specs.OpNotEqual:
			t = g.jmp(opJeq, vl, fail.from(lo), match.from(lo))
		case specs.OpGreaterThan:
			t = g.jmp(opJgt, vl, match.from(lo), fail.from(lo))
		case specs.OpGreaterEqual:
			t = g.jmp(opJge, vl, match.from(lo), fail.from(lo))
		case specs.OpLessThan:
			t = g.jmp(opJge, vl, fail.from(lo), match.from(lo))
		case specs.OpLessEqual:
			t = g.jmp(opJgt, vl, fail.from(lo), match.from(lo))
		case specs.OpMaskedEqual:
			return g.masked(lo, vl, uint32(c.v2), match, fail)
		}
		return g.ld(lo, t)
	}
	switch c.op {
	case specs.OpEqualTo:
		// Low word first: it differs far more often, and a run of
		// equality rules on one argument then loads it only once.
		t := g.jmp(opJeq, vh, match.from(hi), fail.from(hi))
		t = g.jmp(opJeq, vl, g.ld(hi, t).full, fail.from(lo))
		return g.ld(lo, t)
	case specs.OpNotEqual:
		t := g.jmp(opJeq, vh, fail.from(hi), match.from(hi))
		t = g.jmp(opJeq, vl, g.ld(hi, t).full, match.from(lo))
		return g.ld(lo, t)
	case specs.OpGreaterThan, specs.OpGreaterEqual:
		// hi > vh, or hi == vh and lo > vl (>= vl).
		op := uint16(opJgt)
		if c.op == specs.OpGreaterEqual {
			op = opJge
		}
		t := g.ld(lo, g.jmp(op, vl, match.from(lo), fail.from(lo))).full
		if vh != 0 { // hi <= 0 means hi == 0
			t = g.jmp(opJeq, vh, t, fail.from(hi))
		}
		return g.ld(hi, g.jmp(opJgt, vh, match.from(hi), t))
	case specs.OpLessThan, specs.OpLessEqual:
		// hi < vh, or hi == vh and lo < vl (<= vl).
		var t target
		if c.op == specs.OpLessThan {
			t = g.jmp(opJge, vl, fail.from(lo), match.from(lo))
		} else {
			t = g.jmp(opJgt, vl, fail.from(lo), match.from(lo))
		}
		t = g.ld(lo, t).full
		if vh != 0 {
			t = g.jmp(opJeq, vh, t, match.from(hi))
		}
		return g.ld(hi, g.jmp(opJgt, vh, fail.from(hi), t))
	default: // specs.OpMaskedEqual
		m := c.v
		d := c.v2 & m
		if uint32(m>>32) != 0 {
			match = g.masked(hi, uint32(m>>32), uint32(d>>32), match, fail)
		}
		if uint32(m) != 0 {
			match = g.masked(lo, uint32(m), uint32(d), match, fail)
		}
		return match
	}
}

// masked emits word w & mask == datum&mask.
func (g *gen) masked(w int, mask, datum uint32, match, fail cont) cont {
	datum &= mask
	switch {
	case mask == ^uint32(0):
		return g.ld(w, g.jmp(opJeq, datum, match.from(w), fail.from(w)))
	case datum == 0:
		return g.ld(w, g.jmp(opJset, mask, fail.from(w), match.from(w)))
	}
	t := g.jmp(opJeq, datum, match.from(aMasked), fail.from(aMasked))
	return g.ld(w, g.seq(opAnd, mask, t))
}
