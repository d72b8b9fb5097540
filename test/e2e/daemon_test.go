package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hako-dev/hako/internal/client"
	"github.com/hako-dev/hako/internal/testutil"
)

// hakoEnv is an isolated daemon's directories; the CLI starts the daemon
// itself on first use.
type hakoEnv struct {
	t             *testing.T
	bin           string
	root, runRoot string
	env           []string // extra environment for every command
	bridge        string   // the daemon's default bridge (HAKO_BRIDGE)
}

func newHakoEnv(t *testing.T) *hakoEnv {
	testutil.RequireRoot(t)
	dir := t.TempDir()
	e := &hakoEnv{t: t, bin: testutil.HakoBinary(t), root: filepath.Join(dir, "root"), runRoot: filepath.Join(dir, "run")}
	// A bridge of its own: daemons side by side must not share one (see
	// network_test.go), and what a killed daemon leaves is removed.
	e.bridge = fmt.Sprintf("hk%08x", rand.Uint32())
	e.env = append(e.env, "HAKO_BRIDGE="+e.bridge)
	t.Cleanup(e.cleanNetworks)
	t.Cleanup(e.stopDaemon)
	return e
}

func (e *hakoEnv) sock() string { return filepath.Join(e.runRoot, "hako.sock") }

func (e *hakoEnv) cmd(args ...string) *exec.Cmd {
	cmd := exec.Command(e.bin, args...)
	cmd.Env = append(append(os.Environ(), "HAKO_ROOT="+e.root, "HAKO_RUNROOT="+e.runRoot, "HAKO_HOST="), e.env...)
	return cmd
}

// hako runs the CLI and returns stdout, stderr and the exit status.
func (e *hakoEnv) hako(args ...string) (string, string, int) {
	e.t.Helper()
	cmd := e.cmd(args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatal(err)
	}
	return out.String(), errOut.String(), code
}

func (e *hakoEnv) daemonPid() int {
	b, err := os.ReadFile(filepath.Join(e.runRoot, "hako.pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// stopDaemon removes the containers the test left, ends the daemon this
// test started and its container monitor, by their pids, and waits.
func (e *hakoEnv) stopDaemon() {
	pid := e.daemonPid()
	if pid > 0 && alive(pid) {
		if cl, err := client.New("unix://" + e.sock()); err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			if list, err := cl.ContainerList(ctx, true, false, 0, nil); err == nil {
				for _, c := range list {
					cl.ContainerRemove(ctx, c.ID, true, true)
				}
			}
			cancel()
		}
	}
	defer removeEmptyCgroupParents()
	defer e.stopMonitor()
	if pid <= 0 {
		return
	}
	syscall.Kill(pid, syscall.SIGTERM)
	for range 200 {
		if !alive(pid) {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	syscall.Kill(pid, syscall.SIGKILL)
}

func (e *hakoEnv) monitorPid() int {
	b, err := os.ReadFile(filepath.Join(e.runRoot, "monitor", "monitor.pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// stopMonitor ends the container monitor by its pid (after the
// containers are gone).
func (e *hakoEnv) stopMonitor() {
	pid := e.monitorPid()
	if pid <= 0 || !alive(pid) {
		return
	}
	syscall.Kill(pid, syscall.SIGTERM)
	for range 200 {
		if !alive(pid) {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	syscall.Kill(pid, syscall.SIGKILL)
}

// The CLI starts a daemon when none answers, and that daemon serves the
// Engine API to the hako client and to the real docker CLI.
func TestDaemonAutostartAndAPI(t *testing.T) {
	e := newHakoEnv(t)
	out, errOut, code := e.hako("info", "--format", "{{.ID}} {{.DockerRootDir}} {{.OSType}}")
	if code != 0 {
		log, _ := os.ReadFile(filepath.Join(e.runRoot, "hako.log"))
		t.Fatalf("hako info: exit %d: %s\ndaemon log:\n%s", code, errOut, log)
	}
	f := strings.Fields(out)
	if len(f) != 3 || len(f[0]) != 32 || f[1] != e.root || f[2] != "linux" {
		t.Fatalf("info: %q", out)
	}
	st, err := os.Stat(e.sock())
	if err != nil || st.Mode().Perm() != 0o660 || st.Mode()&os.ModeSocket == 0 {
		t.Fatalf("socket: %v %v", st, err)
	}
	// No plugins, and no swarm mode: answers, not "page not found".
	uc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", e.sock())
	}}}
	for path, want := range map[string]string{"/v1.51/plugins": "200 []", "/v1.51/nodes": "503 This node is not a swarm manager", "/v1.51/services": "503 This node is not a swarm manager"} {
		resp, err := uc.Get("http://hako" + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		code, text, _ := strings.Cut(want, " ")
		if strconv.Itoa(resp.StatusCode) != code || !strings.Contains(string(body), text) {
			t.Errorf("GET %s: %d %s, want %s", path, resp.StatusCode, body, want)
		}
	}
	// The same daemon answers the second time, with the same ID.
	pid := e.daemonPid()
	out2, _, _ := e.hako("info", "--format", "{{.ID}}")
	if strings.TrimSpace(out2) != f[0] || e.daemonPid() != pid {
		t.Fatalf("a second daemon? %q vs %q", out2, f[0])
	}
	// A second daemon on the same directories refuses to start.
	_, errOut, code = e.hako("daemon")
	if code == 0 || !strings.Contains(errOut, "another hako daemon (pid "+strconv.Itoa(pid)+")") {
		t.Errorf("second daemon: exit %d, %q", code, errOut)
	}

	cl, err := client.New("unix://" + e.sock())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := cl.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	v, err := cl.Version(ctx)
	if err != nil || v.APIVersion == "" || v.MinAPIVersion == "" || v.Os != "linux" {
		t.Fatalf("version: %+v %v", v, err)
	}
	// Events until a time in the near future end by themselves.
	msgs, errc := cl.Events(ctx, client.EventsOptions{Until: time.Now().Add(300 * time.Millisecond)})
	for range msgs {
	}
	if err := <-errc; err != nil {
		t.Fatalf("events: %v", err)
	}

	if _, err := exec.LookPath("docker"); err == nil {
		cmd := exec.Command("docker", "version", "--format", "{{json .Server}}")
		cmd.Env = append(os.Environ(), "DOCKER_HOST=unix://"+e.sock())
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("docker version: %v: %s", err, out)
		}
		var sv struct{ Version, APIVersion string }
		if err := json.Unmarshal(out, &sv); err != nil || sv.Version == "" {
			t.Fatalf("docker version: %s (%v)", out, err)
		}
	} else {
		t.Log("docker CLI not installed: skipped its part")
	}
}

// A daemon killed with SIGKILL leaves a stale socket and pid file; the
// next CLI call starts a new daemon over them, keeping the daemon's ID.
func TestDaemonRestartAfterKill(t *testing.T) {
	e := newHakoEnv(t)
	out, errOut, code := e.hako("info", "--format", "{{.ID}}")
	if code != 0 {
		t.Fatalf("info: %d %s", code, errOut)
	}
	pid := e.daemonPid()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for alive(pid) {
		time.Sleep(10 * time.Millisecond)
	}
	out2, errOut, code := e.hako("info", "--format", "{{.ID}}")
	if code != 0 || out2 != out {
		t.Fatalf("after kill -9: exit %d, %q (want %q): %s", code, out2, out, errOut)
	}
	if e.daemonPid() == pid {
		t.Fatal("pid file not rewritten")
	}
}

// An explicit -H never starts a daemon.
func TestDaemonHostFlagDoesNotStart(t *testing.T) {
	e := newHakoEnv(t)
	sock := filepath.Join(t.TempDir(), "none.sock")
	_, errOut, code := e.hako("-H", "unix://"+sock, "info")
	if code != 125 || !strings.Contains(errOut, "cannot connect to the hako daemon at unix://"+sock) {
		t.Fatalf("exit %d: %q", code, errOut)
	}
	if _, err := os.Stat(e.runRoot); err == nil {
		t.Fatal("a daemon was started")
	}
}

// alive reports whether any thread of pid still runs (a zombie waiting
// for its reaper does not; a zombie leader whose other threads are still
// exiting, and may still hold its files, does).
func alive(pid int) bool {
	tasks, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	if err != nil {
		return false
	}
	for _, t := range tasks {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + t.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		if i := strings.LastIndexByte(s, ')'); i < 0 || i+2 >= len(s) || s[i+2] != 'Z' {
			return true
		}
	}
	return false
}

// removeEmptyCgroupParents removes the daemons' parent cgroups
// (/sys/fs/cgroup/*/hako) once no container is left in them; rmdir
// fails on a cgroup still in use, so another test's daemon keeps its own.
func removeEmptyCgroupParents() {
	dirs, _ := filepath.Glob("/sys/fs/cgroup/*/hako")
	for _, d := range dirs {
		os.Remove(d)
	}
}
