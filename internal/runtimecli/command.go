package runtimecli

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hako-dev/hako/internal/errdefs"
)

// command is one verb of the runtime command line.
//
// The runtime parses its own flags instead of using cobra: it is started
// once per container operation (three times per container by a
// create/start/delete caller, and once more as the container's init), and
// cobra's command tree, its templates and the packages behind them cost
// ~0.3 ms and ~1 MB of touched binary in every one of those starts.
// Flags follow pflag's syntax, which runc's callers use: --name value,
// --name=value, -n value, -nvalue, clustered booleans (-dt), "--" ends
// the flags, and flags may follow arguments unless a verb stops at its
// first argument (exec and ps, whose arguments are a command line).
type command struct {
	name    string
	aliases []string
	// usage follows the name in help: "[flags] ID".
	usage string
	short string
	flags *flagSet
	// stopAtArg ends flag parsing at the first argument.
	stopAtArg bool
	// rawArgs passes every argument through unparsed, flags included.
	rawArgs bool
	// args validates the arguments; nil accepts any.
	args func(args []string) error
	run  func(args []string) error
}

// flagSet is a set of named flags with optional one-letter shorthands.
type flagSet struct {
	defs    []*flagDef
	byName  map[string]*flagDef
	byShort map[byte]*flagDef
	changed map[string]bool
}

type flagDef struct {
	name, short, usage, def string
	value                   flagValue
}

// flagValue is what a flag sets.
type flagValue interface {
	set(string) error
	isBool() bool
	typeName() string
}

func newFlagSet() *flagSet {
	return &flagSet{byName: map[string]*flagDef{}, byShort: map[byte]*flagDef{}, changed: map[string]bool{}}
}

func (fs *flagSet) add(name, short, usage string, v flagValue, def string) {
	d := &flagDef{name: name, short: short, usage: usage, def: def, value: v}
	fs.defs = append(fs.defs, d)
	fs.byName[name] = d
	if short != "" {
		fs.byShort[short[0]] = d
	}
}

// Changed reports whether the flag was given on the command line.
func (fs *flagSet) Changed(name string) bool { return fs.changed[name] }

func (fs *flagSet) StringVarP(p *string, name, short, def, usage string) {
	*p = def
	fs.add(name, short, usage, (*stringValue)(p), strconv.Quote(def))
}
func (fs *flagSet) StringVar(p *string, name, def, usage string) {
	fs.StringVarP(p, name, "", def, usage)
}

func (fs *flagSet) BoolVarP(p *bool, name, short string, def bool, usage string) {
	*p = def
	fs.add(name, short, usage, (*boolValue)(p), "")
}
func (fs *flagSet) BoolVar(p *bool, name string, def bool, usage string) {
	fs.BoolVarP(p, name, "", def, usage)
}

func (fs *flagSet) IntVar(p *int, name string, def int, usage string) {
	*p = def
	fs.add(name, "", usage, (*intValue)(p), strconv.Itoa(def))
}

func (fs *flagSet) DurationVar(p *time.Duration, name string, def time.Duration, usage string) {
	*p = def
	fs.add(name, "", usage, (*durationValue)(p), def.String())
}

// StringArrayVarP is a repeatable flag: each use appends its value.
func (fs *flagSet) StringArrayVarP(p *[]string, name, short string, usage string) {
	fs.add(name, short, usage, (*arrayValue)(p), "")
}

type stringValue string

func (v *stringValue) set(s string) error { *v = stringValue(s); return nil }
func (*stringValue) isBool() bool         { return false }
func (*stringValue) typeName() string     { return "string" }

type boolValue bool

func (v *boolValue) set(s string) error {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("not true or false")
	}
	*v = boolValue(b)
	return nil
}
func (*boolValue) isBool() bool     { return true }
func (*boolValue) typeName() string { return "" }

type intValue int

func (v *intValue) set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil {
		return fmt.Errorf("not a number")
	}
	*v = intValue(n)
	return nil
}
func (*intValue) isBool() bool     { return false }
func (*intValue) typeName() string { return "int" }

type durationValue time.Duration

func (v *durationValue) set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("not a duration such as 5s")
	}
	*v = durationValue(d)
	return nil
}
func (*durationValue) isBool() bool     { return false }
func (*durationValue) typeName() string { return "duration" }

type arrayValue []string

func (v *arrayValue) set(s string) error { *v = append(*v, s); return nil }
func (*arrayValue) isBool() bool         { return false }
func (*arrayValue) typeName() string     { return "stringArray" }

// parse sets the flags in args and returns the other arguments. With
// stopAtArg, the first argument that is not a flag ends the flags.
func (fs *flagSet) parse(args []string, stopAtArg bool) ([]string, error) {
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return append(rest, args[i+1:]...), nil
		case strings.HasPrefix(a, "--"):
			name, val, hasVal := strings.Cut(a[2:], "=")
			d := fs.byName[name]
			if d == nil {
				return nil, fmt.Errorf("unknown flag: --%s: %w", name, errdefs.ErrInvalidArgument)
			}
			if !hasVal {
				if d.value.isBool() {
					val = "true"
				} else {
					if i+1 >= len(args) {
						return nil, fmt.Errorf("flag needs an argument: --%s: %w", name, errdefs.ErrInvalidArgument)
					}
					i++
					val = args[i]
				}
			}
			if err := fs.set(d, "--"+name, val); err != nil {
				return nil, err
			}
		case len(a) > 1 && a[0] == '-':
			// One or more shorthands: -d, -dt, -b dir, -bdir, -b=dir.
			for j := 1; j < len(a); j++ {
				d := fs.byShort[a[j]]
				if d == nil {
					return nil, fmt.Errorf("unknown shorthand flag: %q in %s: %w", a[j], a, errdefs.ErrInvalidArgument)
				}
				val := strings.TrimPrefix(a[j+1:], "=")
				if d.value.isBool() {
					if strings.HasPrefix(a[j+1:], "=") {
						j = len(a)
					} else {
						val = "true"
					}
					if err := fs.set(d, "-"+d.short, val); err != nil {
						return nil, err
					}
					continue
				}
				if val == "" {
					if i+1 >= len(args) {
						return nil, fmt.Errorf("flag needs an argument: -%s: %w", d.short, errdefs.ErrInvalidArgument)
					}
					i++
					val = args[i]
				}
				if err := fs.set(d, "-"+d.short, val); err != nil {
					return nil, err
				}
				break
			}
		default:
			if stopAtArg {
				return append(rest, args[i:]...), nil
			}
			rest = append(rest, a)
		}
	}
	return rest, nil
}

func (fs *flagSet) set(d *flagDef, as, val string) error {
	if err := d.value.set(val); err != nil {
		return fmt.Errorf("invalid argument %q for %s: %v: %w", val, as, err, errdefs.ErrInvalidArgument)
	}
	fs.changed[d.name] = true
	return nil
}

// print writes the flags' help, one per line, sorted by name.
func (fs *flagSet) print(w io.Writer) {
	defs := append([]*flagDef(nil), fs.defs...)
	sort.Slice(defs, func(i, j int) bool { return defs[i].name < defs[j].name })
	lines := make([]string, len(defs))
	width := 0
	for i, d := range defs {
		l := "      --" + d.name
		if d.short != "" {
			l = "  -" + d.short + ", --" + d.name
		}
		if t := d.value.typeName(); t != "" {
			l += " " + t
		}
		lines[i] = l
		width = max(width, len(l))
	}
	for i, d := range defs {
		u := d.usage
		if d.def != "" && d.def != `""` && d.def != "0" && d.def != "0s" {
			u += " (default " + d.def + ")"
		}
		fmt.Fprintf(w, "%-*s   %s\n", width, lines[i], u)
	}
}

// exactArgs requires n arguments; what names them in the error.
func exactArgs(name string, n int, what string) func([]string) error {
	return func(args []string) error {
		if len(args) != n {
			return fmt.Errorf("%s: expects %s, got %d argument(s): %w", name, what, len(args), errdefs.ErrInvalidArgument)
		}
		return nil
	}
}
