// Package jsonfile is docker's json-file log driver: the container monitor
// appends a container's output to <id>-json.log, one JSON object per entry,
//
//	{"log":"hello\n","stream":"stdout","time":"2024-01-02T03:04:05.123456789Z"}
//
// rotating it to <id>-json.log.1, .2 … when max-size is set, and the daemon
// reads those files back for `docker logs` (tail, since/until, follow).
//
// The file format is docker's, so logs written by dockerd read back here
// and the other way round.
package jsonfile

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"text/template"

	"github.com/docker/go-units"

	"github.com/hako-dev/hako/internal/errdefs"
)

// Options are the json-file driver's settings.
type Options struct {
	// MaxSize is the size in bytes a file may reach before it is rotated;
	// 0 means never rotate (docker's max-size, e.g. "10m").
	MaxSize int64
	// MaxFiles is how many files are kept, the current one included
	// (docker's max-file, default 1).
	MaxFiles int
	// Attrs go with every entry ("attrs"; what --log-opt labels, env and
	// tag pick, see Attrs).
	Attrs map[string]string
}

// ParseOptions turns docker's --log-opt map into Options. It accepts the
// options docker's json-file driver accepts, and docker's mode and
// max-buffer-size that apply to every driver; those that only change what
// docker adds to each entry (labels, env, tag), how rotated files are
// stored (compress) or how docker buffers (mode, max-buffer-size) are
// validated and ignored.
func ParseOptions(m map[string]string) (Options, error) {
	o := Options{MaxFiles: 1}
	for k, v := range m {
		switch k {
		case "max-size":
			n, err := units.RAMInBytes(v)
			if err != nil || n <= 0 {
				return Options{}, fmt.Errorf("log opt max-size %q: must be a positive size such as 10m: %w", v, errdefs.ErrInvalidArgument)
			}
			o.MaxSize = n
		case "max-file":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return Options{}, fmt.Errorf("log opt max-file %q: must be a whole number of at least 1: %w", v, errdefs.ErrInvalidArgument)
			}
			o.MaxFiles = n
		case "compress":
			if _, err := strconv.ParseBool(v); err != nil {
				return Options{}, fmt.Errorf("log opt compress %q: must be true or false: %w", v, errdefs.ErrInvalidArgument)
			}
		case "mode":
			// docker's generic option: hako's monitor never blocks the
			// container on its log, so both modes behave alike.
			if v != "blocking" && v != "non-blocking" {
				return Options{}, fmt.Errorf("log opt mode %q: must be blocking or non-blocking: %w", v, errdefs.ErrInvalidArgument)
			}
		case "max-buffer-size":
			if _, err := units.RAMInBytes(v); err != nil {
				return Options{}, fmt.Errorf("log opt max-buffer-size %q: must be a size such as 4m: %w", v, errdefs.ErrInvalidArgument)
			}
		case "labels", "labels-regex", "env", "env-regex", "tag":
		default:
			return Options{}, fmt.Errorf("unknown log opt '%s' for json-file log driver: %w", k, errdefs.ErrInvalidArgument)
		}
	}
	return o, nil
}

// Info is what Attrs may log of a container.
type Info struct {
	ID, Name, ImageName, ImageID string
	Labels                       map[string]string
	Env                          []string
}

// Attrs are the attributes docker's json-file driver logs with each entry
// for the options labels and labels-regex (the container's labels by key),
// env and env-regex (its environment variables by name) and tag (a
// template of {{.ID}}, {{.FullID}}, {{.Name}}, {{.ImageName}},
// {{.ImageID}}, {{.ImageFullID}}, {{.DaemonName}}); nil when none is set.
func Attrs(opts map[string]string, info Info) (map[string]string, error) {
	out := map[string]string{}
	pick := func(list, re string, have map[string]string, what string) error {
		for _, k := range strings.Split(list, ",") {
			if v, ok := have[strings.TrimSpace(k)]; ok && k != "" {
				out[strings.TrimSpace(k)] = v
			}
		}
		if re == "" {
			return nil
		}
		rx, err := regexp.Compile(re)
		if err != nil {
			return fmt.Errorf("log opt %s-regex %q: %v: %w", what, re, err, errdefs.ErrInvalidArgument)
		}
		for k, v := range have {
			if rx.MatchString(k) {
				out[k] = v
			}
		}
		return nil
	}
	if err := pick(opts["labels"], opts["labels-regex"], info.Labels, "labels"); err != nil {
		return nil, err
	}
	env := map[string]string{}
	for _, e := range info.Env {
		if k, v, ok := strings.Cut(e, "="); ok {
			env[k] = v
		}
	}
	if err := pick(opts["env"], opts["env-regex"], env, "env"); err != nil {
		return nil, err
	}
	if t, ok := opts["tag"]; ok && t != "" {
		tmpl, err := template.New("tag").Option("missingkey=error").Parse(t)
		if err != nil {
			return nil, fmt.Errorf("log opt tag %q: %v: %w", t, err, errdefs.ErrInvalidArgument)
		}
		short := func(s string) string {
			s = strings.TrimPrefix(s, "sha256:")
			return s[:min(12, len(s))]
		}
		host, _ := os.Hostname()
		var b strings.Builder
		err = tmpl.Execute(&b, map[string]string{
			"ID": short(info.ID), "FullID": info.ID, "Name": strings.TrimPrefix(info.Name, "/"),
			"ImageName": info.ImageName, "ImageID": short(info.ImageID), "ImageFullID": info.ImageID, "DaemonName": "hako", "Hostname": host,
		})
		if err != nil {
			return nil, fmt.Errorf("log opt tag %q: %v: %w", t, err, errdefs.ErrInvalidArgument)
		}
		out["tag"] = b.String()
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}
