package builder

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"github.com/opencontainers/go-digest"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	ctypes "github.com/moby/moby/api/types/container"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

type commit struct {
	Commit
	files map[string]string // layer file -> content ("" for dirs)
	uids  map[string]int
	gids  map[string]int
	modes map[string]int64
}

// fakeBackend keeps images as maps of files, commits them, and caches
// them by key.
type fakeBackend struct {
	t       *testing.T
	commits []commit
	images  map[string]map[string]string // id -> all files
	configs map[string]dockerspec.DockerOCIImageConfig
	cache   map[string]string
	runs    []*ctypes.Config
	runOpts []RunOptions
	seen    []map[string]string
	caches  map[string]string
	removed []string
	tags    []string
	views   int
	// asked are the commands BuildCachedFrom was asked about; history
	// are those it answers (with the ID of an image it makes).
	asked   []string
	history map[string]string
}

func newFake(t *testing.T) *fakeBackend {
	return &fakeBackend{t: t, images: map[string]map[string]string{}, configs: map[string]dockerspec.DockerOCIImageConfig{}, cache: map[string]string{}}
}

const baseID = "sha256:0000000000000000base"

func (f *fakeBackend) BuildImage(ctx context.Context, ref string, pull bool, platform string, progress func(string)) (Image, error) {
	if cfg, ok := f.configs[ref]; ok {
		return Image{ID: ref, Config: cfg}, nil
	}
	if ref != "busybox" && ref != "busybox:latest" {
		return Image{}, fmt.Errorf("no such image: %s", ref)
	}
	f.images[baseID] = map[string]string{"etc/passwd": "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/app:/bin/sh\n", "etc/group": "root:x:0:\nstaff:x:50:\n"}
	return Image{ID: baseID, Config: dockerspec.DockerOCIImageConfig{ImageConfig: ocispec.ImageConfig{Env: []string{"PATH=/bin"}, Cmd: []string{"sh"}}}}, nil
}

func (f *fakeBackend) BuildCached(ctx context.Context, key string) (Image, bool) {
	id, ok := f.cache[key]
	if !ok {
		return Image{}, false
	}
	return Image{ID: id, Config: f.configs[id]}, true
}

func (f *fakeBackend) BuildCachedFrom(ctx context.Context, sources []string, c Commit) (Image, bool) {
	f.asked = append(f.asked, c.CreatedBy)
	id, ok := f.history[c.CreatedBy]
	if !ok {
		return Image{}, false
	}
	f.images[id] = maps.Clone(f.images[c.Base])
	f.configs[id] = c.Config
	f.cache[c.CacheKey] = id
	return Image{ID: id, Config: c.Config}, true
}

func (f *fakeBackend) BuildRun(ctx context.Context, cfg *ctypes.Config, o RunOptions, created func(string), out io.Writer) (int, error) {
	f.runs = append(f.runs, cfg)
	f.runOpts = append(f.runOpts, o)
	// What the binds show while the step runs, by path in the container;
	// a writable one gets a file.
	seen := map[string]string{}
	for _, m := range o.Mounts {
		if m.Type != "bind" {
			continue
		}
		filepath.WalkDir(m.Source, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				b, _ := os.ReadFile(p)
				rel, _ := filepath.Rel(m.Source, p)
				seen[path.Join(m.Target, rel)] = string(b)
			}
			return nil
		})
		if !m.ReadOnly {
			if err := os.WriteFile(filepath.Join(m.Source, "written"), []byte("w"), 0o644); err != nil {
				return 0, err
			}
		}
	}
	f.seen = append(f.seen, seen)
	id := fmt.Sprintf("c%031d", len(f.runs))
	created(id)
	fmt.Fprintf(out, "ran %s\n", strings.Join(cfg.Cmd, " "))
	if strings.Contains(strings.Join(cfg.Cmd, " "), "exit 3") {
		return 3, nil
	}
	return 0, nil
}

func (f *fakeBackend) BuildCommit(ctx context.Context, c Commit) (string, error) {
	cm := commit{Commit: c, files: map[string]string{}, uids: map[string]int{}, gids: map[string]int{}, modes: map[string]int64{}}
	if c.Layer != nil {
		tr := tar.NewReader(c.Layer)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return "", err
			}
			b, _ := io.ReadAll(tr)
			cm.files[h.Name] = string(b)
			cm.uids[h.Name] = h.Uid
			cm.gids[h.Name] = h.Gid
			cm.modes[h.Name] = h.Mode
		}
	}
	if c.Container != "" {
		cm.files["ran/"+c.Container] = c.CreatedBy
	}
	f.commits = append(f.commits, cm)
	id := fmt.Sprintf("sha256:%064d", len(f.commits))
	all := maps.Clone(f.images[c.Base])
	if all == nil {
		all = map[string]string{}
	}
	maps.Copy(all, cm.files)
	f.images[id] = all
	f.configs[id] = c.Config
	f.cache[c.CacheKey] = id
	return id, nil
}

func (f *fakeBackend) BuildView(ctx context.Context, image string) (string, func() error, error) {
	dir := f.t.TempDir()
	for name, body := range f.images[image] {
		p := filepath.Join(dir, name)
		if strings.HasSuffix(name, "/") {
			os.MkdirAll(p, 0o755)
			continue
		}
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			return "", nil, err
		}
	}
	f.views++
	return dir, func() error { f.views--; return nil }, nil
}

func (f *fakeBackend) BuildCache(ctx context.Context, id string, mode fs.FileMode, uid, gid int, exclusive bool) (string, func(), error) {
	if f.caches == nil {
		f.caches = map[string]string{}
	}
	if d, ok := f.caches[id]; ok {
		return d, func() {}, nil
	}
	d := f.t.TempDir()
	if err := os.Chmod(d, mode); err != nil {
		return "", nil, err
	}
	f.caches[id] = d
	return d, func() {}, nil
}

func (f *fakeBackend) ContainerRemove(ctx context.Context, ref string, force, volumes bool) error {
	f.removed = append(f.removed, ref)
	return nil
}

// fakeDir is a directory of the fake's images.
type fakeDir struct{ name string }

func (d fakeDir) Name() string       { return d.name }
func (d fakeDir) Size() int64        { return 0 }
func (d fakeDir) Mode() fs.FileMode  { return fs.ModeDir | fs.ModeSticky | 0o777 }
func (d fakeDir) ModTime() time.Time { return time.Unix(0, 0) }
func (d fakeDir) IsDir() bool        { return true }
func (d fakeDir) Sys() any           { return nil }

func (f *fakeBackend) ImagePath(ctx context.Context, image, p string) (string, fs.FileInfo) {
	if strings.HasPrefix(p, "/bin") {
		p = "/usr" + p // a merged /usr
	}
	if p == "/etc" || p == "/usr" || p == "/usr/bin" {
		return p, fakeDir{path.Base(p)}
	}
	return p, nil
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
func (r *recorder) String() string    { return strings.Join(r.lines, "") }

func contextTar(t *testing.T, files map[string]string) io.Reader {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, name := range slices.Sorted(maps.Keys(files)) {
		body := files[name]
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
	be := newFake(t)
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
	out := rep.String()
	for _, want := range []string{"Step 1/13 : FROM $IMG\n", "Step 8/13 : RUN echo $GREETING > built\n", "ran /bin/sh -c echo $GREETING > built\n", "Successfully built 000000000000\n", "Successfully tagged demo:1\n", "Successfully tagged other:latest\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if rep.id != id || len(be.commits) != 12 {
		t.Fatalf("id %s (reported %s), %d commits", id, rep.id, len(be.commits))
	}
	last := be.commits[len(be.commits)-1].Config
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
	if cp := be.commits[4]; cp.files["srv/a"] != "A" || cp.uids["srv/a"] != 5 || cp.uids["srv/"] != 5 {
		t.Errorf("COPY --chown layer %v %v", cp.files, cp.uids)
	}
	if cp := be.commits[5]; cp.files["etc/hello.txt"] != "hello\n" {
		t.Errorf("COPY into an existing directory: %v", cp.files)
	}
	run := be.runs[0]
	if run.WorkingDir != "/app" || !slices.Contains(run.Env, "GREETING=world") || run.User != "" {
		t.Errorf("RUN config %+v", run)
	}
	if c := be.commits[6]; c.Container == "" || c.CreatedBy != "|1 GREETING=world /bin/sh -c echo $GREETING > built" || c.Base != be.commits[5].CacheKey && c.Base == "" {
		t.Errorf("RUN commit %+v", c.Commit)
	}
	if len(be.removed) != 2 || !slices.Equal(be.tags, []string{"demo:1", "other:latest"}) {
		t.Errorf("removed %v, tags %v", be.removed, be.tags)
	}
	for i, c := range be.commits {
		if c.CacheKey == "" || i > 0 && c.Base != fmt.Sprintf("sha256:%064d", i) {
			t.Errorf("commit %d: base %s, key %q", i, c.Base, c.CacheKey)
		}
	}
}

// An unchanged rebuild commits nothing and runs nothing; a changed file
// or build arg rebuilds from the first step it changes.
func TestBuildCache(t *testing.T) {
	be := newFake(t)
	df := "FROM busybox\nARG V=1\nENV X=$V\nRUN echo $X\nCOPY a /a\nCOPY b /b\nRUN cat /a /b\n"
	files := map[string]string{"Dockerfile": df, "a": "A", "b": "B"}
	build := func(o Options) (string, string) {
		t.Helper()
		rep := &recorder{}
		o.Context = contextTar(t, files)
		id, err := Build(context.Background(), be, o, rep)
		if err != nil {
			t.Fatal(err)
		}
		return id, rep.String()
	}
	first, _ := build(Options{})
	commits, runs := len(be.commits), len(be.runs)
	second, out := build(Options{})
	if second != first || len(be.commits) != commits || len(be.runs) != runs || strings.Count(out, " ---> Using cache\n") != 6 {
		t.Fatalf("rebuild: %s (first %s), %d commits, %d runs:\n%s", second, first, len(be.commits)-commits, len(be.runs)-runs, out)
	}
	files["b"] = "changed"
	_, out = build(Options{})
	if len(be.commits) != commits+2 || len(be.runs) != runs+1 || strings.Count(out, " ---> Using cache\n") != 4 {
		t.Errorf("after a change to b: %d commits, %d runs:\n%s", len(be.commits)-commits, len(be.runs)-runs, out)
	}
	// A build arg ENV expands is part of the ENV step's key.
	commits = len(be.commits)
	two := "2"
	_, out = build(Options{BuildArgs: map[string]*string{"V": &two}})
	if len(be.commits) != commits+5 || !slices.Contains(be.runs[len(be.runs)-2].Env, "X=2") {
		t.Errorf("with V=2: %d commits:\n%s", len(be.commits)-commits, out)
	}
	commits = len(be.commits)
	build(Options{NoCache: true})
	if len(be.commits) != commits+6 {
		t.Errorf("--no-cache: %d commits", len(be.commits)-commits)
	}
}

func TestBuildMultiStage(t *testing.T) {
	be := newFake(t)
	df := `FROM busybox AS build
RUN echo compile
FROM busybox AS unused
RUN exit 3
FROM build AS test
RUN echo test
FROM busybox
COPY --from=build /etc/passwd /copied
COPY --from=1 /etc/group /never
`
	rep := &recorder{}
	_, err := Build(context.Background(), be, Options{Context: contextTar(t, map[string]string{"Dockerfile": df}), Target: "TEST"}, rep)
	if err != nil {
		t.Fatal(err)
	}
	if len(be.runs) != 2 || !strings.Contains(rep.String(), "Step 4/4 : RUN echo test") {
		t.Errorf("target test: %d runs:\n%s", len(be.runs), rep)
	}
	// The last stage needs build and unused (COPY --from=1).
	be = newFake(t)
	_, err = Build(context.Background(), be, Options{Context: contextTar(t, map[string]string{"Dockerfile": df})}, &recorder{})
	if err == nil || !strings.Contains(err.Error(), "line 4") {
		t.Errorf("err = %v", err)
	}
	df = strings.Replace(df, "COPY --from=1 /etc/group /never\n", "COPY --from=build --chown=app:staff /etc/group /g\n", 1)
	be = newFake(t)
	rep = &recorder{}
	if _, err := Build(context.Background(), be, Options{Context: contextTar(t, map[string]string{"Dockerfile": df})}, rep); err != nil {
		t.Fatal(err)
	}
	last := be.commits[len(be.commits)-1]
	if len(be.runs) != 1 || be.commits[len(be.commits)-2].files["copied"] == "" || last.uids["g"] != 1000 || be.views != 0 {
		t.Errorf("%d runs, commits %+v, %d views open:\n%s", len(be.runs), be.commits, be.views, rep)
	}
	if _, err := Build(context.Background(), newFake(t), Options{Context: contextTar(t, map[string]string{"Dockerfile": df}), Target: "nope"}, &recorder{}); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("unknown target: %v", err)
	}
}

func TestBuildInstructions(t *testing.T) {
	be := newFake(t)
	var archive bytes.Buffer
	zw := gzip.NewWriter(&archive)
	tw := tar.NewWriter(zw)
	tw.WriteHeader(&tar.Header{Name: "./pkg/x", Mode: 0o640, Size: 1, Uid: 7})
	tw.Write([]byte("x"))
	tw.Close()
	zw.Close()
	df := `FROM busybox
SHELL ["/bin/ash", "-eo", "pipefail", "-c"]
HEALTHCHECK --interval=5s CMD true
ONBUILD RUN echo child
STOPSIGNAL SIGINT
VOLUME ["/data"]
ADD pkg.tar.gz /opt/
COPY --chmod=700 --chown=app:staff run.sh /bin/
RUN <<EOF
echo heredoc
EOF
ENTRYPOINT echo hi
`
	ctx := contextTar(t, map[string]string{"Dockerfile": df, "pkg.tar.gz": archive.String(), "run.sh": "#!/bin/sh\n"})
	if _, err := Build(context.Background(), be, Options{Context: ctx}, &recorder{}); err != nil {
		t.Fatal(err)
	}
	cfg := be.commits[len(be.commits)-1].Config
	if cfg.Healthcheck == nil || cfg.Healthcheck.Test[0] != "CMD-SHELL" || !slices.Equal(cfg.OnBuild, []string{"RUN echo child"}) || cfg.StopSignal != "SIGINT" ||
		!slices.Equal(cfg.Shell, []string{"/bin/ash", "-eo", "pipefail", "-c"}) || !slices.Equal(cfg.Entrypoint, []string{"/bin/ash", "-eo", "pipefail", "-c", "echo hi"}) || cfg.Cmd != nil {
		t.Errorf("config %+v", cfg)
	}
	add := be.commits[5]
	if add.files["opt/pkg/x"] != "x" || add.uids["opt/pkg/x"] != 7 || add.modes["opt/pkg/x"] != 0o640 {
		t.Errorf("ADD of a tar: %v %v", add.files, add.uids)
	}
	cp := be.commits[6]
	// /bin is a symlink to /usr/bin: the file goes there, /bin stays;
	// the directories it goes in keep their mode and owner.
	if cp.modes["usr/bin/run.sh"] != 0o700 || cp.uids["usr/bin/run.sh"] != 1000 || cp.gids["usr/bin/run.sh"] != 50 || len(cp.files) != 3 || cp.modes["usr/bin/"] != 0o1777 || cp.uids["usr/bin/"] != 0 {
		t.Errorf("COPY --chmod --chown: %v %v", cp.modes, cp.uids)
	}
	if got := be.runs[0].Cmd; !slices.Equal(got, []string{"/bin/ash", "-eo", "pipefail", "-c", "echo heredoc\n"}) {
		t.Errorf("RUN heredoc: %q", got)
	}
	// A child runs the trigger and does not keep it.
	be.configs["parent"] = cfg
	be.images["parent"] = be.images[fmt.Sprintf("sha256:%064d", len(be.commits))]
	rep := &recorder{}
	if _, err := Build(context.Background(), be, Options{Context: contextTar(t, map[string]string{"Dockerfile": "FROM parent\n"})}, rep); err != nil {
		t.Fatal(err)
	}
	if last := be.commits[len(be.commits)-1]; !strings.Contains(last.CreatedBy, "echo child") || last.Config.OnBuild != nil {
		t.Errorf("trigger: %+v\n%s", last.Commit, rep)
	}
}

func TestBuildErrors(t *testing.T) {
	for df, want := range map[string]string{
		"FROM busybox\nCOPY ../etc/passwd /\n":                               "line 2: forbidden path outside the build context",
		"FROM busybox\nCOPY link /\n":                                        "line 2: COPY failed: file not found",
		"FROM busybox\nCOPY missing /\n":                                     "line 2: COPY failed: file not found",
		"FROM busybox\nENV A=1\nRUN exit 3\n":                                "line 3: the command '/bin/sh -c exit 3' returned a non-zero code: 3",
		"RUN true\n":                                                         "line 1: RUN before the first FROM",
		"FROM busybox\nCOPY --chmod=u+q a /\n":                               "line 2: invalid --chmod=u+q: neither an octal mode",
		"FROM busybox\nCOPY --chmod=17777 a /\n":                             "line 2: invalid --chmod=17777: an octal mode is between 0 and 7777",
		"FROM busybox\nCOPY --chmod=999 a /\n":                               "line 2: invalid --chmod=999: an octal mode",
		"FROM busybox\nCOPY --chown=nobody a /\n":                            "line 2: --chown=nobody: unable to find user nobody",
		"FROM busybox\nRUN --mount=type=secret,id=s,required true\n":         "line 2: RUN --mount=type=secret,id=s: the secret is required and the build has none",
		"FROM busybox\nRUN --mount=type=ssh true\n":                          "line 2: RUN --mount=type=ssh is not supported",
		"FROM busybox\nRUN --mount=type=bind,source=nope,target=/x true\n":   `line 2: RUN --mount=type=bind source "nope"`,
		"FROM busybox\nRUN --mount=type=bind,source=../etc,target=/x true\n": `line 2: RUN --mount=type=bind source "../etc"`,
		"FROM busybox\nRUN --mount=type=tmpfs true\n":                        "line 2: RUN --mount=type=tmpfs needs a target",
		"FROM busybox\nRUN --network=host true\n":                            "line 2: RUN --network=host is not supported",
	} {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		tw.WriteHeader(&tar.Header{Name: "Dockerfile", Mode: 0o644, Size: int64(len(df))})
		tw.Write([]byte(df))
		tw.WriteHeader(&tar.Header{Name: "a", Mode: 0o644})
		// A link out of the context resolves inside it, where nothing is.
		tw.WriteHeader(&tar.Header{Name: "link", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"})
		tw.Close()
		be := newFake(t)
		_, err := Build(context.Background(), be, Options{Context: &buf}, &recorder{})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want %q", df, err, want)
		}
		if len(be.runs) != len(be.removed) {
			t.Errorf("%q: containers not removed", df)
		}
	}
}

// RUN --mount: a cache is a directory of the backend's, kept across
// steps; a bind shows the context (read-only unless rw, and then over a
// throwaway layer) or a stage; a tmpfs is a tmpfs. Relative targets are
// under the WORKDIR, targets the image lacks are stubs for the backend to
// remove, and what a context bind shows is part of the step's cache key.
func TestBuildRunMounts(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: a writable bind is an overlay mount")
	}
	be := newFake(t)
	df := `FROM busybox AS src
COPY a /data/a
FROM busybox
WORKDIR /app
RUN --mount=type=cache,target=/root/.cache,id=gocache,sharing=locked,mode=0700 --mount=type=tmpfs,target=scratch,size=1m --network=none true
RUN --mount=type=bind,source=sub,target=/ctx --mount=type=bind,from=src,source=/data,target=/stage cat /ctx/f /stage/a
RUN --mount=type=bind,target=/w,rw touch /w/new
RUN --mount=type=cache,target=/root/.cache,id=gocache ls /root/.cache
`
	files := map[string]string{"Dockerfile": df, "a": "A", "sub/f": "F"}
	build := func() string {
		t.Helper()
		rep := &recorder{}
		_, err := Build(context.Background(), be, Options{Context: contextTar(t, files)}, rep)
		if err != nil {
			t.Fatalf("%v\n%s", err, rep)
		}
		return rep.String()
	}
	build()
	if len(be.runOpts) != 4 {
		t.Fatalf("%d RUN steps", len(be.runOpts))
	}
	o := be.runOpts[0]
	if len(o.Mounts) != 2 || !o.NetworkNone {
		t.Fatalf("first RUN: %+v", o)
	}
	cache, tmpfs := o.Mounts[0], o.Mounts[1]
	if cache.Type != "bind" || cache.Source != be.caches["gocache"] || cache.Target != "/root/.cache" || cache.ReadOnly {
		t.Errorf("cache mount %+v", cache)
	}
	if fi, err := os.Stat(cache.Source); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("cache directory: %v %v", fi, err)
	}
	if tmpfs.Type != "tmpfs" || tmpfs.Target != "/app/scratch" || tmpfs.TmpfsOptions == nil || tmpfs.TmpfsOptions.SizeBytes != 1<<20 {
		t.Errorf("tmpfs mount %+v", tmpfs)
	}
	if !slices.Equal(o.Stubs, []string{"/root", "/root/.cache", "/app", "/app/scratch"}) {
		t.Errorf("stubs %q", o.Stubs)
	}
	o = be.runOpts[1]
	if len(o.Mounts) != 2 || !o.Mounts[0].ReadOnly || !o.Mounts[1].ReadOnly || o.NetworkNone {
		t.Fatalf("second RUN: %+v", o)
	}
	if seen := be.seen[1]; seen["/ctx/f"] != "F" || seen["/stage/a"] != "A" || len(seen) != 2 {
		t.Errorf("the binds showed %v", seen)
	}
	if o := be.runOpts[2]; len(o.Mounts) != 1 || o.Mounts[0].ReadOnly || o.Mounts[0].Target != "/w" {
		t.Errorf("rw bind: %+v", o)
	}
	if seen := be.seen[2]; seen["/w/sub/f"] != "F" || seen["/w/Dockerfile"] != df {
		t.Errorf("the rw bind of the context showed %v", seen)
	}
	// What the step wrote went to a throwaway layer, now gone.
	if _, err := os.Stat(be.runOpts[2].Mounts[0].Source); !os.IsNotExist(err) {
		t.Errorf("the rw bind's layer is left: %v", err)
	}
	if o := be.runOpts[3]; o.Mounts[0].Source != cache.Source {
		t.Errorf("the same cache id, another directory: %s, %s", o.Mounts[0].Source, cache.Source)
	}
	if be.views != 0 {
		t.Errorf("%d image views left", be.views)
	}
	// Unchanged: all cached. A change to what the bind shows reruns its
	// step (and those after).
	runs := len(be.runOpts)
	build()
	if len(be.runOpts) != runs {
		t.Errorf("an unchanged rebuild ran %d steps", len(be.runOpts)-runs)
	}
	files["sub/f"] = "changed"
	build()
	if len(be.runOpts) != runs+3 {
		t.Errorf("after a change to the bound directory: %d steps ran, want 3", len(be.runOpts)-runs)
	}
}

// COPY --chmod takes chmod(1)'s symbolic modes too, applied to each
// entry's own mode ('X': execute for directories and what some may
// execute already).
func TestBuildCopyChmodSymbolic(t *testing.T) {
	for chmod, want := range map[string]map[string]int64{
		"u+x,go-r": {"d/sub/": 0o710, "d/f": 0o700, "d/x": 0o711},
		"a=rX":     {"d/sub/": 0o555, "d/f": 0o444, "d/x": 0o555},
		"g=u,o=":   {"d/sub/": 0o770, "d/f": 0o660, "d/x": 0o770},
		"u+s,+t":   {"d/sub/": 0o5750, "d/f": 0o5644, "d/x": 0o5755},
		"640":      {"d/sub/": 0o640, "d/f": 0o640, "d/x": 0o640},
	} {
		be := newFake(t)
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		df := "FROM busybox\nCOPY --chmod=" + chmod + " src /d\n"
		tw.WriteHeader(&tar.Header{Name: "Dockerfile", Mode: 0o644, Size: int64(len(df))})
		tw.Write([]byte(df))
		tw.WriteHeader(&tar.Header{Name: "src/", Typeflag: tar.TypeDir, Mode: 0o755})
		tw.WriteHeader(&tar.Header{Name: "src/f", Mode: 0o644})
		tw.WriteHeader(&tar.Header{Name: "src/x", Mode: 0o755})
		tw.WriteHeader(&tar.Header{Name: "src/sub/", Typeflag: tar.TypeDir, Mode: 0o750})
		tw.Close()
		if _, err := Build(context.Background(), be, Options{Context: &buf}, &recorder{}); err != nil {
			t.Fatalf("--chmod=%s: %v", chmod, err)
		}
		cp := be.commits[len(be.commits)-1]
		for name, mode := range want {
			if cp.modes[name] != mode {
				t.Errorf("--chmod=%s: %s has mode %o, want %o (all: %v)", chmod, name, cp.modes[name], mode, cp.modes)
			}
		}
	}
}

// WORKDIR makes its directory in a layer when the image lacks it (root's,
// 0755, parents too), and changes only the configuration when it has it.
func TestBuildWorkdirLayer(t *testing.T) {
	be := newFake(t)
	df := "FROM busybox\nWORKDIR /etc\nWORKDIR /srv/app\nWORKDIR data\n"
	if _, err := Build(context.Background(), be, Options{Context: contextTar(t, map[string]string{"Dockerfile": df})}, &recorder{}); err != nil {
		t.Fatal(err)
	}
	if len(be.commits) != 3 {
		t.Fatalf("%d commits", len(be.commits))
	}
	if c := be.commits[0]; len(c.files) != 0 || c.CreatedBy != "/bin/sh -c #(nop) WORKDIR /etc" {
		t.Errorf("WORKDIR of a directory the image has: %v %q", c.files, c.CreatedBy)
	}
	if c := be.commits[1]; len(c.files) != 2 || c.modes["srv/app/"] != 0o755 || c.uids["srv/app/"] != 0 || c.modes["srv/"] != 0o755 {
		t.Errorf("WORKDIR /srv/app: %v %v", c.files, c.modes)
	}
	if c := be.commits[2]; c.Config.WorkingDir != "/srv/app/data" || len(c.files) != 3 {
		t.Errorf("WORKDIR data: %q %v", c.Config.WorkingDir, c.files)
	}
}

// COPY --exclude leaves out what its patterns (.dockerignore's syntax)
// match: inside a directory source, the paths under it; a file source
// found by a wildcard, its path in the context.
func TestBuildCopyExclude(t *testing.T) {
	be := newFake(t)
	df := "FROM busybox\nCOPY --exclude=**/*.md --exclude=sub/skip . /app/\nCOPY --exclude=*.md * /w/\n"
	files := map[string]string{"Dockerfile": df, "a.txt": "a", "b.md": "b", "sub/c.txt": "c", "sub/e.md": "e", "sub/skip/d.txt": "d"}
	if _, err := Build(context.Background(), be, Options{Context: contextTar(t, files)}, &recorder{}); err != nil {
		t.Fatal(err)
	}
	var got []string
	for name := range be.commits[len(be.commits)-2].files {
		if !strings.HasSuffix(name, "/") {
			got = append(got, name)
		}
	}
	slices.Sort(got)
	if want := []string{"app/Dockerfile", "app/a.txt", "app/sub/c.txt"}; !slices.Equal(got, want) {
		t.Errorf("COPY --exclude of a directory: %v, want %v", got, want)
	}
	got = got[:0]
	for name := range be.commits[len(be.commits)-1].files {
		if !strings.HasSuffix(name, "/") {
			got = append(got, name)
		}
	}
	slices.Sort(got)
	// The directory sub matched too: its contents go to /w, its e.md
	// matched relative to it.
	if want := []string{"w/Dockerfile", "w/a.txt", "w/c.txt", "w/skip/d.txt"}; !slices.Equal(got, want) {
		t.Errorf("COPY --exclude of a wildcard: %v, want %v", got, want)
	}
}

// COPY --parents keeps each source's path under the destination, from
// the context's root or from a "/./" pivot in the source.
func TestBuildCopyParents(t *testing.T) {
	be := newFake(t)
	df := "FROM busybox\nCOPY --parents x/a.txt y/a.txt /p/\nCOPY --parents ./x/./sub /q/\nCOPY --parents */a.txt /r\n"
	files := map[string]string{"Dockerfile": df, "x/a.txt": "xa", "y/a.txt": "ya", "x/sub/b.txt": "b"}
	if _, err := Build(context.Background(), be, Options{Context: contextTar(t, files)}, &recorder{}); err != nil {
		t.Fatal(err)
	}
	n := len(be.commits)
	for i, want := range []map[string]string{
		{"p/x/a.txt": "xa", "p/y/a.txt": "ya"},
		{"q/sub/b.txt": "b"},
		{"r/x/a.txt": "xa", "r/y/a.txt": "ya"},
	} {
		c := be.commits[n-3+i]
		for name, body := range want {
			if c.files[name] != body {
				t.Errorf("step %d: %s = %q, want %q (all: %v)", i+2, name, c.files[name], body, c.files)
			}
		}
	}
}

func TestResolveInRoot(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "usr/bin"), 0o755)
	os.WriteFile(filepath.Join(root, "usr/bin/busybox"), nil, 0o755)
	os.Symlink("/usr/bin", filepath.Join(root, "bin"))
	os.Symlink("../../../../busybox", filepath.Join(root, "usr/bin/sh"))
	os.WriteFile(filepath.Join(root, "busybox"), nil, 0o644)
	for p, want := range map[string]string{"bin/busybox": "usr/bin/busybox", "/bin/sh": "busybox", "../../usr/bin": "usr/bin"} {
		got, err := resolveInRoot(root, p)
		if err != nil || got != filepath.Join(root, want) {
			t.Errorf("%s: %s, %v; want %s", p, got, err, want)
		}
	}
	os.Symlink("loop", filepath.Join(root, "loop"))
	if _, err := resolveInRoot(root, "loop"); err == nil {
		t.Error("a symlink loop resolved")
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
	be := newFake(t)
	if _, err := Build(context.Background(), be, Options{Context: &zbuf}, &recorder{}); err != nil || len(be.commits) != 1 {
		t.Fatalf("err = %v, %d commits", err, len(be.commits))
	}
}

func TestBuildAddURL(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/files/tool.sh" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte("#!/bin/sh\n"))
	}))
	defer srv.Close()
	be := newFake(t)
	df := fmt.Sprintf("FROM busybox\nADD %s/files/tool.sh /usr/bin/\nADD %[1]s/files/tool.sh /opt/renamed\n", srv.URL)
	rep := &recorder{}
	if _, err := Build(context.Background(), be, Options{Context: contextTar(t, map[string]string{"Dockerfile": df})}, rep); err != nil {
		t.Fatal(err)
	}
	if c := be.commits[0]; c.files["usr/bin/tool.sh"] != "#!/bin/sh\n" || c.modes["usr/bin/tool.sh"] != 0o600 {
		t.Errorf("ADD URL into a directory: %v %v", c.files, c.modes)
	}
	if c := be.commits[1]; c.files["opt/renamed"] != "#!/bin/sh\n" {
		t.Errorf("ADD URL to a file: %v", c.files)
	}
	// Unchanged content is a cache hit.
	n := len(be.commits)
	if _, err := Build(context.Background(), be, Options{Context: contextTar(t, map[string]string{"Dockerfile": df})}, &recorder{}); err != nil || len(be.commits) != n {
		t.Errorf("rebuild: %v, %d new commits", err, len(be.commits)-n)
	}
	df = fmt.Sprintf("FROM busybox\nADD %s/missing /x\n", srv.URL)
	if _, err := Build(context.Background(), be, Options{Context: contextTar(t, map[string]string{"Dockerfile": df})}, &recorder{}); err == nil || !strings.Contains(err.Error(), "line 2: ADD "+srv.URL+"/missing: the server answered 404") {
		t.Errorf("err = %v", err)
	}
	// --checksum: the download must have that digest.
	sum := digest.FromString("#!/bin/sh\n")
	df = fmt.Sprintf("FROM busybox\nADD --checksum=%s %s/files/tool.sh /checked\n", sum, srv.URL)
	if _, err := Build(context.Background(), be, Options{Context: contextTar(t, map[string]string{"Dockerfile": df})}, &recorder{}); err != nil {
		t.Errorf("ADD --checksum of the right digest: %v", err)
	}
	for _, bad := range []struct{ df, want string }{
		{fmt.Sprintf("FROM busybox\nADD --checksum=%s %s/files/tool.sh /x\n", digest.FromString("other"), srv.URL), "the download's digest is " + sum.String()},
		{fmt.Sprintf("FROM busybox\nADD --checksum=sha256:12 %s/files/tool.sh /x\n", srv.URL), "invalid --checksum"},
		{"FROM busybox\nADD --checksum=" + sum.String() + " Dockerfile /x\n", "ADD --checksum needs one http(s) source"},
	} {
		_, err := Build(context.Background(), be, Options{Context: contextTar(t, map[string]string{"Dockerfile": bad.df})}, &recorder{})
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%q: err = %v, want %q", bad.df, err, bad.want)
		}
	}
}

// The escape directive and buildkit's automatic platform ARGs.
func TestBuildEscapeAndPlatformArgs(t *testing.T) {
	be := newFake(t)
	df := "# escape=`\nFROM --platform=$BUILDPLATFORM busybox\nARG TARGETOS TARGETARCH\nENV P=${TARGETOS}/${TARGETARCH} Q=`$HOME\n"
	if _, err := Build(context.Background(), be, Options{Context: contextTar(t, map[string]string{"Dockerfile": df}), Platform: "linux/s390x"}, &recorder{}); err != nil {
		t.Fatal(err)
	}
	env := be.commits[len(be.commits)-1].Config.Env
	if !slices.Equal(env, []string{"PATH=/bin", "P=linux/s390x", "Q=$HOME"}) {
		t.Errorf("env %q", env)
	}
}

func TestBuildArgsUnusedAndProxy(t *testing.T) {
	be := newFake(t)
	v, proxy := "1", "http://127.0.0.1:3128"
	rep := &recorder{}
	df := "FROM busybox\nARG USED\nRUN true\n"
	_, err := Build(context.Background(), be, Options{Context: contextTar(t, map[string]string{"Dockerfile": df}), BuildArgs: map[string]*string{"USED": &v, "UNUSED": &v, "http_proxy": &proxy}}, rep)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rep.String(), "[Warning] One or more build-args [UNUSED] were not consumed\n") {
		t.Errorf("output:\n%s", rep)
	}
	if env := be.runs[0].Env; !slices.Equal(env, []string{"http_proxy=" + proxy, "USED=1", "PATH=/bin"}) {
		t.Errorf("RUN env %q", env)
	}
	if c := be.commits[1]; c.CreatedBy != "|1 USED=1 /bin/sh -c true" {
		t.Errorf("history %q", c.CreatedBy)
	}
}

func TestBuildScratch(t *testing.T) {
	be := newFake(t)
	files := map[string]string{"Dockerfile": "FROM scratch\nCOPY a /srv/\nENTRYPOINT [\"/srv/a\"]\n", "a": "A"}
	id, err := Build(context.Background(), be, Options{Context: contextTar(t, files)}, &recorder{})
	if err != nil {
		t.Fatal(err)
	}
	if c := be.commits[0]; c.Base != "" || c.files["srv/a"] != "A" || c.files["srv/"] != "" || c.modes["srv/"] != 0o755 {
		t.Errorf("COPY onto scratch: %+v", c)
	}
	again, err := Build(context.Background(), be, Options{Context: contextTar(t, files)}, &recorder{})
	if err != nil || again != id || len(be.commits) != 2 {
		t.Errorf("rebuild: %s (first %s), %v, %d commits", again, id, err, len(be.commits))
	}
}

// With --cache-from, a step the local cache lacks is asked of the
// sources' history by its command, which for COPY names a checksum of
// what it copies; a RUN with mounts is not asked; an answer stands for
// the step as the local cache does.
func TestBuildCacheFrom(t *testing.T) {
	be := newFake(t)
	df := "FROM busybox\nENV X=1\nCOPY a /a\nRUN --mount=type=tmpfs,target=/t true\nRUN cat /a\n"
	files := map[string]string{"Dockerfile": df, "a": "A"}
	build := func(o Options) string {
		t.Helper()
		rep := &recorder{}
		o.Context = contextTar(t, files)
		if _, err := Build(context.Background(), be, o, rep); err != nil {
			t.Fatal(err)
		}
		return rep.String()
	}
	build(Options{CacheFrom: []string{"src"}})
	if len(be.asked) != 3 {
		t.Fatalf("asked %d times: %q", len(be.asked), be.asked)
	}
	env, cp, run := be.asked[0], be.asked[1], be.asked[2]
	if env != "/bin/sh -c #(nop) ENV X=1" || !regexp.MustCompile(`^/bin/sh -c #\(nop\) COPY a /a # file:[0-9a-f]{64}$`).MatchString(cp) || run != "/bin/sh -c cat /a" {
		t.Fatalf("asked %q", be.asked)
	}
	// Another content: another command (ENV is in the local cache now).
	files["a"] = "B"
	be.asked = nil
	build(Options{CacheFrom: []string{"src"}})
	if len(be.asked) != 2 || be.asked[0] == cp || !strings.Contains(be.asked[0], " # file:") {
		t.Fatalf("second build asked %q", be.asked)
	}
	// An answer stands for the step.
	fresh := newFake(t)
	fresh.history = map[string]string{env: "sha256:00000000000000000000env"}
	be = fresh
	if out := build(Options{CacheFrom: []string{"src"}}); strings.Count(out, " ---> Using cache\n") != 1 || be.configs["sha256:00000000000000000000env"].Env == nil {
		t.Fatalf("a stand-in from the sources:\n%s", out)
	}
	// Without sources, nothing is asked.
	be.asked = nil
	build(Options{NoCache: true})
	if len(be.asked) != 0 {
		t.Fatalf("asked without --cache-from: %q", be.asked)
	}
}

// RUN --mount=type=secret: the build's secret as a read-only file
// (/run/secrets/<id>, or the target) and/or a variable of the step alone;
// a missing optional secret is left out; the value is not in the cache
// key (a rebuild with another value hits the cache, as buildkit's).
func TestBuildSecretMounts(t *testing.T) {
	be := newFake(t)
	df := "FROM busybox\nRUN --mount=type=secret,id=tok,env=TOK --mount=type=secret,id=tok --mount=type=secret,id=cert,target=/etc/cert.pem,mode=0440,uid=1000 --mount=type=secret,id=absent true\n"
	build := func(secrets map[string][]byte) string {
		t.Helper()
		rep := &recorder{}
		if _, err := Build(context.Background(), be, Options{Context: contextTar(t, map[string]string{"Dockerfile": df}), Secrets: secrets}, rep); err != nil {
			t.Fatal(err)
		}
		return rep.String()
	}
	build(map[string][]byte{"tok": []byte("s3cret"), "cert": []byte("PEM")})
	if len(be.runs) != 1 {
		t.Fatalf("%d runs", len(be.runs))
	}
	if !slices.Contains(be.runs[0].Env, "TOK=s3cret") {
		t.Errorf("env: %q", be.runs[0].Env)
	}
	var targets []string
	for _, m := range be.runOpts[0].Mounts {
		targets = append(targets, m.Target)
		if !m.ReadOnly {
			t.Errorf("secret %s is writable", m.Target)
		}
	}
	if strings.Join(targets, " ") != "/run/secrets/tok /etc/cert.pem" {
		t.Errorf("secret mounts: %q", targets)
	}
	if out := build(map[string][]byte{"tok": []byte("other"), "cert": []byte("PEM2")}); len(be.runs) != 1 || !strings.Contains(out, "Using cache") {
		t.Errorf("another value missed the cache:\n%s", out)
	}
	for _, c := range be.commits {
		if strings.Contains(c.CreatedBy, "s3cret") || slices.ContainsFunc(c.Config.Env, func(e string) bool { return strings.HasPrefix(e, "TOK=") }) {
			t.Errorf("the secret is in the image: %+v", c)
		}
	}
}

// --rm=false keeps the steps' containers; by default they go.
func TestBuildKeepContainers(t *testing.T) {
	for _, keep := range []bool{false, true} {
		be := newFake(t)
		rep := &recorder{}
		if _, err := Build(context.Background(), be, Options{Context: contextTar(t, map[string]string{"Dockerfile": "FROM busybox\nRUN true\nRUN true\n"}), KeepContainers: keep}, rep); err != nil {
			t.Fatal(err)
		}
		removed := len(be.removed)
		said := strings.Count(rep.String(), "Removing intermediate container")
		if keep && (removed != 0 || said != 0) || !keep && (removed != 2 || said != 2) {
			t.Errorf("keep=%t: %d removed, %d said", keep, removed, said)
		}
	}
}
