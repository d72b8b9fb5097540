package builder

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"path"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	ctypes "github.com/moby/moby/api/types/container"
)

func (b *build) from(ctx context.Context, st *instructions.Stage) error {
	base, err := b.expandIn(st.BaseName, b.metaArgs)
	if err != nil {
		return err
	}
	if base == "scratch" {
		b.image = ""
		b.cfg.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
		return nil
	}
	id, cfg, err := b.be.BuildImage(ctx, base)
	if err != nil {
		return err
	}
	b.image, b.cfg = id, cfg
	b.rep.Stream(fmt.Sprintf(" ---> %s\n", shortID(id)))
	return nil
}

// dispatch executes one instruction.
func (b *build) dispatch(ctx context.Context, cmd instructions.Command) error {
	if ex, ok := cmd.(instructions.SupportsSingleWordExpansion); ok {
		if err := ex.Expand(b.expand); err != nil {
			return err
		}
	}
	switch c := cmd.(type) {
	case *instructions.EnvCommand:
		for _, kv := range c.Env {
			b.cfg.Env = setEnv(b.cfg.Env, kv.Key, kv.Value)
		}
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
	case *instructions.UserCommand:
		b.cfg.User = c.User
	case *instructions.LabelCommand:
		if b.cfg.Labels == nil {
			b.cfg.Labels = map[string]string{}
		}
		for _, kv := range c.Labels {
			b.cfg.Labels[kv.Key] = kv.Value
		}
	case *instructions.ExposeCommand:
		if b.cfg.ExposedPorts == nil {
			b.cfg.ExposedPorts = map[string]struct{}{}
		}
		for _, p := range c.Ports {
			if !strings.Contains(p, "/") {
				p += "/tcp"
			}
			b.cfg.ExposedPorts[p] = struct{}{}
		}
	case *instructions.CmdCommand:
		b.cfg.Cmd = b.cmdLine(c.ShellDependantCmdLine)
	case *instructions.EntrypointCommand:
		b.cfg.Entrypoint = b.cmdLine(c.ShellDependantCmdLine)
		if !c.PrependShell && len(c.CmdLine) == 0 {
			b.cfg.Entrypoint = nil
		}
	case *instructions.ShellCommand:
		b.shell = append([]string(nil), c.Shell...)
	case *instructions.StopSignalCommand:
		b.cfg.StopSignal = c.Signal
	case *instructions.VolumeCommand:
		if b.cfg.Volumes == nil {
			b.cfg.Volumes = map[string]struct{}{}
		}
		for _, v := range c.Volumes {
			b.cfg.Volumes[v] = struct{}{}
		}
	case *instructions.RunCommand:
		return b.run(ctx, c)
	case *instructions.CopyCommand:
		if c.From != "" {
			return fmt.Errorf("COPY --from is not supported yet")
		}
		return b.copy(ctx, c.SourcesAndDest, c.Chown, c.String())
	case *instructions.AddCommand:
		for _, s := range c.SourcePaths {
			if strings.Contains(s, "://") {
				return fmt.Errorf("ADD from a URL is not supported yet: %s", s)
			}
		}
		return b.copy(ctx, c.SourcesAndDest, c.Chown, c.String())
	case *instructions.MaintainerCommand:
		// Deprecated; docker records it as the author. Config-only.
	default:
		return fmt.Errorf("%s is not supported yet", strings.ToUpper(cmd.Name()))
	}
	return b.commitConfig(ctx, fmt.Sprint(cmd))
}

func setEnv(env []string, k, v string) []string {
	for i, e := range env {
		if name, _, _ := strings.Cut(e, "="); name == k {
			env[i] = k + "=" + v
			return env
		}
	}
	return append(env, k+"="+v)
}

func (b *build) cmdLine(c instructions.ShellDependantCmdLine) []string {
	if c.PrependShell {
		return append(append([]string(nil), b.shell...), strings.Join(c.CmdLine, " "))
	}
	return append([]string(nil), c.CmdLine...)
}

// commitConfig records a config-only step as an empty-layer history
// entry, like docker's "#(nop)" entries.
func (b *build) commitConfig(ctx context.Context, instr string) error {
	shellLine := strings.Join(b.shell, " ")
	id, err := b.be.BuildCommit(ctx, b.image, "", nil, b.cfg, shellLine+" #(nop) "+instr)
	if err != nil {
		return err
	}
	return b.advance(id)
}

func (b *build) advance(id string) error {
	b.image = id
	b.intermediates = append(b.intermediates, id)
	b.rep.Stream(fmt.Sprintf(" ---> %s\n", shortID(id)))
	return nil
}

// run executes a RUN instruction in a container and commits its changes.
func (b *build) run(ctx context.Context, c *instructions.RunCommand) (retErr error) {
	if b.image == "" {
		return fmt.Errorf("RUN needs a base image with a shell; FROM scratch has none")
	}
	argv := b.cmdLine(c.ShellDependantCmdLine)
	cfg := &ctypes.Config{
		Image:      b.image,
		Cmd:        argv,
		Entrypoint: []string{},
		Env:        b.env(),
		User:       b.cfg.User,
		WorkingDir: b.cfg.WorkingDir,
		Labels:     maps.Clone(b.cfg.Labels),
	}
	var out bytes.Buffer
	w := streamWriter{rep: b.rep, quiet: b.quiet, buf: &out}
	var id string
	defer func() {
		if id == "" {
			return
		}
		if err := b.be.ContainerRemove(context.WithoutCancel(ctx), id, true, true); err != nil && retErr == nil {
			retErr = fmt.Errorf("remove intermediate container %s: %w", shortID(id), err)
		}
	}()
	code, err := b.be.BuildRun(ctx, cfg, func(cid string) {
		id = cid
		b.rep.Stream(fmt.Sprintf(" ---> Running in %s\n", shortID(cid)))
	}, &w)
	w.flush()
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("the command '%s' returned a non-zero code: %d", strings.Join(argv, " "), code)
	}
	createdBy := strings.Join(argv, " ")
	if c.PrependShell {
		createdBy = strings.Join(b.shell, " ") + " " + strings.Join(c.CmdLine, " ")
	}
	if len(b.args) > 0 {
		// docker records the build args a RUN saw: "|N k=v … cmd".
		createdBy = fmt.Sprintf("|%d %s %s", len(b.args), strings.Join(b.args, " "), createdBy)
	}
	nid, err := b.be.BuildCommit(ctx, b.image, id, nil, b.cfg, createdBy)
	if err != nil {
		return err
	}
	b.rep.Stream(fmt.Sprintf("Removing intermediate container %s\n", shortID(id)))
	return b.advance(nid)
}

// streamWriter passes RUN output to the reporter, a line at a time.
type streamWriter struct {
	rep   Reporter
	quiet bool
	buf   *bytes.Buffer
}

func (w *streamWriter) Write(p []byte) (int, error) {
	if w.quiet {
		return len(p), nil
	}
	w.buf.Write(p)
	for {
		i := bytes.IndexByte(w.buf.Bytes(), '\n')
		if i < 0 {
			return len(p), nil
		}
		w.rep.Stream(string(w.buf.Next(i + 1)))
	}
}

func (w *streamWriter) flush() {
	if w.buf.Len() > 0 && !w.quiet {
		w.rep.Stream(w.buf.String() + "\n")
		w.buf.Reset()
	}
}
