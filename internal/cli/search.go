package cli

import (
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

const searchTable = "table {{.Name}}\t{{.Description}}\t{{.StarCount}}\t{{.IsOfficial}}"

// newSearch is docker search: the daemon asks the index (Docker Hub's,
// or the host a term starts with) for matching repositories.
func newSearch(c *CLI) *cobra.Command {
	var noTrunc bool
	var limit int
	var format string
	var filters []string
	cmd := &cobra.Command{
		Use:   "search [OPTIONS] TERM",
		Short: "search an index (Docker Hub, or REGISTRY/TERM) for images",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := ctxOf(cmd)
			fl, lf, cl, err := listSetup(cmd, c, filters, false, format, "searchFormat", searchTable)
			if err != nil {
				return err
			}
			// The credentials of the index's host, as for a pull from it
			// (the daemon splits the term the same way).
			host := "docker.io"
			if first, _, ok := strings.Cut(args[0], "/"); ok && (strings.ContainsAny(first, ".:") || first == "localhost") {
				host = first
			}
			auth := registryAuthFor(host + "/library/x")
			rs, err := cl.ImageSearch(ctx, args[0], limit, fl, auth)
			if err != nil {
				return daemonError(c, err)
			}
			rows := make([]any, len(rs))
			for i, r := range rs {
				row := &searchRow{Name: r.Name, Description: strings.ReplaceAll(r.Description, "\n", " "), StarCount: strconv.Itoa(r.StarCount)}
				if r.IsOfficial {
					row.IsOfficial = "[OK]"
				}
				if !noTrunc && len([]rune(row.Description)) > 45 {
					row.Description = string([]rune(row.Description)[:44]) + "…"
				}
				rows[i] = row
			}
			return lf.write(c.Out, &searchRow{Name: "NAME", Description: "DESCRIPTION", StarCount: "STARS", IsOfficial: "OFFICIAL"}, rows)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&noTrunc, "no-trunc", false, "do not truncate the output")
	f.IntVar(&limit, "limit", 0, "max number of search results (1-100, default 25)")
	f.StringVar(&format, "format", "", "format output: table, table TEMPLATE, json, or a Go template ({{.Name}}, {{.Description}}, {{.StarCount}}, {{.IsOfficial}})")
	f.StringArrayVarP(&filters, "filter", "f", nil, "filter output: stars=N, is-official=true|false (KEY=VALUE)")
	return cmd
}

// searchRow is one result as search's templates see it.
type searchRow struct {
	Name, Description, StarCount, IsOfficial string
}
