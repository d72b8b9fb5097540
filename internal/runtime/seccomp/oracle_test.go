package seccomp

import (
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// oracle says what a profile decides for a syscall by evaluating the
// profile directly (no program), following the documented semantics. The
// compiled programs are checked against it.
func oracle(t testing.TB, cfg *specs.LinuxSeccomp, native specs.Arch, c call) uint32 {
	t.Helper()
	act := func(a specs.LinuxSeccompAction, errno *uint) uint32 {
		v, err := action("", a, errno, "")
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	def := act(cfg.DefaultAction, cfg.DefaultErrnoRet)
	nat := lookupArch(native)
	included := []*arch{nat}
	for _, name := range cfg.Architectures {
		if a := lookupArch(name); a != nil && a.big == nat.big {
			included = append(included, a)
		}
	}
	var a *arch
	tokenKnown := false
	for _, x := range included {
		if x.token == c.arch {
			tokenKnown = true
			if c.nr >= x.lo && c.nr <= x.hi {
				a = x
			}
		}
	}
	if a == nil {
		if tokenKnown && c.nr == ^uint32(0) {
			return def
		}
		return badArch
	}

	type rl struct {
		act   uint32
		conds []cond
	}
	var rules []rl
	var maxLow, maxAll uint32
	add := func(act uint32, conds []cond) {
		var keep []cond
		for _, c := range conds {
			if c.op == specs.OpMaskedEqual && (c.v == 0 || a.narrow && uint32(c.v) == 0) {
				continue
			}
			keep = append(keep, c)
		}
		rules = append(rules, rl{act, keep})
	}
	for _, sc := range cfg.Syscalls {
		ra := act(sc.Action, sc.ErrnoRet)
		var sets [][]cond
		seen := map[uint]bool{}
		repeated := false
		var all []cond
		for _, arg := range sc.Args {
			repeated = repeated || seen[arg.Index]
			seen[arg.Index] = true
			all = append(all, cond{idx: arg.Index, op: arg.Op, v: arg.Value, v2: arg.ValueTwo})
		}
		if repeated {
			for _, c := range all {
				sets = append(sets, []cond{c})
			}
		} else {
			sets = [][]cond{all}
		}
		for _, name := range sc.Names {
			i := sysIndex(name)
			if i < 0 {
				continue
			}
			nr, ok := a.nr(i)
			if ok {
				if a.private == 0 || nr < a.private {
					maxLow = max(maxLow, nr)
				}
				maxAll = max(maxAll, nr)
			}
			if ra == def {
				continue
			}
			if via, call := muxCall(name); a.mux && via != "" {
				if vnr, vok := a.nr(sysIndex(via)); vok && vnr == c.nr {
					for _, set := range sets {
						conds := []cond{{idx: 0, op: specs.OpEqualTo, v: uint64(call)}}
						for _, x := range set {
							if x.idx != 0 {
								conds = append(conds, x)
							}
						}
						add(ra, conds)
					}
				}
			}
			if ok && nr == c.nr {
				for _, set := range sets {
					add(ra, set)
				}
			}
		}
	}
	for _, r := range rules {
		if len(r.conds) == 0 {
			return r.act
		}
	}
	for _, r := range rules {
		if slices.IndexFunc(r.conds, func(x cond) bool { return !holds(x, c.args[x.idx], a.narrow) }) < 0 {
			return r.act
		}
	}
	if len(rules) > 0 {
		return def
	}
	enosys := def != retENOSYS && (def == unix.SECCOMP_RET_KILL_PROCESS || def == unix.SECCOMP_RET_KILL_THREAD ||
		def == unix.SECCOMP_RET_TRAP || def&unix.SECCOMP_RET_ACTION_FULL == unix.SECCOMP_RET_ERRNO)
	if enosys && maxLow > 0 && c.nr > maxLow && (a.private == 0 || c.nr < a.private || c.nr > maxAll) {
		return retENOSYS
	}
	return def
}

func holds(c cond, arg uint64, narrow bool) bool {
	v, v2 := c.v, c.v2
	if narrow {
		arg, v, v2 = uint64(uint32(arg)), uint64(uint32(v)), uint64(uint32(v2))
	}
	switch c.op {
	case specs.OpEqualTo:
		return arg == v
	case specs.OpNotEqual:
		return arg != v
	case specs.OpGreaterThan:
		return arg > v
	case specs.OpGreaterEqual:
		return arg >= v
	case specs.OpLessThan:
		return arg < v
	case specs.OpLessEqual:
		return arg <= v
	case specs.OpMaskedEqual:
		return arg&v == v2&v
	}
	panic("unknown op " + c.op)
}
