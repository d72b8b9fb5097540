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

	"github.com/hako-dev/hako/internal/errdefs"
	"github.com/hako-dev/hako/internal/runtime"
	"github.com/spf13/cobra"
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

	logger  *slog.Logger
	logFile io.Closer
	prog    string
}

// exitError carries a process exit status through cobra.
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
func Main(prog string, args []string) int {
	g := &globals{prog: prog}
	cmd := newRoot(g)
	cmd.SetArgs(args)
	err := cmd.Execute()
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

func newRoot(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:           g.prog,
		Short:         "hako's OCI runtime: run containers from OCI bundles (runc-compatible)",
		Version:       Version,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			return g.setup()
		},
	}
	root.SetVersionTemplate(fmt.Sprintf("hako runtime version {{.Version}}\nspec: %s\n", specVersion()))
	f := root.PersistentFlags()
	f.StringVar(&g.root, "root", envOr("HAKO_RUNTIME_ROOT", runtime.DefaultRoot), "root directory for container state")
	f.StringVar(&g.log, "log", "", "log file (default: stderr)")
	f.StringVar(&g.logFormat, "log-format", "text", "log format: text or json")
	f.BoolVar(&g.debug, "debug", false, "log debug messages")
	f.BoolVar(&g.systemdCgroup, "systemd-cgroup", false, "linux.cgroupsPath is slice:prefix:name (mapped onto cgroupfs)")
	f.StringVar(&g.rootless, "rootless", "auto", "accepted for runc compatibility")
	f.StringVar(&g.criu, "criu", "criu", "accepted for runc compatibility (checkpoint is not supported)")
	f.BoolVar(&g.clamp, "clamp-limits", false, "lower rlimits and oom_score_adj the kernel refuses instead of failing")
	root.AddCommand(
		newSpec(g), newCreate(g), newStart(g), newRun(g), newState(g), newKill(g), newDelete(g),
		newExec(g), newPs(g), newList(g), newPause(g), newResume(g), newUpdate(g), newEvents(g),
		newFeatures(g), newCheckpoint(g), newRestore(g),
	)
	return root
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

// exactArgs is cobra.ExactArgs with a message naming what is missing.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return fmt.Errorf("%s: expects %s, got %d argument(s): %w", cmd.Name(), what, len(args), errdefs.ErrInvalidArgument)
		}
		return nil
	}
}
