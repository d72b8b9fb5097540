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

// print writes the heading and a line per removed object, if any.
func (p pruned) print(c *CLI) {
	if len(p.lines) == 0 {
		return
	}
	fmt.Fprintln(c.Out, p.heading)
	for _, l := range p.lines {
		fmt.Fprintln(c.Out, l)
	}
	if p.reclaimed != nil {
		fmt.Fprintln(c.Out)
	}
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
			rep.print(c)
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
		prune: pruneContainers,
	}.command(c)
}

func newNetworkPrune(c *CLI) *cobra.Command {
	return pruneCommand{
		short:      "remove all unused networks",
		filterHelp: `filter values (e.g. "until=24h", "label=KEY=VALUE")`,
		warning: func(map[string][]string) (string, error) {
			return "all custom networks not used by at least one container", nil
		},
		prune: pruneNetworks,
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
		prune: pruneVolumes,
	}.command(c)
	cmd.Flags().BoolVarP(&all, "all", "a", false, "remove all unused volumes, not just anonymous ones")
	return cmd
}

func newImagePrune(c *CLI) *cobra.Command {
	var all bool
	cmd := pruneCommand{
		short:      "remove unused images",
		filterHelp: `filter values ("until=24h", "label=KEY=VALUE", "label!=KEY")`,
		warning: func(map[string][]string) (string, error) {
			if all {
				return "all images without at least one container associated to them", nil
			}
			return "all dangling images", nil
		},
		prune: func(ctx context.Context, cl *client.Client, fl map[string][]string) (pruned, error) {
			return pruneImages(ctx, cl, all, fl)
		},
	}.command(c)
	cmd.Flags().BoolVarP(&all, "all", "a", false, "remove all unused images, not just dangling ones")
	return cmd
}

func pruneContainers(ctx context.Context, cl *client.Client, fl map[string][]string) (pruned, error) {
	rep, err := cl.ContainersPrune(ctx, fl)
	return pruned{"Deleted Containers:", rep.ContainersDeleted, &rep.SpaceReclaimed}, err
}

func pruneNetworks(ctx context.Context, cl *client.Client, fl map[string][]string) (pruned, error) {
	rep, err := cl.NetworksPrune(ctx, fl)
	return pruned{heading: "Deleted Networks:", lines: rep.NetworksDeleted}, err
}

func pruneVolumes(ctx context.Context, cl *client.Client, fl map[string][]string) (pruned, error) {
	rep, err := cl.VolumesPrune(ctx, fl)
	return pruned{"Deleted Volumes:", rep.VolumesDeleted, &rep.SpaceReclaimed}, err
}

func pruneImages(ctx context.Context, cl *client.Client, all bool, fl map[string][]string) (pruned, error) {
	rep, err := cl.ImagePrune(ctx, all, fl)
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
}

func pruneBuildCache(ctx context.Context, cl *client.Client, _ map[string][]string) (pruned, error) {
	rep, err := cl.BuildCachePrune(ctx)
	if err != nil {
		return pruned{}, err
	}
	return pruned{"Deleted build cache objects:", rep.CachesDeleted, &rep.SpaceReclaimed}, nil
}

// newBuilder is docker builder: prune, for the caches of RUN
// --mount=type=cache (the build steps' cache is the image store: image
// prune drops what no tagged image needs).
func newBuilder(c *CLI) *cobra.Command {
	cmd := &cobra.Command{Use: "builder", Short: "manage the build cache"}
	var all bool
	prune := pruneCommand{
		short: "remove the caches of RUN --mount=type=cache that no build uses",
		warning: func(map[string][]string) (string, error) {
			return "all build cache", nil
		},
		prune: pruneBuildCache,
	}.command(c)
	prune.Flags().BoolVarP(&all, "all", "a", false, "accepted for docker compatibility: every cache is pruned")
	cmd.AddCommand(prune)
	return cmd
}

// newSystemPrune is docker system prune: stopped containers, unused
// networks, dangling images (with -a every unused one; an unused build
// step's image is one of them), with --volumes unused anonymous volumes,
// and the unused caches of RUN --mount, in that order, with one
// confirmation.
func newSystemPrune(c *CLI) *cobra.Command {
	var all, volumes, force bool
	var filters []string
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "remove unused data: stopped containers, unused networks, dangling (with -a unused) images, with --volumes unused anonymous volumes, build cache",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := ctxOf(cmd)
			fl, err := parseFilterFlags(filters)
			if err != nil {
				return err
			}
			if _, ok := fl["until"]; ok && volumes {
				return &StatusError{Status: 1, Err: fmt.Errorf(`conflicting options: the "until" filter is not supported with "--volumes"`)}
			}
			what := []string{"all stopped containers", "all networks not used by at least one container"}
			if volumes {
				what = append(what, "all anonymous volumes not used by at least one container")
			}
			if all {
				what = append(what, "all images without at least one container associated to them")
			} else {
				what = append(what, "all dangling images")
			}
			what = append(what, "all build cache")
			if !force && !confirm(cmd, c, "WARNING! This will remove:\n  - "+strings.Join(what, "\n  - ")+"\n\nAre you sure you want to continue? [y/N] ") {
				return nil
			}
			cl, err := c.client(ctx)
			if err != nil {
				return err
			}
			steps := []func() (pruned, error){
				func() (pruned, error) { return pruneContainers(ctx, cl, fl) },
				func() (pruned, error) { return pruneNetworks(ctx, cl, fl) },
			}
			if volumes {
				steps = append(steps, func() (pruned, error) { return pruneVolumes(ctx, cl, fl) })
			}
			steps = append(steps, func() (pruned, error) { return pruneImages(ctx, cl, all, fl) },
				func() (pruned, error) { return pruneBuildCache(ctx, cl, fl) })
			var total uint64
			for _, step := range steps {
				rep, err := step()
				if err != nil {
					return daemonError(c, err)
				}
				rep.print(c)
				if rep.reclaimed != nil {
					total += *rep.reclaimed
				}
			}
			fmt.Fprintf(c.Out, "Total reclaimed space: %s\n", units.HumanSize(float64(total)))
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&all, "all", "a", false, "remove all unused images, not just dangling ones")
	f.BoolVar(&volumes, "volumes", false, "prune anonymous volumes")
	f.BoolVarP(&force, "force", "f", false, "do not prompt for confirmation")
	f.StringArrayVar(&filters, "filter", nil, `filter values (e.g. "label=KEY=VALUE", "until=24h")`)
	return cmd
}
