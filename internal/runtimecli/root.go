// Package runtimecli is hako's runc-compatible command line: the thin front
// of package runtime that docker, containerd, podman and the OCI
// runtime-tools drive as `hako runtime VERB` or as `hako-runtime VERB`.
// One file per verb; flags and names follow runc so callers need no changes.
package runtimecli

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	goruntime "runtime"
	"slices"

	"github.com/hako-dev/hako/internal/errdefs"
	"github.com/hako-dev/hako/internal/runtime"
)

// Version is set by the main package.
var Version = "dev"

type globals struct {
	root          string
	log           string
	logFormat     string
	debug         bool
	systemdCgroup bool
	rootless      string
	criu          string
	clamp         bool

	help    bool
	logger  *slog.Logger
	logFile io.Closer
	prog    string
}

// exitError carries a process exit status out of a verb.
// An err, if any, is reported before exiting.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err != nil {
		return e.err.Error()
	}
	return fmt.Sprintf("exit status %d", e.code)
}

// Main runs the runtime command line with args (without the program name)
// and returns the process exit status. prog names the program in messages.
//
// Main is a process's entry point, not a library call: it runs the Go
// scheduler on one processor. A verb is a short chain of system calls,
// waits and small files with nothing to run in parallel, and with a second
// processor idle the scheduler wakes or starts a thread whenever a
// goroutine becomes runnable (the signal relay, the end of a blocking
// call); those threads take the other CPU from the container being set up
// beside the runtime (4-6% of a run's CPU time and wall time).
func Main(prog string, args []string) int {
	goruntime.GOMAXPROCS(1)
	g := &globals{prog: prog}
	err := g.execute(args, os.Stdout)
	if g.logFile != nil {
		defer g.logFile.Close()
	}
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) && ee.err == nil {
		return ee.code
	}
	// Callers such as containerd read the error back from the log file;
	// people read stderr.
	if g.logFile != nil {
		g.logger.Error(err.Error())
	}
	fmt.Fprintf(os.Stderr, "%s: %v\n", prog, err)
	if ee != nil {
		return ee.code
	}
	return 1
}

const short = "hako's OCI runtime: run containers from OCI bundles (runc-compatible)"

func (g *globals) commands() []*command {
	return []*command{
		newSpec(g), newCreate(g), newStart(g), newRun(g), newState(g), newKill(g), newDelete(g),
		newExec(g), newPs(g), newList(g), newPause(g), newResume(g), newUpdate(g), newEvents(g),
		newFeatures(g), newCheckpoint(g), newRestore(g),
	}
}

// addGlobals registers the global flags (accepted before the verb and
// after it).
func (g *globals) addGlobals(f *flagSet) {
	f.StringVar(&g.root, "root", envOr("HAKO_RUNTIME_ROOT", runtime.DefaultRoot), "root directory for container state")
	f.StringVar(&g.log, "log", "", "log file (default: stderr)")
	f.StringVar(&g.logFormat, "log-format", "text", "log format: text or json")
	f.BoolVar(&g.debug, "debug", false, "log debug messages")
	f.BoolVar(&g.systemdCgroup, "systemd-cgroup", false, "linux.cgroupsPath is slice:prefix:name (mapped onto cgroupfs)")
	f.StringVar(&g.rootless, "rootless", "auto", "accepted for runc compatibility")
	f.StringVar(&g.criu, "criu", "criu", "accepted for runc compatibility (checkpoint is not supported)")
	f.BoolVar(&g.clamp, "clamp-limits", false, "lower rlimits and oom_score_adj the kernel refuses instead of failing")
	f.BoolVarP(&g.help, "help", "h", false, "print this help")
}

// execute parses the global flags and the verb, and runs it.
func (g *globals) execute(args []string, out io.Writer) error {
	root := newFlagSet()
	g.addGlobals(root)
	globals := root.defs
	var version bool
	root.BoolVarP(&version, "version", "v", false, "print the version")
	rest, err := root.parse(args, true)
	if err != nil {
		return err
	}
	if version {
		fmt.Fprintf(out, "hako runtime version %s\nspec: %s\n", Version, specVersion())
		return nil
	}
	cmds := g.commands()
	if len(rest) == 0 || g.help {
		g.printHelp(out, root, cmds)
		return nil
	}
	var cmd *command
	for _, c := range cmds {
		if c.name == rest[0] || slices.Contains(c.aliases, rest[0]) {
			cmd = c
		}
	}
	if cmd == nil {
		return fmt.Errorf("unknown command %q for %q: %w", rest[0], g.prog, errdefs.ErrInvalidArgument)
	}
	args = rest[1:]
	if !cmd.rawArgs {
		if cmd.flags == nil {
			cmd.flags = newFlagSet()
		}
		for _, d := range globals { // the same values: what was parsed stays
			cmd.flags.add(d.name, d.short, d.usage, d.value, d.def)
		}
		if args, err = cmd.flags.parse(args, cmd.stopAtArg); err != nil {
			return err
		}
		if g.help {
			fmt.Fprintf(out, "Usage: %s %s %s\n\n%s\n\nFlags:\n", g.prog, cmd.name, cmd.usage, cmd.short)
			cmd.flags.print(out)
			return nil
		}
	}
	if cmd.args != nil {
		if err := cmd.args(args); err != nil {
			return err
		}
	}
	if err := g.setup(); err != nil {
		return err
	}
	return cmd.run(args)
}

func (g *globals) printHelp(out io.Writer, root *flagSet, cmds []*command) {
	fmt.Fprintf(out, "%s\n\nUsage: %s [global flags] COMMAND [flags] [ARG...]\n\nCommands:\n", short, g.prog)
	for _, c := range cmds {
		fmt.Fprintf(out, "  %-10s %s\n", c.name, c.short)
	}
	fmt.Fprintln(out, "\nGlobal flags:")
	root.print(out)
	fmt.Fprintf(out, "\nRun \"%s COMMAND --help\" for a command's flags.\n", g.prog)
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func (g *globals) setup() error {
	var w io.Writer = os.Stderr
	if g.log != "" && g.log != "/dev/stderr" {
		if err := os.MkdirAll(filepath.Dir(g.log), 0o755); err != nil {
			return err
		}
		f, err := os.OpenFile(g.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_SYNC, 0o644)
		if err != nil {
			return fmt.Errorf("open log file: %w", err)
		}
		g.logFile = f
		w = f
	}
	level := slog.LevelWarn
	if g.debug {
		level = slog.LevelDebug
	}
	switch g.logFormat {
	case "json":
		g.logger = slog.New(newJSONHandler(w, level))
	case "text", "":
		g.logger = slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
	default:
		return fmt.Errorf("--log-format %q: must be text or json: %w", g.logFormat, errdefs.ErrInvalidArgument)
	}
	return nil
}

func (g *globals) runtime() *runtime.Runtime {
	return runtime.New(runtime.Options{Root: g.root, SystemdCgroup: g.systemdCgroup, ClampLimits: g.clamp, Log: g.logger})
}

func (g *globals) load(id string) (*runtime.Container, error) {
	return g.runtime().Load(id)
}
