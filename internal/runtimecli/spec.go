package runtimecli

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hako-dev/hako/internal/errdefs"
	"github.com/hako-dev/hako/internal/runtime/spec"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func specVersion() string { return specs.Version }

func newSpec(g *globals) *command {
	var bundle string
	var rootless bool
	cmd := &command{
		name:  "spec",
		usage: "[flags]",
		short: "write a starter config.json in the bundle directory",
		flags: newFlagSet(),
		args:  exactArgs("spec", 0, "no arguments"),
		run: func(args []string) error {
			p := filepath.Join(bundle, spec.ConfigName)
			if _, err := os.Stat(p); err == nil {
				return fmt.Errorf("%s already exists; remove it first: %w", p, errdefs.ErrAlreadyExists)
			} else if !errors.Is(err, os.ErrNotExist) {
				return err
			}
			b, err := json.MarshalIndent(spec.Default(rootless), "", "\t")
			if err != nil {
				return err
			}
			return os.WriteFile(p, append(b, '\n'), 0o666)
		},
	}
	cmd.flags.StringVarP(&bundle, "bundle", "b", ".", "bundle directory")
	cmd.flags.BoolVar(&rootless, "rootless", false, "a configuration for a container run by an unprivileged user")
	return cmd
}
