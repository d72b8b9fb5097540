package runtimecli

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hako-dev/hako/internal/errdefs"
)

type testFlags struct {
	bundle, user string
	detach, tty  bool
	n            int
	env          []string
	every        time.Duration
}

func newTestFlags() (*flagSet, *testFlags) {
	f := &testFlags{}
	fs := newFlagSet()
	fs.StringVarP(&f.bundle, "bundle", "b", ".", "")
	fs.StringVarP(&f.user, "user", "u", "", "")
	fs.BoolVarP(&f.detach, "detach", "d", false, "")
	fs.BoolVarP(&f.tty, "tty", "t", false, "")
	fs.IntVar(&f.n, "preserve-fds", 0, "")
	fs.StringArrayVarP(&f.env, "env", "e", "")
	fs.DurationVar(&f.every, "interval", 5*time.Second, "")
	return fs, f
}

func TestFlagParse(t *testing.T) {
	for _, tt := range []struct {
		args      []string
		stopAtArg bool
		want      testFlags
		rest      []string
	}{
		{args: []string{"id"}, want: testFlags{bundle: ".", every: 5 * time.Second}, rest: []string{"id"}},
		{args: []string{"--bundle", "/b", "-d", "id"}, want: testFlags{bundle: "/b", detach: true, every: 5 * time.Second}, rest: []string{"id"}},
		{args: []string{"--bundle=/b", "id", "--detach"}, want: testFlags{bundle: "/b", detach: true, every: 5 * time.Second}, rest: []string{"id"}},
		{args: []string{"-b/b", "-dt", "id"}, want: testFlags{bundle: "/b", detach: true, tty: true, every: 5 * time.Second}, rest: []string{"id"}},
		{args: []string{"-dtb", "/b", "id"}, want: testFlags{bundle: "/b", detach: true, tty: true, every: 5 * time.Second}, rest: []string{"id"}},
		{args: []string{"-b=/b", "-d=false", "id"}, want: testFlags{bundle: "/b", every: 5 * time.Second}, rest: []string{"id"}},
		{args: []string{"-e", "A=1", "--env", "B=2", "--env=C=3", "--preserve-fds", "2", "--interval", "1s", "id"},
			want: testFlags{bundle: ".", env: []string{"A=1", "B=2", "C=3"}, n: 2, every: time.Second}, rest: []string{"id"}},
		{args: []string{"-u", "0", "id", "sh", "-c", "echo -d"}, stopAtArg: true,
			want: testFlags{bundle: ".", user: "0", every: 5 * time.Second}, rest: []string{"id", "sh", "-c", "echo -d"}},
		{args: []string{"-d", "--", "-id", "--bundle"}, want: testFlags{bundle: ".", detach: true, every: 5 * time.Second}, rest: []string{"-id", "--bundle"}},
	} {
		fs, f := newTestFlags()
		rest, err := fs.parse(tt.args, tt.stopAtArg)
		if err != nil {
			t.Errorf("%q: %v", tt.args, err)
			continue
		}
		if f.bundle != tt.want.bundle || f.user != tt.want.user || f.detach != tt.want.detach || f.tty != tt.want.tty ||
			f.n != tt.want.n || !slices.Equal(f.env, tt.want.env) || f.every != tt.want.every || !slices.Equal(rest, tt.rest) {
			t.Errorf("%q: got %+v %q, want %+v %q", tt.args, *f, rest, tt.want, tt.rest)
		}
	}
}

func TestFlagChanged(t *testing.T) {
	fs, _ := newTestFlags()
	if _, err := fs.parse([]string{"--tty=false", "id"}, false); err != nil {
		t.Fatal(err)
	}
	if !fs.Changed("tty") || fs.Changed("detach") {
		t.Errorf("changed: %v", fs.changed)
	}
}

func TestFlagErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--bogus", "x"}, "unknown flag: --bogus"},
		{[]string{"-x"}, "unknown shorthand flag: 'x' in -x"},
		{[]string{"id", "--bundle"}, "flag needs an argument: --bundle"},
		{[]string{"-b"}, "flag needs an argument: -b"},
		{[]string{"--preserve-fds", "two"}, `invalid argument "two" for --preserve-fds`},
		{[]string{"--detach=maybe"}, `invalid argument "maybe" for --detach`},
	} {
		fs, _ := newTestFlags()
		_, err := fs.parse(tt.args, false)
		if err == nil || !strings.Contains(err.Error(), tt.want) || !errdefs.IsInvalidArgument(err) {
			t.Errorf("%q: error %v, want %q (invalid argument)", tt.args, err, tt.want)
		}
	}
}

func TestExecuteGlobals(t *testing.T) {
	// Global flags work before and after the verb; a verb's own flags
	// only after it.
	var out bytes.Buffer
	g := &globals{prog: "hako-runtime"}
	err := g.execute([]string{"--root", "/nonexistent/a", "--log-format", "json", "state", "--root", "/nonexistent/b", "c1"}, &out)
	if err == nil || !errdefs.IsNotFound(err) {
		t.Errorf("state of a missing container: %v", err)
	}
	if g.root != "/nonexistent/b" || g.logFormat != "json" {
		t.Errorf("globals: root %q, log format %q", g.root, g.logFormat)
	}
	g = &globals{prog: "hako-runtime"}
	if err := g.execute([]string{"--bundle", "x", "create", "c1"}, &out); err == nil || !strings.Contains(err.Error(), "unknown flag: --bundle") {
		t.Errorf("a verb's flag before the verb: %v", err)
	}
	g = &globals{prog: "hako-runtime"}
	if err := g.execute([]string{"nope"}, &out); err == nil || !strings.Contains(err.Error(), `unknown command "nope"`) {
		t.Errorf("unknown verb: %v", err)
	}
	g = &globals{prog: "hako-runtime"}
	if err := g.execute([]string{"start"}, &out); err == nil || !strings.Contains(err.Error(), "start: expects a container ID") {
		t.Errorf("missing ID: %v", err)
	}
}

func TestExecuteHelpAndVersion(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--version"}, "hako runtime version "},
		{[]string{"-v"}, "\nspec: "},
		{nil, "Commands:\n"},
		{[]string{"--help"}, "  delete     delete a stopped container"},
		{[]string{"exec", "--help"}, "Usage: hako-runtime exec [flags] ID [COMMAND [ARG...]]"},
		{[]string{"run", "-h"}, "  -b, --bundle string"},
	} {
		var out bytes.Buffer
		g := &globals{prog: "hako-runtime"}
		if err := g.execute(tt.args, &out); err != nil || !strings.Contains(out.String(), tt.want) {
			t.Errorf("%q: %v, output:\n%s\nwant it to contain %q", tt.args, err, out.String(), tt.want)
		}
	}
}
