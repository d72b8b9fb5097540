package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/docker/go-units"
	"github.com/hako-dev/hako/internal/client"
	"github.com/spf13/cobra"
)

// pruned is what a prune reports, in docker's words: a heading ("Deleted
// Containers:"), a line per removed object and the space given back
// (nil for kinds without a size, as networks).
type pruned struct {
	heading   string
	lines     []string
	reclaimed *uint64
}

// pruneCommand is the shape every "X prune" shares.
type pruneCommand struct {
	short string
	// filterHelp documents --filter; "" leaves the flag out.
	filterHelp string
	// warning returns the question asked before pruning, after any
	// change to the filters (an error stops before asking).
	warning func(fl map[string][]string) (string, error)
	prune   func(ctx context.Context, cl *client.Client, fl map[string][]string) (pruned, error)
}

// command builds the cobra command: --filter, -f, the confirmation
// unless -f, the daemon's call and docker's report.
func (p pruneCommand) command(c *CLI) *cobra.Command {
	var force bool
	var filters []string
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: p.short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := ctxOf(cmd)
			fl, err := parseFilterFlags(filters)
			if err != nil {
				return err
			}
			question, err := p.warning(fl)
			if err != nil {
				return err
			}
			if !force && !confirm(cmd, c, "WARNING! This will remove "+question+".\nAre you sure you want to continue? [y/N] ") {
				return nil
			}
			cl, err := c.client(ctx)
			if err != nil {
				return err
			}
			rep, err := p.prune(ctx, cl, fl)
			if err != nil {
				return daemonError(c, err)
			}
			if len(rep.lines) > 0 {
				fmt.Fprintln(c.Out, rep.heading)
				for _, l := range rep.lines {
					fmt.Fprintln(c.Out, l)
				}
				if rep.reclaimed != nil {
					fmt.Fprintln(c.Out)
				}
			}
			if rep.reclaimed != nil {
				fmt.Fprintf(c.Out, "Total reclaimed space: %s\n", units.HumanSize(float64(*rep.reclaimed)))
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "do not prompt for confirmation")
	if p.filterHelp != "" {
		cmd.Flags().StringArrayVar(&filters, "filter", nil, p.filterHelp)
	}
	return cmd
}

// confirm prints a prune's warning and question, and reports whether the
// user answered y or yes.
func confirm(cmd *cobra.Command, c *CLI, question string) bool {
	fmt.Fprint(c.Out, question)
	var answer string
	fmt.Fscanln(cmd.InOrStdin(), &answer)
	a := strings.ToLower(strings.TrimSpace(answer))
	return a == "y" || a == "yes"
}

func newContainerPrune(c *CLI) *cobra.Command {
	return pruneCommand{
		short:      "remove all stopped containers",
		filterHelp: `filter values (e.g. "until=24h", "label=KEY=VALUE")`,
		warning: func(map[string][]string) (string, error) {
			return "all stopped containers", nil
		},
		prune: func(ctx context.Context, cl *client.Client, fl map[string][]string) (pruned, error) {
			rep, err := cl.ContainersPrune(ctx, fl)
			return pruned{"Deleted Containers:", rep.ContainersDeleted, &rep.SpaceReclaimed}, err
		},
	}.command(c)
}

func newNetworkPrune(c *CLI) *cobra.Command {
	return pruneCommand{
		short:      "remove all unused networks",
		filterHelp: `filter values (e.g. "until=24h", "label=KEY=VALUE")`,
		warning: func(map[string][]string) (string, error) {
			return "all custom networks not used by at least one container", nil
		},
		prune: func(ctx context.Context, cl *client.Client, fl map[string][]string) (pruned, error) {
			rep, err := cl.NetworksPrune(ctx, fl)
			return pruned{heading: "Deleted Networks:", lines: rep.NetworksDeleted}, err
		},
	}.command(c)
}

func newVolumePrune(c *CLI) *cobra.Command {
	var all bool
	cmd := pruneCommand{
		short:      "remove unused anonymous volumes (with -a, unused named ones too)",
		filterHelp: `filter values (e.g. "label=KEY=VALUE", "label!=KEY")`,
		warning: func(fl map[string][]string) (string, error) {
			if !all {
				return "anonymous local volumes not used by at least one container", nil
			}
			if _, ok := fl["all"]; ok {
				return "", &StatusError{Status: 1, Err: fmt.Errorf("conflicting options: cannot specify both --all and --filter all=%s", strings.Join(fl["all"], ","))}
			}
			fl["all"] = []string{"true"}
			return "all local volumes not used by at least one container", nil
		},
		prune: func(ctx context.Context, cl *client.Client, fl map[string][]string) (pruned, error) {
			rep, err := cl.VolumesPrune(ctx, fl)
			return pruned{"Deleted Volumes:", rep.VolumesDeleted, &rep.SpaceReclaimed}, err
		},
	}.command(c)
	cmd.Flags().BoolVarP(&all, "all", "a", false, "remove all unused volumes, not just anonymous ones")
	return cmd
}

func newImagePrune(c *CLI) *cobra.Command {
	var all bool
	cmd := pruneCommand{
		short: "remove unused images",
		warning: func(map[string][]string) (string, error) {
			if all {
				return "all images without at least one container associated to them", nil
			}
			return "all dangling images", nil
		},
		prune: func(ctx context.Context, cl *client.Client, _ map[string][]string) (pruned, error) {
			rep, err := cl.ImagePrune(ctx, all)
			if err != nil {
				return pruned{}, err
			}
			p := pruned{heading: "Deleted Images:", reclaimed: &rep.SpaceReclaimed}
			for _, d := range rep.ImagesDeleted {
				if d.Untagged != "" {
					p.lines = append(p.lines, "untagged: "+d.Untagged)
				}
				if d.Deleted != "" {
					p.lines = append(p.lines, "deleted: "+d.Deleted)
				}
			}
			return p, nil
		},
	}.command(c)
	cmd.Flags().BoolVarP(&all, "all", "a", false, "remove all unused images, not just dangling ones")
	return cmd
}
