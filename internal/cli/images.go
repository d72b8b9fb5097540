package cli

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"text/template"
	"time"

	"github.com/docker/go-units"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/hako-dev/hako/internal/client"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

func ctxOf(cmd *cobra.Command) context.Context {
	if ctx := cmd.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}

// registryAuthFor returns the X-Registry-Auth value for ref's registry
// from docker's config.json ("" when not logged in).
func registryAuthFor(ref string) string {
	r, err := name.ParseReference(ref)
	if err != nil {
		return ""
	}
	a, err := keychain{}.Resolve(r.Context().Registry)
	if err != nil || a == authn.Anonymous {
		return ""
	}
	cfg, err := a.Authorization()
	if err != nil {
		return ""
	}
	b, _ := json.Marshal(map[string]string{"username": cfg.Username, "password": cfg.Password, "identitytoken": cfg.IdentityToken, "serveraddress": r.Context().RegistryStr()})
	return base64.URLEncoding.EncodeToString(b)
}

func newPull(c *CLI) *cobra.Command {
	var platform string
	var quiet bool
	cmd := &cobra.Command{
		Use:   "pull [OPTIONS] NAME[:TAG|@DIGEST]",
		Short: "download an image from a registry",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := ctxOf(cmd)
			cl, err := c.client(ctx)
			if err != nil {
				return err
			}
			return pull(ctx, c, cl, args[0], platform, quiet)
		},
	}
	cmd.Flags().StringVar(&platform, "platform", "", "platform os/arch[/variant] to pull from a multi-platform image (default: this host's)")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only the image name")
	return cmd
}

// pull pulls ref, printing docker-like progress lines (one per layer
// state change; download progress only at its end).
func pull(ctx context.Context, c *CLI, cl *client.Client, ref, platform string, quiet bool) error {
	pp := newProgressPrinter(c.Out)
	err := cl.ImagePull(ctx, ref, platform, registryAuthFor(ref), func(m client.JSONMessage) {
		if !quiet {
			pp.print(m)
		}
	})
	if err != nil {
		return err
	}
	if r, err := name.ParseReference(ref); err == nil {
		fmt.Fprintln(c.Out, r.Name())
	}
	return nil
}

func newImages(c *CLI) *cobra.Command {
	var quiet, digests, noTrunc, all bool
	var format string
	var filters []string
	cmd := &cobra.Command{
		Use:   "images [OPTIONS] [REPOSITORY[:TAG]]",
		Short: "list images",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := ctxOf(cmd)
			cl, err := c.client(ctx)
			if err != nil {
				return err
			}
			fl := map[string][]string{}
			for _, f := range filters {
				k, v, ok := strings.Cut(f, "=")
				if !ok {
					return fmt.Errorf("--filter %q: want key=value", f)
				}
				fl[k] = append(fl[k], v)
			}
			if len(args) == 1 {
				fl["reference"] = append(fl["reference"], args[0])
			}
			l, err := cl.ImageList(ctx, fl, all)
			if err != nil {
				return err
			}
			type row struct {
				ID, Repository, Tag, Digest, CreatedSince, CreatedAt, Size string
			}
			var rows []row
			for _, s := range l {
				id := strings.TrimPrefix(s.ID, "sha256:")
				if !noTrunc {
					id = id[:min(12, len(id))]
				} else {
					id = s.ID
				}
				created := time.Unix(s.Created, 0)
				base := row{ID: id, CreatedSince: units.HumanDuration(time.Since(created)) + " ago", CreatedAt: created.Format("2006-01-02 15:04:05 -0700 MST"), Size: units.HumanSizeWithPrecision(float64(s.Size), 3)}
				dg := "<none>"
				if len(s.RepoDigests) > 0 {
					_, dg, _ = strings.Cut(s.RepoDigests[0], "@")
				}
				tags := s.RepoTags
				if len(tags) == 0 {
					tags = []string{"<none>:<none>"}
				}
				for _, t := range tags {
					i := strings.LastIndex(t, ":")
					r := base
					r.Repository, r.Tag, r.Digest = t[:i], t[i+1:], dg
					rows = append(rows, r)
				}
			}
			if quiet {
				seen := map[string]bool{}
				for _, r := range rows {
					if !seen[r.ID] {
						seen[r.ID] = true
						fmt.Fprintln(c.Out, r.ID)
					}
				}
				return nil
			}
			if format != "" && !strings.HasPrefix(format, "table") {
				t, err := parseFormat(format)
				if err != nil {
					return err
				}
				for _, r := range rows {
					if err := t.Execute(c.Out, r); err != nil {
						return err
					}
					fmt.Fprintln(c.Out)
				}
				return nil
			}
			w := tabwriter.NewWriter(c.Out, 0, 8, 3, ' ', 0)
			if digests {
				fmt.Fprintln(w, "REPOSITORY\tTAG\tDIGEST\tIMAGE ID\tCREATED\tSIZE")
			} else {
				fmt.Fprintln(w, "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE")
			}
			for _, r := range rows {
				if digests {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Repository, r.Tag, r.Digest, r.ID, r.CreatedSince, r.Size)
				} else {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", r.Repository, r.Tag, r.ID, r.CreatedSince, r.Size)
				}
			}
			return w.Flush()
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&quiet, "quiet", "q", false, "only show image IDs")
	f.BoolVarP(&all, "all", "a", false, "show all images (intermediate build images are hidden by default)")
	f.BoolVar(&digests, "digests", false, "show digests")
	f.BoolVar(&noTrunc, "no-trunc", false, "don't truncate output")
	f.StringVar(&format, "format", "", "format output with a Go template ({{.Repository}}, {{.Tag}}, {{.ID}}, {{.Digest}}, {{.Size}}, ...)")
	f.StringArrayVarP(&filters, "filter", "f", nil, "filter: dangling=true|false, reference=PATTERN, label=KEY[=VALUE], before=IMAGE, since=IMAGE")
	return cmd
}

func newRmi(c *CLI) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "rmi [OPTIONS] IMAGE [IMAGE...]",
		Short: "remove images",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := ctxOf(cmd)
			cl, err := c.client(ctx)
			if err != nil {
				return err
			}
			var failed error
			for _, a := range args {
				l, err := cl.ImageRemove(ctx, a, force)
				if err != nil {
					fmt.Fprintf(c.Err, "Error response from daemon: %v\n", err)
					failed = &StatusError{Status: 1}
					continue
				}
				for _, d := range l {
					if d.Untagged != "" {
						fmt.Fprintf(c.Out, "Untagged: %s\n", d.Untagged)
					}
					if d.Deleted != "" {
						fmt.Fprintf(c.Out, "Deleted: %s\n", d.Deleted)
					}
				}
			}
			return failed
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "remove the image even if it has several names")
	return cmd
}

func newTag(c *CLI) *cobra.Command {
	return &cobra.Command{
		Use:   "tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
		Short: "give an image another name",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := ctxOf(cmd)
			cl, err := c.client(ctx)
			if err != nil {
				return err
			}
			repo, tag := args[1], ""
			if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
				repo, tag = repo[:i], repo[i+1:]
			}
			return cl.ImageTag(ctx, args[0], repo, tag)
		},
	}
}

func newImage(c *CLI) *cobra.Command {
	cmd := &cobra.Command{Use: "image", Short: "manage images"}
	var format string
	inspect := &cobra.Command{
		Use:   "inspect [OPTIONS] IMAGE [IMAGE...]",
		Short: "show images' details as JSON",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := ctxOf(cmd)
			cl, err := c.client(ctx)
			if err != nil {
				return err
			}
			var tmpl *template.Template
			if format != "" {
				if tmpl, err = parseFormat(format); err != nil {
					return err
				}
			}
			var all []json.RawMessage
			var failed error
			for _, a := range args {
				_, raw, err := cl.ImageInspect(ctx, a)
				if err != nil {
					fmt.Fprintf(c.Err, "Error response from daemon: %v\n", err)
					failed = &StatusError{Status: 1}
					continue
				}
				if tmpl != nil {
					var v any
					json.Unmarshal(raw, &v)
					if err := tmpl.Execute(c.Out, v); err != nil {
						return err
					}
					fmt.Fprintln(c.Out)
					continue
				}
				all = append(all, raw)
			}
			if tmpl == nil {
				b, _ := json.MarshalIndent(all, "", "    ")
				fmt.Fprintln(c.Out, string(b))
			}
			return failed
		},
	}
	inspect.Flags().StringVarP(&format, "format", "f", "", "format the output with a Go template")
	pullCmd, ls, rm, tag := newPull(c), newImages(c), newRmi(c), newTag(c)
	ls.Use, rm.Use = "ls [OPTIONS] [REPOSITORY[:TAG]]", "rm [OPTIONS] IMAGE [IMAGE...]"
	cmd.AddCommand(inspect, pullCmd, ls, rm, tag, newImagePrune(c), newHistory(c), newImport(c), newSave(c), newLoad(c), newPush(c))
	return cmd
}

func newPush(c *CLI) *cobra.Command {
	var quiet bool
	cmd := &cobra.Command{
		Use:   "push [OPTIONS] NAME[:TAG]",
		Short: "upload an image to a registry",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := ctxOf(cmd)
			cl, err := c.client(ctx)
			if err != nil {
				return err
			}
			pp := newProgressPrinter(c.Out)
			return cl.ImagePush(ctx, args[0], registryAuthFor(args[0]), func(m client.JSONMessage) {
				if !quiet {
					pp.print(m)
				}
			})
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "suppress progress output")
	return cmd
}

func newSave(c *CLI) *cobra.Command {
	var output, format string
	cmd := &cobra.Command{
		Use:   "save [OPTIONS] IMAGE [IMAGE...]",
		Short: "write images to a tar archive (docker-archive, or an OCI layout with --format oci)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := ctxOf(cmd)
			w := c.Out
			if output == "" {
				if f, ok := c.Out.(interface{ Fd() uintptr }); ok && isTerminal(f.Fd()) {
					return fmt.Errorf("refusing to write the archive to a terminal: use -o or redirect the output")
				}
			}
			cl, err := c.client(ctx)
			if err != nil {
				return err
			}
			if output != "" {
				// Written beside the target and renamed: no half archive
				// under the name.
				tmp, err := os.CreateTemp(filepath.Dir(output), "."+filepath.Base(output)+".tmp*")
				if err != nil {
					return err
				}
				defer os.Remove(tmp.Name())
				if err := cl.ImageSave(ctx, args, format, tmp); err != nil {
					tmp.Close()
					return err
				}
				if err := tmp.Close(); err != nil {
					return err
				}
				return os.Rename(tmp.Name(), output)
			}
			return cl.ImageSave(ctx, args, format, w)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "write to a file instead of stdout")
	cmd.Flags().StringVar(&format, "format", "docker-archive", "archive format: docker-archive or oci")
	return cmd
}

func newLoad(c *CLI) *cobra.Command {
	var input string
	var quiet bool
	cmd := &cobra.Command{
		Use:   "load [OPTIONS]",
		Short: "load images from a tar archive (docker-archive or OCI layout) on stdin or -i",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := ctxOf(cmd)
			var r io.Reader = cmd.InOrStdin()
			if input != "" {
				f, err := os.Open(input)
				if err != nil {
					return err
				}
				defer f.Close()
				r = f
			}
			cl, err := c.client(ctx)
			if err != nil {
				return err
			}
			msgs, err := cl.ImageLoad(ctx, r)
			if err != nil {
				return err
			}
			if !quiet {
				for _, m := range msgs {
					fmt.Fprintln(c.Out, m)
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&input, "input", "i", "", "read from a file instead of stdin")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "suppress the output")
	return cmd
}

func isTerminal(fd uintptr) bool {
	_, err := unix.IoctlGetTermios(int(fd), unix.TCGETS)
	return err == nil
}

func newImport(c *CLI) *cobra.Command {
	var changes []string
	var message string
	cmd := &cobra.Command{
		Use:   "import [OPTIONS] FILE|- [REPOSITORY[:TAG]]",
		Short: "make an image from a root filesystem tarball",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := ctxOf(cmd)
			var r io.Reader = cmd.InOrStdin()
			if args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return err
				}
				defer f.Close()
				r = f
			}
			repo, tag := "", ""
			if len(args) == 2 {
				repo = args[1]
				if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
					repo, tag = repo[:i], repo[i+1:]
				}
			}
			cl, err := c.client(ctx)
			if err != nil {
				return err
			}
			id, err := cl.ImageImport(ctx, r, repo, tag, changes, message)
			if err != nil {
				return err
			}
			fmt.Fprintln(c.Out, id)
			return nil
		},
	}
	cmd.Flags().StringArrayVarP(&changes, "change", "c", nil, "apply a Dockerfile instruction (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR)")
	cmd.Flags().StringVarP(&message, "message", "m", "", "commit message for the image's history")
	return cmd
}

const historyTable = "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"

func newHistory(c *CLI) *cobra.Command {
	var quiet, noTrunc, human bool
	var format string
	cmd := &cobra.Command{
		Use:   "history [OPTIONS] IMAGE",
		Short: "show an image's history",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := ctxOf(cmd)
			var lf *listFormat
			if !quiet {
				var err error
				if lf, err = parseListFormat(format, historyTable); err != nil {
					return err
				}
			}
			cl, err := c.client(ctx)
			if err != nil {
				return err
			}
			h, err := cl.ImageHistory(ctx, args[0])
			if err != nil {
				return daemonError(c, err)
			}
			rows := make([]any, 0, len(h))
			for _, it := range h {
				id := it.ID
				if !noTrunc && strings.HasPrefix(id, "sha256:") {
					id = strings.TrimPrefix(id, "sha256:")[:12]
				}
				if quiet {
					fmt.Fprintln(c.Out, id)
					continue
				}
				created := time.Unix(it.Created, 0)
				r := &historyRow{ID: id, CreatedBy: it.CreatedBy, Comment: it.Comment,
					CreatedSince: units.HumanDuration(time.Since(created)) + " ago", CreatedAt: created.Format(time.RFC3339),
					Size: units.HumanSizeWithPrecision(float64(it.Size), 3)}
				if !human {
					r.CreatedSince, r.Size = r.CreatedAt, strconv.FormatInt(it.Size, 10)
				}
				if !noTrunc && len(r.CreatedBy) > 45 {
					r.CreatedBy = r.CreatedBy[:44] + "…"
				}
				rows = append(rows, r)
			}
			if quiet {
				return nil
			}
			return lf.write(c.Out, &historyRow{ID: "IMAGE", CreatedSince: "CREATED", CreatedAt: "CREATED AT", CreatedBy: "CREATED BY", Size: "SIZE", Comment: "COMMENT"}, rows)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&quiet, "quiet", "q", false, "only show image IDs")
	f.BoolVar(&noTrunc, "no-trunc", false, "don't truncate output")
	f.BoolVar(&human, "human", true, "print sizes and dates in human readable format")
	f.StringVar(&format, "format", "", "format output: table, table TEMPLATE, json, or a Go template ({{.ID}}, {{.CreatedSince}}, {{.CreatedAt}}, {{.CreatedBy}}, {{.Size}}, {{.Comment}})")
	return cmd
}

// historyRow is one history entry as history's templates see it.
type historyRow struct {
	ID, CreatedSince, CreatedAt, CreatedBy, Size, Comment string
}

func newSystem(c *CLI) *cobra.Command {
	cmd := &cobra.Command{Use: "system", Short: "manage hako"}
	df := &cobra.Command{
		Use:   "df",
		Short: "show disk usage",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := ctxOf(cmd)
			cl, err := c.client(ctx)
			if err != nil {
				return err
			}
			du, err := cl.SystemDF(ctx)
			if err != nil {
				return err
			}
			// Reclaimable as docker counts it: the layers no container's
			// image holds alone, the writable layers of containers not
			// running.
			pct := func(part, whole int64) string {
				if whole <= 0 {
					return ""
				}
				return fmt.Sprintf(" (%d%%)", part*100/whole)
			}
			active, used := 0, int64(0)
			for _, img := range du.Images {
				if img.Containers > 0 {
					active++
					if img.Size >= 0 && img.SharedSize >= 0 {
						used += img.Size - img.SharedSize
					}
				}
			}
			imgFree := max(du.LayersSize-used, 0)
			w := tabwriter.NewWriter(c.Out, 0, 8, 3, ' ', 0)
			fmt.Fprintln(w, "TYPE\tTOTAL\tACTIVE\tSIZE\tRECLAIMABLE")
			fmt.Fprintf(w, "Images\t%d\t%d\t%s\t%s%s\n", len(du.Images), active, units.HumanSizeWithPrecision(float64(du.LayersSize), 3), units.HumanSizeWithPrecision(float64(imgFree), 3), pct(imgFree, du.LayersSize))
			var ctrActive int
			var ctrSize, ctrFree int64
			for _, ct := range du.Containers {
				ctrSize += ct.SizeRw
				switch ct.State {
				case "running", "paused", "restarting":
					ctrActive++
				default:
					ctrFree += ct.SizeRw
				}
			}
			fmt.Fprintf(w, "Containers\t%d\t%d\t%s\t%s%s\n", len(du.Containers), ctrActive, units.HumanSizeWithPrecision(float64(ctrSize), 3), units.HumanSizeWithPrecision(float64(ctrFree), 3), pct(ctrFree, ctrSize))
			var volActive int
			var volSize, volFree int64
			for _, v := range du.Volumes {
				if v.UsageData == nil || v.UsageData.Size < 0 {
					continue
				}
				volSize += v.UsageData.Size
				if v.UsageData.RefCount > 0 {
					volActive++
				} else {
					volFree += v.UsageData.Size
				}
			}
			freePct := ""
			if volSize > 0 {
				freePct = fmt.Sprintf(" (%d%%)", volFree*100/volSize)
			}
			fmt.Fprintf(w, "Local Volumes\t%d\t%d\t%s\t%s%s\n", len(du.Volumes), volActive, units.HumanSizeWithPrecision(float64(volSize), 3), units.HumanSizeWithPrecision(float64(volFree), 3), freePct)
			var cacheActive int
			var cacheSize, cacheFree int64
			for _, r := range du.BuildCache {
				cacheSize += r.Size
				if r.InUse {
					cacheActive++
				} else {
					cacheFree += r.Size
				}
			}
			fmt.Fprintf(w, "Build Cache\t%d\t%d\t%s\t%s\n", len(du.BuildCache), cacheActive, units.HumanSizeWithPrecision(float64(cacheSize), 3), units.HumanSizeWithPrecision(float64(cacheFree), 3))
			return w.Flush()
		},
	}
	cmd.AddCommand(df, newInfo(c), newSystemPrune(c))
	return cmd
}
