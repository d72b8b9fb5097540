package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/template"
	"time"

	"github.com/hako-dev/hako/internal/client"
	"github.com/spf13/cobra"
)

func newEvents(c *CLI) *cobra.Command {
	var since, until, format string
	var filters []string
	cmd := &cobra.Command{
		Use:   "events",
		Short: "stream the daemon's events",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			o := client.EventsOptions{Filters: map[string][]string{}}
			var err error
			if o.Since, err = parseCLITime(since); err != nil {
				return fmt.Errorf("--since: %w", err)
			}
			if o.Until, err = parseCLITime(until); err != nil {
				return fmt.Errorf("--until: %w", err)
			}
			for _, f := range filters {
				k, v, ok := strings.Cut(f, "=")
				if !ok {
					return fmt.Errorf("--filter %q: want key=value", f)
				}
				o.Filters[k] = append(o.Filters[k], v)
			}
			var tmpl *template.Template
			if format != "" && format != "json" && format != "{{json .}}" {
				if tmpl, err = parseFormat(format); err != nil {
					return err
				}
			}
			cl, err := c.client(ctx)
			if err != nil {
				return err
			}
			msgs, errc := cl.Events(ctx, o)
			for m := range msgs {
				switch {
				case format == "json" || format == "{{json .}}":
					b, _ := json.Marshal(m)
					fmt.Fprintln(c.Out, string(b))
				case tmpl != nil:
					if err := tmpl.Execute(c.Out, m); err != nil {
						return err
					}
					fmt.Fprintln(c.Out)
				default:
					var attrs []string
					for k, v := range m.Actor.Attributes {
						attrs = append(attrs, k+"="+v)
					}
					sort.Strings(attrs)
					line := fmt.Sprintf("%s %s %s %s", time.Unix(0, m.TimeNano).Format("2006-01-02T15:04:05.000000000Z07:00"), m.Type, m.Action, m.Actor.ID)
					if len(attrs) > 0 {
						line += " (" + strings.Join(attrs, ", ") + ")"
					}
					fmt.Fprintln(c.Out, line)
				}
			}
			return <-errc
		},
	}
	f := cmd.Flags()
	f.StringVar(&since, "since", "", "show events since this time (RFC 3339, Unix seconds, or a duration like 10m)")
	f.StringVar(&until, "until", "", "stream events until this time")
	f.StringArrayVarP(&filters, "filter", "f", nil, "filter events (type=image, event=pull, image=NAME, ...)")
	f.StringVar(&format, "format", "", "format events with a Go template, or 'json'")
	return cmd
}

// parseCLITime reads docker's --since/--until: RFC 3339, Unix seconds, or
// a duration before now.
func parseCLITime(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(v); err == nil {
		return time.Now().Add(-d), nil
	}
	if sec, frac, _ := strings.Cut(v, "."); sec != "" {
		if s, err := strconv.ParseInt(sec, 10, 64); err == nil {
			ns, _ := strconv.ParseInt((frac + "000000000")[:9], 10, 64)
			return time.Unix(s, ns), nil
		}
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, v, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("cannot read time %q", v)
}
