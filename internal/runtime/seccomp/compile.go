package seccomp

import (
	"fmt"
	"slices"

	"github.com/hako-dev/hako/internal/errdefs"
	"golang.org/x/sys/unix"
)

// seccomp_data (linux/seccomp.h): nr, arch, instruction_pointer, args[6].
const (
	offNr   = 0
	offArch = 4
	offArgs = 16
)

// rule is one rule for one syscall number of one architecture.
type rule struct {
	nr    uint32
	seq   int // order of addition
	act   uint32
	conds []cond // ANDed; none: unconditional
	arch  *arch
}

// seg is a run of syscall numbers, from start up to the next seg's start,
// that share an outcome: a return, or the argument checks of rules.
type seg struct {
	start uint32
	ret   uint32
	rules []rule // conditional rules of a single syscall, first match wins
}

// compile turns a profile into a classic-BPF program.
func compile(p *profile) ([]unix.SockFilter, []string, error) {
	warnings := p.warnings
	idx := make([][]int, len(p.entries)) // table index of each name, -1 if unknown
	for i, e := range p.entries {
		idx[i] = make([]int, len(e.names))
		for j, name := range e.names {
			idx[i][j] = sysIndex(name)
			if idx[i][j] < 0 {
				warnings = append(warnings, fmt.Sprintf("%s.names[%d]: unknown syscall %q ignored", e.field, j, name))
			}
		}
	}

	// One section per audit token: x86_64 and x32 share theirs.
	type section struct {
		token uint32
		parts []*arch
	}
	var secs []section
	for _, a := range p.archs {
		i := slices.IndexFunc(secs, func(s section) bool { return s.token == a.token })
		if i < 0 {
			secs = append(secs, section{token: a.token, parts: []*arch{a}})
			continue
		}
		secs[i].parts = append(secs[i].parts, a)
		slices.SortFunc(secs[i].parts, func(x, y *arch) int { return cmpU32(x.lo, y.lo) })
	}

	g := &gen{big: p.archs[0].big, def: p.def}
	g.rets = map[uint32]int{}
	// Emit backwards: the foreign sections, their dispatch, the native
	// section, the native dispatch.
	starts := make([]target, len(secs))
	for i := len(secs) - 1; i > 0; i-- {
		starts[i] = g.seq(opLd, offNr, g.tree(p.segments(secs[i].parts, idx)))
	}
	next := retTo(badArch)
	for i := len(secs) - 1; i > 0; i-- {
		next = g.jmp(opJeq, secs[i].token, starts[i], next)
	}
	native := g.seq(opLd, offNr, g.tree(p.segments(secs[0].parts, idx)))
	g.seq(opLd, offArch, g.jmp(opJeq, secs[0].token, native, next))

	prog := g.program()
	if len(prog) > maxInsns {
		return nil, warnings, fmt.Errorf("linux.seccomp: the filter needs %d instructions, more than the kernel's limit of %d: %w", len(prog), maxInsns, errdefs.ErrInvalidArgument)
	}
	return prog, warnings, nil
}

// rules returns a's rules sorted by number, and the highest syscall number
// the profile names below a's private range and overall (0 if none).
func (p *profile) rules(a *arch, idx [][]int) (rules []rule, maxLow, maxAll uint32) {
	seq := 0
	add := func(nr, act uint32, conds []cond) {
		// Drop the conditions that cannot fail here; a rule left without
		// any is unconditional (as libseccomp does).
		var keep []cond
		for _, c := range conds {
			if c.op == "SCMP_CMP_MASKED_EQ" && (c.v == 0 || a.narrow && uint32(c.v) == 0) {
				continue
			}
			keep = append(keep, c)
		}
		rules = append(rules, rule{nr: nr, seq: seq, act: act, conds: keep, arch: a})
		seq++
	}
	for i, e := range p.entries {
		for j, name := range e.names {
			t := idx[i][j]
			if t < 0 {
				continue
			}
			nr, ok := a.nr(t)
			if ok {
				if a.private == 0 || nr < a.private {
					maxLow = max(maxLow, nr)
				}
				maxAll = max(maxAll, nr)
			}
			if e.act == p.def {
				// Same as the default: libseccomp refuses the rule, runc
				// and crun skip it.
				continue
			}
			if a.mux {
				if via, call := muxCall(name); via != "" {
					if vnr, ok := a.nr(sysIndex(via)); ok {
						// Like libseccomp: the same rule on the multiplexer,
						// with the call number as its first argument.
						for _, set := range e.sets {
							conds := []cond{{idx: 0, op: "SCMP_CMP_EQ", v: uint64(call)}}
							for _, c := range set {
								if c.idx != 0 {
									conds = append(conds, c)
								}
							}
							add(vnr, e.act, conds)
						}
					}
				}
			}
			if ok {
				for _, set := range e.sets {
					add(nr, e.act, set)
				}
			}
		}
	}
	slices.SortStableFunc(rules, func(x, y rule) int {
		switch {
		case x.nr < y.nr:
			return -1
		case x.nr > y.nr:
			return 1
		}
		return x.seq - y.seq
	})
	return rules, maxLow, maxAll
}

// segments maps the 32-bit syscall number space of one audit token to
// outcomes. parts are the architectures sharing the token, sorted by their
// ranges; numbers outside all of them are bad-arch, except -1, which
// tracers use to skip a syscall and which gets the default action, as in
// libseccomp.
func (p *profile) segments(parts []*arch, idx [][]int) []seg {
	var segs []seg
	put := func(start uint64, s seg) {
		s.start = uint32(start)
		if n := len(segs); n > 0 && s.rules == nil && segs[n-1].rules == nil && segs[n-1].ret == s.ret {
			return
		}
		segs = append(segs, s)
	}
	next := uint64(0)
	for _, a := range parts {
		if next < uint64(a.lo) {
			put(next, seg{ret: badArch})
		}
		rules, maxLow, maxAll := p.rules(a, idx)
		// gap fills [from, to] with the default action, or ENOSYS above the
		// profile's highest syscall (runc's -ENOSYS stub: it makes libcs
		// fall back from syscalls newer than the profile, like clone3).
		gap := func(from, to uint64) {
			cuts := []uint64{from}
			if p.enosys && maxLow > 0 {
				cuts = append(cuts, uint64(maxLow)+1, uint64(maxAll)+1)
				if a.private != 0 {
					cuts = append(cuts, uint64(a.private))
				}
				slices.Sort(cuts)
			}
			for i, c := range cuts {
				end := to
				if i+1 < len(cuts) {
					end = min(to, cuts[i+1]-1)
				}
				if c < from || c > end {
					continue
				}
				r := p.def
				if p.enosys && maxLow > 0 && c > uint64(maxLow) &&
					(a.private == 0 || c < uint64(a.private) || c > uint64(maxAll)) {
					r = retENOSYS
				}
				put(c, seg{ret: r})
			}
		}
		next = uint64(a.lo)
		for i := 0; i < len(rules); {
			nr := rules[i].nr
			j := i + 1
			for j < len(rules) && rules[j].nr == nr {
				j++
			}
			if uint64(nr) > next {
				gap(next, uint64(nr)-1)
			}
			put(uint64(nr), outcome(rules[i:j], p.def))
			next = uint64(nr) + 1
			i = j
		}
		gap(next, uint64(a.hi))
		next = uint64(a.hi) + 1
	}
	if next < 1<<32-1 {
		put(next, seg{ret: badArch})
	}
	if next < 1<<32 && (len(segs) == 0 || segs[len(segs)-1].ret == badArch) {
		put(1<<32-1, seg{ret: p.def})
	}
	return segs
}

// outcome applies libseccomp's merge of the rules for one syscall: an
// unconditional rule makes the syscall unconditional with the action of the
// first one added; otherwise the conditional rules are tried in order.
func outcome(rules []rule, def uint32) seg {
	for _, r := range rules {
		if len(r.conds) == 0 {
			return seg{ret: r.act}
		}
	}
	return seg{ret: def, rules: rules}
}

func cmpU32(a, b uint32) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
