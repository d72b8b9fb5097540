package cgroups

import (
	"fmt"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Device rules mean the same on both drivers: they are read in order and,
// for each access a request makes (read, write, mknod), the last rule that
// matches the device and names that access decides; a request is allowed
// when every access it makes is. With no rule deciding, access is denied:
// the list starts from "deny everything".
//
// cgroup v1 keeps a default (allow or deny) and a list of exceptions, and
// removes exceptions only by exact device: a rule that narrows an earlier,
// wider exception ("allow c 1:*" then "deny c 1:3") cannot be expressed
// there and is refused. cgroup v2 runs an eBPF program (see bpf.go) and can
// express every list.

// Access bits and device types, as the kernel's BPF_DEVCG_* constants.
const (
	accMknod = 1
	accRead  = 2
	accWrite = 4
	accAll   = accMknod | accRead | accWrite

	devBlock = 1
	devChar  = 2
)

// devRule is a validated device rule. major and minor are -1 for "any".
type devRule struct {
	allow        bool
	typ          byte // 'a', 'b' or 'c'
	major, minor int64
	access       uint8
}

// anyDevice reports whether r matches every device.
func (r devRule) anyDevice() bool { return r.typ == 'a' && r.major < 0 && r.minor < 0 }

// String formats r as a v1 devices.allow/devices.deny line.
func (r devRule) String() string {
	if r.anyDevice() && r.access == accAll {
		return "a"
	}
	num := func(v int64) string {
		if v < 0 {
			return "*"
		}
		return strconv.FormatInt(v, 10)
	}
	acc := ""
	if r.access&accRead != 0 {
		acc += "r"
	}
	if r.access&accWrite != 0 {
		acc += "w"
	}
	if r.access&accMknod != 0 {
		acc += "m"
	}
	return string(r.typ) + " " + num(r.major) + ":" + num(r.minor) + " " + acc
}

// deviceRules validates linux.resources.devices.
func deviceRules(ds []specs.LinuxDeviceCgroup) ([]devRule, error) {
	out := make([]devRule, 0, len(ds))
	for i, d := range ds {
		field := "linux.resources.devices[" + strconv.Itoa(i) + "]"
		r := devRule{allow: d.Allow, major: -1, minor: -1}
		switch d.Type {
		case "", "a":
			r.typ = 'a'
		case "b", "c":
			r.typ = d.Type[0]
		default:
			return nil, invalid(field+".type", "%q is not one of \"a\", \"b\", \"c\"", d.Type)
		}
		for _, n := range []struct {
			name string
			v    *int64
			dst  *int64
		}{{"major", d.Major, &r.major}, {"minor", d.Minor, &r.minor}} {
			if n.v == nil || *n.v == -1 {
				continue
			}
			if *n.v < 0 || *n.v > 1<<31-1 {
				return nil, invalid(field+"."+n.name, "%d is not a device number", *n.v)
			}
			*n.dst = *n.v
		}
		for _, c := range d.Access {
			switch c {
			case 'r':
				r.access |= accRead
			case 'w':
				r.access |= accWrite
			case 'm':
				r.access |= accMknod
			default:
				return nil, invalid(field+".access", "%q holds a letter other than r, w, m", d.Access)
			}
		}
		if d.Access == "" {
			r.access = accAll
		}
		out = append(out, r)
	}
	return out, nil
}

// effectiveRules drops the rules that a later rule matching every device
// with every access overrides. It returns the default decision and the
// rules that still matter, in order.
func effectiveRules(rs []devRule) (bool, []devRule) {
	for i := len(rs) - 1; i >= 0; i-- {
		if rs[i].anyDevice() && rs[i].access == accAll {
			return rs[i].allow, rs[i+1:]
		}
	}
	return false, rs
}

// devWrite is one line written to devices.allow or devices.deny.
type devWrite struct{ file, line string }

func devFile(allow bool) string {
	if allow {
		return "devices.allow"
	}
	return "devices.deny"
}

// v1DeviceWrites returns the writes that give a v1 devices cgroup exactly
// the rules: "a" to set the default, then the exceptions, tracking the
// kernel's exception list to remove exceptions by their exact device.
func v1DeviceWrites(rs []devRule) ([]devWrite, error) {
	def, rest := effectiveRules(rs)
	out := []devWrite{{devFile(def), "a"}}
	var exc []devRule // the kernel's exception list: rules with !def
	for i, r := range rest {
		for _, x := range expandAny(r) {
			if x.allow != def {
				out = append(out, devWrite{devFile(x.allow), x.String()})
				exc = addException(exc, x)
				continue
			}
			for j, e := range exc {
				if e.access&x.access == 0 || !overlaps(e, x) {
					continue
				}
				if !covers(x, e) {
					return nil, invalid(fmt.Sprintf("linux.resources.devices[%d]", len(rs)-len(rest)+i),
						"cgroup v1 cannot make an exception (%s) inside the wider earlier rule %q", x, e.String())
				}
				cut := e
				cut.allow, cut.access = x.allow, e.access&x.access
				out = append(out, devWrite{devFile(x.allow), cut.String()})
				exc[j].access &^= x.access
			}
		}
	}
	return out, nil
}

// expandAny splits a type "a" rule that is not "a" alone into its "c" and
// "b" halves: v1 reads any line starting with "a" as "every device, every
// access".
func expandAny(r devRule) []devRule {
	if r.typ != 'a' {
		return []devRule{r}
	}
	c, b := r, r
	c.typ, b.typ = 'c', 'b'
	return []devRule{c, b}
}

// addException adds r to the list as the kernel does: an exception for
// the same device gains the access bits.
func addException(exc []devRule, r devRule) []devRule {
	for i, e := range exc {
		if e.typ == r.typ && e.major == r.major && e.minor == r.minor {
			exc[i].access |= r.access
			return exc
		}
	}
	return append(exc, r)
}

// overlaps reports whether a device could match both rules.
func overlaps(a, b devRule) bool {
	return a.typ == b.typ &&
		(a.major < 0 || b.major < 0 || a.major == b.major) &&
		(a.minor < 0 || b.minor < 0 || a.minor == b.minor)
}

// covers reports whether every device b matches, a matches too.
func covers(a, b devRule) bool {
	return a.typ == b.typ &&
		(a.major < 0 || a.major == b.major) &&
		(a.minor < 0 || a.minor == b.minor)
}
