package client

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/container"
)

// The container endpoints of the Engine API other than create, start,
// attach, exec, logs and wait (container_run.go), plus hako's own
// GET /containers/{id}/namespaces.

// ContainerList lists containers (running ones unless all); size asks for
// SizeRw and SizeRootFs, limit > 0 for the newest limit containers only,
// filters as docker's --filter (key → values).
func (c *Client) ContainerList(ctx context.Context, all, size bool, limit int, filters map[string][]string) ([]container.Summary, error) {
	q := url.Values{}
	if all {
		q.Set("all", "1")
	}
	if size {
		q.Set("size", "1")
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	setFilters(q, filters)
	var l []container.Summary
	return l, c.do(ctx, http.MethodGet, "/containers/json", q, nil, &l)
}

// setFilters sets the filters parameter in the API's form: key → value →
// true.
func setFilters(q url.Values, filters map[string][]string) {
	if len(filters) == 0 {
		return
	}
	m := map[string]map[string]bool{}
	for k, vs := range filters {
		m[k] = map[string]bool{}
		for _, v := range vs {
			m[k][v] = true
		}
	}
	b, _ := json.Marshal(m)
	q.Set("filters", string(b))
}

// ContainerInspect returns a container's description, decoded and raw.
// size asks for SizeRw and SizeRootFs.
func (c *Client) ContainerInspect(ctx context.Context, name string, size bool) (container.InspectResponse, json.RawMessage, error) {
	q := url.Values{}
	if size {
		q.Set("size", "1")
	}
	var raw json.RawMessage
	var r container.InspectResponse
	if err := c.do(ctx, http.MethodGet, containerPath(name, "json"), q, nil, &raw); err != nil {
		return r, nil, err
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return r, nil, fmt.Errorf("container %s: decode reply: %w", name, err)
	}
	return r, raw, nil
}

// ContainerRemove removes a container; force kills it first when it runs,
// volumes removes its anonymous volumes too.
func (c *Client) ContainerRemove(ctx context.Context, name string, force, volumes bool) error {
	q := url.Values{}
	if force {
		q.Set("force", "1")
	}
	if volumes {
		q.Set("v", "1")
	}
	return c.do(ctx, http.MethodDelete, containerPath(name, ""), q, nil, nil)
}

// ContainerStop stops a container: signal (the container's stop signal
// when empty), then SIGKILL after timeout seconds (the container's
// default when nil). A stopped container is no error.
func (c *Client) ContainerStop(ctx context.Context, name string, timeout *int, signal string) error {
	return c.postAction(ctx, containerPath(name, "stop"), stopQuery(timeout, signal))
}

// ContainerRestart stops a container as ContainerStop does, then starts it.
func (c *Client) ContainerRestart(ctx context.Context, name string, timeout *int, signal string) error {
	return c.postAction(ctx, containerPath(name, "restart"), stopQuery(timeout, signal))
}

func stopQuery(timeout *int, signal string) url.Values {
	q := url.Values{}
	if timeout != nil {
		q.Set("t", strconv.Itoa(*timeout))
	}
	if signal != "" {
		q.Set("signal", signal)
	}
	return q
}

// ContainerKill sends a signal (SIGKILL when empty) to a container.
func (c *Client) ContainerKill(ctx context.Context, name, signal string) error {
	q := url.Values{}
	if signal != "" {
		q.Set("signal", signal)
	}
	return c.postAction(ctx, containerPath(name, "kill"), q)
}

// ContainerRename gives a container a new name.
func (c *Client) ContainerRename(ctx context.Context, name, newName string) error {
	return c.postAction(ctx, containerPath(name, "rename"), url.Values{"name": {newName}})
}

// ContainerPause freezes a container's processes.
func (c *Client) ContainerPause(ctx context.Context, name string) error {
	return c.postAction(ctx, containerPath(name, "pause"), nil)
}

// ContainerUnpause thaws a paused container.
func (c *Client) ContainerUnpause(ctx context.Context, name string) error {
	return c.postAction(ctx, containerPath(name, "unpause"), nil)
}

// ContainerTop lists a container's processes; psArgs are ps(1)'s options
// ("-ef" when empty, the daemon's default).
func (c *Client) ContainerTop(ctx context.Context, name string, psArgs []string) (container.TopResponse, error) {
	q := url.Values{}
	if len(psArgs) > 0 {
		q.Set("ps_args", strings.Join(psArgs, " "))
	}
	var r container.TopResponse
	return r, c.do(ctx, http.MethodGet, containerPath(name, "top"), q, nil, &r)
}

// StatsReader reads a container's resource usage samples.
type StatsReader struct {
	body io.ReadCloser
	dec  *json.Decoder
}

// Next returns the next sample; io.EOF when the stream ends.
func (s *StatsReader) Next() (*container.StatsResponse, error) {
	var v container.StatsResponse
	if err := s.dec.Decode(&v); err != nil {
		return nil, err
	}
	return &v, nil
}

// Close ends the stream.
func (s *StatsReader) Close() error { return s.body.Close() }

// ContainerStats opens a container's resource usage: one sample per
// second while stream, else a single one (oneShot: without waiting for a
// second sample to fill precpu_stats).
func (c *Client) ContainerStats(ctx context.Context, name string, stream, oneShot bool) (*StatsReader, error) {
	q := url.Values{"stream": {boolParam(stream)}}
	if !stream && oneShot {
		q.Set("one-shot", "1")
	}
	resp, err := c.stream(ctx, http.MethodGet, containerPath(name, "stats"), q, nil)
	if err != nil {
		return nil, err
	}
	return &StatsReader{body: resp.Body, dec: json.NewDecoder(resp.Body)}, nil
}

// ContainerStatPath describes a path in a container's filesystem (the
// final symlink not followed).
func (c *Client) ContainerStatPath(ctx context.Context, name, path string) (container.PathStat, error) {
	resp, err := c.stream(ctx, http.MethodHead, containerPath(name, "archive"), url.Values{"path": {path}}, nil)
	if err != nil {
		return container.PathStat{}, err
	}
	resp.Body.Close()
	return pathStat(resp.Header)
}

// pathStat decodes the X-Docker-Container-Path-Stat header: base64 of a
// JSON PathStat.
func pathStat(h http.Header) (container.PathStat, error) {
	var st container.PathStat
	v := h.Get("X-Docker-Container-Path-Stat")
	if v == "" {
		return st, errors.New("the daemon sent no X-Docker-Container-Path-Stat header")
	}
	b, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		if b, err = base64.URLEncoding.DecodeString(v); err != nil {
			return st, fmt.Errorf("X-Docker-Container-Path-Stat: %w", err)
		}
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("X-Docker-Container-Path-Stat: %w", err)
	}
	return st, nil
}

// CopyFromContainer returns a tar stream of path in a container (its
// last element the archive's top entry) and the path's description. The
// caller closes the stream.
func (c *Client) CopyFromContainer(ctx context.Context, name, path string) (io.ReadCloser, container.PathStat, error) {
	resp, err := c.stream(ctx, http.MethodGet, containerPath(name, "archive"), url.Values{"path": {path}}, nil)
	if err != nil {
		return nil, container.PathStat{}, err
	}
	st, err := pathStat(resp.Header)
	if err != nil {
		resp.Body.Close()
		return nil, st, err
	}
	return resp.Body, st, nil
}

// CopyToContainer extracts a tar stream into the directory dir of a
// container. noOverwriteDirNonDir refuses to replace a directory with a
// non-directory and the reverse; copyUIDGID keeps the archive's owners
// (else files belong to the container's root).
func (c *Client) CopyToContainer(ctx context.Context, name, dir string, content io.Reader, noOverwriteDirNonDir, copyUIDGID bool) error {
	q := url.Values{"path": {dir}}
	if noOverwriteDirNonDir {
		q.Set("noOverwriteDirNonDir", "true")
	}
	if copyUIDGID {
		q.Set("copyUIDGID", "true")
	}
	return c.do(ctx, http.MethodPut, containerPath(name, "archive"), q, content, nil)
}

// ContainerDiff lists the changes of a container's filesystem against its
// image.
func (c *Client) ContainerDiff(ctx context.Context, name string) ([]container.FilesystemChange, error) {
	var l []container.FilesystemChange
	return l, c.do(ctx, http.MethodGet, containerPath(name, "changes"), nil, nil, &l)
}

// CommitOptions are POST /commit's parameters.
type CommitOptions struct {
	Repo, Tag, Comment, Author string
	// Changes are Dockerfile instructions applied to the image's config.
	Changes []string
	// Pause freezes the container during the commit.
	Pause bool
	// Config is merged into the container's config (may be nil).
	Config *container.Config
}

// ContainerCommit makes an image of a container's filesystem and returns
// its ID ("sha256:…").
func (c *Client) ContainerCommit(ctx context.Context, name string, o CommitOptions) (string, error) {
	q := url.Values{"container": {name}, "pause": {boolParam(o.Pause)}}
	for k, v := range map[string]string{"repo": o.Repo, "tag": o.Tag, "comment": o.Comment, "author": o.Author} {
		if v != "" {
			q.Set(k, v)
		}
	}
	for _, ch := range o.Changes {
		q.Add("changes", ch)
	}
	cfg := o.Config
	if cfg == nil {
		cfg = &container.Config{}
	}
	var r container.CommitResponse
	if err := c.do(ctx, http.MethodPost, "/commit", q, cfg, &r); err != nil {
		return "", err
	}
	return r.ID, nil
}

// ContainerExport returns a tar stream of a container's filesystem. The
// caller closes it.
func (c *Client) ContainerExport(ctx context.Context, name string) (io.ReadCloser, error) {
	resp, err := c.stream(ctx, http.MethodGet, containerPath(name, "export"), nil, nil)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// ContainerUpdate changes a container's resources and restart policy.
func (c *Client) ContainerUpdate(ctx context.Context, name string, u container.UpdateConfig) (container.UpdateResponse, error) {
	var r container.UpdateResponse
	return r, c.do(ctx, http.MethodPost, containerPath(name, "update"), nil, u, &r)
}

// ContainersPrune removes stopped containers matching filters (until=,
// label=, label!=).
func (c *Client) ContainersPrune(ctx context.Context, filters map[string][]string) (container.PruneReport, error) {
	q := url.Values{}
	setFilters(q, filters)
	var r container.PruneReport
	return r, c.do(ctx, http.MethodPost, "/containers/prune", q, nil, &r)
}

// Namespace is one namespace of a container's init process, as
// /proc/PID/ns shows it.
type Namespace struct {
	// Type is cgroup, ipc, mnt, net, pid, time, user or uts.
	Type  string
	Inode uint64
	// Host is true when the host's init (pid 1) is in the same namespace.
	Host bool
	// SharedWith names the other running containers in the same namespace.
	SharedWith []string
}

// ContainerNamespaces is GET /containers/{id}/namespaces's reply (a hako
// extension of the Engine API).
type ContainerNamespaces struct {
	ID         string `json:"Id"`
	Name       string
	Pid        int
	Namespaces []Namespace
}

// ContainerNamespaces returns the namespaces of a running container.
func (c *Client) ContainerNamespaces(ctx context.Context, name string) (ContainerNamespaces, error) {
	var r ContainerNamespaces
	return r, c.do(ctx, http.MethodGet, containerPath(name, "namespaces"), nil, nil, &r)
}

// containerPath is /containers/NAME[/op], NAME escaped.
func containerPath(name, op string) string {
	p := "/containers/" + url.PathEscape(name)
	if op != "" {
		p += "/" + op
	}
	return p
}

func boolParam(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// postAction sends a POST without a body. 304 Not Modified (already
// stopped, already running) is success, as for docker.
func (c *Client) postAction(ctx context.Context, path string, q url.Values) error {
	u := c.base + "/v" + c.version + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, nil)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return c.connErr(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 && resp.StatusCode != http.StatusNotModified {
		return apiError(resp)
	}
	io.Copy(io.Discard, resp.Body)
	return nil
}
