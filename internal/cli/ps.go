package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"text/template"
	"time"
	"unicode/utf8"

	"github.com/docker/go-units"
	"github.com/hako-dev/hako/internal/client"
	"github.com/moby/moby/api/types/container"
	"github.com/spf13/cobra"
)

const psTable = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"

func newPs(c *CLI) *cobra.Command {
	var all, quiet, size, latest, noTrunc bool
	var last int
	var format string
	var filters []string
	cmd := &cobra.Command{
		Use:   "ps [OPTIONS]",
		Short: "list containers",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := ctxOf(cmd)
			fl, err := parseFilterFlags(filters)
			if err != nil {
				return err
			}
			if format == "" && !quiet {
				format = configFormat("psFormat")
			}
			if !quiet && strings.Contains(format, ".Size") {
				size = true
			}
			limit := last
			if latest && limit <= 0 {
				limit = 1
			}
			var lf *listFormat
			if !quiet {
				table := psTable
				if size {
					table += "\t{{.Size}}"
				}
				if lf, err = parseListFormat(format, table); err != nil {
					return err
				}
			}
			cl, err := c.client(ctx)
			if err != nil {
				return err
			}
			l, err := cl.ContainerList(ctx, all || limit > 0, size, limit, fl)
			if err != nil {
				return daemonError(c, err)
			}
			rows := make([]any, len(l))
			for i, s := range l {
				rows[i] = newPsRow(s, !noTrunc, time.Now())
			}
			if quiet {
				for _, r := range rows {
					fmt.Fprintln(c.Out, r.(*psRow).ID)
				}
				return nil
			}
			return lf.write(c.Out, psHeader(), rows)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&all, "all", "a", false, "show all containers (default shows just running)")
	f.BoolVarP(&quiet, "quiet", "q", false, "only display container IDs")
	f.BoolVarP(&size, "size", "s", false, "display total file sizes")
	f.IntVarP(&last, "last", "n", -1, "show n last created containers (includes all states)")
	f.BoolVarP(&latest, "latest", "l", false, "show the latest created container (includes all states)")
	f.BoolVar(&noTrunc, "no-trunc", false, "don't truncate output")
	f.StringVar(&format, "format", "", "format output: table, table TEMPLATE, json, or a Go template ({{.ID}}, {{.Image}}, {{.Command}}, {{.CreatedAt}}, {{.RunningFor}}, {{.Ports}}, {{.State}}, {{.Status}}, {{.Size}}, {{.Names}}, {{.Labels}}, {{.Label \"KEY\"}}, {{.Mounts}}, {{.Networks}})")
	f.StringArrayVarP(&filters, "filter", "f", nil, "filter output: id, name, label, status, exited, ancestor, before, since, volume, network, health, is-task (KEY=VALUE)")
	return cmd
}

// psRow is one container as ps's templates see it (docker's field names).
type psRow struct {
	ID, Image, Command, CreatedAt, RunningFor, Ports, State, Status string
	Size, Names, Labels, Mounts, Networks, LocalVolumes             string

	labeled
}

func psHeader() *psRow {
	return &psRow{ID: "CONTAINER ID", Image: "IMAGE", Command: "COMMAND", CreatedAt: "CREATED AT", RunningFor: "CREATED",
		Ports: "PORTS", State: "STATE", Status: "STATUS", Size: "SIZE", Names: "NAMES", Labels: "LABELS", Mounts: "MOUNTS",
		Networks: "NETWORKS", LocalVolumes: "LOCAL VOLUMES", labeled: labeled{header: true}}
}

func newPsRow(s container.Summary, trunc bool, now time.Time) *psRow {
	created := time.Unix(s.Created, 0)
	r := &psRow{
		ID:         s.ID,
		Image:      s.Image,
		Command:    s.Command,
		CreatedAt:  created.String(),
		RunningFor: units.HumanDuration(now.Sub(created)) + " ago",
		Ports:      displayPorts(s.Ports),
		State:      string(s.State),
		Status:     s.Status,
		labeled:    labeled{labels: s.Labels},
	}
	if r.Status == "" && s.State != "" {
		r.Status = strings.ToUpper(string(s.State[:1])) + string(s.State[1:])
	}
	if r.Image == "" {
		r.Image = "<no image>"
	}
	names := make([]string, 0, len(s.Names))
	for _, n := range s.Names {
		names = append(names, strings.TrimPrefix(n, "/"))
	}
	if trunc {
		r.ID = shortID(s.ID)
		r.Command = ellipsis(s.Command, 20)
		r.Image = familiarImage(s.Image, s.ImageID)
		// Link names (other/alias) are not shown, as docker does.
		names = slices.DeleteFunc(names, func(n string) bool { return strings.Contains(n, "/") })
		if len(names) > 1 {
			names = names[:1]
		}
	}
	r.Names = strings.Join(names, ",")
	r.Command = strconv.Quote(r.Command)
	r.Size = units.HumanSizeWithPrecision(float64(s.SizeRw), 3)
	if s.SizeRootFs > 0 {
		r.Size += " (virtual " + units.HumanSizeWithPrecision(float64(s.SizeRootFs), 3) + ")"
	}
	labels := make([]string, 0, len(s.Labels))
	for k, v := range s.Labels {
		labels = append(labels, k+"="+v)
	}
	slices.Sort(labels)
	r.Labels = strings.Join(labels, ",")
	mounts := make([]string, 0, len(s.Mounts))
	local := 0
	for _, m := range s.Mounts {
		n := m.Name
		if n == "" {
			n = m.Source
		}
		if trunc {
			n = ellipsis(n, 15)
		}
		mounts = append(mounts, n)
		if m.Driver == "local" {
			local++
		}
	}
	r.Mounts = strings.Join(mounts, ",")
	r.LocalVolumes = strconv.Itoa(local)
	if s.NetworkSettings != nil {
		var nets []string
		for n := range s.NetworkSettings.Networks {
			nets = append(nets, n)
		}
		slices.Sort(nets)
		r.Networks = strings.Join(nets, ",")
	}
	return r
}

// shortID is the 12-character form of an ID, without "sha256:".
func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	return id[:min(12, len(id))]
}

// ellipsis cuts s to n characters, the last one "…".
func ellipsis(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

// familiarImage is an image reference as people write it: "busybox"
// rather than "docker.io/library/busybox", a short ID for an ID.
func familiarImage(image, imageID string) string {
	if image == imageID || strings.HasPrefix(image, "sha256:") {
		return shortID(image)
	}
	if i := strings.Index(image, "@"); i >= 0 && strings.LastIndex(image[:i], ":") > strings.LastIndex(image[:i], "/") {
		image = image[:i] // name:tag@digest shows as name:tag
	}
	if rest, ok := strings.CutPrefix(image, "docker.io/"); ok {
		image = strings.TrimPrefix(rest, "library/")
	}
	return image
}

// displayPorts is ps's PORTS column: consecutive ports grouped into
// ranges, published ones as "0.0.0.0:8080->80/tcp".
func displayPorts(ports []container.PortSummary) string {
	ports = slices.Clone(ports)
	slices.SortFunc(ports, func(a, b container.PortSummary) int {
		switch {
		case a.PrivatePort != b.PrivatePort:
			return int(a.PrivatePort) - int(b.PrivatePort)
		case a.IP != b.IP:
			return strings.Compare(a.IP.String(), b.IP.String())
		case a.PublicPort != b.PublicPort:
			return int(a.PublicPort) - int(b.PublicPort)
		}
		return strings.Compare(a.Type, b.Type)
	})
	type group struct{ first, last uint16 }
	// key is "tcp", or "IP/tcp" for ports published on the same number.
	str := func(key string, g group) string {
		ip, proto, ok := strings.Cut(key, "/")
		if !ok {
			ip, proto = "", key
		}
		s := strconv.Itoa(int(g.first))
		if g.last != g.first {
			s += "-" + strconv.Itoa(int(g.last))
		}
		if ip != "" {
			s = net.JoinHostPort(ip, s) + "->" + s
		}
		return s + "/" + proto
	}
	var keys, result, mapped []string
	open := map[string]group{}
	for _, p := range ports {
		key := p.Type
		if p.IP.IsValid() {
			if p.PublicPort != p.PrivatePort {
				mapped = append(mapped, fmt.Sprintf("%s->%d/%s", net.JoinHostPort(p.IP.String(), strconv.Itoa(int(p.PublicPort))), p.PrivatePort, p.Type))
				continue
			}
			key = p.IP.String() + "/" + p.Type
		}
		g, ok := open[key]
		switch {
		case !ok:
			keys = append(keys, key)
		case p.PrivatePort == g.last+1:
			g.last = p.PrivatePort
			open[key] = g
			continue
		default:
			result = append(result, str(key, g))
		}
		open[key] = group{p.PrivatePort, p.PrivatePort}
	}
	for _, k := range keys {
		result = append(result, str(k, open[k]))
	}
	return strings.Join(append(result, mapped...), ", ")
}

// listSetup is what the ls verbs do before they ask the daemon: parse
// --filter, and unless quiet the output format (--format, else the CLI
// config's configKey, else table); then connect.
func listSetup(cmd *cobra.Command, c *CLI, filters []string, quiet bool, format, configKey, table string) (map[string][]string, *listFormat, *client.Client, error) {
	fl, err := parseFilterFlags(filters)
	if err != nil {
		return nil, nil, nil, err
	}
	var lf *listFormat
	if !quiet {
		if format == "" {
			format = configFormat(configKey)
		}
		if lf, err = parseListFormat(format, table); err != nil {
			return nil, nil, nil, err
		}
	}
	cl, err := c.client(ctxOf(cmd))
	if err != nil {
		return nil, nil, nil, err
	}
	return fl, lf, cl, nil
}

// labeled gives a list row docker's {{.Label "KEY"}}: the label's value,
// or the column's title in the header row.
type labeled struct {
	labels map[string]string
	header bool
}

// Label is the value of one label ({{.Label "com.example.x"}}).
func (r *labeled) Label(name string) string {
	if r.header {
		return "LABEL " + strings.ToUpper(name)
	}
	return r.labels[name]
}

// listFormat renders rows as docker's --format does: "" or "table" for
// the default table, "table TEMPLATE" for a table of the template's
// columns under a header, "json" for a JSON object a line, anything else
// as a Go template a line.
type listFormat struct {
	table bool
	tmpl  *template.Template
}

func parseListFormat(format, defaultTable string) (*listFormat, error) {
	switch format {
	case "", "table":
		format = defaultTable
	case "json":
		format = "{{json .}}"
	}
	rest, table := strings.CutPrefix(format, "table")
	rest = strings.Trim(rest, " ")
	rest = strings.NewReplacer(`\t`, "\t", `\n`, "\n").Replace(rest)
	t, err := parseTemplate(rest)
	if err != nil {
		return nil, err
	}
	return &listFormat{table: table, tmpl: t}, nil
}

// write executes the template for each row; a table gets header (a row
// whose fields hold the column names) on top and aligned columns.
func (f *listFormat) write(w io.Writer, header any, rows []any) error {
	var buf bytes.Buffer
	for _, r := range rows {
		if err := f.tmpl.Execute(&buf, r); err != nil {
			return fmt.Errorf("--format: %w", err)
		}
		buf.WriteByte('\n')
	}
	if !f.table {
		_, err := buf.WriteTo(w)
		return err
	}
	tw := tabwriter.NewWriter(w, 10, 1, 3, ' ', 0)
	if h, err := f.tmpl.Clone(); err == nil {
		h.Funcs(headerFuncs).Execute(tw, header)
	}
	tw.Write([]byte{'\n'})
	buf.WriteTo(tw)
	return tw.Flush()
}

// configFormat is a default --format from docker's config.json
// ("psFormat", "statsFormat"), "" when none.
func configFormat(key string) string {
	all, _, err := loadConfig()
	if err != nil {
		return ""
	}
	var s string
	if json.Unmarshal(all[key], &s) != nil {
		return ""
	}
	return s
}

// parseFilterFlags turns --filter KEY=VALUE flags into the API's filters.
func parseFilterFlags(flags []string) (map[string][]string, error) {
	fl := map[string][]string{}
	for _, f := range flags {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return nil, fmt.Errorf("bad format of filter (expected name=value): %s", f)
		}
		k = strings.ToLower(strings.TrimSpace(k))
		if k == "is-task" {
			continue // swarm tasks: hako has none
		}
		fl[k] = append(fl[k], strings.TrimSpace(v))
	}
	return fl, nil
}
