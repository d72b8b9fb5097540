package runtimecli

import (
	"fmt"

	"github.com/hako-dev/hako/internal/errdefs"
)

func unsupported(verb string) *command {
	return &command{
		name:    verb,
		short:   verb + " (not supported: hako has no CRIU integration)",
		rawArgs: true,
		run: func(args []string) error {
			return fmt.Errorf("%s: checkpoint/restore is not supported by hako: %w", verb, errdefs.ErrNotImplemented)
		},
	}
}

func newCheckpoint(g *globals) *command { return unsupported("checkpoint") }
func newRestore(g *globals) *command    { return unsupported("restore") }
