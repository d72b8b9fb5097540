package e2e

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

const buildDockerfile = `FROM busybox
ENV A=1
WORKDIR /app
COPY hello.txt .
RUN echo built > /app/built && cat hello.txt
CMD ["cat","/app/built"]
`

func buildContext(t *testing.T, dockerfile string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range map[string]string{"Dockerfile": dockerfile, "hello.txt": "hello from the context\n", "secret.txt": "no\n", ".dockerignore": "secret.txt\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestBuild(t *testing.T) {
	e := newHakoEnv(t)
	e.busybox()
	dir := buildContext(t, buildDockerfile)
	out := e.must("build", "-t", "built:1", dir)
	for _, want := range []string{"Step 1/6 : FROM busybox\n", "Step 5/6 : RUN echo built > /app/built && cat hello.txt\n", "hello from the context\n", "Successfully built ", "Successfully tagged built:1\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("build output lacks %q:\n%s", want, out)
		}
	}
	if got := e.must("run", "--rm", "built:1"); got != "built\n" {
		t.Errorf("run: %q", got)
	}
	if got := e.must("run", "--rm", "built:1", "cat", "/app/hello.txt"); got != "hello from the context\n" {
		t.Errorf("run cat hello.txt: %q", got)
	}
	if got := e.must("run", "--rm", "built:1", "sh", "-c", "echo $A; pwd; ls /app"); got != "1\n/app\nbuilt\nhello.txt\n" {
		t.Errorf("env/workdir/files: %q", got)
	}
	hist := e.must("history", "--no-trunc", "built:1")
	for _, want := range []string{"ENV A=1", "WORKDIR /app", "COPY hello.txt .", "/bin/sh -c echo built > /app/built && cat hello.txt", `CMD ["cat","/app/built"]`} {
		if !strings.Contains(hist, want) {
			t.Errorf("history lacks %q:\n%s", want, hist)
		}
	}
	if ps := e.must("ps", "-aq"); ps != "" {
		t.Errorf("containers left behind: %q", ps)
	}

	// A tar on stdin, quiet: only the ID.
	tarCmd := exec.Command("tar", "-C", dir, "-c", ".")
	tarOut, err := tarCmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	cmd := e.cmd("build", "-q", "-t", "built:2", "-")
	cmd.Stdin = strings.NewReader(string(tarOut))
	q, err := cmd.Output()
	if err != nil || !strings.HasPrefix(string(q), "sha256:") {
		t.Errorf("build -q -: %v: %q", err, q)
	}
	// The same context again: the same image, from the cache; the
	// steps' intermediate images are kept for it, hidden from images.
	if id := strings.TrimSpace(string(q)); !strings.Contains(out, "Successfully built "+id[7:19]) {
		t.Errorf("the cached rebuild made %s:\n%s", id, out)
	}
	if imgs := strings.Fields(e.must("images", "-q")); len(imgs) != 2 {
		t.Errorf("images after two builds: %v", imgs)
	}

	// COPY into a directory the image has keeps the name; WORKDIR
	// alone is enough to run in; -f names another Dockerfile.
	df := "FROM busybox\nCOPY hello.txt /etc\nWORKDIR /new/dir\nUSER 1000\nRUN id -u > /tmp/uid\nCMD pwd; cat /etc/hello.txt /tmp/uid\n"
	if err := os.WriteFile(filepath.Join(dir, "other.Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	e.must("build", "-t", "other", "-f", filepath.Join(dir, "other.Dockerfile"), dir)
	if got := e.must("run", "--rm", "other"); got != "/new/dir\nhello from the context\n1000\n" {
		t.Errorf("run other: %q", got)
	}

	// COPY through a symlinked directory of the image lands where the
	// link points, and leaves the link a link; /tmp keeps its mode.
	df = "FROM busybox\nRUN mkdir -p /usr/lib && ln -s /usr/lib /lib2\nCOPY hello.txt /lib2/\nCOPY hello.txt /tmp/\nCMD test -L /lib2 && stat -c %a /tmp && cat /usr/lib/hello.txt\n"
	if err := os.WriteFile(filepath.Join(dir, "link.Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	e.must("build", "-t", "linked", "-f", filepath.Join(dir, "link.Dockerfile"), dir)
	base := e.must("run", "--rm", "busybox", "stat", "-c", "%a", "/tmp")
	if got := e.must("run", "--rm", "linked"); got != base+"hello from the context\n" {
		t.Errorf("run linked: %q", got)
	}

	// WORKDIR makes its directory in the image, not only when a
	// container starts there: another build copies it.
	for _, b := range []struct{ name, df string }{
		{"wd", "FROM busybox\nWORKDIR /made/here\n"},
		{"wd2", "FROM busybox\nCOPY --from=wd /made /made\nCMD stat -c '%U %a %F' /made/here\n"},
	} {
		name := b.name
		cmd := e.cmd("build", "-t", name, "-")
		cmd.Stdin = strings.NewReader(b.df)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", name, err, out)
		}
	}
	if got := e.must("run", "--rm", "wd2"); got != "root 755 directory\n" {
		t.Errorf("the WORKDIR copied from an image: %q", got)
	}

	// `build - < Dockerfile`: a Dockerfile alone on stdin.
	cmd = e.cmd("build", "-t", "plain", "-")
	cmd.Stdin = strings.NewReader("FROM busybox\nCMD [\"echo\", \"plain\"]\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("build - < Dockerfile: %v\n%s", err, out)
	}
	if got := e.must("run", "--rm", "plain"); got != "plain\n" {
		t.Errorf("run plain: %q", got)
	}
	// --rm=false keeps the RUN steps' containers, as docker's does.
	e.must("build", "--rm=false", "--no-cache", "-q", "-t", "kept", dir)
	kept := strings.Fields(e.must("ps", "-aq"))
	if len(kept) == 0 {
		t.Errorf("--rm=false kept no container")
	}
	for _, k := range kept {
		e.must("rm", k)
	}
}

func snapshotCount(t *testing.T, e *hakoEnv) int {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(e.root, "overlay", "snapshots"))
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// Bad Dockerfiles fail with the line at fault and leave no container, no
// mount and no snapshot the cache does not hold (image prune drops those).
func TestBuildErrors(t *testing.T) {
	e := newHakoEnv(t)
	e.busybox()
	baseline := snapshotCount(t, e)
	for _, c := range []struct{ name, dockerfile, want string }{
		{"unknown instruction", "FROM busybox\nRUN true\nFETCH http://x /\n", "line 3: unknown instruction: FETCH"},
		{"missing FROM", "# nothing to build on\nRUN true\n", "line 2: RUN before the first FROM"},
		{"empty", "# only a comment\n", "no instructions: it needs a FROM"},
		{"COPY from outside the context", "FROM busybox\nCOPY ../../etc/passwd /\n", "line 2: forbidden path outside the build context: ../../etc/passwd"},
		{"failing RUN", "FROM busybox\nENV A=1\nCOPY hello.txt /\nRUN exit 3\n", "line 4: the command '/bin/sh -c exit 3' returned a non-zero code: 3"},
		{"failing RUN in a stage", "FROM busybox AS a\nRUN false\nFROM busybox\nCOPY --from=a / /x\n", "line 2: the command '/bin/sh -c false' returned a non-zero code: 1"},
		{"unknown stage", "FROM busybox\nCOPY --from=nowhere / /x\n", "line 2: "},
		{"ignored file", "FROM busybox\nCOPY secret.txt /\n", "line 2: COPY failed: file not found in build context or excluded by .dockerignore: secret.txt"},
	} {
		dir := buildContext(t, c.dockerfile)
		out, errOut, code := e.hako("build", "-t", "bad", dir)
		if code == 0 || !strings.Contains(errOut, c.want) {
			t.Errorf("%s: exit %d, want an error with %q\nstdout: %s\nstderr: %s", c.name, code, c.want, out, errOut)
		}
	}
	if ps := e.must("ps", "-aq"); ps != "" {
		t.Errorf("containers left behind: %q", ps)
	}
	if _, _, code := e.hako("image", "inspect", "bad"); code == 0 {
		t.Errorf("a failed build tagged its image")
	}
	e.assertClean()
	if ents, _ := os.ReadDir(filepath.Join(e.runRoot, "build")); len(ents) > 0 {
		t.Errorf("build views left: %v", ents)
	}
	// The steps that succeeded are cache: image prune drops them.
	e.must("image", "prune", "-f")
	if imgs := strings.Fields(e.must("images", "-aq")); len(imgs) != 1 {
		t.Errorf("images after failed builds and a prune: %v", imgs)
	}
	if n := snapshotCount(t, e); n != baseline {
		t.Errorf("%d snapshots after failed builds and a prune, %d before", n, baseline)
	}
}

func TestBuildDockerCLI(t *testing.T) {
	docker, err := exec.LookPath("docker")
	if err != nil {
		t.Skip("needs the docker CLI")
	}
	e := newHakoEnv(t)
	e.busybox()
	dir := buildContext(t, buildDockerfile)
	cmd := exec.Command(docker, "build", "-t", "viadocker", dir)
	cmd.Env = append(os.Environ(), "DOCKER_HOST=unix://"+e.sock(), "DOCKER_BUILDKIT=0")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Successfully tagged viadocker:latest") {
		t.Fatalf("docker build: %v\n%s\ndaemon log: %s", err, out, e.daemonLog())
	}
	if got := e.must("run", "--rm", "viadocker"); got != "built\n" {
		t.Errorf("run: %q", got)
	}
}

// RUN --mount for real: a cache kept from one build to the next, a bind of
// the context and of a stage, a writable bind whose writes are thrown
// away, a tmpfs, --network=none; nothing of the mounts in the image.
func TestBuildRunMount(t *testing.T) {
	e := newHakoEnv(t)
	e.busybox()
	dir := buildContext(t, `FROM busybox AS src
RUN mkdir /data && echo from-stage > /data/a
FROM busybox
RUN --mount=type=cache,target=/var/cache/app,id=app-cache sh -c 'date +%s%N >> /var/cache/app/runs; wc -l < /var/cache/app/runs > /runs'
RUN --mount=type=bind,target=/ctx --mount=type=bind,from=src,source=/data,target=/stage sh -c 'cat /ctx/hello.txt /stage/a > /seen; touch /ctx/x 2>/dev/null && echo writable >> /seen; true'
RUN --mount=type=bind,target=/ctxrw,rw sh -c 'echo scribble > /ctxrw/hello.txt && cat /ctxrw/hello.txt > /rw'
RUN --mount=type=tmpfs,target=/scratch sh -c 'grep " /scratch tmpfs" /proc/mounts | cut -d" " -f3 > /tmpfs'
RUN --network=none sh -c 'ls /sys/class/net > /nets'
CMD cat /runs /seen /rw /tmpfs /nets; for p in /ctx /ctxrw /stage /scratch /var/cache/app; do test -e $p && echo left $p; done; true
`)
	e.must("build", "-t", "mounted", dir)
	want := "1\nhello from the context\nfrom-stage\nscribble\ntmpfs\nlo\n"
	if got := e.must("run", "--rm", "mounted"); got != want {
		t.Errorf("run mounted: %q, want %q", got, want)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "hello.txt")); err != nil || string(b) != "hello from the context\n" {
		t.Errorf("the rw bind changed the context: %q %v", b, err)
	}
	if ents, _ := os.ReadDir(filepath.Join(e.runRoot, "build-tmp")); len(ents) > 0 {
		t.Errorf("temporary files left by the build: %v", ents)
	}
	// The cache outlives the build: a step that reruns (--no-cache)
	// finds what the last one left.
	e.must("build", "--no-cache", "-t", "mounted", dir)
	if got := e.must("run", "--rm", "mounted", "cat", "/runs"); got != "2\n" {
		t.Errorf("runs recorded in the cache after two builds: %q", got)
	}
	if ps := e.must("ps", "-aq"); ps != "" {
		t.Errorf("containers left behind: %q", ps)
	}
	// builder prune removes the cache (docker's CLI asks the same
	// endpoint); the next build starts it again.
	caches := filepath.Join(e.root, "build-cache")
	if ents, err := os.ReadDir(caches); err != nil || len(ents) != 1 {
		t.Fatalf("caches: %v %v", ents, err)
	}
	if df := e.must("system", "df"); !regexp.MustCompile(`Build Cache\s+1\s+0\s`).MatchString(df) {
		t.Errorf("system df with one cache, unused:\n%s", df)
	}
	if out := e.must("builder", "prune", "-f"); !strings.Contains(out, "Deleted build cache objects:\n") || !strings.Contains(out, "Total reclaimed space: ") {
		t.Errorf("builder prune:\n%s", out)
	}
	if ents, _ := os.ReadDir(caches); len(ents) != 0 {
		t.Errorf("caches left after a prune: %v", ents)
	}
	e.must("build", "--no-cache", "-t", "mounted", dir)
	if got := e.must("run", "--rm", "mounted", "cat", "/runs"); got != "1\n" {
		t.Errorf("runs recorded in the cache after a prune: %q", got)
	}
	if _, err := exec.LookPath("docker"); err == nil {
		// docker's classic builder sends the Dockerfile as it is.
		cmd := exec.Command("docker", "build", "-t", "mounted-docker", dir)
		cmd.Env = append(os.Environ(), "DOCKER_HOST=unix://"+e.sock(), "DOCKER_BUILDKIT=0")
		if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "Successfully tagged mounted-docker:latest") {
			t.Errorf("docker build: %v\n%s", err, out)
		} else if got := e.must("run", "--rm", "mounted-docker"); got != want {
			t.Errorf("run mounted-docker: %q, want %q", got, want)
		}
		out, _, code := e.docker("builder", "prune", "-f")
		if ents, _ := os.ReadDir(caches); code != 0 || len(ents) != 0 || !strings.Contains(out, "Total reclaimed space") {
			t.Errorf("docker builder prune: exit %d, caches %v:\n%s", code, ents, out)
		}
	}
	if out, errOut, code := e.hako("build", "-t", "ssh", buildContext(t, "FROM busybox\nRUN --mount=type=ssh true\n")); code == 0 || !strings.Contains(out+errOut, "RUN --mount=type=ssh is not supported") {
		t.Errorf("an ssh mount: exit %d:\n%s%s", code, out, errOut)
	}
}

// What docker build gives every RUN step's container: --network (none,
// host), --add-host, --memory, --shm-size; for hako's CLI and docker's.
func TestBuildRunHostConfig(t *testing.T) {
	e := newHakoEnv(t)
	e.busybox()
	df := "FROM busybox\nRUN ls /sys/class/net | tr '\\n' ' ' > /nets; grep -c '^1.2.3.4\\sfoo$' /etc/hosts > /hosts; cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null > /mem || cat /sys/fs/cgroup/memory.max > /mem; df -k /dev/shm | awk 'NR==2 {print $2}' > /shm\nCMD cat /nets /hosts /mem /shm\n"
	dir := buildContext(t, df)
	e.must("build", "--network", "none", "--add-host", "foo:1.2.3.4", "--memory", "64m", "--shm-size", "8m", "-t", "hc", dir)
	if got := e.must("run", "--rm", "hc"); got != "lo 1\n67108864\n8192\n" {
		t.Errorf("RUN with --network none --add-host --memory 64m --shm-size 8m: %q", got)
	}
	// host: the host's interfaces (only their names are read).
	e.must("build", "--no-cache", "--network", "host", "-t", "hc", dir)
	if got := e.must("run", "--rm", "hc"); !strings.Contains(got, "lo ") || len(strings.Fields(strings.SplitN(got, "\n", 2)[0])) < 3 {
		t.Errorf("RUN with --network host: %q", got)
	}
	if _, errOut, code := e.hako("build", "--network", "front", dir); code == 0 || !strings.Contains(errOut, `network mode "front" is not supported for builds`) {
		t.Errorf("build --network front: exit %d: %s", code, errOut)
	}
	if _, err := exec.LookPath("docker"); err == nil {
		cmd := exec.Command("docker", "build", "--no-cache", "--network", "none", "--add-host", "foo:1.2.3.4", "--memory", "64m", "--shm-size", "8m", "-t", "hc-docker", dir)
		cmd.Env = append(os.Environ(), "DOCKER_HOST=unix://"+e.sock(), "DOCKER_BUILDKIT=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("docker build: %v\n%s", err, out)
		} else if got := e.must("run", "--rm", "hc-docker"); got != "lo 1\n67108864\n8192\n" {
			t.Errorf("docker build's RUN: %q", got)
		}
	}
}

// A remote build context: a git repository (served by git daemon on
// 127.0.0.1, with #ref:subdir) or an http URL of a tar or of a Dockerfile
// alone, fetched by the daemon.
func TestBuildRemoteContext(t *testing.T) {
	git, err := exec.LookPath("git")
	if err != nil {
		t.Skip("needs git")
	}
	e := newHakoEnv(t)
	e.busybox()
	repos := t.TempDir()
	repo := filepath.Join(repos, "app.git")
	run := func(dir string, args ...string) {
		t.Helper()
		cmd := exec.Command(git, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	work := t.TempDir()
	os.MkdirAll(filepath.Join(work, "sub"), 0o755)
	os.WriteFile(filepath.Join(work, "Dockerfile"), []byte("FROM busybox\nCOPY msg /msg\nCMD cat /msg\n"), 0o644)
	os.WriteFile(filepath.Join(work, "msg"), []byte("from the main branch\n"), 0o644)
	os.WriteFile(filepath.Join(work, "sub", "Dockerfile"), []byte("FROM busybox\nCOPY . /ctx\nCMD ls /ctx\n"), 0o644)
	os.WriteFile(filepath.Join(work, "sub", "only-in-sub"), nil, 0o644)
	run(work, "init", "-q", "-b", "main")
	run(work, "add", ".")
	run(work, "commit", "-q", "-m", "one")
	run(work, "tag", "v1")
	os.WriteFile(filepath.Join(work, "msg"), []byte("from the second commit\n"), 0o644)
	run(work, "commit", "-q", "-am", "two")
	run(repos, "clone", "-q", "--bare", work, repo)
	// git daemon on a free loopback port, ended by its PID.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	gd := exec.Command(git, "daemon", "--reuseaddr", "--export-all", "--listen=127.0.0.1", fmt.Sprintf("--port=%d", port), "--base-path="+repos, repos)
	if err := gd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { gd.Process.Kill(); gd.Wait() }()
	url := fmt.Sprintf("git://127.0.0.1:%d/app.git", port)
	deadline := time.Now().Add(10 * time.Second)
	for exec.Command(git, "ls-remote", url).Run() != nil {
		if time.Now().After(deadline) {
			t.Fatal("git daemon did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
	for ref, want := range map[string]string{"": "from the second commit\n", "#v1": "from the main branch\n", "#main:sub": "Dockerfile\nonly-in-sub\n"} {
		tag := "remote" + strings.NewReplacer("#", "-", ":", "-").Replace(ref)
		e.must("build", "-t", tag, url+ref)
		if got := e.must("run", "--rm", tag); got != want {
			t.Errorf("build %s%s: the image shows %q, want %q", url, ref, got, want)
		}
	}
	if _, errOut, code := e.hako("build", url+"#nosuchref"); code == 0 || !strings.Contains(errOut, "git fetch") {
		t.Errorf("a missing ref: exit %d: %s", code, errOut)
	}

	// http: a tar, a Dockerfile alone.
	var ctxTar bytes.Buffer
	tw := tar.NewWriter(&ctxTar)
	df := "FROM busybox\nCOPY f /f\nCMD cat /f\n"
	tw.WriteHeader(&tar.Header{Name: "Dockerfile", Mode: 0o644, Size: int64(len(df))})
	tw.Write([]byte(df))
	tw.WriteHeader(&tar.Header{Name: "f", Mode: 0o644, Size: 9})
	tw.Write([]byte("from tar\n"))
	tw.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ctx.tar":
			w.Write(ctxTar.Bytes())
		case "/Dockerfile":
			io.WriteString(w, "FROM busybox\nCMD echo from a Dockerfile URL\n")
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	e.must("build", "-t", "httptar", srv.URL+"/ctx.tar")
	if got := e.must("run", "--rm", "httptar"); got != "from tar\n" {
		t.Errorf("http tar context: %q", got)
	}
	e.must("build", "-t", "httpdf", srv.URL+"/Dockerfile")
	if got := e.must("run", "--rm", "httpdf"); got != "from a Dockerfile URL\n" {
		t.Errorf("http Dockerfile context: %q", got)
	}
	if _, errOut, code := e.hako("build", srv.URL+"/missing"); code == 0 || !strings.Contains(errOut, "404") {
		t.Errorf("a missing URL: exit %d: %s", code, errOut)
	}
}

// --cache-from: an image that lost its build cache (saved, removed,
// loaded back, as one pulled from a registry) stands in for the steps of
// a rebuild whose history it shares: no step runs and the result is
// that image; a changed file breaks the match from its COPY on, and
// without --cache-from every step runs.
func TestBuildCacheFrom(t *testing.T) {
	e := newHakoEnv(t)
	e.busybox()
	dir := buildContext(t, "FROM busybox\nENV STAGE=one\nWORKDIR /app\nCOPY hello.txt .\nRUN echo ran > /ran.txt\nLABEL done=yes\n")
	e.must("build", "-q", "-t", "cached:1", dir)
	id := strings.TrimSpace(e.must("images", "-q", "--no-trunc", "cached:1"))
	tarPath := filepath.Join(t.TempDir(), "cached.tar")
	e.must("save", "-o", tarPath, "cached:1")
	e.must("rmi", "cached:1")
	if out := e.must("images", "-a", "-q"); len(strings.Fields(out)) != 1 {
		t.Fatalf("the build's images are still there: %q", out)
	}
	e.must("load", "-i", tarPath)
	out := e.must("build", "--cache-from", "cached:1", "-t", "again", dir)
	if strings.Contains(out, "Running in") || strings.Count(out, "Using cache") != 5 {
		t.Fatalf("a rebuild with --cache-from ran steps:\n%s", out)
	}
	if got := strings.TrimSpace(e.must("images", "-q", "--no-trunc", "again")); got != id {
		t.Fatalf("rebuilt %s, want the cache-from image %s", got, id)
	}
	if got := e.must("run", "--rm", "again", "cat", "/ran.txt", "/app/hello.txt"); got != "ran\nhello from the context\n" {
		t.Fatalf("the rebuilt image's files: %q", got)
	}
	// A changed file: its COPY and what follows run.
	os.WriteFile(filepath.Join(dir, "hello.txt"), []byte("changed\n"), 0o644)
	out = e.must("build", "--cache-from", "cached:1", "-t", "changed", dir)
	if strings.Count(out, "Using cache") != 2 || !strings.Contains(out, "Running in") {
		t.Fatalf("a rebuild after a change:\n%s", out)
	}
	if got := e.must("run", "--rm", "changed", "cat", "/app/hello.txt"); got != "changed\n" {
		t.Fatalf("the changed file: %q", got)
	}
	if got := e.must("history", "--no-trunc", "--format", "{{.CreatedBy}}", "changed"); !regexp.MustCompile(`#\(nop\) COPY hello.txt \. # file:[0-9a-f]{64}\n`).MatchString(got) {
		t.Fatalf("COPY's history names no checksum:\n%s", got)
	}
}

// hako build --secret: RUN --mount=type=secret reads the secret (a file
// and a variable), and it is nowhere in the image: not in the layer (the
// mount point goes too), the history, the config or the saved archive.
func TestBuildSecret(t *testing.T) {
	e := newHakoEnv(t)
	e.busybox()
	// The step checks the secret by its MD5, so that its own text (in the
	// history) does not hold the value.
	dir := buildContext(t, "FROM busybox\nRUN --mount=type=secret,id=tok --mount=type=secret,id=tok,env=TOK test \"$(md5sum < /run/secrets/tok | cut -c1-32)\" = dfe5e226b6e19e8fb9d764084d02923a && test \"$(printf %s \"$TOK\" | md5sum | cut -c1-32)\" = dfe5e226b6e19e8fb9d764084d02923a && echo used > /used\n")
	src := filepath.Join(t.TempDir(), "tok")
	os.WriteFile(src, []byte("s3cret-value"), 0o600)
	e.must("build", "-q", "--secret", "id=tok,src="+src, "-t", "withsecret", dir)
	if got := e.must("run", "--rm", "withsecret", "sh", "-c", "cat /used; ls /run/secrets 2>&1; echo $TOK"); got != "used\nls: /run/secrets: No such file or directory\n\n" {
		t.Fatalf("the image: %q", got)
	}
	tarPath := filepath.Join(t.TempDir(), "img.tar")
	e.must("save", "-o", tarPath, "withsecret")
	raw, _ := os.ReadFile(tarPath)
	hist := e.must("history", "--no-trunc", "withsecret")
	cfg := e.must("image", "inspect", "withsecret")
	for what, s := range map[string]string{"saved image": string(raw), "history": hist, "config": cfg} {
		if strings.Contains(s, "s3cret-value") {
			t.Errorf("the secret is in the %s", what)
		}
	}
	// Without the secret, a required mount fails the build.
	req := buildContext(t, "FROM busybox\nRUN --mount=type=secret,id=tok,required true\n")
	if _, errOut, code := e.hako("build", req); code == 0 || !strings.Contains(errOut, "the secret is required") {
		t.Fatalf("a required secret missing: exit %d: %q", code, errOut)
	}
}
