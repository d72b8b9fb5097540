package runtimecli

import (
	"fmt"

	"github.com/hako-dev/hako/internal/errdefs"
	"github.com/spf13/cobra"
)

func unsupported(verb string) *cobra.Command {
	return &cobra.Command{
		Use:                verb,
		Short:              verb + " (not supported: hako has no CRIU integration)",
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return fmt.Errorf("%s: checkpoint/restore is not supported by hako: %w", verb, errdefs.ErrNotImplemented)
		},
	}
}

func newCheckpoint(g *globals) *cobra.Command { return unsupported("checkpoint") }
func newRestore(g *globals) *cobra.Command    { return unsupported("restore") }
