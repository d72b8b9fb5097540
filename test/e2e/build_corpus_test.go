package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The build corpus: real-world-shaped Dockerfiles under
// testdata/build, built by `hako build` and by the docker CLI (classic
// builder API) against hako's daemon, then run and inspected.

// corpusContext copies the corpus entry name to a fresh directory,
// adding what is made at test time (webapp's assets tarball).
func corpusContext(t *testing.T, name string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	if out, err := exec.Command("cp", "-a", filepath.Join("testdata", "build", name), dir).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v: %s", err, out)
	}
	if name == "webapp" {
		if out, err := exec.Command("tar", "-C", filepath.Join(dir, "assets"), "-czf", filepath.Join(dir, "assets.tar.gz"), ".").CombinedOutput(); err != nil {
			t.Fatalf("tar: %v: %s", err, out)
		}
	}
	return dir
}

type corpusCase struct {
	name string
	args []string
	// check asserts on the built image img and the build's output.
	check func(t *testing.T, e *hakoEnv, img, out string)
}

var buildCorpus = []corpusCase{
	{
		name: "multistage",
		args: []string{"--build-arg", "VERSION=2.5"},
		check: func(t *testing.T, e *hakoEnv, img, out string) {
			if strings.Contains(out, "linting") || strings.Contains(out, "RUN echo linting") {
				t.Errorf("the lint stage, which the target does not need, ran:\n%s", out)
			}
			if got := e.must("run", "--rm", img); got != "main program\nversion=2.5\nargs: default\n" {
				t.Errorf("run: %q", got)
			}
			if got := e.must("run", "--rm", img, "a", "b"); got != "main program\nversion=2.5\nargs: a b\n" {
				t.Errorf("run with args: %q", got)
			}
			if got := e.must("run", "--rm", "--entrypoint", "sh", img, "-c", "id -u; pwd; stat -c '%u %g %n' /data/*; cmp /etc/group /etc/group.orig && echo same"); got != "65534\n/data\n65534 65534 /data/main.txt\n0 0 /data/tested\nsame\n" {
				t.Errorf("user, workdir, files: %q", got)
			}
			if got := e.format(img, "{{json .Config.Entrypoint}} {{json .Config.Cmd}} {{.Config.User}} {{index .Config.Labels \"org.opencontainers.image.title\"}}"); got != `["/bin/sh","-c","cat /usr/local/bin/app; echo \"args: $*\"","--"] ["default"] nobody multistage` {
				t.Errorf("config: %s", got)
			}
			hist := e.must("history", "--no-trunc", img)
			for _, want := range []string{"COPY --from=builder /out/app /usr/local/bin/app", "COPY --from=0 --chown=nobody:nogroup /src/main.txt /data/", "USER nobody"} {
				if !strings.Contains(hist, want) {
					t.Errorf("history lacks %q:\n%s", want, hist)
				}
			}
			// The builder stage's RUN is not in the final image's history.
			if strings.Contains(hist, "mkdir -p /out") {
				t.Errorf("history has the builder stage's steps:\n%s", hist)
			}
		},
	},
	{
		name: "webapp",
		args: []string{"--build-arg", "PORT=9000"},
		check: func(t *testing.T, e *hakoEnv, img, out string) {
			want := "hello web on 9000\nuser 1001:1001 in /srv/www\napp.js\nstyle.css\nDockerfile\nassets.tar.gz\nindex.html\nrun.sh\n"
			if got := e.must("run", "--rm", img); got != want {
				t.Errorf("run: %q, want %q", got, want)
			}
			if got := e.must("run", "--rm", "--entrypoint", "sh", img, "-c", "stat -c '%a %u:%g %n' /usr/local/bin/run /srv/www/index.html /srv/assets/app.js; echo $PORT $NAME"); got != "755 0:0 /usr/local/bin/run\n644 1001:1001 /srv/www/index.html\n644 0:0 /srv/assets/app.js\n9000 web\n" {
				t.Errorf("modes, owners, env: %q", got)
			}
			cfg := e.format(img, "{{json .Config.ExposedPorts}} {{json .Config.Volumes}} {{.Config.StopSignal}} {{json .Config.Healthcheck.Test}} {{.Config.Healthcheck.Interval}} {{json .Config.OnBuild}} {{json .Config.Shell}} {{json .Config.Entrypoint}}")
			if cfg != `{"9000/tcp":{},"9090/tcp":{}} {"/srv/data":{}} SIGTERM ["CMD-SHELL","wget -q -O- http://127.0.0.1:$PORT/ || exit 1"] 30s ["RUN echo triggered > /tmp/onbuild"] ["/bin/sh","-ec"] ["/bin/sh","-ec","exec /usr/local/bin/run"]` {
				t.Errorf("config: %s", cfg)
			}
			hist := e.must("history", "--no-trunc", img)
			for _, want := range []string{"ENV PORT=9000 NAME=web", "ENV GREETING=hello web", "|1 PORT=9000 /bin/sh -ec echo \"web:x:1001", "ADD assets.tar.gz /srv/assets/"} {
				if !strings.Contains(hist, want) {
					t.Errorf("history lacks %q:\n%s", want, hist)
				}
			}
		},
	},
	{
		name: "heredoc",
		args: []string{"--build-arg", "SIZE=large"},
		check: func(t *testing.T, e *hakoEnv, img, out string) {
			if got := e.must("run", "--rm", img); got != "flavor vanilla large\nwelcome\ngreetings\nexec form large\n" {
				t.Errorf("run: %q", got)
			}
		},
	},
}

// buildID is the image ID a build's output announces.
func buildID(t *testing.T, out string) string {
	t.Helper()
	m := regexp.MustCompile(`Successfully built ([0-9a-f]{12})`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no image ID in the build output:\n%s", out)
	}
	return m[1]
}

func TestBuildCorpus(t *testing.T) {
	e := newHakoEnv(t)
	e.busybox()
	for _, c := range buildCorpus {
		t.Run(c.name, func(t *testing.T) {
			dir := corpusContext(t, c.name)
			tag := "corpus-" + c.name
			out := e.must(append(append([]string{"build", "-t", tag}, c.args...), dir)...)
			c.check(t, e, tag, out)
			if ps := e.must("ps", "-aq"); ps != "" {
				t.Errorf("containers left behind: %q", ps)
			}
		})
	}
	// A child of webapp runs its ONBUILD trigger, and does not pass it on.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM corpus-webapp\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := e.must("build", "-t", "child", dir)
	if !strings.Contains(out, "# Executing 1 build trigger") {
		t.Errorf("build output:\n%s", out)
	}
	if got := e.must("run", "--rm", "--entrypoint", "cat", "child", "/tmp/onbuild"); got != "triggered\n" {
		t.Errorf("onbuild: %q", got)
	}
	if got := e.format("child", "{{json .Config.OnBuild}}"); got != "null" && got != "[]" {
		t.Errorf("the child kept the triggers: %s", got)
	}
}

func TestBuildDockerCLICorpus(t *testing.T) {
	docker, err := exec.LookPath("docker")
	if err != nil {
		t.Skip("needs the docker CLI")
	}
	e := newHakoEnv(t)
	e.busybox()
	for _, c := range buildCorpus {
		t.Run(c.name, func(t *testing.T) {
			dir := corpusContext(t, c.name)
			tag := "docker-" + c.name
			cmd := exec.Command(docker, append(append([]string{"build", "-t", tag}, c.args...), dir)...)
			cmd.Env = append(os.Environ(), "DOCKER_HOST=unix://"+e.sock(), "DOCKER_BUILDKIT=0")
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "Successfully tagged "+tag+":latest") {
				t.Fatalf("docker build: %v\n%s", err, out)
			}
			c.check(t, e, tag, string(out))
		})
	}
}

// stepLines are the build output's step headers and cache notes.
func stepLines(out string) []string {
	var l []string
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "Step ") || line == " ---> Using cache" || strings.HasPrefix(line, " ---> Running in ") {
			l = append(l, line)
		}
	}
	return l
}

func TestBuildCache(t *testing.T) {
	e := newHakoEnv(t)
	e.busybox()
	dir := corpusContext(t, "webapp")
	first := e.must("build", "-t", "web:1", dir)
	if strings.Contains(first, "Using cache") {
		t.Fatalf("a first build used the cache:\n%s", first)
	}
	// Unchanged: no step runs, the image is the same.
	second := e.must("build", "-t", "web:2", dir)
	if strings.Contains(second, "Running in") || strings.Count(second, " ---> Using cache\n") != 16 {
		t.Errorf("an unchanged rebuild ran steps:\n%s", second)
	}
	if a, b := buildID(t, first), buildID(t, second); a != b {
		t.Errorf("an unchanged rebuild made %s, not %s", b, a)
	}
	// The cache lives in the image store: a restarted daemon has it.
	e.stopDaemon()
	third := e.must("build", "-t", "web:3", dir)
	if buildID(t, third) != buildID(t, first) || strings.Contains(third, "Running in") {
		t.Errorf("the cache did not survive a daemon restart:\n%s", third)
	}
	// A changed copied file rebuilds from its COPY on (COPY . . copies
	// run.sh).
	if err := os.WriteFile(filepath.Join(dir, "run.sh"), []byte("#!/bin/sh\necho changed\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	fourth := e.must("build", "-t", "web:4", dir)
	steps := stepLines(fourth)
	i := slices.IndexFunc(steps, func(s string) bool { return strings.Contains(s, "COPY --chown=web:web . .") })
	if i < 0 {
		t.Fatalf("no COPY . . step:\n%s", fourth)
	}
	for _, s := range steps[:i] {
		if strings.HasPrefix(s, " ---> Running in") {
			t.Errorf("a step before the changed COPY ran:\n%s", fourth)
		}
	}
	if strings.Count(strings.Join(steps[:i], "\n"), "Using cache") != 6 {
		t.Errorf("the steps before the changed COPY did not all come from the cache:\n%s", fourth)
	}
	if strings.Contains(strings.Join(steps[i:], "\n"), "Using cache") {
		t.Errorf("a step from the changed COPY on came from the cache:\n%s", fourth)
	}
	if got := e.must("run", "--rm", "web:4"); got != "changed\n" {
		t.Errorf("run: %q", got)
	}
	// --no-cache runs everything again.
	if out := e.must("build", "--no-cache", "-t", "web:5", dir); strings.Contains(out, "Using cache") {
		t.Errorf("--no-cache used the cache:\n%s", out)
	}
	// Intermediate images are hidden from images, shown by images -a,
	// and go with image prune once nothing tagged was built on them.
	if n, all := len(strings.Fields(e.must("images", "-q"))), len(strings.Fields(e.must("images", "-aq"))); n != 4 || all <= n {
		t.Errorf("images: %d, images -a: %d", n, all)
	}
	for _, tag := range []string{"web:1", "web:2", "web:3", "web:4", "web:5"} {
		e.must("rmi", tag)
	}
	e.must("image", "prune", "-f")
	if all := strings.Fields(e.must("images", "-aq")); len(all) != 1 {
		t.Errorf("images left after rmi and prune: %v", all)
	}
}

// --target, --iidfile, a FROM image pulled when missing and again with
// --pull, and docker's config fields through a registry round trip.
func TestBuildOptions(t *testing.T) {
	e := newHakoEnv(t)
	e.busybox()
	reg := testRegistry(t)
	e.must("tag", "busybox", reg+"/lib/box:1")
	e.must("push", reg+"/lib/box:1")
	e.must("rmi", reg+"/lib/box:1")

	dir := t.TempDir()
	df := "FROM " + reg + "/lib/box:1 AS base\nRUN echo base > /base\n" +
		"FROM base AS test\nRUN echo tested > /tested\n" +
		"FROM base\nHEALTHCHECK CMD true\nSHELL [\"/bin/sh\", \"-xc\"]\nONBUILD RUN true\nCMD cat /base\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	iid := filepath.Join(t.TempDir(), "iid")
	out := e.must("build", "--target", "test", "--iidfile", iid, "-t", "opt:test", dir)
	if !strings.Contains(out, "Pulling image "+reg+"/lib/box:1") {
		t.Errorf("the missing FROM image was not pulled:\n%s", out)
	}
	id, err := os.ReadFile(filepath.Join(iid))
	if err != nil || string(id) != e.format("opt:test", "{{.Id}}") {
		t.Errorf("iidfile %q (%v), image %s", id, err, e.format("opt:test", "{{.Id}}"))
	}
	if got := e.must("run", "--rm", "opt:test", "cat", "/base", "/tested"); got != "base\ntested\n" {
		t.Errorf("target test: %q", got)
	}
	if strings.Contains(out, "HEALTHCHECK") {
		t.Errorf("the last stage ran for --target test:\n%s", out)
	}
	out = e.must("build", "--pull", "-t", "opt:final", dir)
	if !strings.Contains(out, "Pulling image "+reg+"/lib/box:1") || !strings.Contains(out, "Status: Image is up to date") {
		t.Errorf("--pull did not pull:\n%s", out)
	}
	// The config keeps docker's fields in a registry and back.
	e.must("tag", "opt:final", reg+"/lib/final:1")
	e.must("push", reg+"/lib/final:1")
	e2 := newHakoEnv(t)
	e2.must("pull", reg+"/lib/final:1")
	if got := e2.format(reg+"/lib/final:1", "{{json .Config.Healthcheck.Test}} {{json .Config.Shell}} {{json .Config.OnBuild}} {{json .Config.Cmd}}"); got != `["CMD-SHELL","true"] ["/bin/sh","-xc"] ["RUN true"] ["/bin/sh","-xc","cat /base"]` {
		t.Errorf("config after a registry round trip: %s", got)
	}
}
