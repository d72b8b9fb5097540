package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	apitypes "github.com/hako-dev/hako/internal/api/types"
	buildtypes "github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/container"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	imagetypes "github.com/moby/moby/api/types/image"
	regtypes "github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/api/types/volume"
)

// JSONMessage is one line of docker's progress stream.
type JSONMessage struct {
	Stream         string `json:"stream,omitempty"`
	Status         string `json:"status,omitempty"`
	ID             string `json:"id,omitempty"`
	ProgressDetail *struct {
		Current int64 `json:"current,omitempty"`
		Total   int64 `json:"total,omitempty"`
	} `json:"progressDetail,omitempty"`
	Aux         json.RawMessage `json:"aux,omitempty"`
	Error       string          `json:"error,omitempty"`
	ErrorDetail *struct {
		Message string `json:"message"`
	} `json:"errorDetail,omitempty"`
}

// ImagePull pulls ref, calling fn for each progress message. registryAuth
// is the X-Registry-Auth header value ("" for none). An error the daemon
// reports in the stream is returned.
func (c *Client) ImagePull(ctx context.Context, ref, platform, registryAuth string, fn func(JSONMessage)) error {
	q := url.Values{"fromImage": {ref}}
	if platform != "" {
		q.Set("platform", platform)
	}
	resp, err := c.streamWithHeader(ctx, http.MethodPost, "/images/create", q, map[string]string{"X-Registry-Auth": registryAuth})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return readStream(resp.Body, fn)
}

// ImageList lists images; filters as docker's --filter (key → values);
// all includes a build's intermediate images.
func (c *Client) ImageList(ctx context.Context, filters map[string][]string, all bool) ([]imagetypes.Summary, error) {
	q := url.Values{}
	if all {
		q.Set("all", "1")
	}
	if len(filters) > 0 {
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
	var l []imagetypes.Summary
	return l, c.do(ctx, http.MethodGet, "/images/json", q, nil, &l)
}

// ImageInspect returns an image's description, decoded and raw.
func (c *Client) ImageInspect(ctx context.Context, name string) (*imagetypes.InspectResponse, json.RawMessage, error) {
	var raw json.RawMessage
	if err := c.do(ctx, http.MethodGet, "/images/"+name+"/json", nil, nil, &raw); err != nil {
		return nil, nil, err
	}
	var r imagetypes.InspectResponse
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, nil, err
	}
	return &r, raw, nil
}

// ImageTag names the image src repo:tag.
func (c *Client) ImageTag(ctx context.Context, src, repo, tag string) error {
	q := url.Values{"repo": {repo}}
	if tag != "" {
		q.Set("tag", tag)
	}
	return c.do(ctx, http.MethodPost, "/images/"+src+"/tag", q, nil, nil)
}

// ImageRemove removes an image or one of its names.
func (c *Client) ImageRemove(ctx context.Context, name string, force bool) ([]imagetypes.DeleteResponse, error) {
	q := url.Values{}
	if force {
		q.Set("force", "1")
	}
	var l []imagetypes.DeleteResponse
	return l, c.do(ctx, http.MethodDelete, "/images/"+name, q, nil, &l)
}

// ImagePush pushes name (a tagged reference) to its registry.
func (c *Client) ImagePush(ctx context.Context, name, registryAuth string, fn func(JSONMessage)) error {
	resp, err := c.streamWithHeader(ctx, http.MethodPost, "/images/"+name+"/push", nil, map[string]string{"X-Registry-Auth": registryAuth})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return readStream(resp.Body, fn)
}

func readStream(r io.Reader, fn func(JSONMessage)) error {
	dec := json.NewDecoder(r)
	for {
		var m JSONMessage
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if m.Error != "" {
			return errors.New(m.Error)
		}
		if fn != nil {
			fn(m)
		}
	}
}

// ImageSave streams a tarball of the named images ("docker-archive" or
// "oci" format) to w.
func (c *Client) ImageSave(ctx context.Context, names []string, format string, w io.Writer) error {
	q := url.Values{"names": names}
	if format != "" {
		q.Set("format", format)
	}
	resp, err := c.stream(ctx, http.MethodGet, "/images/get", q, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(w, resp.Body)
	return err
}

// ImageLoad sends an image tarball and returns the daemon's messages
// ("Loaded image: busybox:latest").
func (c *Client) ImageLoad(ctx context.Context, r io.Reader) ([]string, error) {
	resp, err := c.stream(ctx, http.MethodPost, "/images/load", nil, r)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out []string
	err = readStream(resp.Body, func(m JSONMessage) {
		if s := strings.TrimSpace(m.Stream); s != "" {
			out = append(out, s)
		}
	})
	return out, err
}

// ImageImport makes an image from a rootfs tarball; it returns the ID.
func (c *Client) ImageImport(ctx context.Context, r io.Reader, repo, tag string, changes []string, message string) (string, error) {
	q := url.Values{"fromSrc": {"-"}}
	if repo != "" {
		q.Set("repo", repo)
	}
	if tag != "" {
		q.Set("tag", tag)
	}
	if message != "" {
		q.Set("message", message)
	}
	for _, ch := range changes {
		q.Add("changes", ch)
	}
	resp, err := c.stream(ctx, http.MethodPost, "/images/create", q, r)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var id string
	err = readStream(resp.Body, func(m JSONMessage) { id = m.Status })
	return id, err
}

// ImageHistory returns an image's history, newest first.
func (c *Client) ImageHistory(ctx context.Context, name string) ([]imagetypes.HistoryResponseItem, error) {
	var l []imagetypes.HistoryResponseItem
	return l, c.do(ctx, http.MethodGet, "/images/"+name+"/history", nil, nil, &l)
}

// ImagePrune removes dangling images (all unused ones with all), those
// the filters (until, label, label!) leave.
func (c *Client) ImagePrune(ctx context.Context, all bool, filters map[string][]string) (*imagetypes.PruneReport, error) {
	q := url.Values{}
	f := map[string][]string{}
	for k, v := range filters {
		f[k] = v
	}
	if all {
		f["dangling"] = []string{"false"}
	}
	setFilters(q, f)
	var r imagetypes.PruneReport
	return &r, c.do(ctx, http.MethodPost, "/images/prune", q, nil, &r)
}

// BuildCachePrune is POST /build/prune: the unused caches of RUN
// --mount=type=cache.
func (c *Client) BuildCachePrune(ctx context.Context) (*buildtypes.CachePruneReport, error) {
	var r buildtypes.CachePruneReport
	return &r, c.do(ctx, http.MethodPost, "/build/prune", nil, nil, &r)
}

// DiskUsage is GET /system/df in its API-1.51 form.
type DiskUsage struct {
	LayersSize int64
	Images     []imagetypes.Summary
	// Volumes carry UsageData: their size and how many containers use them.
	Volumes []volume.Volume
	// BuildCache is the caches of RUN --mount=type=cache.
	BuildCache []buildtypes.CacheRecord
	// Containers carry SizeRw, the size of their own layer.
	Containers []container.Summary
}

// SystemDF reports disk usage.
func (c *Client) SystemDF(ctx context.Context) (*DiskUsage, error) {
	var du DiskUsage
	return &du, c.do(ctx, http.MethodGet, "/system/df", nil, nil, &du)
}

// BuildOptions are POST /build's parameters.
type BuildOptions struct {
	Tags       []string
	Dockerfile string
	BuildArgs  map[string]*string
	Labels     map[string]string
	Quiet      bool
	NoCache    bool
	Pull       bool
	// CacheFrom are images whose history stands in for missing steps.
	CacheFrom []string
	// Secrets are what RUN --mount=type=secret mounts, by id.
	Secrets map[string][]byte
	// KeepContainers is --rm=false: the steps' containers stay.
	KeepContainers bool
	Target         string
	Platform       string
	// Remote is a context for the daemon to fetch (a git repository or
	// an http(s) URL) instead of the body.
	Remote string
	// What the RUN steps' containers get.
	NetworkMode string
	ExtraHosts  []string
	ShmSize     int64
	Memory      int64
	CPUShares   int64
	CPUSetCPUs  string
}

// ImageBuild builds an image from a context tar, calling fn for each
// message of the build's stream; an error the build reports is returned.
func (c *Client) ImageBuild(ctx context.Context, buildContext io.Reader, o BuildOptions, fn func(JSONMessage)) error {
	q := url.Values{"t": o.Tags}
	if o.Dockerfile != "" {
		q.Set("dockerfile", o.Dockerfile)
	}
	if len(o.BuildArgs) > 0 {
		b, _ := json.Marshal(o.BuildArgs)
		q.Set("buildargs", string(b))
	}
	if len(o.Labels) > 0 {
		b, _ := json.Marshal(o.Labels)
		q.Set("labels", string(b))
	}
	if o.Quiet {
		q.Set("q", "1")
	}
	if o.NoCache {
		q.Set("nocache", "1")
	}
	if o.Pull {
		q.Set("pull", "1")
	}
	if o.KeepContainers {
		q.Set("rm", "0")
	}
	if len(o.CacheFrom) > 0 {
		b, _ := json.Marshal(o.CacheFrom)
		q.Set("cachefrom", string(b))
	}
	if o.Target != "" {
		q.Set("target", o.Target)
	}
	if o.Platform != "" {
		q.Set("platform", o.Platform)
	}
	if o.Remote != "" {
		q.Set("remote", o.Remote)
	}
	if o.NetworkMode != "" {
		q.Set("networkmode", o.NetworkMode)
	}
	if len(o.ExtraHosts) > 0 {
		q["extrahosts"] = o.ExtraHosts
	}
	for k, v := range map[string]int64{"shmsize": o.ShmSize, "memory": o.Memory, "cpushares": o.CPUShares} {
		if v != 0 {
			q.Set(k, strconv.FormatInt(v, 10))
		}
	}
	if o.CPUSetCPUs != "" {
		q.Set("cpusetcpus", o.CPUSetCPUs)
	}
	var h map[string]string
	if len(o.Secrets) > 0 {
		h = map[string]string{apitypes.SecretsHeader: apitypes.EncodeSecrets(o.Secrets)}
	}
	resp, err := c.send(ctx, http.MethodPost, "/build", q, buildContext, h)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return readStream(resp.Body, fn)
}

// ImageSearch is GET /images/search: the repositories of an index that
// match term (registryAuth is the X-Registry-Auth value, "" for none).
func (c *Client) ImageSearch(ctx context.Context, term string, limit int, filters map[string][]string, registryAuth string) ([]regtypes.SearchResult, error) {
	q := url.Values{"term": {term}}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	setFilters(q, filters)
	resp, err := c.streamWithHeader(ctx, http.MethodGet, "/images/search", q, map[string]string{"X-Registry-Auth": registryAuth})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out []regtypes.SearchResult
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("search results: %w", err)
	}
	return out, nil
}
