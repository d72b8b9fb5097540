package daemon

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hako-dev/hako/internal/daemon/container"
	"github.com/hako-dev/hako/internal/daemon/logger/jsonfile"
	"github.com/hako-dev/hako/internal/daemon/monitor"
	"github.com/hako-dev/hako/internal/errdefs"
	"github.com/hako-dev/hako/internal/oci"
	ctypes "github.com/moby/moby/api/types/container"
	eventtypes "github.com/moby/moby/api/types/events"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// ContainerAttach connects a client to a container's stdio: its past
// output first with Logs, then its live streams with Stream. Attaching
// to a container that is not running waits for it to start.
func (d *Daemon) ContainerAttach(ctx context.Context, ref string, o AttachOptions, hijack Hijack) error {
	c, err := d.containers.Get(ref)
	if err != nil {
		return err
	}
	keys, err := parseDetachKeys(o.DetachKeys)
	if err != nil {
		return err
	}
	c.Lock()
	tty, running, status := c.Config.Tty, c.Running(), c.State.Status
	c.Unlock()
	if status == container.StatusPaused && o.Stream {
		return fmt.Errorf("You cannot attach to a paused container, unpause it first: %w", errdefs.ErrConflict)
	}
	var g *startGate
	if o.Stream && !running {
		g = d.gate(c.ID)
		g.attached.Add(1)
	}
	done := func() {
		if g != nil {
			g.attached.Done()
			g = nil
		}
	}
	defer done()
	conn, err := hijack(tty)
	if err != nil {
		return err
	}
	defer conn.Close()
	if o.Logs && c.LogPath != "" && c.HostConfig.LogConfig.Type != "none" {
		w := streamWriter(conn, tty)
		jsonfile.Read(ctx, c.LogPath, jsonfile.ReadConfig{Tail: -1, Stdout: o.Stdout, Stderr: o.Stderr}, nil, func(m jsonfile.Message) error {
			return w(m.Stream, m.Line)
		})
	}
	if !o.Stream {
		return nil
	}
	if g != nil {
		select {
		case <-g.open:
		case <-ctx.Done():
			return nil
		case <-d.ctx.Done():
			return nil
		}
	}
	ms, err := d.monitor.Attach(c.ID, "", o.Stdin, o.Stdout, o.Stderr)
	done()
	if err != nil {
		return nil // it ended meanwhile: nothing to stream
	}
	d.containerEvent(c, eventtypes.ActionAttach, nil)
	relay(ms, conn, o.Stdin, keys, func() {
		d.containerEvent(c, eventtypes.ActionDetach, nil)
	})
	return nil
}

// relay copies the monitor's stream to the client and the client's input
// (watching for the detach keys) to the monitor, until the process ends,
// the client leaves or detaches.
func relay(ms *monitor.Stream, conn io.ReadWriteCloser, stdin bool, keys []byte, onDetach func()) {
	defer ms.Close()
	out := make(chan struct{})
	go func() {
		io.Copy(conn, ms)
		close(out)
	}()
	in := make(chan struct{})
	go func() {
		defer close(in)
		if !stdin {
			io.Copy(io.Discard, conn)
			return
		}
		detached := copyDetachable(ms, conn, keys)
		if detached {
			onDetach()
			ms.Close()
			conn.Close()
			return
		}
		ms.CloseWrite()
	}()
	// The end of the client's input (docker half-closes at once when it
	// sends no stdin) does not end the output: that goes on until the
	// process ends, the client goes away (a write fails) or detaches.
	<-out
	conn.Close()
	<-in
}

// copyDetachable copies src to dst until EOF or the detach sequence,
// reporting whether the client detached.
func copyDetachable(dst io.Writer, src io.Reader, keys []byte) bool {
	if len(keys) == 0 {
		io.Copy(dst, src)
		return false
	}
	br := bufio.NewReader(src)
	var held []byte
	for {
		b, err := br.ReadByte()
		if err != nil {
			if len(held) > 0 {
				dst.Write(held)
			}
			return false
		}
		if b == keys[len(held)] {
			held = append(held, b)
			if len(held) == len(keys) {
				return true
			}
			if br.Buffered() == 0 && len(held) == 0 {
				continue
			}
			continue
		}
		if len(held) > 0 {
			if _, err := dst.Write(held); err != nil {
				return false
			}
			held = held[:0]
		}
		if b == keys[0] {
			held = append(held, b)
			continue
		}
		if _, err := dst.Write([]byte{b}); err != nil {
			return false
		}
	}
}

// parseDetachKeys parses docker's detach key syntax: "ctrl-p,ctrl-q"
// (default), letters, "ctrl-@", "ctrl-[" and the like; "" is the default.
func parseDetachKeys(s string) ([]byte, error) {
	if s == "" {
		return []byte{16, 17}, nil
	}
	var out []byte
	for _, k := range strings.Split(s, ",") {
		k = strings.TrimSpace(k)
		if len(k) == 1 {
			out = append(out, k[0])
			continue
		}
		rest, ok := strings.CutPrefix(strings.ToLower(k), "ctrl-")
		if !ok || len(rest) != 1 {
			return nil, fmt.Errorf("Invalid detach keys (%s) provided: %w", s, errdefs.ErrInvalidArgument)
		}
		switch c := rest[0]; {
		case c >= 'a' && c <= 'z':
			out = append(out, c-'a'+1)
		case c == '@':
			out = append(out, 0)
		case c == '[':
			out = append(out, 27)
		case c == '\\':
			out = append(out, 28)
		case c == ']':
			out = append(out, 29)
		case c == '^':
			out = append(out, 30)
		case c == '_':
			out = append(out, 31)
		default:
			return nil, fmt.Errorf("Invalid detach keys (%s) provided: %w", s, errdefs.ErrInvalidArgument)
		}
	}
	return out, nil
}

// streamWriter writes log entries to a client: raw with a terminal,
// otherwise in stdcopy frames.
func streamWriter(w io.Writer, tty bool) func(stream string, b []byte) error {
	if tty {
		return func(_ string, b []byte) error {
			_, err := w.Write(b)
			return err
		}
	}
	return func(stream string, b []byte) error {
		hdr := [8]byte{1}
		if stream == "stderr" {
			hdr[0] = 2
		}
		binary.BigEndian.PutUint32(hdr[4:], uint32(len(b)))
		if _, err := w.Write(hdr[:]); err != nil {
			return err
		}
		_, err := w.Write(b)
		return err
	}
}

// ContainerLogs writes a container's logs; start is called once, before
// the first byte, with whether the stream is raw (tty).
func (d *Daemon) ContainerLogs(ctx context.Context, ref string, o LogsOptions, start func(tty bool) io.Writer) error {
	c, err := d.containers.Get(ref)
	if err != nil {
		return err
	}
	if c.HostConfig.LogConfig.Type == "none" || c.LogPath == "" {
		return fmt.Errorf("configured logging driver does not support reading: %w", errdefs.ErrInvalidArgument)
	}
	if !o.Stdout && !o.Stderr {
		return fmt.Errorf("You must choose at least one stream: %w", errdefs.ErrInvalidArgument)
	}
	w := start(c.Config.Tty)
	write := streamWriter(w, c.Config.Tty)
	var stopped chan struct{}
	if o.Follow {
		stopped = make(chan struct{})
		go func() {
			defer close(stopped)
			for {
				ch := c.Changed()
				c.Lock()
				live := c.Running() || c.State.Status == container.StatusRestarting
				c.Unlock()
				if !live || d.isRemoved(c) {
					return
				}
				select {
				case <-ch:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	flusher, _ := w.(interface{ Flush() })
	err = jsonfile.Read(ctx, c.LogPath, jsonfile.ReadConfig{Since: o.Since, Until: o.Until, Tail: o.Tail, Follow: o.Follow, Stdout: o.Stdout, Stderr: o.Stderr}, stopped, func(m jsonfile.Message) error {
		line := m.Line
		if o.Details {
			// docker's: the entry's attributes, sorted, URL-escaped,
			// "k=v,k=v", and a space (alone when there are none).
			line = append(detailsPrefix(m.Attrs), line...)
		}
		if o.Timestamps {
			line = append([]byte(m.Time.UTC().Format("2006-01-02T15:04:05.000000000Z")+" "), line...)
		}
		if err := write(m.Stream, line); err != nil {
			return err
		}
		if flusher != nil {
			flusher.Flush()
		}
		return nil
	})
	if err != nil && ctx.Err() == nil && !errors.Is(err, io.ErrClosedPipe) {
		return err
	}
	return nil
}

// ContainerResize sets the size of a container's terminal.
func (d *Daemon) ContainerResize(ctx context.Context, ref string, h, w uint) error {
	c, err := d.containers.Get(ref)
	if err != nil {
		return err
	}
	if !c.Running() {
		return fmt.Errorf("Container %s is not running: %w", ref, errdefs.ErrConflict)
	}
	return d.monitor.Resize(c.ID, "", h, w)
}

// execRecord is one exec instance (docker keeps them in memory too).
type execRecord struct {
	ID, ContainerID string
	Req             ctypes.ExecCreateRequest
	mu              sync.Mutex
	started         bool
	running         bool
	exitCode        *int
	pid             int
	done            chan struct{}
}

// ExecCreate prepares a process to run in a running container.
func (d *Daemon) ExecCreate(ctx context.Context, ref string, req ctypes.ExecCreateRequest) (string, error) {
	c, err := d.containers.Get(ref)
	if err != nil {
		return "", err
	}
	c.Lock()
	status := c.State.Status
	c.Unlock()
	switch status {
	case container.StatusRunning:
	case container.StatusPaused:
		return "", fmt.Errorf("Container %s is paused, unpause the container before exec: %w", c.ID, errdefs.ErrConflict)
	default:
		return "", fmt.Errorf("container %s is not running: %w", c.ID, errdefs.ErrConflict)
	}
	if len(req.Cmd) == 0 {
		return "", fmt.Errorf("No exec command specified: %w", errdefs.ErrInvalidArgument)
	}
	if _, err := parseDetachKeys(req.DetachKeys); err != nil {
		return "", err
	}
	var b [32]byte
	rand.Read(b[:])
	e := &execRecord{ID: hex.EncodeToString(b[:]), ContainerID: c.ID, Req: req, done: make(chan struct{})}
	d.cs.mu.Lock()
	d.cs.execs[e.ID] = e
	d.cs.mu.Unlock()
	d.containerEvent(c, eventtypes.Action("exec_create: "+strings.Join(req.Cmd, " ")), map[string]string{"execID": e.ID})
	return e.ID, nil
}

func (d *Daemon) getExec(id string) (*execRecord, error) {
	d.cs.mu.Lock()
	defer d.cs.mu.Unlock()
	e := d.cs.execs[id]
	if e == nil {
		return nil, fmt.Errorf("No such exec instance: %s: %w", id, errdefs.ErrNotFound)
	}
	return e, nil
}

// ExecStart runs a created exec; unless detached it streams through the
// hijacked connection until the process ends.
func (d *Daemon) ExecStart(ctx context.Context, id string, detach bool, consoleSize *[2]uint, hijack Hijack) error {
	e, err := d.getExec(id)
	if err != nil {
		return err
	}
	e.mu.Lock()
	if e.started {
		e.mu.Unlock()
		return fmt.Errorf("Error: Exec command %s has already run: %w", id, errdefs.ErrConflict)
	}
	e.started = true
	e.mu.Unlock()
	c, err := d.containers.Get(e.ContainerID)
	if err != nil {
		return err
	}
	c.Lock()
	running := c.State.Status == container.StatusRunning
	var p *specs.Process
	if running {
		p, err = d.execProcess(c, &e.Req)
	}
	c.Unlock()
	if !running {
		return fmt.Errorf("container %s is not running: %w", c.ID, errdefs.ErrConflict)
	}
	if err != nil {
		return err
	}
	req := &monitor.Request{Detach: detach, Stdin: e.Req.AttachStdin}
	req.Process = p
	if consoleSize == nil {
		consoleSize = e.Req.ConsoleSize
	}
	if consoleSize != nil {
		req.ConsoleSize = *consoleSize
	}
	var conn io.ReadWriteCloser
	if !detach {
		if conn, err = hijack(e.Req.Tty); err != nil {
			return err
		}
		defer conn.Close()
	}
	ms, pid, err := d.monitor.Exec(c.ID, e.ID, req)
	if err != nil {
		code := 126
		var ee *monitor.ExecError
		if errors.As(err, &ee) {
			code = ee.Code
		}
		e.mu.Lock()
		e.exitCode = &code
		e.mu.Unlock()
		close(e.done)
		if conn != nil {
			// The stream has begun: the error goes to the client's
			// stderr (or terminal), as docker does.
			msg := err.Error() + "\r\n"
			streamWriter(conn, e.Req.Tty)("stderr", []byte(msg))
			return nil
		}
		return err
	}
	e.mu.Lock()
	// A quick process's exit may have been recorded already.
	e.pid, e.running = pid, e.exitCode == nil
	e.mu.Unlock()
	d.containerEvent(c, eventtypes.Action("exec_start: "+strings.Join(e.Req.Cmd, " ")), map[string]string{"execID": e.ID})
	if detach {
		return nil
	}
	keys, _ := parseDetachKeys(e.Req.DetachKeys)
	relay(ms, conn, e.Req.AttachStdin, keys, func() {})
	// The exit arrives from the monitor's event stream; let it land
	// before the client inspects the exit code.
	select {
	case <-e.done:
	case <-time.After(2 * time.Second):
	case <-ctx.Done():
	}
	return nil
}

func (d *Daemon) execExited(x monitor.Exit) {
	e, err := d.getExec(x.ExecID)
	if err != nil {
		return
	}
	e.mu.Lock()
	if e.exitCode == nil {
		code := x.ExitCode
		e.exitCode = &code
		e.running = false
		close(e.done)
	}
	e.mu.Unlock()
	if c, err := d.containers.Get(e.ContainerID); err == nil {
		d.containerEvent(c, eventtypes.ActionExecDie, map[string]string{"execID": e.ID, "exitCode": fmt.Sprint(x.ExitCode)})
	}
	// Kept for inspection a while, as docker keeps them until the
	// container goes; bounded so that a busy exec loop does not grow us.
	time.AfterFunc(5*time.Minute, func() {
		d.cs.mu.Lock()
		delete(d.cs.execs, e.ID)
		d.cs.mu.Unlock()
	})
}

// ExecInspect describes an exec.
func (d *Daemon) ExecInspect(ctx context.Context, id string) (*ctypes.ExecInspectResponse, error) {
	e, err := d.getExec(id)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	priv := e.Req.Privileged
	r := &ctypes.ExecInspectResponse{
		ID: e.ID, Running: e.running, ExitCode: e.exitCode, ContainerID: e.ContainerID, Pid: e.pid,
		OpenStdin: e.Req.AttachStdin, OpenStdout: e.Req.AttachStdout, OpenStderr: e.Req.AttachStderr,
		DetachKeys:    []byte(e.Req.DetachKeys),
		ProcessConfig: &ctypes.ExecProcessConfig{Tty: e.Req.Tty, Entrypoint: e.Req.Cmd[0], Arguments: e.Req.Cmd[1:], Privileged: &priv, User: e.Req.User},
	}
	if r.ProcessConfig.Arguments == nil {
		r.ProcessConfig.Arguments = []string{}
	}
	return r, nil
}

// ExecResize sets the size of an exec's terminal.
func (d *Daemon) ExecResize(ctx context.Context, id string, h, w uint) error {
	e, err := d.getExec(id)
	if err != nil {
		return err
	}
	return d.monitor.Resize(e.ContainerID, e.ID, h, w)
}

// execProcess builds an exec's process from the container's own
// configuration with the exec's overrides, through the same generator:
// user lookup, capabilities and environment follow the same rules.
func (d *Daemon) execProcess(c *container.Container, req *ctypes.ExecCreateRequest) (*specs.Process, error) {
	cfg := *c.Config
	hc := *c.HostConfig
	cfg.Entrypoint, cfg.Cmd = nil, req.Cmd
	cfg.Tty = req.Tty
	if req.User != "" {
		cfg.User = req.User
	}
	if req.WorkingDir != "" {
		cfg.WorkingDir = req.WorkingDir
	}
	cfg.Env = append(append([]string{}, cfg.Env...), req.Env...)
	if req.Privileged {
		hc.Privileged = true
	}
	hc.Init = nil
	s, err := oci.ContainerSpec(&oci.ContainerOpts{ID: c.ID, Config: &cfg, HostConfig: &hc, Rootfs: d.rootfsDir(c.ID), StrictGroups: c.StrictGroups})
	if err != nil {
		return nil, err
	}
	p := s.Process
	if !req.Privileged {
		// Keep the container's seccomp and capabilities as started.
		p.Capabilities = nil
		if cur, err := d.rt.Load(c.ID); err == nil && cur.Config() != nil && cur.Config().Process != nil {
			p.Capabilities = cur.Config().Process.Capabilities
		}
	}
	return p, nil
}

// detailsPrefix is logs --details' prefix for an entry's attributes.
func detailsPrefix(attrs map[string]string) []byte {
	keys := make([]string, 0, len(attrs))
	for k := range attrs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b []byte
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, url.QueryEscape(k)...)
		b = append(b, '=')
		b = append(b, url.QueryEscape(attrs[k])...)
	}
	return append(b, ' ')
}
