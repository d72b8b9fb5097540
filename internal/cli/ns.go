package cli

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/hako-dev/hako/internal/client"
	"github.com/spf13/cobra"
)

// nsTypes are the namespace types of /proc/PID/ns that ns shows, in its
// column order.
var nsTypes = []string{"cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts"}

// newNs is hako's own `ns`: the namespaces of containers' init processes,
// what `ls -l /proc/PID/ns` shows, with what each shares with the host
// and with other containers.
func newNs(c *CLI) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "ns [OPTIONS] [CONTAINER...]",
		Short: "show the namespaces of containers (default: all running) and which are shared",
		Long: `Show each container's init pid and its namespaces by inode number, as
/proc/PID/ns shows them (net:[4026532291]). "host" marks a namespace the
container shares with the host (pid 1), "*" one it shares with other
containers; those are listed under the table.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := ctxOf(cmd)
			var tmpl interface {
				Execute(io.Writer, any) error
			}
			if format != "" && format != "json" && format != "table" {
				t, err := parseTemplate(format)
				if err != nil {
					return err
				}
				tmpl = t
			}
			cl, err := c.client(ctx)
			if err != nil {
				return err
			}
			names, explicit := args, len(args) > 0
			if !explicit {
				l, err := cl.ContainerList(ctx, false, false, 0, nil)
				if err != nil {
					return daemonError(c, err)
				}
				for i := len(l) - 1; i >= 0; i-- { // oldest first
					names = append(names, l[i].ID)
				}
			}
			var all []client.ContainerNamespaces
			failed := false
			for _, n := range names {
				r, err := cl.ContainerNamespaces(ctx, n)
				if err != nil {
					if explicit {
						printError(c, err)
						failed = true
					}
					continue // stopped since it was listed
				}
				all = append(all, r)
			}
			switch {
			case format == "json":
				if all == nil {
					all = []client.ContainerNamespaces{}
				}
				b, _ := json.MarshalIndent(all, "", "    ")
				fmt.Fprintln(c.Out, string(b))
			case tmpl != nil:
				for _, r := range all {
					if err := tmpl.Execute(c.Out, r); err != nil {
						return err
					}
					fmt.Fprintln(c.Out)
				}
			default:
				writeNamespaces(c.Out, all)
			}
			if failed {
				return &StatusError{Status: 1}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "", "format output: table, json, or a Go template ({{.Name}}, {{.Pid}}, {{.Namespaces}}, ...)")
	return cmd
}

// writeNamespaces prints the table: a row per container, a column per
// namespace type holding its inode, "host" when it is the host's, with
// "*" when other containers share it; then which containers share what.
func writeNamespaces(w io.Writer, all []client.ContainerNamespaces) {
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	head := []string{"NAME", "PID"}
	for _, t := range nsTypes {
		head = append(head, strings.ToUpper(t))
	}
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	type key struct {
		typ   string
		inode uint64
	}
	shared := map[key][]string{}
	var keys []key
	anyHost := false
	for _, r := range all {
		name := strings.TrimPrefix(r.Name, "/")
		cells := []string{name, strconv.Itoa(r.Pid)}
		for _, t := range nsTypes {
			i := slices.IndexFunc(r.Namespaces, func(n client.Namespace) bool { return n.Type == t })
			if i < 0 {
				cells = append(cells, "-") // not supported by the kernel
				continue
			}
			n := r.Namespaces[i]
			cell := strconv.FormatUint(n.Inode, 10)
			if n.Host {
				cell, anyHost = "host", true
			}
			// Sharing the host's namespace is said by "host"; "*" is for
			// namespaces containers share among themselves.
			if len(n.SharedWith) > 0 && !n.Host {
				cell += "*"
				k := key{t, n.Inode}
				if _, ok := shared[k]; !ok {
					keys = append(keys, k)
				}
				for _, o := range append([]string{name}, n.SharedWith...) {
					o = strings.TrimPrefix(o, "/")
					if !slices.Contains(shared[k], o) {
						shared[k] = append(shared[k], o)
					}
				}
			}
			cells = append(cells, cell)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	tw.Flush()
	if anyHost || len(keys) > 0 {
		fmt.Fprintln(w)
	}
	if anyHost {
		fmt.Fprintln(w, "host: the host's namespace (the one of pid 1)")
	}
	if len(keys) > 0 {
		fmt.Fprintln(w, "*: shared between containers:")
		slices.SortFunc(keys, func(a, b key) int {
			if c := slices.Index(nsTypes, a.typ) - slices.Index(nsTypes, b.typ); c != 0 {
				return c
			}
			return cmp.Compare(a.inode, b.inode)
		})
		for _, k := range keys {
			names := shared[k]
			slices.Sort(names)
			fmt.Fprintf(w, "  %s:[%d]  %s\n", k.typ, k.inode, strings.Join(names, ", "))
		}
	}
}
