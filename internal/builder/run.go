package builder

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	ctypes "github.com/moby/moby/api/types/container"
)

// run executes a RUN instruction in a container and commits its changes.
func (b *build) run(ctx context.Context, c *instructions.RunCommand) (retErr error) {
	if b.image == "" {
		return fmt.Errorf("RUN needs a base image with a shell; FROM scratch has none")
	}
	opts, mountKey, prepare, err := b.runOptions(ctx, c)
	if err != nil {
		return err
	}
	argv, err := b.runArgv(c.ShellDependantCmdLine)
	if err != nil {
		return err
	}
	createdBy := strings.Join(argv, " ")
	if len(b.args) > 0 {
		// docker records the build args a RUN saw: "|N k=v … cmd".
		createdBy = fmt.Sprintf("|%d %s %s", len(b.args), strings.Join(b.args, " "), createdBy)
	}
	// The history shows the command alone, as buildkit's; the mounts and
	// what a bind of the context shows are part of the key.
	key := b.cacheKey(append([]string{"run", createdBy}, mountKey...)...)
	// A RUN with mounts depends on more than its command: no stand-in
	// from --cache-from's history.
	historyKey := createdBy
	if len(mountKey) > 0 {
		historyKey = ""
	}
	if b.fromCache(ctx, key, historyKey) {
		return nil
	}
	release, err := prepare()
	if err != nil {
		return err
	}
	defer release()
	cfg := &ctypes.Config{
		Image:      b.image,
		Cmd:        argv,
		Entrypoint: []string{},
		Env:        append(b.runEnv(), opts.Env...),
		User:       b.cfg.User,
		WorkingDir: b.cfg.WorkingDir,
		Labels:     maps.Clone(b.cfg.Labels),
	}
	var out bytes.Buffer
	w := streamWriter{rep: b.rep, quiet: b.o.Quiet, buf: &out}
	var id string
	defer func() {
		if id == "" || b.o.KeepContainers {
			return
		}
		if err := b.be.ContainerRemove(context.WithoutCancel(ctx), id, true, true); err != nil && retErr == nil {
			retErr = fmt.Errorf("remove intermediate container %s: %w", shortID(id), err)
		}
	}()
	code, err := b.be.BuildRun(ctx, cfg, *opts, func(cid string) {
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
	nid, err := b.be.BuildCommit(ctx, Commit{Base: b.image, Container: id, Config: b.cfg, CreatedBy: createdBy, CacheKey: key})
	if err != nil {
		return err
	}
	if !b.o.KeepContainers {
		b.rep.Stream(fmt.Sprintf("Removing intermediate container %s\n", shortID(id)))
	}
	b.image = nid
	return nil
}

// runArgv is what a RUN runs. A heredoc is handed to the shell as
// buildkit does: alone, its text is the script (run by the interpreter
// its #! line names, if any); after a command, the shell reads it.
func (b *build) runArgv(c instructions.ShellDependantCmdLine) ([]string, error) {
	if len(c.Files) == 0 {
		return b.cmdLine(c), nil
	}
	if len(c.CmdLine) != 1 || !c.PrependShell {
		return nil, fmt.Errorf("a heredoc needs the shell form of RUN")
	}
	script := c.CmdLine[0]
	if parser.MustParseHeredoc(script) != nil {
		f := c.Files[0]
		data := f.Data
		if f.Chomp {
			data = parser.ChompHeredocContent(data)
		}
		script = data
		if interp, ok := strings.CutPrefix(data, "#!"); ok {
			line, _, _ := strings.Cut(interp, "\n")
			delim := "HAKO_HEREDOC_" + shortID(b.cacheKey(data))
			script = fmt.Sprintf("exec %s /dev/stdin <<'%s'\n%s%s\n", strings.TrimSpace(line), delim, data, delim)
		}
	} else {
		var sb strings.Builder
		sb.WriteString(script)
		for _, f := range c.Files {
			sb.WriteString("\n" + f.Data + f.Name)
		}
		script = sb.String()
	}
	return append(slices.Clone(b.shell()), script), nil
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
