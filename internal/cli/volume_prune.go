package cli

import (
	"fmt"
	"strings"

	"github.com/docker/go-units"
	"github.com/spf13/cobra"
)

func newVolumePrune(c *CLI) *cobra.Command {
	var all, force bool
	var filters []string
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "remove unused anonymous volumes (with -a, unused named ones too)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := ctxOf(cmd)
			fl, err := parseFilterFlags(filters)
			if err != nil {
				return err
			}
			if all {
				if _, ok := fl["all"]; ok {
					return &StatusError{Status: 1, Err: fmt.Errorf("conflicting options: cannot specify both --all and --filter all=%s", strings.Join(fl["all"], ","))}
				}
				fl["all"] = []string{"true"}
			}
			if !force {
				what := "anonymous local volumes"
				if all {
					what = "all local volumes"
				}
				if !confirm(cmd, c, fmt.Sprintf("WARNING! This will remove %s not used by at least one container.\nAre you sure you want to continue? [y/N] ", what)) {
					return nil
				}
			}
			cl, err := c.client(ctx)
			if err != nil {
				return err
			}
			rep, err := cl.VolumesPrune(ctx, fl)
			if err != nil {
				return daemonError(c, err)
			}
			if len(rep.VolumesDeleted) > 0 {
				fmt.Fprintln(c.Out, "Deleted Volumes:")
				for _, n := range rep.VolumesDeleted {
					fmt.Fprintln(c.Out, n)
				}
				fmt.Fprintln(c.Out)
			}
			fmt.Fprintf(c.Out, "Total reclaimed space: %s\n", units.HumanSize(float64(rep.SpaceReclaimed)))
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&all, "all", "a", false, "remove all unused volumes, not just anonymous ones")
	f.BoolVarP(&force, "force", "f", false, "do not prompt for confirmation")
	f.StringArrayVar(&filters, "filter", nil, `filter values (e.g. "label=KEY=VALUE", "label!=KEY")`)
	return cmd
}
