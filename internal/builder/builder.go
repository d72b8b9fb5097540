// Package builder runs Dockerfile builds the way docker's classic builder
// does: each instruction either changes the image's configuration (an
// empty-layer history entry) or adds one layer, RUN through a container
// the backend runs and commits, COPY and ADD from the build context, an
// earlier stage or an image. Multi-stage builds run only the stages the
// target needs.
//
// Every step's image is kept with its parent and a cache key (cache.go):
// a later build whose step has the same key reuses the image instead of
// running the step, across daemon restarts, since the key lives in the
// image store.
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
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/distribution/reference"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/hako-dev/hako/internal/registry"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	ctypes "github.com/moby/moby/api/types/container"
)

// Image is an image the build starts from or made: its ID and runtime
// configuration.
type Image struct {
	ID     string
	Config dockerspec.DockerOCIImageConfig
}

// Commit describes a step's image: Base ("" for none) plus one layer,
// the changes of Container when it is set, else the uncompressed layer
// tar Layer; with neither, an empty-layer history entry.
type Commit struct {
	Base      string
	Container string
	Layer     io.Reader
	Config    dockerspec.DockerOCIImageConfig
	CreatedBy string
	// CacheKey is recorded with the image, for BuildCached.
	CacheKey string
}

// Backend is what a build needs from the daemon.
type Backend interface {
	// BuildImage resolves an image for FROM or COPY --from, pulling it
	// when it is missing or pull is set; progress is told what happens.
	BuildImage(ctx context.Context, ref string, pull bool, platform string, progress func(string)) (Image, error)
	// BuildCached returns the image a step with cache key key made.
	BuildCached(ctx context.Context, key string) (Image, bool)
	// BuildCachedFrom makes the image step c would make from the next
	// history entry of one of the images sources (its layer reused), when
	// c.Base's history and layers begin that image's and the entry's
	// command is c.CreatedBy; the image is recorded with c.CacheKey.
	BuildCachedFrom(ctx context.Context, sources []string, c Commit) (Image, bool)
	// BuildRun creates a container with cfg (cfg.Image is the image) and
	// o, calls created with its ID (the caller removes it), runs it to
	// its end with its output copied to out and returns its exit code.
	BuildRun(ctx context.Context, cfg *ctypes.Config, o RunOptions, created func(id string), out io.Writer) (exitCode int, err error)
	// BuildCache returns the directory of RUN --mount=type=cache's cache
	// id, made with mode, uid and gid when it is new. exclusive keeps it
	// for the caller alone (sharing=locked) until release.
	BuildCache(ctx context.Context, id string, mode fs.FileMode, uid, gid int, exclusive bool) (dir string, release func(), err error)
	// BuildCommit stores a step's image.
	BuildCommit(ctx context.Context, c Commit) (id string, err error)
	// BuildView makes image's files readable at dir until release.
	BuildView(ctx context.Context, image string) (dir string, release func() error, err error)
	// ImagePath resolves path in an image, following the symlinks of
	// its existing part inside the image, and describes the result (nil
	// if it does not exist). COPY into an existing directory keeps the
	// source's name; through a symlink it lands where the link points.
	ImagePath(ctx context.Context, image, path string) (resolved string, fi fs.FileInfo)
	// ContainerRemove removes a container the build ran.
	ContainerRemove(ctx context.Context, ref string, force, volumes bool) error
	// TagImage names an image.
	TagImage(ctx context.Context, src, repo, tag string) error
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
	// Target is the stage to build (the last when empty).
	Target string
	// NoCache runs every step; Pull pulls every FROM image anew.
	NoCache, Pull bool
	// Secrets are what RUN --mount=type=secret mounts, by id.
	Secrets map[string][]byte
	// KeepContainers leaves the RUN steps' containers (docker build
	// --rm=false); by default each goes once its step is committed (or
	// has failed: hako's builder never leaves a failed step's container,
	// as with docker's --force-rm).
	KeepContainers bool
	// CacheFrom are images (docker build --cache-from) whose history
	// may stand in for steps the local cache lacks: a step whose parent
	// is a prefix of one of them, and whose command is that image's next
	// history entry, takes that entry's layer.
	CacheFrom []string
	// Platform is what FROM pulls for ("" for the host's).
	Platform string
	// Quiet suppresses RUN output.
	Quiet bool
	// TempDir is where the build keeps what it sets up for a while (the
	// throwaway layers of writable RUN --mount binds); "" is the system's
	// temporary directory. The daemon gives one of its own, which it
	// empties of what a crash left when it starts.
	TempDir string
	// Run is what every RUN step's container gets (docker build's
	// --network, --add-host, --shm-size, -m, --cpu-shares, ...): a RUN
	// --network=none has no network whatever NetworkMode says.
	Run RunHostConfig
}

// RunHostConfig is the part of a container's host configuration a build
// gives its RUN steps.
type RunHostConfig struct {
	NetworkMode string // "" (default), "none" or "host"
	ExtraHosts  []string
	ShmSize     int64
	Resources   ctypes.Resources
}

// Reporter receives a build's progress, in docker's words.
type Reporter interface {
	// Stream is human-readable output ("Step 1/4 : FROM busybox\n").
	Stream(s string)
	// ImageID announces the built image.
	ImageID(id string)
}

// Build runs the build and returns the final image ID.
func Build(ctx context.Context, be Backend, o Options, rep Reporter) (string, error) {
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
	parsed, err := Parse(bytes.NewReader(df))
	if err != nil {
		return "", err
	}
	stages := parsed.Stages
	b := &build{be: be, rep: rep, ctxDir: dir, o: o, stageImages: map[int]string{}, lex: shell.NewLex(parsed.Escape)}
	// buildkit's automatic platform ARGs, which Dockerfiles written for
	// it declare; a --build-arg or an ARG default overrides them.
	for _, kv := range platformArgs(o.Platform) {
		b.declareArg(kv)
	}
	for _, a := range parsed.MetaArgs {
		for _, kv := range a.Args {
			b.declareArg(kv)
		}
	}
	// ARGs before FROM are for FROM; a stage sees one it declares again.
	b.metaArgs, b.args = b.args, nil
	b.stages = stages
	target := len(stages) - 1
	if o.Target != "" {
		if target = b.stageIndex(o.Target, len(stages)); target < 0 {
			return "", fmt.Errorf("failed to reach build target %s in Dockerfile", o.Target)
		}
	}
	needed, err := b.neededStages(target)
	if err != nil {
		return "", err
	}
	for _, i := range needed {
		b.total += len(stages[i].Commands) + 1
	}
	for _, i := range needed {
		if err := b.runStage(ctx, i, i == target); err != nil {
			return "", err
		}
	}
	if unused := b.unusedArgs(); len(unused) > 0 {
		// docker's words
		rep.Stream(fmt.Sprintf("[Warning] One or more build-args [%s] were not consumed\n", strings.Join(unused, " ")))
	}
	final := b.stageImages[target]
	rep.ImageID(final)
	rep.Stream(fmt.Sprintf("Successfully built %s\n", shortID(final)))
	for _, t := range tags {
		if err := be.TagImage(ctx, final, t, ""); err != nil {
			return "", fmt.Errorf("tag %s: %w", t, err)
		}
		rep.Stream(fmt.Sprintf("Successfully tagged %s\n", t))
	}
	return final, nil
}

// Dockerfile is a parsed Dockerfile.
type Dockerfile struct {
	Stages []instructions.Stage
	// MetaArgs are the ARGs before the first FROM.
	MetaArgs []instructions.ArgCommand
	// Escape is the escape character (the escape directive's, or \).
	Escape rune
}

// Parse parses a Dockerfile.
func Parse(r io.Reader) (*Dockerfile, error) {
	res, err := parser.Parse(r)
	if err != nil {
		if strings.Contains(err.Error(), "file with no instructions") {
			return nil, errors.New("the Dockerfile has no instructions: it needs a FROM")
		}
		return nil, fmt.Errorf("dockerfile parse error: %w", err)
	}
	for _, n := range res.AST.Children {
		if strings.EqualFold(n.Value, "from") {
			break
		}
		if !strings.EqualFold(n.Value, "arg") {
			return nil, fmt.Errorf("dockerfile line %d: %s before the first FROM: a Dockerfile begins with FROM (after ARGs only)", n.StartLine, strings.ToUpper(n.Value))
		}
	}
	stages, metaArgs, err := instructions.Parse(res.AST, nil)
	if err != nil {
		return nil, fmt.Errorf("dockerfile parse error: %w", err)
	}
	if len(stages) == 0 {
		return nil, errors.New("the Dockerfile has no FROM instruction")
	}
	return &Dockerfile{Stages: stages, MetaArgs: metaArgs, Escape: res.EscapeToken}, nil
}

// platformArgs are buildkit's automatic ARGs: the build platform is the
// host's, the target platform the one asked for (else the host's).
func platformArgs(target string) []instructions.KeyValuePairOptional {
	host := registry.HostPlatform()
	tp, err := registry.ParsePlatform(target)
	if err != nil {
		tp = host
	}
	format := func(p v1.Platform) string {
		return strings.TrimSuffix(p.OS+"/"+p.Architecture+"/"+p.Variant, "/")
	}
	var out []instructions.KeyValuePairOptional
	add := func(k, v string) { out = append(out, instructions.KeyValuePairOptional{Key: k, Value: &v}) }
	add("BUILDPLATFORM", format(host))
	add("BUILDOS", host.OS)
	add("BUILDARCH", host.Architecture)
	add("BUILDVARIANT", host.Variant)
	add("TARGETPLATFORM", format(tp))
	add("TARGETOS", tp.OS)
	add("TARGETARCH", tp.Architecture)
	add("TARGETVARIANT", tp.Variant)
	return out
}

// stageIndex finds a stage among the first n by name or number, or -1.
func (b *build) stageIndex(name string, n int) int {
	for i := range n {
		if b.stages[i].Name != "" && strings.EqualFold(b.stages[i].Name, name) {
			return i
		}
	}
	if i, err := strconv.Atoi(name); err == nil && i >= 0 && i < n {
		return i
	}
	return -1
}

// neededStages lists, in Dockerfile order, the stages target depends on
// (through FROM, COPY --from and RUN --mount from=) and target itself.
func (b *build) neededStages(target int) ([]int, error) {
	need := map[int]bool{}
	var visit func(i int) error
	visit = func(i int) error {
		if need[i] {
			return nil
		}
		need[i] = true
		st := &b.stages[i]
		base, err := b.expandIn(st.BaseName, b.metaArgs)
		if err != nil {
			return lineErr(st.Location, err)
		}
		if j := b.stageIndex(base, i); j >= 0 && !strings.Contains(base, ":") {
			if err := visit(j); err != nil {
				return err
			}
		}
		for _, cmd := range st.Commands {
			var froms []string
			switch c := cmd.(type) {
			case *instructions.CopyCommand:
				froms = append(froms, c.From)
			case *instructions.RunCommand:
				if slices.Contains(c.FlagsUsed, "mount") {
					for _, m := range instructions.GetMounts(c) {
						froms = append(froms, m.From)
					}
				}
			}
			for _, from := range froms {
				if from == "" {
					continue
				}
				from, err := b.expandIn(from, b.metaArgs)
				if err != nil {
					return lineErr(cmd.Location(), err)
				}
				if j := b.stageIndex(from, i); j >= 0 {
					if err := visit(j); err != nil {
						return err
					}
				}
			}
		}
		return nil
	}
	if err := visit(target); err != nil {
		return nil, err
	}
	var out []int
	for i := range b.stages {
		if need[i] {
			out = append(out, i)
		}
	}
	return out, nil
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
