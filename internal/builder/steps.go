package builder

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
)

// runStage builds stage i; the target stage gets the build's labels.
func (b *build) runStage(ctx context.Context, i int, target bool) error {
	st := &b.stages[i]
	b.cur, b.image, b.cfg, b.args, b.cmdSet = i, "", dockerspec.DockerOCIImageConfig{}, nil, false
	start := b.beginStep(st.SourceCode)
	if err := b.from(ctx, i); err != nil {
		return lineErr(st.Location, err)
	}
	b.endStep(b.image, start)
	if err := b.onBuild(ctx); err != nil {
		return lineErr(st.Location, err)
	}
	for _, cmd := range st.Commands {
		start := b.beginStep(cmd.(fmt.Stringer).String())
		if err := b.dispatch(ctx, cmd); err != nil {
			return lineErr(cmd.Location(), err)
		}
		b.endStep(b.image, start)
	}
	if target && len(b.o.Labels) > 0 {
		if b.cfg.Labels == nil {
			b.cfg.Labels = map[string]string{}
		}
		var kvs []string
		for _, k := range slices.Sorted(maps.Keys(b.o.Labels)) {
			b.cfg.Labels[k] = b.o.Labels[k]
			kvs = append(kvs, fmt.Sprintf("%q=%q", k, b.o.Labels[k]))
		}
		if err := b.commitConfig(ctx, "LABEL "+strings.Join(kvs, " "), nil); err != nil {
			return err
		}
	}
	if b.image == "" {
		// FROM scratch and nothing else: an image with no layers.
		if err := b.commitConfig(ctx, "FROM scratch", nil); err != nil {
			return err
		}
	}
	b.stageImages[i] = b.image
	return nil
}

func (b *build) beginStep(text string) time.Time {
	b.step++
	b.rep.Stream(fmt.Sprintf("Step %d/%d : %s\n", b.step, b.total, text))
	return time.Now()
}

// endStep reports a step's image and how long the step took.
func (b *build) endStep(id string, start time.Time) {
	if id == "" {
		return
	}
	b.rep.Stream(fmt.Sprintf(" ---> %s in %.2fs\n", shortID(id), time.Since(start).Seconds()))
}

func (b *build) from(ctx context.Context, i int) error {
	st := &b.stages[i]
	base, err := b.expandIn(st.BaseName, b.metaArgs)
	if err != nil {
		return err
	}
	if j := b.stageIndex(base, i); j >= 0 && !strings.Contains(base, ":") {
		base = b.stageImages[j]
	} else if base == "scratch" {
		b.cfg.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
		return nil
	}
	platform := b.o.Platform
	if st.Platform != "" {
		if platform, err = b.expandIn(st.Platform, b.metaArgs); err != nil {
			return err
		}
	}
	img, err := b.be.BuildImage(ctx, base, b.o.Pull && !strings.HasPrefix(base, "sha256:"), platform, b.rep.Stream)
	if err != nil {
		return err
	}
	b.image, b.cfg = img.ID, img.Config
	return nil
}

// onBuild runs the base image's ONBUILD triggers, which its children do
// not inherit.
func (b *build) onBuild(ctx context.Context) error {
	triggers := b.cfg.OnBuild
	if len(triggers) == 0 {
		return nil
	}
	b.cfg.OnBuild = nil
	b.rep.Stream(fmt.Sprintf("# Executing %d build trigger(s)\n", len(triggers)))
	for _, t := range triggers {
		res, err := parser.Parse(strings.NewReader(t))
		if err != nil {
			return fmt.Errorf("ONBUILD trigger %q: %w", t, err)
		}
		for _, n := range res.AST.Children {
			cmd, err := instructions.ParseCommand(n)
			if err != nil {
				return fmt.Errorf("ONBUILD trigger %q: %w", t, err)
			}
			if err := b.dispatch(ctx, cmd); err != nil {
				return fmt.Errorf("ONBUILD trigger %q: %w", t, err)
			}
		}
	}
	return nil
}

// dispatch executes one instruction.
func (b *build) dispatch(ctx context.Context, cmd instructions.Command) error {
	if ex, ok := cmd.(instructions.SupportsSingleWordExpansion); ok {
		if err := ex.Expand(b.expand); err != nil {
			return err
		}
	}
	if ex, ok := cmd.(instructions.SupportsSingleWordExpansionRaw); ok {
		if err := ex.ExpandRaw(b.expand); err != nil {
			return err
		}
	}
	text := cmd.(fmt.Stringer).String()
	switch c := cmd.(type) {
	case *instructions.EnvCommand:
		for _, kv := range c.Env {
			b.cfg.Env = setEnv(b.cfg.Env, kv.Key, kv.Value)
		}
		// The history shows the values, expanded, as docker's does.
		text = "ENV " + kvString(c.Env)
	case *instructions.ArgCommand:
		for _, kv := range c.Args {
			b.declareArg(kv)
		}
	case *instructions.WorkdirCommand:
		p := c.Path
		if !path.IsAbs(p) {
			p = path.Join("/", b.cfg.WorkingDir, p)
		}
		b.cfg.WorkingDir = path.Clean(p)
		return b.workdir(ctx, text, cmd)
	case *instructions.UserCommand:
		b.cfg.User = c.User
	case *instructions.LabelCommand:
		b.cfg.Labels = maps.Clone(b.cfg.Labels)
		if b.cfg.Labels == nil {
			b.cfg.Labels = map[string]string{}
		}
		for _, kv := range c.Labels {
			b.cfg.Labels[kv.Key] = kv.Value
		}
		text = "LABEL " + kvString(c.Labels)
	case *instructions.ExposeCommand:
		b.cfg.ExposedPorts = maps.Clone(b.cfg.ExposedPorts)
		if b.cfg.ExposedPorts == nil {
			b.cfg.ExposedPorts = map[string]struct{}{}
		}
		for _, p := range c.Ports {
			// buildkit leaves EXPOSE's expansion to the builder.
			p, err := b.expand(p)
			if err != nil {
				return err
			}
			if !strings.Contains(p, "/") {
				p += "/tcp"
			}
			b.cfg.ExposedPorts[p] = struct{}{}
		}
	case *instructions.CmdCommand:
		b.cfg.Cmd = b.cmdLine(c.ShellDependantCmdLine)
		b.cmdSet = true
	case *instructions.EntrypointCommand:
		b.cfg.Entrypoint = b.cmdLine(c.ShellDependantCmdLine)
		if !c.PrependShell && len(c.CmdLine) == 0 {
			b.cfg.Entrypoint = nil
		}
		// docker: an ENTRYPOINT resets the CMD of the base image.
		if !b.cmdSet {
			b.cfg.Cmd = nil
		}
	case *instructions.ShellCommand:
		b.cfg.Shell = slices.Clone(c.Shell)
	case *instructions.StopSignalCommand:
		b.cfg.StopSignal = c.Signal
	case *instructions.VolumeCommand:
		b.cfg.Volumes = maps.Clone(b.cfg.Volumes)
		if b.cfg.Volumes == nil {
			b.cfg.Volumes = map[string]struct{}{}
		}
		for _, v := range c.Volumes {
			b.cfg.Volumes[v] = struct{}{}
		}
	case *instructions.HealthCheckCommand:
		hc := *c.Health
		b.cfg.Healthcheck = &hc
	case *instructions.OnbuildCommand:
		b.cfg.OnBuild = append(slices.Clone(b.cfg.OnBuild), c.Expression)
	case *instructions.MaintainerCommand:
		// Deprecated; config-only.
	case *instructions.RunCommand:
		return b.run(ctx, c)
	case *instructions.CopyCommand:
		// --link only changes how buildkit caches the layer: the files
		// are the same without it.
		return b.copy(ctx, copySpec{SourcesAndDest: c.SourcesAndDest, from: c.From, chown: c.Chown, chmod: c.Chmod, text: text, exclude: c.ExcludePatterns, parents: c.Parents})
	case *instructions.AddCommand:
		return b.copy(ctx, copySpec{SourcesAndDest: c.SourcesAndDest, chown: c.Chown, chmod: c.Chmod, text: text, add: true, unpack: c.Unpack == nil || *c.Unpack, exclude: c.ExcludePatterns, checksum: c.Checksum})
	default:
		return fmt.Errorf("%s is not supported", strings.ToUpper(cmd.Name()))
	}
	return b.commitConfig(ctx, text, cmd)
}

func (b *build) cmdLine(c instructions.ShellDependantCmdLine) []string {
	if c.PrependShell {
		return append(slices.Clone(b.shell()), strings.Join(c.CmdLine, " "))
	}
	return slices.Clone(c.CmdLine)
}

// commitConfig records a config-only step as an empty-layer history
// entry, like docker's "#(nop)" entries. cmd, expanded, is part of the
// cache key.
// workdir commits a WORKDIR: when the image lacks the directory, a layer
// that makes it (root's, 0755, with the parents it lacks), as both of
// docker's builders do; otherwise the configuration alone.
func (b *build) workdir(ctx context.Context, text string, cmd instructions.Command) error {
	dir := b.cfg.WorkingDir
	if b.image != "" {
		if _, fi := b.be.ImagePath(ctx, b.image, dir); fi != nil {
			if !fi.IsDir() {
				return fmt.Errorf("WORKDIR %s: the image has a file there, not a directory", dir)
			}
			return b.commitConfig(ctx, text, cmd)
		}
	}
	createdBy := strings.Join(b.shell(), " ") + " #(nop) " + text
	key := b.cacheKey("workdir", createdBy, dir)
	if b.fromCache(ctx, key, createdBy) {
		return nil
	}
	return b.commitItems(ctx, b.parentItems(ctx, map[string]bool{dir: true}), nil, createdBy, key)
}

func (b *build) commitConfig(ctx context.Context, instr string, cmd instructions.Command) error {
	createdBy := strings.Join(b.shell(), " ") + " #(nop) " + instr
	expanded, err := json.Marshal(cmd)
	if err != nil {
		return err
	}
	key := b.cacheKey("config", createdBy, string(expanded))
	if b.fromCache(ctx, key, createdBy) {
		return nil
	}
	id, err := b.be.BuildCommit(ctx, Commit{Base: b.image, Config: b.cfg, CreatedBy: createdBy, CacheKey: key})
	if err != nil {
		return err
	}
	b.image = id
	return nil
}

// cacheKey is a step's cache key: a digest of the image it starts from
// and parts, which say all else the step's result depends on.
func (b *build) cacheKey(parts ...string) string {
	parent := b.image
	if parent == "" {
		parent = "scratch"
	}
	return digest.FromString(parent + "\x00" + strings.Join(parts, "\x00")).String()
}

// fromCache makes the image an earlier build made with key the current
// one, unless the build runs without the cache; failing that, one made
// from the --cache-from images' history for the step createdBy ("" when
// the history cannot tell the step's result: it stays out of that).
func (b *build) fromCache(ctx context.Context, key, createdBy string) bool {
	if b.o.NoCache {
		return false
	}
	img, ok := b.be.BuildCached(ctx, key)
	if !ok && createdBy != "" && len(b.o.CacheFrom) > 0 {
		img, ok = b.be.BuildCachedFrom(ctx, b.o.CacheFrom, Commit{Base: b.image, Config: b.cfg, CreatedBy: createdBy, CacheKey: key})
	}
	if !ok {
		return false
	}
	b.rep.Stream(" ---> Using cache\n")
	b.image, b.cfg = img.ID, img.Config
	return true
}

func kvString(kvs instructions.KeyValuePairs) string {
	var out []string
	for _, kv := range kvs {
		out = append(out, kv.Key+"="+kv.Value)
	}
	return strings.Join(out, " ")
}
