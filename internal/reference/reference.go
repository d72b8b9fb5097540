// Package reference parses image references the way docker does:
// "busybox" is docker.io/library/busybox:latest, "foo/bar" is
// docker.io/foo/bar:latest, and "localhost:5000/x@sha256:…" names a digest
// on a local registry. It wraps github.com/distribution/reference, the
// parser docker itself uses, behind a small API.
package reference

import (
	"fmt"
	"strings"

	"github.com/distribution/reference"
	"github.com/hako-dev/hako/internal/errdefs"
	"github.com/opencontainers/go-digest"
)

// Ref is a normalized image reference: a repository with a tag, a digest,
// or both.
type Ref struct {
	named reference.Named
}

// Parse normalizes s. A reference with neither tag nor digest gets the tag
// "latest". Errors are InvalidArgument and quote s.
func Parse(s string) (Ref, error) {
	if s == "" {
		return Ref{}, fmt.Errorf("invalid reference format: empty image name: %w", errdefs.ErrInvalidArgument)
	}
	n, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		msg := err.Error()
		if err == reference.ErrNameContainsUppercase {
			msg = "repository name must be lowercase"
		}
		return Ref{}, fmt.Errorf("invalid reference format %q: %s: %w", s, msg, errdefs.ErrInvalidArgument)
	}
	return Ref{named: reference.TagNameOnly(n)}, nil
}

// ParseRepository parses a repository name without tag or digest
// ("busybox" → docker.io/library/busybox), as `docker push REPO` or a
// tag's target needs.
func ParseRepository(s string) (Ref, error) {
	n, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return Ref{}, fmt.Errorf("invalid repository name %q: %v: %w", s, err, errdefs.ErrInvalidArgument)
	}
	if !reference.IsNameOnly(n) {
		return Ref{}, fmt.Errorf("invalid repository name %q: it has a tag or digest: %w", s, errdefs.ErrInvalidArgument)
	}
	return Ref{named: n}, nil
}

// String is the full form: "docker.io/library/busybox:latest".
func (r Ref) String() string {
	if r.named == nil {
		return ""
	}
	return r.named.String()
}

// Familiar is the short form docker shows: "busybox:latest",
// "foo/bar@sha256:…", "localhost:5000/x:1".
func (r Ref) Familiar() string {
	if r.named == nil {
		return ""
	}
	return reference.FamiliarString(r.named)
}

// Name is the repository without tag or digest:
// "docker.io/library/busybox".
func (r Ref) Name() string {
	if r.named == nil {
		return ""
	}
	return r.named.Name()
}

// FamiliarName is the repository as docker shows it: "busybox".
func (r Ref) FamiliarName() string {
	if r.named == nil {
		return ""
	}
	return reference.FamiliarName(r.named)
}

// Domain is the registry host: "docker.io", "localhost:5000".
func (r Ref) Domain() string {
	if r.named == nil {
		return ""
	}
	return reference.Domain(r.named)
}

// Path is the repository path within the registry: "library/busybox".
func (r Ref) Path() string {
	if r.named == nil {
		return ""
	}
	return reference.Path(r.named)
}

// Tag is the tag, "" when the reference has only a digest.
func (r Ref) Tag() string {
	if t, ok := r.named.(reference.Tagged); ok {
		return t.Tag()
	}
	return ""
}

// Digest is the digest, "" when the reference has only a tag.
func (r Ref) Digest() digest.Digest {
	if d, ok := r.named.(reference.Digested); ok {
		return d.Digest()
	}
	return ""
}

// WithTag returns the repository of r with tag t.
func (r Ref) WithTag(t string) (Ref, error) {
	n, err := reference.WithTag(reference.TrimNamed(r.named), t)
	if err != nil {
		return Ref{}, fmt.Errorf("invalid tag %q: %v: %w", t, err, errdefs.ErrInvalidArgument)
	}
	return Ref{named: n}, nil
}

// WithDigest returns the repository of r with digest d (no tag).
func (r Ref) WithDigest(d digest.Digest) (Ref, error) {
	n, err := reference.WithDigest(reference.TrimNamed(r.named), d)
	if err != nil {
		return Ref{}, fmt.Errorf("invalid digest %q: %v: %w", d, err, errdefs.ErrInvalidArgument)
	}
	return Ref{named: n}, nil
}

// IsZero reports whether r is the zero Ref.
func (r Ref) IsZero() bool { return r.named == nil }

// LooksLikeID reports whether s is an image ID or a prefix of one (hex,
// optionally "sha256:"-prefixed), which commands accept instead of a name.
func LooksLikeID(s string) bool {
	s = strings.TrimPrefix(s, "sha256:")
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
