package cli

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/docker/go-units"
	"github.com/moby/moby/api/types/volume"
	"github.com/spf13/cobra"
)

const volumeTable = "table {{.Driver}}\t{{.Name}}"

func newVolumeLs(c *CLI) *cobra.Command {
	var quiet bool
	var format string
	var filters []string
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "list volumes",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := ctxOf(cmd)
			fl, lf, cl, err := listSetup(cmd, c, filters, quiet, format, "volumesFormat", volumeTable)
			if err != nil {
				return err
			}
			l, err := cl.VolumeList(ctx, fl)
			if err != nil {
				return daemonError(c, err)
			}
			for _, w := range l.Warnings {
				fmt.Fprintln(c.Err, w)
			}
			slices.SortFunc(l.Volumes, func(a, b volume.Volume) int { return strings.Compare(a.Name, b.Name) })
			if quiet {
				for _, v := range l.Volumes {
					fmt.Fprintln(c.Out, v.Name)
				}
				return nil
			}
			rows := make([]any, len(l.Volumes))
			for i, v := range l.Volumes {
				rows[i] = newVolumeRow(v)
			}
			return lf.write(c.Out, volumeHeader(), rows)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&quiet, "quiet", "q", false, "only display volume names")
	f.StringVar(&format, "format", "", "format output: table, table TEMPLATE, json, or a Go template ({{.Name}}, {{.Driver}}, {{.Scope}}, {{.Mountpoint}}, {{.Labels}}, {{.Label \"KEY\"}}, {{.Links}}, {{.Size}})")
	f.StringArrayVarP(&filters, "filter", "f", nil, "filter output: dangling=true|false, driver, label=KEY[=VALUE], name (KEY=VALUE)")
	return cmd
}

// volumeRow is one volume as ls's templates see it (docker's field names,
// in the order docker's --format json prints them).
type volumeRow struct {
	Availability, Driver, Group, Labels, Links, Mountpoint, Name, Scope, Size, Status string

	labeled
}

func volumeHeader() *volumeRow {
	return &volumeRow{Name: "VOLUME NAME", Driver: "DRIVER", Scope: "SCOPE", Mountpoint: "MOUNTPOINT", Labels: "LABELS",
		Links: "LINKS", Size: "SIZE", Group: "GROUP", Availability: "AVAILABILITY", Status: "STATUS", labeled: labeled{header: true}}
}

func newVolumeRow(v volume.Volume) *volumeRow {
	r := &volumeRow{Name: v.Name, Driver: v.Driver, Scope: v.Scope, Mountpoint: v.Mountpoint, labeled: labeled{labels: v.Labels},
		Links: "N/A", Size: "N/A", Group: "N/A", Availability: "N/A", Status: "N/A"}
	labels := make([]string, 0, len(v.Labels))
	for k, val := range v.Labels {
		labels = append(labels, k+"="+val)
	}
	slices.Sort(labels)
	r.Labels = strings.Join(labels, ",")
	if v.UsageData != nil {
		r.Links = strconv.FormatInt(v.UsageData.RefCount, 10)
		if v.UsageData.Size >= 0 {
			r.Size = units.HumanSizeWithPrecision(float64(v.UsageData.Size), 3)
		}
	}
	return r
}
