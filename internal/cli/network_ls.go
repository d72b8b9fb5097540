package cli

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/network"
	"github.com/spf13/cobra"
)

const networkTable = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}"

func newNetworkLs(c *CLI) *cobra.Command {
	var quiet, noTrunc bool
	var format string
	var filters []string
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "list networks",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := ctxOf(cmd)
			fl, lf, cl, err := listSetup(cmd, c, filters, quiet, format, "networksFormat", networkTable)
			if err != nil {
				return err
			}
			l, err := cl.NetworkList(ctx, fl)
			if err != nil {
				return daemonError(c, err)
			}
			slices.SortFunc(l, func(a, b network.Summary) int { return strings.Compare(a.Name, b.Name) })
			rows := make([]any, len(l))
			for i, n := range l {
				r := newNetworkRow(n)
				if !noTrunc {
					r.ID = r.ID[:min(12, len(r.ID))]
				}
				if quiet {
					c.Out.Write([]byte(r.ID + "\n"))
					continue
				}
				rows[i] = r
			}
			if quiet {
				return nil
			}
			return lf.write(c.Out, networkHeader(), rows)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&quiet, "quiet", "q", false, "only display network IDs")
	f.BoolVar(&noTrunc, "no-trunc", false, "do not truncate the output")
	f.StringVar(&format, "format", "", "format output: table, table TEMPLATE, json, or a Go template ({{.ID}}, {{.Name}}, {{.Driver}}, {{.Scope}}, {{.IPv6}}, {{.Internal}}, {{.Labels}}, {{.Label \"KEY\"}}, {{.CreatedAt}})")
	f.StringArrayVarP(&filters, "filter", "f", nil, "filter output: driver, id, label=KEY[=VALUE], name, type=custom|builtin, dangling=true|false (KEY=VALUE)")
	return cmd
}

// networkRow is one network as ls's templates see it (docker's field
// names, in the order docker's --format json prints them).
type networkRow struct {
	CreatedAt, Driver, ID, IPv4, IPv6, Internal, Labels, Name, Scope string

	labeled
}

func networkHeader() *networkRow {
	return &networkRow{ID: "NETWORK ID", Name: "NAME", Driver: "DRIVER", Scope: "SCOPE", IPv4: "IPV4", IPv6: "IPV6",
		Internal: "INTERNAL", Labels: "LABELS", CreatedAt: "CREATED AT", labeled: labeled{header: true}}
}

func newNetworkRow(n network.Summary) *networkRow {
	r := &networkRow{ID: n.ID, Name: n.Name, Driver: n.Driver, Scope: n.Scope, IPv4: strconv.FormatBool(n.EnableIPv4),
		IPv6: strconv.FormatBool(n.EnableIPv6), Internal: strconv.FormatBool(n.Internal), labeled: labeled{labels: n.Labels},
		CreatedAt: n.Created.Format("2006-01-02 15:04:05.999999999 -0700 MST")}
	if n.Created.IsZero() {
		r.CreatedAt = time.Time{}.String()
	}
	labels := make([]string, 0, len(n.Labels))
	for k, v := range n.Labels {
		labels = append(labels, k+"="+v)
	}
	slices.Sort(labels)
	r.Labels = strings.Join(labels, ",")
	return r
}
