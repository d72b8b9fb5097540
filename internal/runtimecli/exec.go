package runtimecli

import (
	"encoding/json"
	"fmt"
	"github.com/hako-dev/hako/internal/runtime/spec"
	"os"
	"strconv"
	"strings"

	"github.com/hako-dev/hako/internal/errdefs"
	"github.com/hako-dev/hako/internal/runtime"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

type execFlags struct {
	consoleSocket  string
	cwd            string
	env            []string
	tty            bool
	user           string
	additionalGids []string
	process        string
	detach         bool
	pidFile        string
	processLabel   string
	apparmor       string
	noNewPrivs     bool
	caps           []string
	preserveFDs    int
	ignorePaused   bool
	cgroup         string
}

func newExec(g *globals) *command {
	var f execFlags
	fl := newFlagSet()
	cmd := &command{
		name:      "exec",
		usage:     "[flags] ID [COMMAND [ARG...]]",
		short:     "run a new process inside a running container",
		flags:     fl,
		stopAtArg: true,
		args: func(args []string) error {
			if len(args) < 1 {
				return fmt.Errorf("exec: expects a container ID: %w", errdefs.ErrInvalidArgument)
			}
			if f.process == "" && len(args) < 2 {
				return fmt.Errorf("exec: expects a command to run, or --process: %w", errdefs.ErrInvalidArgument)
			}
			return nil
		},
		run: func(args []string) error {
			c, err := g.load(args[0])
			if err != nil {
				return err
			}
			p, err := f.build(c.ExecBase(), args[1:], fl)
			if err != nil {
				return err
			}
			// Signals are caught before the process starts, so that
			// none (a ^C at once) kills the runtime and leaves the
			// process behind; they are forwarded once it runs.
			var sr *runtime.SignalRelay
			if !f.detach {
				sr = runtime.StartSignalRelay()
				defer sr.Stop()
			}
			proc, err := c.Exec(p, &runtime.ExecOptions{
				ConsoleSocket: f.consoleSocket,
				PidFile:       f.pidFile,
				PreserveFDs:   f.preserveFDs,
			})
			if err != nil {
				if code := runtime.ExecFailureCode(err); code > 0 {
					return &exitError{code: code, err: err}
				}
				return err
			}
			if f.detach {
				proc.Release()
				return nil
			}
			code, err := runtime.WaitForeground(proc, sr)
			if err != nil {
				return err
			}
			if code != 0 {
				return &exitError{code: code}
			}
			return nil
		},
	}
	fl.StringVar(&f.consoleSocket, "console-socket", "", "unix socket that receives the terminal's master side")
	fl.StringVar(&f.cwd, "cwd", "", "working directory in the container")
	fl.StringArrayVarP(&f.env, "env", "e", "set an environment variable (KEY=VALUE)")
	fl.BoolVarP(&f.tty, "tty", "t", false, "allocate a terminal")
	fl.StringVarP(&f.user, "user", "u", "", "UID[:GID] to run as")
	fl.StringArrayVarP(&f.additionalGids, "additional-gids", "g", "additional group IDs")
	fl.StringVarP(&f.process, "process", "p", "", "path to a process.json (runtime-spec process object)")
	fl.BoolVarP(&f.detach, "detach", "d", false, "do not wait for the process")
	fl.StringVar(&f.pidFile, "pid-file", "", "file to write the process's pid to")
	fl.StringVar(&f.processLabel, "process-label", "", "SELinux label of the process")
	fl.StringVar(&f.apparmor, "apparmor", "", "AppArmor profile of the process")
	fl.BoolVar(&f.noNewPrivs, "no-new-privs", false, "set no_new_privs for the process")
	fl.StringArrayVarP(&f.caps, "cap", "c", "add a capability to the process's bounding, effective and permitted sets")
	fl.IntVar(&f.preserveFDs, "preserve-fds", 0, "pass N more descriptors (3 to 3+N-1) to the process")
	fl.BoolVar(&f.ignorePaused, "ignore-paused", false, "accepted for runc compatibility")
	fl.StringVar(&f.cgroup, "cgroup", "", "accepted for runc compatibility (the container's cgroup is used)")
	return cmd
}

// build makes the process from --process or from the container's own
// process with the flags applied, as runc does.
func (f *execFlags) build(cfg *specs.Spec, args []string, fl *flagSet) (*specs.Process, error) {
	if cfg == nil || cfg.Process == nil {
		return nil, fmt.Errorf("container has no configuration: %w", errdefs.ErrConflict)
	}
	var p specs.Process
	if f.process != "" {
		b, err := os.ReadFile(f.process)
		if err != nil {
			return nil, fmt.Errorf("--process: %w", err)
		}
		if fp, ok := spec.DecodeProcessFast(b); ok {
			p = *fp
		} else if err := json.Unmarshal(b, &p); err != nil {
			return nil, fmt.Errorf("--process %s: invalid JSON: %v: %w", f.process, err, errdefs.ErrInvalidArgument)
		}
	} else {
		base := cfg.Process
		p = specs.Process{
			Args:            args,
			Env:             append([]string(nil), base.Env...),
			Cwd:             base.Cwd,
			User:            base.User,
			Capabilities:    base.Capabilities,
			Rlimits:         base.Rlimits,
			NoNewPrivileges: base.NoNewPrivileges,
			ApparmorProfile: base.ApparmorProfile,
			SelinuxLabel:    base.SelinuxLabel,
			OOMScoreAdj:     base.OOMScoreAdj,
		}
	}
	if fl.Changed("tty") {
		p.Terminal = f.tty
	}
	if f.cwd != "" {
		p.Cwd = f.cwd
	}
	p.Env = append(p.Env, f.env...)
	if f.user != "" {
		u, gs, hasGid := strings.Cut(f.user, ":")
		uid, err := strconv.ParseUint(u, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("--user %q: UID must be a number: %w", f.user, errdefs.ErrInvalidArgument)
		}
		p.User.UID = uint32(uid)
		if hasGid {
			gid, err := strconv.ParseUint(gs, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("--user %q: GID must be a number: %w", f.user, errdefs.ErrInvalidArgument)
			}
			p.User.GID = uint32(gid)
		}
	}
	for _, gs := range f.additionalGids {
		gid, err := strconv.ParseUint(gs, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("--additional-gids %q: must be a number: %w", gs, errdefs.ErrInvalidArgument)
		}
		p.User.AdditionalGids = append(p.User.AdditionalGids, uint32(gid))
	}
	if f.processLabel != "" {
		p.SelinuxLabel = f.processLabel
	}
	if f.apparmor != "" {
		p.ApparmorProfile = f.apparmor
	}
	if f.noNewPrivs {
		p.NoNewPrivileges = true
	}
	if len(f.caps) > 0 {
		c := specs.LinuxCapabilities{}
		if p.Capabilities != nil {
			c = *p.Capabilities
		}
		for _, name := range f.caps {
			name = strings.ToUpper(name)
			if !strings.HasPrefix(name, "CAP_") {
				name = "CAP_" + name
			}
			c.Bounding = append(c.Bounding, name)
			c.Effective = append(c.Effective, name)
			c.Permitted = append(c.Permitted, name)
		}
		p.Capabilities = &c
	}
	return &p, nil
}
