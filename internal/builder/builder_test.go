package builder

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	ctypes "github.com/moby/moby/api/types/container"
	imagetypes "github.com/moby/moby/api/types/image"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

type commit struct {
	base, container, createdBy string
	files                      map[string]string // layer file -> content ("" for dirs)
	uids                       map[string]int
	cfg                        ocispec.ImageConfig
}

type fakeBackend struct {
	deleted []string
	commits []commit
	runs    []*ctypes.Config
	removed []string
	tags    []string
}

func (f *fakeBackend) BuildImage(ctx context.Context, ref string) (string, ocispec.ImageConfig, error) {
	if ref != "busybox" {
		return "", ocispec.ImageConfig{}, fmt.Errorf("no such image: %s", ref)
	}
	return "sha256:0000000000000000base", ocispec.ImageConfig{Env: []string{"PATH=/bin"}, Cmd: []string{"sh"}}, nil
}

func (f *fakeBackend) BuildRun(ctx context.Context, cfg *ctypes.Config, created func(string), out io.Writer) (int, error) {
	f.runs = append(f.runs, cfg)
	id := fmt.Sprintf("c%031d", len(f.runs))
	created(id)
	fmt.Fprintf(out, "ran %s\n", strings.Join(cfg.Cmd, " "))
	if strings.Contains(strings.Join(cfg.Cmd, " "), "exit 3") {
		return 3, nil
	}
	return 0, nil
}

func (f *fakeBackend) BuildCommit(ctx context.Context, base, container string, layer io.Reader, cfg ocispec.ImageConfig, createdBy string) (string, error) {
	c := commit{base: base, container: container, createdBy: createdBy, cfg: cfg, files: map[string]string{}, uids: map[string]int{}}
	if layer != nil {
		tr := tar.NewReader(layer)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return "", err
			}
			b, _ := io.ReadAll(tr)
			c.files[h.Name] = string(b)
			c.uids[h.Name] = h.Uid
		}
	}
	f.commits = append(f.commits, c)
	return fmt.Sprintf("sha256:%064d", len(f.commits)), nil
}

func (f *fakeBackend) ContainerRemove(ctx context.Context, ref string, force, volumes bool) error {
	f.removed = append(f.removed, ref)
	return nil
}

func (f *fakeBackend) ImageIsDir(ctx context.Context, image, path string) bool {
	return path == "/etc"
}

func (f *fakeBackend) RemoveImage(ctx context.Context, name string, force bool) ([]imagetypes.DeleteResponse, error) {
	f.deleted = append(f.deleted, name)
	return nil, nil
}

func (f *fakeBackend) TagImage(ctx context.Context, src, repo, tag string) error {
	f.tags = append(f.tags, repo)
	return nil
}

type recorder struct {
	lines []string
	id    string
}

func (r *recorder) Stream(s string)   { r.lines = append(r.lines, s) }
func (r *recorder) ImageID(id string) { r.id = id }

func contextTar(t *testing.T, files map[string]string) io.Reader {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, body := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg, Uid: 1000}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(body))
	}
	tw.Close()
	return &buf
}

func TestBuild(t *testing.T) {
	df := "ARG V=x\nARG IMG=busybox\nFROM $IMG\nARG GREETING=hi\nENV A=1 B=${GREETING}\nWORKDIR /app\nCOPY hello.txt .\nCOPY --chown=5:6 sub /srv/\nCOPY hello.txt /etc\nRUN echo $GREETING > built\nRUN [\"cat\", \"built\"]\nEXPOSE 80\nLABEL k=v\nUSER nobody\nCMD [\"cat\",\"/app/built\"]\n"
	be := &fakeBackend{}
	rep := &recorder{}
	world := "world"
	id, err := Build(context.Background(), be, Options{
		Context:   contextTar(t, map[string]string{"Dockerfile": df, "hello.txt": "hello\n", "sub/a": "A"}),
		Tags:      []string{"demo:1", "other"},
		BuildArgs: map[string]*string{"GREETING": &world},
	}, rep)
	if err != nil {
		t.Fatal(err)
	}
	out := strings.Join(rep.lines, "")
	for _, want := range []string{"Step 1/13 : FROM $IMG\n", "Step 8/13 : RUN echo $GREETING > built\n", "ran /bin/sh -c echo $GREETING > built\n", "Successfully built 000000000000\n", "Successfully tagged demo:1\n", "Successfully tagged other:latest\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if rep.id != id || len(be.commits) != 12 {
		t.Fatalf("id %s (reported %s), %d commits", id, rep.id, len(be.commits))
	}
	last := be.commits[len(be.commits)-1].cfg
	if !slices.Equal(last.Env, []string{"PATH=/bin", "A=1", "B=world"}) || last.WorkingDir != "/app" || last.User != "nobody" ||
		!slices.Equal(last.Cmd, []string{"cat", "/app/built"}) || last.Labels["k"] != "v" {
		t.Errorf("final config %+v", last)
	}
	if _, ok := last.ExposedPorts["80/tcp"]; !ok {
		t.Errorf("exposed ports %v", last.ExposedPorts)
	}
	cp := be.commits[3]
	if cp.files["app/hello.txt"] != "hello\n" || cp.uids["app/hello.txt"] != 0 {
		t.Errorf("COPY layer %v %v", cp.files, cp.uids)
	}
	if cp := be.commits[4]; cp.files["srv/a"] != "A" || cp.uids["srv/a"] != 5 {
		t.Errorf("COPY --chown layer %v %v", cp.files, cp.uids)
	}
	if cp := be.commits[5]; cp.files["etc/hello.txt"] != "hello\n" {
		t.Errorf("COPY into an existing directory: %v", cp.files)
	}
	run := be.runs[0]
	if run.WorkingDir != "/app" || !slices.Contains(run.Env, "GREETING=world") || run.User != "" {
		t.Errorf("RUN config %+v", run)
	}
	if c := be.commits[6]; c.container == "" || c.createdBy != "|1 GREETING=world /bin/sh -c echo $GREETING > built" {
		t.Errorf("RUN commit %+v", c)
	}
	if len(be.deleted) != 11 || slices.Contains(be.deleted, id) {
		t.Errorf("deleted %v (final %s)", be.deleted, id)
	}
	if len(be.removed) != 2 || !slices.Equal(be.tags, []string{"demo:1", "other:latest"}) {
		t.Errorf("removed %v, tags %v", be.removed, be.tags)
	}
}

func TestBuildFailingRun(t *testing.T) {
	be := &fakeBackend{}
	_, err := Build(context.Background(), be, Options{Context: contextTar(t, map[string]string{"Dockerfile": "FROM busybox\nENV A=1\nRUN exit 3\n"})}, &recorder{})
	if err == nil || !strings.Contains(err.Error(), "line 3") || !strings.Contains(err.Error(), "non-zero code: 3") {
		t.Fatalf("err = %v", err)
	}
	if len(be.removed) != 1 || len(be.deleted) != len(be.commits) {
		t.Errorf("removed containers %v, images %v of %d", be.removed, be.deleted, len(be.commits))
	}
}

func TestBuildRefusesEscapes(t *testing.T) {
	for _, df := range []string{"FROM busybox\nCOPY ../etc/passwd /\n", "FROM busybox\nCOPY link /\n", "FROM busybox\nCOPY missing /\n"} {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		tw.WriteHeader(&tar.Header{Name: "Dockerfile", Mode: 0o644, Size: int64(len(df))})
		tw.Write([]byte(df))
		tw.WriteHeader(&tar.Header{Name: "link", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"})
		tw.Close()
		_, err := Build(context.Background(), &fakeBackend{}, Options{Context: &buf}, &recorder{})
		if err == nil || !strings.Contains(err.Error(), "line 2") {
			t.Errorf("%q: err = %v", df, err)
		}
		if strings.Contains(df, "..") && !strings.Contains(err.Error(), "forbidden path outside the build context") {
			t.Errorf("%q: err = %v", df, err)
		}
	}
}

func TestParseRejectsMultiStage(t *testing.T) {
	if _, _, err := Parse(strings.NewReader("FROM a AS x\nFROM b\n")); err == nil || !strings.Contains(err.Error(), "multi-stage") {
		t.Fatalf("err = %v", err)
	}
}

func TestExtractContextStaysInside(t *testing.T) {
	outside := t.TempDir()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "link", Typeflag: tar.TypeSymlink, Linkname: outside})
	tw.WriteHeader(&tar.Header{Name: "link/pwned", Mode: 0o644, Size: 1})
	tw.Write([]byte("x"))
	tw.Close()
	dir := t.TempDir()
	if err := extractContext(dir, &buf); err == nil {
		t.Error("a file through a symlink out of the context was written")
	}
	if _, err := os.Stat(filepath.Join(outside, "pwned")); err == nil {
		t.Error("pwned exists outside the context")
	}

	buf.Reset()
	tw = tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "../../up", Mode: 0o644, Size: 1})
	tw.Write([]byte("x"))
	tw.WriteHeader(&tar.Header{Name: "hard", Typeflag: tar.TypeLink, Linkname: "../../up"})
	tw.Close()
	if err := extractContext(dir, &buf); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "hard")); err != nil || string(b) != "x" {
		t.Errorf("hard link: %q %v", b, err)
	}
}

func TestBuildGzipContext(t *testing.T) {
	var zbuf bytes.Buffer
	zw := gzip.NewWriter(&zbuf)
	io.Copy(zw, contextTar(t, map[string]string{"Dockerfile": "FROM busybox\nENV X=1\n"}))
	zw.Close()
	be := &fakeBackend{}
	if _, err := Build(context.Background(), be, Options{Context: &zbuf}, &recorder{}); err != nil || len(be.commits) != 1 {
		t.Fatalf("err = %v, %d commits", err, len(be.commits))
	}
}
