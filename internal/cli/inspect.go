package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"text/template"
	"unicode"

	"github.com/hako-dev/hako/internal/client"
	"github.com/hako-dev/hako/internal/errdefs"
	"github.com/spf13/cobra"
)

// newInspect is `inspect` (kind "": containers, then images, or --type)
// and `container inspect` (kind "container").
func newInspect(c *CLI, kind string) *cobra.Command {
	var format string
	var size bool
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] NAME|ID [NAME|ID...]",
		Short: "show low-level information on containers, images, volumes and networks as JSON",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := ctxOf(cmd)
			switch kind {
			case "", "container", "image", "volume", "network":
			default:
				return &StatusError{Status: 1, Err: fmt.Errorf("%q is not a valid value for --type (container, image, volume or network)", kind)}
			}
			ins, err := newInspector(format)
			if err != nil {
				return &StatusError{Status: 64, Err: err}
			}
			cl, err := c.client(ctx)
			if err != nil {
				return err
			}
			failed := false
			for _, name := range args {
				typed, raw, err := inspectObject(ctx, cl, kind, name, size)
				if err == nil {
					err = ins.add(typed, raw)
				}
				if err != nil {
					failed = true
					var ae *client.Error
					switch {
					case errors.As(err, &ae):
						fmt.Fprintf(c.Err, "Error response from daemon: %s\n", ae.Msg)
					default:
						fmt.Fprintf(c.Err, "Error: %v\n", err)
					}
				}
			}
			if err := ins.flush(c.Out); err != nil {
				return err
			}
			if failed {
				return &StatusError{Status: 1}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&format, "format", "f", "", "format the output: json, or a Go template ({{.State.Pid}}, {{json .Config}}, ...)")
	f.BoolVarP(&size, "size", "s", false, "display total file sizes (containers)")
	if kind == "" {
		f.StringVar(&kind, "type", "", "only inspect objects of this type: container, image, volume or network")
	}
	return cmd
}

// inspectObject returns a container's, an image's, a volume's or a
// network's description, typed and raw. Without a kind it is the
// container of that name, else the image, else the volume, else the
// network.
func inspectObject(ctx context.Context, cl *client.Client, kind, name string, size bool) (any, json.RawMessage, error) {
	if kind == "" || kind == "container" {
		r, raw, err := cl.ContainerInspect(ctx, name, size)
		if err == nil || kind == "container" || !errors.Is(err, errdefs.ErrNotFound) {
			return r, raw, err
		}
	}
	if kind == "" || kind == "image" {
		r, raw, err := cl.ImageInspect(ctx, name)
		if err == nil || kind == "image" || !errors.Is(err, errdefs.ErrNotFound) {
			return r, raw, err
		}
	}
	if kind == "" || kind == "volume" {
		r, raw, err := cl.VolumeInspect(ctx, name)
		if err == nil || kind == "volume" || !errors.Is(err, errdefs.ErrNotFound) {
			return r, raw, err
		}
	}
	r, raw, err := cl.NetworkInspect(ctx, name)
	if kind == "" && errors.Is(err, errdefs.ErrNotFound) {
		return nil, nil, fmt.Errorf("No such object: %s", name)
	}
	return r, raw, err
}

// inspector collects inspect's output: an indented JSON array (no
// format), a compact one ("json"), or a template's output per object.
type inspector struct {
	tmpl     *template.Template
	compact  bool
	raws     []json.RawMessage
	rendered bytes.Buffer
}

func newInspector(format string) (*inspector, error) {
	switch format {
	case "":
		return &inspector{}, nil
	case "json":
		return &inspector{compact: true}, nil
	}
	t, err := parseTemplate(format)
	if err != nil {
		return nil, fmt.Errorf("template parsing error: %w", err)
	}
	return &inspector{tmpl: t}, nil
}

// add renders one object. A template runs on the typed value first (so
// that {{.State.Pid}} prints as an integer), then, as docker does, on the
// raw JSON for fields the type lacks.
func (i *inspector) add(typed any, raw json.RawMessage) error {
	if i.tmpl == nil {
		i.raws = append(i.raws, raw)
		return nil
	}
	var buf bytes.Buffer
	if err := i.tmpl.Execute(&buf, typed); err != nil {
		buf.Reset()
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			return fmt.Errorf("unable to read inspect data: %w", err)
		}
		if err := i.tmpl.Option("missingkey=error").Execute(&buf, v); err != nil {
			return fmt.Errorf("template parsing error: %w", err)
		}
	}
	i.rendered.Write(buf.Bytes())
	i.rendered.WriteByte('\n')
	return nil
}

func (i *inspector) flush(w interface{ Write([]byte) (int, error) }) error {
	if i.tmpl != nil {
		if i.rendered.Len() == 0 {
			_, err := w.Write([]byte{'\n'})
			return err
		}
		_, err := w.Write(i.rendered.Bytes())
		return err
	}
	if len(i.raws) == 0 {
		_, err := w.Write([]byte("[]\n"))
		return err
	}
	var arr bytes.Buffer
	arr.WriteByte('[')
	for n, r := range i.raws {
		if n > 0 {
			arr.WriteByte(',')
		}
		arr.Write(r)
	}
	arr.WriteByte(']')
	var out bytes.Buffer
	var err error
	if i.compact {
		err = json.Compact(&out, arr.Bytes())
	} else {
		err = json.Indent(&out, arr.Bytes(), "", "    ")
	}
	if err != nil {
		return err
	}
	out.WriteByte('\n')
	_, err = w.Write(out.Bytes())
	return err
}

// templateFuncs are the functions docker offers in --format templates.
var templateFuncs = template.FuncMap{
	"json": func(v any) (string, error) {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			return "", err
		}
		return strings.TrimSpace(buf.String()), nil
	},
	"split": strings.Split,
	"join":  joinAny,
	"title": func(s string) string {
		prev := ' '
		return strings.Map(func(r rune) rune {
			defer func() { prev = r }()
			if unicode.IsSpace(prev) || unicode.IsPunct(prev) && prev != '\'' {
				return unicode.ToTitle(r)
			}
			return r
		}, s)
	},
	"lower": strings.ToLower,
	"upper": strings.ToUpper,
	"pad": func(s string, before, after int) string {
		if s == "" {
			return s
		}
		return strings.Repeat(" ", before) + s + strings.Repeat(" ", after)
	},
	"truncate": func(s string, n int) string {
		if len(s) <= n {
			return s
		}
		return s[:n]
	},
	"println": fmt.Sprintln,
}

// headerFuncs replace templateFuncs when a table's header row is
// rendered: each passes the column name through.
var headerFuncs = template.FuncMap{
	"json":     func(v string) string { return v },
	"split":    func(v, _ string) string { return v },
	"join":     func(v, _ string) string { return v },
	"title":    func(v string) string { return v },
	"lower":    func(v string) string { return v },
	"upper":    func(v string) string { return v },
	"truncate": func(v string, _ int) string { return v },
}

// parseTemplate parses a --format template with docker's functions.
func parseTemplate(format string) (*template.Template, error) {
	t, err := template.New("").Funcs(templateFuncs).Parse(format)
	if err != nil {
		return nil, fmt.Errorf("--format: %w", err)
	}
	return t, nil
}

// joinAny joins a slice's elements, or a map's values in sorted order.
func joinAny(v any, sep string) (string, error) {
	if v == nil {
		return "", nil
	}
	if ss, ok := v.([]string); ok {
		return strings.Join(ss, sep), nil
	}
	var parts []string
	switch rv := reflect.ValueOf(v); rv.Kind() {
	case reflect.Slice, reflect.Array:
		for i := range rv.Len() {
			parts = append(parts, fmt.Sprint(rv.Index(i).Interface()))
		}
	case reflect.Map:
		for it := rv.MapRange(); it.Next(); {
			parts = append(parts, fmt.Sprint(it.Value().Interface()))
		}
		slices.Sort(parts)
	default:
		return "", fmt.Errorf("join: want a slice or a map, got %T", v)
	}
	return strings.Join(parts, sep), nil
}

// inspectEach prints what get returns for each name through format (as
// inspect does), reporting each failure and exiting 1 if any.
func inspectEach(cmd *cobra.Command, c *CLI, format string, names []string, get func(ctx context.Context, cl *client.Client, name string) (any, json.RawMessage, error)) error {
	ctx := ctxOf(cmd)
	ins, err := newInspector(format)
	if err != nil {
		return &StatusError{Status: 64, Err: err}
	}
	cl, err := c.client(ctx)
	if err != nil {
		return err
	}
	failed := false
	for _, name := range names {
		v, raw, err := get(ctx, cl, name)
		if err == nil {
			err = ins.add(v, raw)
		}
		if err != nil {
			failed = true
			var ae *client.Error
			if errors.As(err, &ae) {
				fmt.Fprintf(c.Err, "Error response from daemon: %s\n", ae.Msg)
			} else {
				fmt.Fprintf(c.Err, "Error: %v\n", err)
			}
		}
	}
	if err := ins.flush(c.Out); err != nil {
		return err
	}
	if failed {
		return &StatusError{Status: 1}
	}
	return nil
}
