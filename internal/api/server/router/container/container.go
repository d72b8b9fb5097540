// Package container serves the Engine API's container and exec endpoints:
// create, start, stop, attach and exec over hijacked connections, logs,
// stats, archives, and hako's /containers/{id}/namespaces.
package container

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hako-dev/hako/internal/api/server/httputil"
	"github.com/hako-dev/hako/internal/api/types"
	"github.com/hako-dev/hako/internal/errdefs"
	ctypes "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
)

// Backend is what the container endpoints need from the engine.
type Backend interface {
	ContainerCreate(ctx context.Context, req types.CreateRequest) (ctypes.CreateResponse, error)
	ContainerStart(ctx context.Context, ref string) error
	ContainerStop(ctx context.Context, ref string, timeout *int, signal string) error
	ContainerRestart(ctx context.Context, ref string, timeout *int, signal string) error
	ContainerKill(ctx context.Context, ref, signal string) error
	ContainerWait(ctx context.Context, ref, condition string) (<-chan ctypes.WaitResponse, error)
	ContainerRemove(ctx context.Context, ref string, force, volumes bool) error
	ContainerList(ctx context.Context, o types.ListOptions) ([]ctypes.Summary, error)
	ContainerInspect(ctx context.Context, ref string, size bool) (*ctypes.InspectResponse, error)
	ContainerAttach(ctx context.Context, ref string, o types.AttachOptions, hijack types.Hijack) error
	ContainerLogs(ctx context.Context, ref string, o types.LogsOptions, start func(tty bool) io.Writer) error
	ContainerResize(ctx context.Context, ref string, h, w uint) error
	ContainerTop(ctx context.Context, ref, psArgs string) (*ctypes.TopResponse, error)
	ContainerStats(ctx context.Context, ref string, stream, oneShot bool, emit func(*ctypes.StatsResponse) error) error
	ContainerRename(ctx context.Context, ref, name string) error
	ContainerPause(ctx context.Context, ref string) error
	ContainerUnpause(ctx context.Context, ref string) error
	ContainerUpdate(ctx context.Context, ref string, u *ctypes.UpdateConfig) (*ctypes.UpdateResponse, error)
	ContainersPrune(ctx context.Context, filters map[string][]string) (*ctypes.PruneReport, error)
	ContainerChanges(ctx context.Context, ref string) ([]ctypes.FilesystemChange, error)
	ContainerExport(ctx context.Context, ref string, w io.Writer) error
	ContainerStatPath(ctx context.Context, ref, path string) (*ctypes.PathStat, error)
	ContainerArchive(ctx context.Context, ref, path string, start func(*ctypes.PathStat) io.Writer) error
	ContainerExtract(ctx context.Context, ref, path string, r io.Reader, noOverwriteDirNonDir, copyUIDGID bool) error
	ContainerCommit(ctx context.Context, ref string, o types.CommitOptions) (string, error)
	ContainerNamespaces(ctx context.Context, ref string) (*types.ContainerNamespaces, error)
	ExecCreate(ctx context.Context, ref string, req ctypes.ExecCreateRequest) (string, error)
	ExecStart(ctx context.Context, id string, detach bool, consoleSize *[2]uint, hijack types.Hijack) error
	ExecInspect(ctx context.Context, id string) (*ctypes.ExecInspectResponse, error)
	ExecResize(ctx context.Context, id string, h, w uint) error
}

// Router serves the container endpoints.
type Router struct{ b Backend }

// New returns the container router.
func New(b Backend) *Router { return &Router{b: b} }

// Routes implements httputil.Router.
func (r *Router) Routes() []httputil.Route {
	return []httputil.Route{
		{Method: http.MethodPost, Path: "/containers/create", Handler: r.create},
		{Method: http.MethodGet, Path: "/containers/json", Handler: r.list},
		{Method: http.MethodPost, Path: "/containers/prune", Handler: r.prune},
		{Method: http.MethodGet, Path: "/containers/{name}/json", Handler: r.inspect},
		{Method: http.MethodPost, Path: "/containers/{name}/start", Handler: r.start},
		{Method: http.MethodPost, Path: "/containers/{name}/stop", Handler: r.stop},
		{Method: http.MethodPost, Path: "/containers/{name}/restart", Handler: r.restart},
		{Method: http.MethodPost, Path: "/containers/{name}/kill", Handler: r.kill},
		{Method: http.MethodPost, Path: "/containers/{name}/wait", Handler: r.wait},
		{Method: http.MethodDelete, Path: "/containers/{name}", Handler: r.remove},
		{Method: http.MethodPost, Path: "/containers/{name}/attach", Handler: r.attach},
		{Method: http.MethodGet, Path: "/containers/{name}/logs", Handler: r.logs},
		{Method: http.MethodPost, Path: "/containers/{name}/resize", Handler: r.resize},
		{Method: http.MethodGet, Path: "/containers/{name}/top", Handler: r.top},
		{Method: http.MethodGet, Path: "/containers/{name}/stats", Handler: r.stats},
		{Method: http.MethodPost, Path: "/containers/{name}/rename", Handler: r.rename},
		{Method: http.MethodPost, Path: "/containers/{name}/pause", Handler: r.pause},
		{Method: http.MethodPost, Path: "/containers/{name}/unpause", Handler: r.unpause},
		{Method: http.MethodPost, Path: "/containers/{name}/update", Handler: r.update},
		{Method: http.MethodGet, Path: "/containers/{name}/changes", Handler: r.changes},
		{Method: http.MethodGet, Path: "/containers/{name}/export", Handler: r.export},
		{Method: http.MethodHead, Path: "/containers/{name}/archive", Handler: r.statPath},
		{Method: http.MethodGet, Path: "/containers/{name}/archive", Handler: r.getArchive},
		{Method: http.MethodPut, Path: "/containers/{name}/archive", Handler: r.putArchive},
		{Method: http.MethodGet, Path: "/containers/{name}/namespaces", Handler: r.namespaces},
		{Method: http.MethodPost, Path: "/containers/{name}/exec", Handler: r.execCreate},
		{Method: http.MethodPost, Path: "/exec/{id}/start", Handler: r.execStart},
		{Method: http.MethodPost, Path: "/exec/{id}/resize", Handler: r.execResize},
		{Method: http.MethodGet, Path: "/exec/{id}/json", Handler: r.execInspect},
		{Method: http.MethodPost, Path: "/commit", Handler: r.commit},
	}
}

func decodeBody(req *http.Request, v any) error {
	if req.Body == nil || req.ContentLength == 0 {
		return nil
	}
	dec := json.NewDecoder(req.Body)
	if err := dec.Decode(v); err != nil {
		if err == io.EOF {
			return nil
		}
		return fmt.Errorf("invalid JSON in the request body: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	return nil
}

func (r *Router) create(ctx context.Context, w http.ResponseWriter, req *http.Request, _ map[string]string) error {
	var body struct {
		*ctypes.Config
		HostConfig       *ctypes.HostConfig
		NetworkingConfig *network.NetworkingConfig
	}
	body.Config = &ctypes.Config{}
	if err := decodeBody(req, &body); err != nil {
		return err
	}
	resp, err := r.b.ContainerCreate(ctx, types.CreateRequest{
		Name: req.FormValue("name"), Config: body.Config, HostConfig: body.HostConfig,
		Networking: body.NetworkingConfig, Platform: req.FormValue("platform"),
	})
	if err != nil {
		return err
	}
	return httputil.WriteJSON(w, http.StatusCreated, resp)
}

func (r *Router) list(ctx context.Context, w http.ResponseWriter, req *http.Request, _ map[string]string) error {
	f, err := httputil.ParseFilters(req.FormValue("filters"))
	if err != nil {
		return err
	}
	limit, err := httputil.Int64Value(req, "limit", 0)
	if err != nil {
		return err
	}
	out, err := r.b.ContainerList(ctx, types.ListOptions{All: httputil.BoolValue(req, "all"), Limit: int(limit), Size: httputil.BoolValue(req, "size"), Filters: f})
	if err != nil {
		return err
	}
	return httputil.WriteJSON(w, http.StatusOK, out)
}

func (r *Router) inspect(ctx context.Context, w http.ResponseWriter, req *http.Request, v map[string]string) error {
	out, err := r.b.ContainerInspect(ctx, v["name"], httputil.BoolValue(req, "size"))
	if err != nil {
		return err
	}
	// Up to API 1.51 NetworkSettings carries the default bridge's
	// address at its top level too.
	return httputil.WriteJSON(w, http.StatusOK, struct {
		*ctypes.InspectResponse
		NetworkSettings *types.NetworkSettings
	}{out, types.LegacyNetworkSettings(out.NetworkSettings)})
}

func (r *Router) start(ctx context.Context, w http.ResponseWriter, req *http.Request, v map[string]string) error {
	if err := r.b.ContainerStart(ctx, v["name"]); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func timeoutParam(req *http.Request) (*int, error) {
	for _, k := range []string{"t", "timeout"} {
		if s := req.FormValue(k); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil {
				return nil, fmt.Errorf("invalid value for %s: %s: %w", k, s, errdefs.ErrInvalidArgument)
			}
			return &n, nil
		}
	}
	return nil, nil
}

func (r *Router) stop(ctx context.Context, w http.ResponseWriter, req *http.Request, v map[string]string) error {
	t, err := timeoutParam(req)
	if err != nil {
		return err
	}
	if err := r.b.ContainerStop(ctx, v["name"], t, req.FormValue("signal")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (r *Router) restart(ctx context.Context, w http.ResponseWriter, req *http.Request, v map[string]string) error {
	t, err := timeoutParam(req)
	if err != nil {
		return err
	}
	if err := r.b.ContainerRestart(ctx, v["name"], t, req.FormValue("signal")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (r *Router) kill(ctx context.Context, w http.ResponseWriter, req *http.Request, v map[string]string) error {
	if err := r.b.ContainerKill(ctx, v["name"], req.FormValue("signal")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// wait answers once the condition holds; the status line goes out at
// once (docker does this too) so that clients know the wait is set up
// before they start the container.
func (r *Router) wait(ctx context.Context, w http.ResponseWriter, req *http.Request, v map[string]string) error {
	ch, err := r.b.ContainerWait(ctx, v["name"], req.FormValue("condition"))
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	res, ok := <-ch
	if !ok {
		return nil
	}
	return json.NewEncoder(w).Encode(res)
}

func (r *Router) remove(ctx context.Context, w http.ResponseWriter, req *http.Request, v map[string]string) error {
	if err := r.b.ContainerRemove(ctx, v["name"], httputil.BoolValue(req, "force"), httputil.BoolValue(req, "v")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// hijacker returns the engine's Hijack for req: it takes over the
// connection and answers 101 (when the client asked to upgrade) or 200,
// with docker's content types.
func hijacker(w http.ResponseWriter, req *http.Request) types.Hijack {
	return func(tty bool) (io.ReadWriteCloser, error) {
		hj, ok := w.(http.Hijacker)
		if !ok {
			return nil, fmt.Errorf("the connection cannot be hijacked")
		}
		conn, buf, err := hj.Hijack()
		if err != nil {
			return nil, err
		}
		ct := "application/vnd.docker.raw-stream"
		if !tty && versionAtLeast(httputil.VersionFromContext(req.Context()), "1.42") {
			ct = "application/vnd.docker.multiplexed-stream"
		}
		if req.Header.Get("Upgrade") != "" {
			fmt.Fprintf(conn, "HTTP/1.1 101 UPGRADED\r\nContent-Type: %s\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n", ct)
		} else {
			fmt.Fprintf(conn, "HTTP/1.1 200 OK\r\nContent-Type: %s\r\n\r\n", ct)
		}
		return &hijacked{Conn: conn, r: buf.Reader}, nil
	}
}

// hijacked reads what the HTTP server buffered before the connection
// changed hands.
type hijacked struct {
	net.Conn
	r *bufio.Reader
}

func (h *hijacked) Read(b []byte) (int, error) { return h.r.Read(b) }

// CloseWrite half-closes, so that a client reading until EOF sees the end.
func (h *hijacked) CloseWrite() error {
	if cw, ok := h.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func versionAtLeast(v, min string) bool {
	parse := func(s string) (int, int) {
		a, b, _ := strings.Cut(s, ".")
		x, _ := strconv.Atoi(a)
		y, _ := strconv.Atoi(b)
		return x, y
	}
	a1, a2 := parse(v)
	b1, b2 := parse(min)
	return a1 > b1 || a1 == b1 && a2 >= b2
}

func (r *Router) attach(ctx context.Context, w http.ResponseWriter, req *http.Request, v map[string]string) error {
	o := types.AttachOptions{
		Stream: httputil.BoolValue(req, "stream"), Logs: httputil.BoolValue(req, "logs"),
		Stdin: httputil.BoolValue(req, "stdin"), Stdout: httputil.BoolValue(req, "stdout"), Stderr: httputil.BoolValue(req, "stderr"),
		DetachKeys: req.FormValue("detachKeys"),
	}
	hijacked := false
	hj := hijacker(w, req)
	err := r.b.ContainerAttach(ctx, v["name"], o, func(tty bool) (io.ReadWriteCloser, error) {
		hijacked = true
		return hj(tty)
	})
	if err != nil && hijacked {
		return nil // the connection is no longer HTTP
	}
	return err
}

func parseTime(s string) (time.Time, error) {
	if s == "" || s == "0" {
		return time.Time{}, nil
	}
	if sec, frac, ok := strings.Cut(s, "."); ok || isDigits(s) {
		n, err := strconv.ParseInt(sec, 10, 64)
		if err == nil {
			ns := int64(0)
			if frac != "" {
				frac = (frac + "000000000")[:9]
				ns, _ = strconv.ParseInt(frac, 10, 64)
			}
			return time.Unix(n, ns), nil
		}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("invalid time %q: %w", s, errdefs.ErrInvalidArgument)
	}
	return t, nil
}

func isDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

func (r *Router) logs(ctx context.Context, w http.ResponseWriter, req *http.Request, v map[string]string) error {
	o := types.LogsOptions{
		Stdout: httputil.BoolValue(req, "stdout"), Stderr: httputil.BoolValue(req, "stderr"),
		Follow: httputil.BoolValue(req, "follow"), Timestamps: httputil.BoolValue(req, "timestamps"),
		Details: httputil.BoolValue(req, "details"), Tail: -1,
	}
	if t := req.FormValue("tail"); t != "" && t != "all" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 0 {
			o.Tail = -1
		} else {
			o.Tail = n
		}
	}
	var err error
	if o.Since, err = parseTime(req.FormValue("since")); err != nil {
		return err
	}
	if o.Until, err = parseTime(req.FormValue("until")); err != nil {
		return err
	}
	started := false
	err = r.b.ContainerLogs(ctx, v["name"], o, func(tty bool) io.Writer {
		started = true
		ct := "application/vnd.docker.raw-stream"
		if !tty && versionAtLeast(httputil.VersionFromContext(ctx), "1.42") {
			ct = "application/vnd.docker.multiplexed-stream"
		}
		w.Header().Set("Content-Type", ct)
		w.WriteHeader(http.StatusOK)
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
			return flushWriter{w, f}
		}
		return w
	})
	if err != nil && started {
		return nil
	}
	return err
}

type flushWriter struct {
	w io.Writer
	f http.Flusher
}

func (f flushWriter) Write(b []byte) (int, error) { return f.w.Write(b) }
func (f flushWriter) Flush()                      { f.f.Flush() }

func sizeParams(req *http.Request) (uint, uint, error) {
	h, err := httputil.Int64Value(req, "h", 0)
	if err != nil {
		return 0, 0, err
	}
	wd, err := httputil.Int64Value(req, "w", 0)
	if err != nil {
		return 0, 0, err
	}
	if h < 0 || wd < 0 {
		return 0, 0, fmt.Errorf("invalid terminal size: %w", errdefs.ErrInvalidArgument)
	}
	return uint(h), uint(wd), nil
}

func (r *Router) resize(ctx context.Context, w http.ResponseWriter, req *http.Request, v map[string]string) error {
	h, wd, err := sizeParams(req)
	if err != nil {
		return err
	}
	if err := r.b.ContainerResize(ctx, v["name"], h, wd); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (r *Router) top(ctx context.Context, w http.ResponseWriter, req *http.Request, v map[string]string) error {
	out, err := r.b.ContainerTop(ctx, v["name"], req.FormValue("ps_args"))
	if err != nil {
		return err
	}
	return httputil.WriteJSON(w, http.StatusOK, out)
}

func (r *Router) stats(ctx context.Context, w http.ResponseWriter, req *http.Request, v map[string]string) error {
	stream := true
	if s := req.FormValue("stream"); s != "" {
		stream = httputil.BoolValue(req, "stream")
	}
	oneShot := httputil.BoolValue(req, "one-shot")
	started := false
	enc := json.NewEncoder(w)
	err := r.b.ContainerStats(ctx, v["name"], stream, oneShot, func(s *ctypes.StatsResponse) error {
		if !started {
			started = true
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
		}
		if err := enc.Encode(s); err != nil {
			return err
		}
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		return nil
	})
	if err != nil && started {
		return nil
	}
	return err
}

func (r *Router) rename(ctx context.Context, w http.ResponseWriter, req *http.Request, v map[string]string) error {
	if err := r.b.ContainerRename(ctx, v["name"], req.FormValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (r *Router) pause(ctx context.Context, w http.ResponseWriter, req *http.Request, v map[string]string) error {
	if err := r.b.ContainerPause(ctx, v["name"]); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (r *Router) unpause(ctx context.Context, w http.ResponseWriter, req *http.Request, v map[string]string) error {
	if err := r.b.ContainerUnpause(ctx, v["name"]); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (r *Router) update(ctx context.Context, w http.ResponseWriter, req *http.Request, v map[string]string) error {
	var u ctypes.UpdateConfig
	if err := decodeBody(req, &u); err != nil {
		return err
	}
	out, err := r.b.ContainerUpdate(ctx, v["name"], &u)
	if err != nil {
		return err
	}
	return httputil.WriteJSON(w, http.StatusOK, out)
}

func (r *Router) prune(ctx context.Context, w http.ResponseWriter, req *http.Request, _ map[string]string) error {
	f, err := httputil.ParseFilters(req.FormValue("filters"))
	if err != nil {
		return err
	}
	out, err := r.b.ContainersPrune(ctx, f)
	if err != nil {
		return err
	}
	return httputil.WriteJSON(w, http.StatusOK, out)
}

func (r *Router) changes(ctx context.Context, w http.ResponseWriter, req *http.Request, v map[string]string) error {
	out, err := r.b.ContainerChanges(ctx, v["name"])
	if err != nil {
		return err
	}
	return httputil.WriteJSON(w, http.StatusOK, out)
}

func (r *Router) export(ctx context.Context, w http.ResponseWriter, req *http.Request, v map[string]string) error {
	w.Header().Set("Content-Type", "application/x-tar")
	return r.b.ContainerExport(ctx, v["name"], w)
}

func pathStatHeader(w http.ResponseWriter, st *ctypes.PathStat) {
	b, _ := json.Marshal(st)
	w.Header().Set("X-Docker-Container-Path-Stat", base64.StdEncoding.EncodeToString(b))
}

func pathParam(req *http.Request) (string, error) {
	p := req.FormValue("path")
	if p == "" {
		return "", fmt.Errorf("path is required: %w", errdefs.ErrInvalidArgument)
	}
	return p, nil
}

func (r *Router) statPath(ctx context.Context, w http.ResponseWriter, req *http.Request, v map[string]string) error {
	p, err := pathParam(req)
	if err != nil {
		return err
	}
	st, err := r.b.ContainerStatPath(ctx, v["name"], p)
	if err != nil {
		return err
	}
	pathStatHeader(w, st)
	w.WriteHeader(http.StatusOK)
	return nil
}

func (r *Router) getArchive(ctx context.Context, w http.ResponseWriter, req *http.Request, v map[string]string) error {
	p, err := pathParam(req)
	if err != nil {
		return err
	}
	started := false
	err = r.b.ContainerArchive(ctx, v["name"], p, func(st *ctypes.PathStat) io.Writer {
		started = true
		pathStatHeader(w, st)
		w.Header().Set("Content-Type", "application/x-tar")
		w.WriteHeader(http.StatusOK)
		return w
	})
	if err != nil && started {
		return nil
	}
	return err
}

func (r *Router) putArchive(ctx context.Context, w http.ResponseWriter, req *http.Request, v map[string]string) error {
	p, err := pathParam(req)
	if err != nil {
		return err
	}
	if err := r.b.ContainerExtract(ctx, v["name"], p, req.Body, httputil.BoolValue(req, "noOverwriteDirNonDir"), httputil.BoolValue(req, "copyUIDGID")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (r *Router) namespaces(ctx context.Context, w http.ResponseWriter, req *http.Request, v map[string]string) error {
	out, err := r.b.ContainerNamespaces(ctx, v["name"])
	if err != nil {
		return err
	}
	return httputil.WriteJSON(w, http.StatusOK, out)
}

func (r *Router) execCreate(ctx context.Context, w http.ResponseWriter, req *http.Request, v map[string]string) error {
	var body ctypes.ExecCreateRequest
	if err := decodeBody(req, &body); err != nil {
		return err
	}
	id, err := r.b.ExecCreate(ctx, v["name"], body)
	if err != nil {
		return err
	}
	return httputil.WriteJSON(w, http.StatusCreated, ctypes.ExecCreateResponse{ID: id})
}

func (r *Router) execStart(ctx context.Context, w http.ResponseWriter, req *http.Request, v map[string]string) error {
	var body ctypes.ExecStartRequest
	if err := decodeBody(req, &body); err != nil {
		return err
	}
	hijacked := false
	hj := hijacker(w, req)
	err := r.b.ExecStart(ctx, v["id"], body.Detach, body.ConsoleSize, func(tty bool) (io.ReadWriteCloser, error) {
		hijacked = true
		return hj(tty)
	})
	if hijacked {
		return nil
	}
	if err != nil {
		return err
	}
	if body.Detach {
		w.WriteHeader(http.StatusOK)
	}
	return nil
}

func (r *Router) execResize(ctx context.Context, w http.ResponseWriter, req *http.Request, v map[string]string) error {
	h, wd, err := sizeParams(req)
	if err != nil {
		return err
	}
	if err := r.b.ExecResize(ctx, v["id"], h, wd); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (r *Router) execInspect(ctx context.Context, w http.ResponseWriter, req *http.Request, v map[string]string) error {
	out, err := r.b.ExecInspect(ctx, v["id"])
	if err != nil {
		return err
	}
	return httputil.WriteJSON(w, http.StatusOK, out)
}

func (r *Router) commit(ctx context.Context, w http.ResponseWriter, req *http.Request, _ map[string]string) error {
	var cfg ctypes.Config
	if err := decodeBody(req, &cfg); err != nil {
		return err
	}
	o := types.CommitOptions{
		Repo: req.FormValue("repo"), Tag: req.FormValue("tag"), Comment: req.FormValue("comment"), Author: req.FormValue("author"),
		Changes: req.Form["changes"], Pause: true, Config: &cfg,
	}
	if s := req.FormValue("pause"); s != "" {
		o.Pause = httputil.BoolValue(req, "pause")
	}
	id, err := r.b.ContainerCommit(ctx, req.FormValue("container"), o)
	if err != nil {
		return err
	}
	return httputil.WriteJSON(w, http.StatusCreated, map[string]string{"Id": id})
}
