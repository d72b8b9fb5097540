package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hako-dev/hako/internal/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
)

// unixEngine serves h on a unix socket and returns a client for it.
func unixEngine(t *testing.T, h http.Handler) *Client {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "engine.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	c, err := New("unix://" + sock)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// tcpEngine serves h on 127.0.0.1 and returns a client for it.
func tcpEngine(t *testing.T, h http.Handler) *Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := New("tcp://" + strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// frame is one stdcopy frame: stream, three zero bytes, the big-endian
// length, the payload.
func frame(stream stdcopy.StdType, payload string) []byte {
	b := []byte{byte(stream), 0, 0, 0}
	b = binary.BigEndian.AppendUint32(b, uint32(len(payload)))
	return append(b, payload...)
}

// upgrade answers an attach or exec start as dockerd does: 101, then
// the raw connection, handed to fn.
func upgrade(t *testing.T, w http.ResponseWriter, r *http.Request, mediaType string, fn func(conn net.Conn, rw *bufio.ReadWriter)) {
	if r.Header.Get("Upgrade") != "tcp" || !strings.EqualFold(r.Header.Get("Connection"), "Upgrade") {
		t.Errorf("no upgrade asked: %v", r.Header)
	}
	conn, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		t.Error(err)
		return
	}
	defer conn.Close()
	rw.WriteString("HTTP/1.1 101 UPGRADED\r\nContent-Type: " + mediaType + "\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
	rw.Flush()
	fn(conn, rw)
}

func TestContainerCreateRequest(t *testing.T) {
	var got container.CreateRequest
	var query string
	c := unixEngine(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1.51/containers/create" {
			t.Errorf("%s %s", r.Method, r.URL.Path)
		}
		query = r.URL.RawQuery
		json.NewDecoder(r.Body).Decode(&got)
		w.WriteHeader(http.StatusCreated)
		w.Write([]byte(`{"Id":"abc123","Warnings":["low memory"]}`))
	}))
	cfg := &container.Config{Image: "busybox", Cmd: []string{"true"}, Tty: true}
	hc := &container.HostConfig{AutoRemove: true, Binds: []string{"/a:/b"}}
	nc := &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{"default": {}}}
	resp, err := c.ContainerCreate(context.Background(), "web", cfg, hc, nc, "linux/amd64")
	if err != nil {
		t.Fatal(err)
	}
	if resp.ID != "abc123" || len(resp.Warnings) != 1 {
		t.Errorf("reply %+v", resp)
	}
	if query != "name=web&platform=linux%2Famd64" {
		t.Errorf("query %q", query)
	}
	if got.Config == nil || got.Image != "busybox" || !got.Tty || got.HostConfig == nil || !got.HostConfig.AutoRemove || got.HostConfig.Binds[0] != "/a:/b" || got.NetworkingConfig.EndpointsConfig["default"] == nil {
		t.Errorf("request %+v", got)
	}
}

func TestContainerStartStatuses(t *testing.T) {
	status := http.StatusNoContent
	c := tcpEngine(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1.51/containers/web/start" {
			t.Errorf("path %s", r.URL.Path)
		}
		if status == http.StatusNotFound {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			w.Write([]byte(`{"message":"No such container: web"}`))
			return
		}
		w.WriteHeader(status)
	}))
	ctx := context.Background()
	if err := c.ContainerStart(ctx, "web"); err != nil {
		t.Errorf("204: %v", err)
	}
	status = http.StatusNotModified
	if err := c.ContainerStart(ctx, "web"); err != nil {
		t.Errorf("304 (already running): %v", err)
	}
	status = http.StatusNotFound
	if err := c.ContainerStart(ctx, "web"); !errors.Is(err, errdefs.ErrNotFound) || err.Error() != "No such container: web" {
		t.Errorf("404: %v", err)
	}
}

// An attach over a unix socket: stdin goes out, the half-close reaches
// the daemon, and the multiplexed reply is split into stdout and stderr.
func TestContainerAttachMultiplexed(t *testing.T) {
	var query string
	c := unixEngine(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		query = r.URL.RawQuery
		upgrade(t, w, r, "application/vnd.docker.multiplexed-stream", func(conn net.Conn, rw *bufio.ReadWriter) {
			in, _ := io.ReadAll(rw) // until the client's CloseWrite
			rw.Write(frame(stdcopy.Stdout, "got "+string(in)+"\n"))
			rw.Write(frame(stdcopy.Stderr, "warning\n"))
			rw.Flush()
		})
	}))
	conn, err := c.ContainerAttach(context.Background(), "web", AttachOptions{Stream: true, Stdin: true, Stdout: true, Stderr: true, DetachKeys: "ctrl-a"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if mux, ok := conn.Multiplexed(); !mux || !ok {
		t.Errorf("media type %q", conn.MediaType)
	}
	conn.Write([]byte("hello"))
	if err := conn.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &errOut, conn); err != nil {
		t.Fatal(err)
	}
	if out.String() != "got hello\n" || errOut.String() != "warning\n" {
		t.Errorf("stdout %q stderr %q", out.String(), errOut.String())
	}
	for _, want := range []string{"stream=1", "stdin=1", "stdout=1", "stderr=1", "detachKeys=ctrl-a"} {
		if !strings.Contains(query, want) {
			t.Errorf("query %q lacks %s", query, want)
		}
	}
}

// An exec with a terminal over TCP: the bytes pass raw, and the start
// request says Tty.
func TestExecStartTTYRaw(t *testing.T) {
	var start container.ExecStartRequest
	var create container.ExecCreateRequest
	c := tcpEngine(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1.51/containers/web/exec":
			json.NewDecoder(r.Body).Decode(&create)
			w.WriteHeader(http.StatusCreated)
			w.Write([]byte(`{"Id":"e1"}`))
		case "/v1.51/exec/e1/start":
			json.NewDecoder(r.Body).Decode(&start)
			upgrade(t, w, r, "application/vnd.docker.raw-stream", func(conn net.Conn, rw *bufio.ReadWriter) {
				rw.WriteString("\x1b[1mprompt$ \x01\x00\x00\x00")
				rw.Flush()
			})
		case "/v1.51/exec/e1/resize":
			if r.URL.Query().Get("h") != "24" || r.URL.Query().Get("w") != "80" {
				t.Errorf("resize %s", r.URL.RawQuery)
			}
		case "/v1.51/exec/e1/json":
			w.Write([]byte(`{"ID":"e1","Running":false,"ExitCode":3}`))
		default:
			t.Errorf("unexpected %s", r.URL.Path)
		}
	}))
	ctx := context.Background()
	id, err := c.ExecCreate(ctx, "web", container.ExecCreateRequest{Tty: true, AttachStdout: true, Cmd: []string{"sh"}})
	if err != nil || id != "e1" {
		t.Fatalf("create: %q %v", id, err)
	}
	if !create.Tty || create.Cmd[0] != "sh" {
		t.Errorf("create request %+v", create)
	}
	conn, err := c.ExecStart(ctx, id, container.ExecStartRequest{Tty: true})
	if err != nil {
		t.Fatal(err)
	}
	if mux, ok := conn.Multiplexed(); mux || !ok {
		t.Errorf("media type %q", conn.MediaType)
	}
	out, _ := io.ReadAll(conn)
	conn.Close()
	if string(out) != "\x1b[1mprompt$ \x01\x00\x00\x00" {
		t.Errorf("raw output %q", out)
	}
	if !start.Tty || start.Detach {
		t.Errorf("start request %+v", start)
	}
	if err := c.ExecResize(ctx, id, 24, 80); err != nil {
		t.Error(err)
	}
	r, err := c.ExecInspect(ctx, id)
	if err != nil || r.ExitCode == nil || *r.ExitCode != 3 {
		t.Errorf("inspect %+v %v", r, err)
	}
}

// A detached exec is a plain request, no hijack.
func TestExecStartDetached(t *testing.T) {
	c := tcpEngine(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req container.ExecStartRequest
		json.NewDecoder(r.Body).Decode(&req)
		if !req.Detach || r.Header.Get("Upgrade") != "" {
			t.Errorf("detached start: %+v %v", req, r.Header)
		}
	}))
	conn, err := c.ExecStart(context.Background(), "e1", container.ExecStartRequest{Detach: true})
	if conn != nil || err != nil {
		t.Errorf("%v %v", conn, err)
	}
}

// Older daemons answer 200 and stream without upgrading; errors come as
// JSON before any upgrade.
func TestAttachWithoutUpgrade(t *testing.T) {
	c := unixEngine(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "missing") {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"message":"No such container: missing"}`))
			return
		}
		w.Header().Set("Content-Type", "application/vnd.docker.raw-stream")
		w.WriteHeader(http.StatusOK)
		w.Write([]byte("plain output"))
	}))
	conn, err := c.ContainerAttach(context.Background(), "web", AttachOptions{Stream: true, Stdout: true})
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(conn)
	conn.Close()
	if string(out) != "plain output" {
		t.Errorf("output %q", out)
	}
	if _, err := c.ContainerAttach(context.Background(), "missing", AttachOptions{Stream: true}); !errors.Is(err, errdefs.ErrNotFound) || !strings.Contains(err.Error(), "No such container") {
		t.Errorf("missing: %v", err)
	}
}

// ContainerWait returns once the daemon has registered the wait; the
// status comes when the container exits.
func TestContainerWaitRegistersFirst(t *testing.T) {
	exited := make(chan struct{})
	var cond string
	c := unixEngine(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cond = r.URL.Query().Get("condition")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		<-exited
		w.Write([]byte(`{"StatusCode":3}`))
	}))
	results, errc := c.ContainerWait(context.Background(), "web", container.WaitConditionNextExit)
	if cond != "next-exit" {
		t.Errorf("condition %q", cond)
	}
	select {
	case r := <-results:
		t.Fatalf("a result before the exit: %+v", r)
	case err := <-errc:
		t.Fatal(err)
	case <-time.After(50 * time.Millisecond):
	}
	close(exited)
	select {
	case r := <-results:
		if r.StatusCode != 3 || r.Error != nil {
			t.Errorf("result %+v", r)
		}
	case err := <-errc:
		t.Fatal(err)
	case <-time.After(5 * time.Second):
		t.Fatal("no result")
	}
}

func TestContainerWaitNotFound(t *testing.T) {
	c := unixEngine(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`{"message":"No such container: x"}`))
	}))
	_, errc := c.ContainerWait(context.Background(), "x", "")
	if err := <-errc; !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("%v", err)
	}
}

func TestContainerLogsQuery(t *testing.T) {
	var q string
	c := unixEngine(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q = r.URL.RawQuery
		w.Write(frame(stdcopy.Stdout, "line\n"))
	}))
	since := time.Unix(1700000000, 5)
	rc, err := c.ContainerLogs(context.Background(), "web", LogsOptions{Stdout: true, Stderr: true, Follow: true, Timestamps: true, Tail: "10", Since: since})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	stdcopy.StdCopy(&out, io.Discard, rc)
	rc.Close()
	if out.String() != "line\n" {
		t.Errorf("logs %q", out.String())
	}
	want := "follow=1&since=1700000000.000000005&stderr=1&stdout=1&tail=10&timestamps=1"
	if q != want {
		t.Errorf("query %q, want %q", q, want)
	}
}

func TestContainerResize(t *testing.T) {
	var q string
	c := tcpEngine(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1.51/containers/web/resize" {
			t.Errorf("path %s", r.URL.Path)
		}
		q = r.URL.RawQuery
	}))
	if err := c.ContainerResize(context.Background(), "web", 40, 120); err != nil || q != "h=40&w=120" {
		t.Errorf("%q %v", q, err)
	}
}
