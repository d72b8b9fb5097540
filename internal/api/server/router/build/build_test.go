package build

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/hako-dev/hako/internal/builder"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	ctypes "github.com/moby/moby/api/types/container"
)

// fake commits config-only steps and knows no images.
type fake struct {
	n    int
	tags []string
	cfg  dockerspec.DockerOCIImageConfig
}

func (f *fake) BuildImage(ctx context.Context, ref string, pull bool, platform string, progress func(string)) (builder.Image, error) {
	return builder.Image{}, errors.New("No such image: " + ref)
}

func (f *fake) BuildCached(ctx context.Context, key string) (builder.Image, bool) {
	return builder.Image{}, false
}

func (f *fake) BuildCachedFrom(ctx context.Context, sources []string, c builder.Commit) (builder.Image, bool) {
	return builder.Image{}, false
}

func (f *fake) BuildRun(ctx context.Context, cfg *ctypes.Config, o builder.RunOptions, created func(string), out io.Writer) (int, error) {
	return 0, errors.New("no containers here")
}

func (f *fake) BuildTempDir() string { return "" }

func (f *fake) BuildCachePrune(ctx context.Context) ([]string, uint64, error) {
	return []string{"c1"}, 4096, nil
}

func (f *fake) BuildCache(ctx context.Context, id string, mode fs.FileMode, uid, gid int, exclusive bool) (string, func(), error) {
	return "", nil, errors.New("no caches here")
}

func (f *fake) BuildCommit(ctx context.Context, c builder.Commit) (string, error) {
	f.n++
	f.cfg = c.Config
	return fmt.Sprintf("sha256:%064d", f.n), nil
}

func (f *fake) BuildView(ctx context.Context, image string) (string, func() error, error) {
	return "", nil, errors.New("no images here")
}

func (f *fake) ImagePath(ctx context.Context, image, path string) (string, fs.FileInfo) {
	return path, nil
}

func (f *fake) ContainerRemove(ctx context.Context, ref string, force, volumes bool) error {
	return nil
}

func (f *fake) TagImage(ctx context.Context, src, repo, tag string) error {
	f.tags = append(f.tags, repo)
	return nil
}

func contextWith(dockerfile string) io.Reader {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "custom.Dockerfile", Mode: 0o644, Size: int64(len(dockerfile))})
	tw.Write([]byte(dockerfile))
	tw.Close()
	return &buf
}

func TestBuildStream(t *testing.T) {
	f := &fake{}
	r := New(f)
	req := httptest.NewRequest("POST", `/build?t=a&t=b:2&dockerfile=custom.Dockerfile&buildargs={"V":"x"}&labels={"l":"1"}`, contextWith("FROM scratch\nARG V\nLABEL v=$V\n"))
	w := httptest.NewRecorder()
	if err := r.build(context.Background(), w, req, nil); err != nil {
		t.Fatal(err)
	}
	want := `{"stream":"Step 1/3 : FROM scratch\n"}
{"stream":"Step 2/3 : ARG V\n"}
{"stream":" ---\u003e 000000000000 in 0.00s\n"}
{"stream":"Step 3/3 : LABEL v=$V\n"}
{"stream":" ---\u003e 000000000000 in 0.00s\n"}
{"aux":{"ID":"sha256:0000000000000000000000000000000000000000000000000000000000000003"}}
{"stream":"Successfully built 000000000000\n"}
{"stream":"Successfully tagged a:latest\n"}
{"stream":"Successfully tagged b:2\n"}
`
	// Step times vary.
	got := regexp.MustCompile(` in [0-9.]+s`).ReplaceAllString(w.Body.String(), " in 0.00s")
	if got != want {
		t.Errorf("stream:\n%s\nwant:\n%s", got, want)
	}
	if f.cfg.Labels["v"] != "x" || f.cfg.Labels["l"] != "1" {
		t.Errorf("labels %v", f.cfg.Labels)
	}
}

func TestBuildStreamError(t *testing.T) {
	req := httptest.NewRequest("POST", "/build", contextWith("x"))
	w := httptest.NewRecorder()
	if err := New(&fake{}).build(context.Background(), w, req, nil); err != nil {
		t.Fatal(err)
	}
	if got := w.Body.String(); !strings.Contains(got, `"errorDetail":{"message":"Cannot locate specified Dockerfile: Dockerfile"}`) {
		t.Errorf("stream: %s", got)
	}
	req = httptest.NewRequest("POST", "/build?dockerfile=custom.Dockerfile", contextWith("FROM busybox\n"))
	w = httptest.NewRecorder()
	New(&fake{}).build(context.Background(), w, req, nil)
	if got := w.Body.String(); !strings.Contains(got, `"error":"dockerfile line 1: No such image: busybox"`) {
		t.Errorf("stream: %s", got)
	}
}

func TestBuildPrune(t *testing.T) {
	w := httptest.NewRecorder()
	if err := New(&fake{}).prune(context.Background(), w, httptest.NewRequest("POST", "/build/prune?all=1", nil), nil); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(w.Body.String()); got != `{"CachesDeleted":["c1"],"SpaceReclaimed":4096}` {
		t.Errorf("body %s", got)
	}
}

func TestRunHostConfig(t *testing.T) {
	q, _ := url.ParseQuery(`networkmode=none&extrahosts=a:1.2.3.4&extrahosts=b:5.6.7.8&shmsize=1048576&memory=67108864&cpushares=512&cpusetcpus=0&ulimits=[{"Name":"nofile","Soft":100,"Hard":200}]`)
	h, err := runHostConfig(q)
	if err != nil {
		t.Fatal(err)
	}
	if h.NetworkMode != "none" || len(h.ExtraHosts) != 2 || h.ShmSize != 1<<20 || h.Resources.Memory != 64<<20 || h.Resources.CPUShares != 512 || h.Resources.CpusetCpus != "0" || len(h.Resources.Ulimits) != 1 || h.Resources.Ulimits[0].Hard != 200 {
		t.Errorf("%+v", h)
	}
	for _, bad := range []string{"networkmode=mynet", "memory=lots", "ulimits=x"} {
		q, _ := url.ParseQuery(bad)
		if _, err := runHostConfig(q); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	if h, err := runHostConfig(url.Values{"networkmode": {"default"}}); err != nil || h.NetworkMode != "" {
		t.Errorf("networkmode=default: %+v %v", h, err)
	}
}
