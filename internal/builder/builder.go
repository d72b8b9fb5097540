// Package builder runs single-stage Dockerfile builds the way docker's
// classic builder does: each instruction either changes the image's
// configuration (an empty-layer history entry) or adds one layer, RUN
// through a container the backend runs and commits, COPY and ADD from
// the build context.
//
// The Dockerfile is parsed by buildkit's parser and instruction packages;
// the builder only executes. It reaches the daemon through Backend.
package builder

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/distribution/reference"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	ctypes "github.com/moby/moby/api/types/container"
	imagetypes "github.com/moby/moby/api/types/image"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Backend is what a build needs from the daemon.
type Backend interface {
	// BuildImage resolves an image in the store to its ID and runtime
	// configuration.
	BuildImage(ctx context.Context, ref string) (id string, cfg ocispec.ImageConfig, err error)
	// BuildRun creates a container with cfg (cfg.Image is the image),
	// calls created with its ID (the caller removes it), runs it to its
	// end with its output copied to out and returns its exit code.
	BuildRun(ctx context.Context, cfg *ctypes.Config, created func(id string), out io.Writer) (exitCode int, err error)
	// BuildCommit stores an image: base ("" for none) plus one layer,
	// the changes of container when it is set, else the uncompressed
	// layer tar; with neither, an empty-layer history entry.
	BuildCommit(ctx context.Context, base, container string, layer io.Reader, cfg ocispec.ImageConfig, createdBy string) (id string, err error)
	// ImageIsDir reports whether path is a directory in an image (COPY
	// into an existing directory keeps the source's name).
	ImageIsDir(ctx context.Context, image, path string) bool
	// ContainerRemove removes a container the build ran.
	ContainerRemove(ctx context.Context, ref string, force, volumes bool) error
	// TagImage names an image.
	TagImage(ctx context.Context, src, repo, tag string) error
	// RemoveImage removes an intermediate image.
	RemoveImage(ctx context.Context, name string, force bool) ([]imagetypes.DeleteResponse, error)
}

// Options describe one build.
type Options struct {
	// Context is the build context as a tar stream.
	Context io.Reader
	// Dockerfile is the Dockerfile's path in the context ("Dockerfile"
	// when empty).
	Dockerfile string
	Tags       []string
	BuildArgs  map[string]*string
	Labels     map[string]string
	// Quiet suppresses RUN output.
	Quiet bool
}

// Reporter receives a build's progress, in docker's words.
type Reporter interface {
	// Stream is human-readable output ("Step 1/4 : FROM busybox\n").
	Stream(s string)
	// ImageID announces the built image.
	ImageID(id string)
}

// Build runs the build and returns the final image ID.
func Build(ctx context.Context, be Backend, o Options, rep Reporter) (_ string, retErr error) {
	var tags []string
	for _, t := range o.Tags {
		named, err := reference.ParseNormalizedNamed(t)
		if err != nil {
			return "", fmt.Errorf("invalid tag %q: %w", t, err)
		}
		if _, digested := named.(reference.Digested); digested {
			return "", fmt.Errorf("invalid tag %q: a digest is not a tag", t)
		}
		tags = append(tags, reference.FamiliarString(reference.TagNameOnly(named)))
	}
	dir, err := os.MkdirTemp("", "hako-build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	if err := extractContext(dir, o.Context); err != nil {
		return "", fmt.Errorf("read build context: %w", err)
	}
	name := o.Dockerfile
	if name == "" {
		name = "Dockerfile"
	}
	// Docker's wording: scripts look for it.
	missing := fmt.Errorf("Cannot locate specified Dockerfile: %s", name)
	dfPath, err := resolveInContext(dir, name)
	if errors.Is(err, errNotInContext) {
		return "", missing
	} else if err != nil {
		return "", err
	}
	df, err := os.ReadFile(dfPath)
	if err != nil {
		return "", missing
	}
	stage, metaArgs, err := Parse(bytes.NewReader(df))
	if err != nil {
		return "", err
	}
	b := &build{be: be, rep: rep, ctxDir: dir, quiet: o.Quiet, buildArgs: o.BuildArgs, shell: defaultShell}
	// Without a build cache the images of the steps before the last serve
	// nothing: they go, whether the build succeeds or not.
	defer func() {
		keep := ""
		if retErr == nil {
			keep = b.image
		}
		for _, id := range b.intermediates {
			if id != keep {
				be.RemoveImage(context.WithoutCancel(ctx), id, true)
			}
		}
	}()
	for _, a := range metaArgs {
		for _, kv := range a.Args {
			b.declareArg(kv)
		}
	}
	// ARGs before FROM are for FROM; a stage sees one it declares again.
	b.metaArgs, b.args = b.args, nil
	total := len(stage.Commands) + 1
	rep.Stream(fmt.Sprintf("Step 1/%d : %s\n", total, stage.SourceCode))
	if err := b.from(ctx, stage); err != nil {
		return "", lineErr(stage.Location, err)
	}
	for i, cmd := range stage.Commands {
		rep.Stream(fmt.Sprintf("Step %d/%d : %s\n", i+2, total, cmd))
		if err := b.dispatch(ctx, cmd); err != nil {
			return "", lineErr(cmd.Location(), err)
		}
	}
	if len(o.Labels) > 0 {
		if b.cfg.Labels == nil {
			b.cfg.Labels = map[string]string{}
		}
		for k, v := range o.Labels {
			b.cfg.Labels[k] = v
		}
		if err := b.commitConfig(ctx, "LABEL"); err != nil {
			return "", err
		}
	}
	if b.image == "" {
		// FROM scratch and nothing else: an image with no layers.
		if err := b.commitConfig(ctx, "FROM scratch"); err != nil {
			return "", err
		}
	}
	rep.ImageID(b.image)
	rep.Stream(fmt.Sprintf("Successfully built %s\n", shortID(b.image)))
	for _, t := range tags {
		if err := be.TagImage(ctx, b.image, t, ""); err != nil {
			return "", fmt.Errorf("tag %s: %w", t, err)
		}
		rep.Stream(fmt.Sprintf("Successfully tagged %s\n", t))
	}
	return b.image, nil
}

// Parse parses a Dockerfile into its one stage and the ARGs before FROM.
func Parse(r io.Reader) (*instructions.Stage, []instructions.ArgCommand, error) {
	res, err := parser.Parse(r)
	if err != nil {
		return nil, nil, fmt.Errorf("dockerfile parse error: %w", err)
	}
	stages, metaArgs, err := instructions.Parse(res.AST, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("dockerfile parse error: %w", err)
	}
	switch len(stages) {
	case 0:
		return nil, nil, errors.New("the Dockerfile has no FROM instruction")
	case 1:
	default:
		return nil, nil, fmt.Errorf("multi-stage builds are not supported yet (%d FROM instructions)", len(stages))
	}
	return &stages[0], metaArgs, nil
}

func lineErr(loc []parser.Range, err error) error {
	if len(loc) == 0 {
		return err
	}
	return fmt.Errorf("dockerfile line %d: %w", loc[0].Start.Line, err)
}

func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

var defaultShell = []string{"/bin/sh", "-c"}

// build is the state between steps: the current image and its config.
type build struct {
	be     Backend
	rep    Reporter
	ctxDir string
	quiet  bool

	image string // "" while the image is scratch with no layer yet
	// intermediates are the images this build made.
	intermediates []string
	cfg           ocispec.ImageConfig
	shell         []string

	buildArgs map[string]*string
	// args are the ARGs declared so far with their values, in order.
	args     []string
	metaArgs []string
	lex      *shell.Lex
}

// declareArg records an ARG: a --build-arg overrides its default.
func (b *build) declareArg(kv instructions.KeyValuePairOptional) {
	v, ok := "", false
	for _, m := range b.metaArgs {
		if mv, found := strings.CutPrefix(m, kv.Key+"="); found {
			v, ok = mv, true
		}
	}
	if kv.Value != nil {
		v, ok = *kv.Value, true
	}
	if ba, found := b.buildArgs[kv.Key]; found && ba != nil {
		v, ok = *ba, true
	}
	b.args = slices.DeleteFunc(b.args, func(e string) bool { return strings.HasPrefix(e, kv.Key+"=") })
	if ok {
		b.args = append(b.args, kv.Key+"="+v)
	}
}

// env is what $VAR expands against and what RUN sees: the ARGs, then the
// image's ENV overriding them.
func (b *build) env() []string {
	env := append([]string(nil), b.args...)
	for _, e := range b.cfg.Env {
		k, _, _ := strings.Cut(e, "=")
		env = slices.DeleteFunc(env, func(a string) bool { return strings.HasPrefix(a, k+"=") })
		env = append(env, e)
	}
	return env
}

func (b *build) expand(word string) (string, error) {
	return b.expandIn(word, b.env())
}

func (b *build) expandIn(word string, env []string) (string, error) {
	if b.lex == nil {
		b.lex = shell.NewLex(parser.DefaultEscapeToken)
	}
	s, _, err := b.lex.ProcessWord(word, shell.EnvsFromSlice(env))
	return s, err
}
