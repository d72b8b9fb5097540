package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
)

// ContainerCreate creates a container. name and platform ("os/arch
// [/variant]") may be empty.
func (c *Client) ContainerCreate(ctx context.Context, name string, cfg *container.Config, hc *container.HostConfig, nc *network.NetworkingConfig, platform string) (container.CreateResponse, error) {
	q := url.Values{}
	if name != "" {
		q.Set("name", name)
	}
	if platform != "" {
		q.Set("platform", platform)
	}
	if cfg == nil {
		cfg = &container.Config{}
	}
	var r container.CreateResponse
	err := c.do(ctx, http.MethodPost, "/containers/create", q, container.CreateRequest{Config: cfg, HostConfig: hc, NetworkingConfig: nc}, &r)
	return r, err
}

// ContainerStart starts a container; one already running is no error
// (the daemon answers 304).
func (c *Client) ContainerStart(ctx context.Context, id string) error {
	return c.postAction(ctx, containerPath(id, "start"), nil)
}

// ContainerResize sets the size of a container's terminal.
func (c *Client) ContainerResize(ctx context.Context, id string, height, width uint) error {
	return c.do(ctx, http.MethodPost, containerPath(id, "resize"), sizeQuery(height, width), nil, nil)
}

// ContainerWait registers a wait for condition ("" is not-running) and
// returns once the daemon has registered it, so that a container started
// afterwards cannot exit unseen. The result channel then receives the
// exit status, or the error channel an error (one value in all).
func (c *Client) ContainerWait(ctx context.Context, id string, condition container.WaitCondition) (<-chan container.WaitResponse, <-chan error) {
	results, errc := make(chan container.WaitResponse, 1), make(chan error, 1)
	q := url.Values{}
	if condition != "" {
		q.Set("condition", string(condition))
	}
	resp, err := c.stream(ctx, http.MethodPost, containerPath(id, "wait"), q, nil)
	if err != nil {
		errc <- err
		return results, errc
	}
	go func() {
		defer resp.Body.Close()
		var r container.WaitResponse
		if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
			if ctx.Err() != nil {
				err = ctx.Err()
			} else {
				err = fmt.Errorf("wait for container %s: %w", id, c.connErr(err))
			}
			errc <- err
			return
		}
		results <- r
	}()
	return results, errc
}

// LogsOptions selects a container's log lines, as docker logs' flags.
type LogsOptions struct {
	Stdout, Stderr     bool
	Follow, Timestamps bool
	Details            bool
	Since, Until       time.Time
	Tail               string // a number, or "all" ("" for all)
}

// ContainerLogs returns the log stream: multiplexed (stdcopy frames) for
// a container without a terminal, raw for one with.
func (c *Client) ContainerLogs(ctx context.Context, id string, o LogsOptions) (io.ReadCloser, error) {
	q := url.Values{}
	for k, v := range map[string]bool{"stdout": o.Stdout, "stderr": o.Stderr, "follow": o.Follow, "timestamps": o.Timestamps, "details": o.Details} {
		if v {
			q.Set(k, "1")
		}
	}
	if !o.Since.IsZero() {
		q.Set("since", unixTime(o.Since))
	}
	if !o.Until.IsZero() {
		q.Set("until", unixTime(o.Until))
	}
	if o.Tail != "" {
		q.Set("tail", o.Tail)
	}
	resp, err := c.stream(ctx, http.MethodGet, containerPath(id, "logs"), q, nil)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

func unixTime(t time.Time) string { return fmt.Sprintf("%d.%09d", t.Unix(), t.Nanosecond()) }

// AttachOptions selects the streams of an attach.
type AttachOptions struct {
	Stream                bool // follow the live output (and input)
	Logs                  bool // replay the output logged so far first
	Stdin, Stdout, Stderr bool
	DetachKeys            string // e.g. "ctrl-p,ctrl-q"; "" for the daemon's default
}

// ContainerAttach attaches to a container's stdio. The returned
// connection carries stdin out and the output in: multiplexed frames
// (stdcopy) unless the container has a terminal.
func (c *Client) ContainerAttach(ctx context.Context, id string, o AttachOptions) (*HijackedConn, error) {
	q := url.Values{}
	for k, v := range map[string]bool{"stream": o.Stream, "logs": o.Logs, "stdin": o.Stdin, "stdout": o.Stdout, "stderr": o.Stderr} {
		if v {
			q.Set(k, "1")
		}
	}
	if o.DetachKeys != "" {
		q.Set("detachKeys", o.DetachKeys)
	}
	return c.hijack(ctx, containerPath(id, "attach"), q, nil)
}

// ExecCreate sets up a process to run in a container; it returns the
// exec's ID.
func (c *Client) ExecCreate(ctx context.Context, containerID string, req container.ExecCreateRequest) (string, error) {
	var r container.ExecCreateResponse
	if err := c.do(ctx, http.MethodPost, containerPath(containerID, "exec"), nil, req, &r); err != nil {
		return "", err
	}
	return r.ID, nil
}

// ExecStart starts an exec. Detached, it returns a nil connection once
// the process runs; otherwise the connection carries its stdio, as
// ContainerAttach's does.
func (c *Client) ExecStart(ctx context.Context, id string, req container.ExecStartRequest) (*HijackedConn, error) {
	if req.Detach {
		return nil, c.do(ctx, http.MethodPost, "/exec/"+url.PathEscape(id)+"/start", nil, req, nil)
	}
	return c.hijack(ctx, "/exec/"+url.PathEscape(id)+"/start", nil, req)
}

// ExecInspect describes an exec: its state and exit code.
func (c *Client) ExecInspect(ctx context.Context, id string) (container.ExecInspectResponse, error) {
	var r container.ExecInspectResponse
	return r, c.do(ctx, http.MethodGet, "/exec/"+url.PathEscape(id)+"/json", nil, nil, &r)
}

// ExecResize sets the size of an exec's terminal.
func (c *Client) ExecResize(ctx context.Context, id string, height, width uint) error {
	return c.do(ctx, http.MethodPost, "/exec/"+url.PathEscape(id)+"/resize", sizeQuery(height, width), nil, nil)
}

func sizeQuery(h, w uint) url.Values {
	return url.Values{"h": {strconv.FormatUint(uint64(h), 10)}, "w": {strconv.FormatUint(uint64(w), 10)}}
}

// HijackedConn is the raw connection of an attach or exec once HTTP is
// done with it. Read returns the output; Write sends input; CloseWrite
// ends the input (the process sees EOF) while the output goes on.
type HijackedConn struct {
	conn net.Conn
	r    io.Reader
	// MediaType is the daemon's Content-Type: application/vnd.docker.
	// multiplexed-stream (stdcopy frames) or application/vnd.docker.
	// raw-stream (a terminal's bytes); "" when the daemon did not say.
	MediaType string
}

// Multiplexed reports whether the daemon said the output is in stdcopy
// frames; ok is false when it did not say either way.
func (h *HijackedConn) Multiplexed() (multiplexed, ok bool) {
	switch h.MediaType {
	case "application/vnd.docker.multiplexed-stream":
		return true, true
	case "application/vnd.docker.raw-stream":
		return false, true
	}
	return false, false
}

func (h *HijackedConn) Read(p []byte) (int, error)  { return h.r.Read(p) }
func (h *HijackedConn) Write(p []byte) (int, error) { return h.conn.Write(p) }
func (h *HijackedConn) Close() error                { return h.conn.Close() }

// CloseWrite half-closes the connection: the daemon reads EOF on stdin.
func (h *HijackedConn) CloseWrite() error {
	if cw, ok := h.conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// hijack sends POST path on a connection of its own, asking to upgrade
// it to a raw stream (Connection: Upgrade, Upgrade: tcp). The daemon
// answers 101 Switching Protocols, or (older daemons) 200 followed by
// the raw stream; either way the connection is then the caller's.
func (c *Client) hijack(ctx context.Context, path string, q url.Values, body any) (_ *HijackedConn, retErr error) {
	u := c.base + "/v" + c.version + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "tcp")

	conn, err := c.dial(ctx)
	if err != nil {
		return nil, c.connErr(err)
	}
	defer func() {
		if retErr != nil {
			conn.Close()
		}
	}()
	if tc, ok := conn.(*net.TCPConn); ok {
		// A long silence must not look like a dead peer.
		tc.SetKeepAlive(true)
		tc.SetKeepAlivePeriod(30 * time.Second)
	}
	// Cancelling ctx aborts the handshake, not the stream after it.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	if err := req.Write(conn); err != nil {
		stop()
		return nil, c.connErr(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if !stop() {
		return nil, ctx.Err()
	}
	if err != nil {
		return nil, c.connErr(err)
	}
	h := &HijackedConn{conn: conn, MediaType: resp.Header.Get("Content-Type")}
	switch resp.StatusCode {
	case http.StatusSwitchingProtocols:
		h.r = br
	case http.StatusOK:
		h.r = resp.Body // the stream is the body (chunked or until EOF)
	default:
		return nil, apiError(resp)
	}
	return h, nil
}

// dial opens a connection to the daemon, as the HTTP transport does.
func (c *Client) dial(ctx context.Context) (net.Conn, error) {
	proto, addr, ok := strings.Cut(c.host, "://")
	if !ok {
		proto, addr = "unix", c.host
	}
	var d net.Dialer
	switch proto {
	case "unix":
		return d.DialContext(ctx, "unix", addr)
	case "tcp", "http":
		return d.DialContext(ctx, "tcp", addr)
	}
	return nil, fmt.Errorf("host %q: unsupported protocol %q", c.host, proto)
}
