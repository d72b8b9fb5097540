package image

import (
	"fmt"
	"path"
	"strings"

	"github.com/hako-dev/hako/internal/errdefs"
	"github.com/hako-dev/hako/internal/reference"
)

// Filter selects images as docker's `images --filter` does: dangling=,
// reference= (a glob on the familiar name, with or without tag), label=
// (key or key=value), before= and since= (an image name or ID).
type Filter map[string][]string

// Check refuses filter keys docker does not know.
func (f Filter) Check() error {
	for k := range f {
		switch k {
		case "dangling", "reference", "label", "before", "since":
		default:
			return fmt.Errorf("invalid filter '%s': %w", k, errdefs.ErrInvalidArgument)
		}
	}
	return nil
}

// Match reports whether img (with its config labels) passes the filter.
// before and since are resolved by the caller into times.
func (f Filter) Match(img *Image, labels map[string]string) bool {
	for _, v := range f["dangling"] {
		dangling := len(tagsOf(img)) == 0
		if (v == "true" || v == "1") != dangling {
			return false
		}
	}
	if len(f["reference"]) > 0 && len(f.Tags(img)) == 0 {
		return false
	}
	for _, l := range f["label"] {
		k, v, hasV := strings.Cut(l, "=")
		got, present := labels[k]
		if !present || hasV && got != v {
			return false
		}
	}
	return true
}

// Tags returns the image's tags (full references) the reference filters
// select; all of them when there is no reference filter.
func (f Filter) Tags(img *Image) []string {
	refs := f["reference"]
	if len(refs) == 0 {
		return tagsOf(img)
	}
	var out []string
	for _, n := range tagsOf(img) {
		r, _ := reference.Parse(n)
		for _, pattern := range refs {
			m1, _ := path.Match(pattern, r.Familiar())
			m2, _ := path.Match(pattern, r.FamiliarName())
			if m1 || m2 {
				out = append(out, n)
				break
			}
		}
	}
	return out
}

func tagsOf(img *Image) []string {
	var out []string
	for _, n := range img.Names {
		if r, err := reference.Parse(n); err == nil && r.Digest() == "" {
			out = append(out, n)
		}
	}
	return out
}
