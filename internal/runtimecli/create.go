package runtimecli

import (
	"github.com/hako-dev/hako/internal/runtime"
)

type createFlags struct {
	bundle        string
	consoleSocket string
	pidFile       string
	noPivot       bool
	noNewKeyring  bool
	preserveFDs   int
}

func (f *createFlags) register(fl *flagSet) {
	fl.StringVarP(&f.bundle, "bundle", "b", ".", "bundle directory (holds config.json)")
	fl.StringVar(&f.consoleSocket, "console-socket", "", "unix socket that receives the terminal's master side")
	fl.StringVar(&f.pidFile, "pid-file", "", "file to write the container process's pid to")
	fl.BoolVar(&f.noPivot, "no-pivot", false, "do not use pivot_root (for a rootfs on ramfs)")
	fl.BoolVar(&f.noNewKeyring, "no-new-keyring", false, "keep the caller's session keyring")
	fl.IntVar(&f.preserveFDs, "preserve-fds", 0, "pass N more descriptors (3 to 3+N-1) to the container")
}

func (f *createFlags) options() runtime.CreateOptions {
	return runtime.CreateOptions{
		Bundle:        f.bundle,
		ConsoleSocket: f.consoleSocket,
		PidFile:       f.pidFile,
		NoPivot:       f.noPivot,
		NoNewKeyring:  f.noNewKeyring,
		PreserveFDs:   f.preserveFDs,
	}
}

func newCreate(g *globals) *command {
	var f createFlags
	cmd := &command{
		name:  "create",
		usage: "[flags] ID",
		short: "create a container from a bundle; it waits for start",
		flags: newFlagSet(),
		args:  exactArgs("create", 1, "a container ID"),
		run: func(args []string) error {
			o := f.options()
			_, err := g.runtime().Create(args[0], &o)
			return err
		},
	}
	f.register(cmd.flags)
	return cmd
}
