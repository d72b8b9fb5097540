package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/hako-dev/hako/internal/testutil"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestRuntimeRunExitCodes(t *testing.T) {
	r := newRT(t)
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"true"}, 0},
		{[]string{"sh", "-c", "exit 3"}, 3},
		// Without a pid namespace: the init of one ignores signals
		// from inside it.
		{[]string{"sh", "-c", "kill -9 $$"}, 137},
		{[]string{"no-such-program"}, 127},
	} {
		s := testutil.Spec(t, tc.args...)
		if tc.code == 137 {
			var ns []specs.LinuxNamespace
			for _, n := range s.Linux.Namespaces {
				if n.Type != specs.PIDNamespace {
					ns = append(ns, n)
				}
			}
			s.Linux.Namespaces = ns
		}
		b := testutil.Bundle(t, s)
		cid := id(t)
		_, errOut, code := r.run("run", "--bundle", b, cid)
		if code != tc.code {
			t.Errorf("%v: exit %d, want %d (%s)", tc.args, code, tc.code, errOut)
		}
		r.assertGone(cid)
	}
}

func TestRuntimeNotFoundMessage(t *testing.T) {
	r := newRT(t)
	b := testutil.Bundle(t, testutil.Spec(t, "no-such-program"))
	_, errOut, _ := r.run("run", "--bundle", b, id(t))
	if !strings.Contains(errOut, `exec "no-such-program": executable file not found in $PATH`) || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
		t.Errorf("unhelpful error: %q", errOut)
	}
}

func TestRuntimePidNamespace(t *testing.T) {
	r := newRT(t)
	s := testutil.Spec(t, "ps", "-o", "pid,comm")
	b := testutil.Bundle(t, s)
	cid := id(t)
	out := r.must("run", "--bundle", b, cid)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || strings.Fields(lines[1])[0] != "1" || strings.Fields(lines[1])[1] != "ps" {
		t.Fatalf("ps in the container sees other processes or is not pid 1:\n%s", out)
	}
}

func TestRuntimeHostnameAndMounts(t *testing.T) {
	r := newRT(t)
	s := testutil.Spec(t, "sh", "-c", "hostname; grep -c ' /proc ' /proc/mounts; cat /proc/self/uid_map | wc -l; readlink /dev/ptmx")
	s.Hostname = "box"
	b := testutil.Bundle(t, s)
	out := r.must("run", "--bundle", b, id(t))
	f := strings.Fields(out)
	if len(f) < 4 || f[0] != "box" || f[1] != "1" || f[3] != "pts/ptmx" {
		t.Fatalf("unexpected container view: %q", out)
	}
}

func TestRuntimeLifecycle(t *testing.T) {
	r := newRT(t)
	s := testutil.Spec(t, "sleep", "1000")
	b := testutil.Bundle(t, s)
	cid := id(t)
	pidFile := filepath.Join(t.TempDir(), "pid")
	r.must("create", "--bundle", b, "--pid-file", pidFile, cid)
	st := r.state(cid)
	if st.Status != "created" || st.Pid <= 0 || st.Bundle != b {
		t.Fatalf("after create: %+v", st)
	}
	pid, _ := os.ReadFile(pidFile)
	if string(pid) != strconv.Itoa(st.Pid) {
		t.Errorf("pid file %q, state pid %d", pid, st.Pid)
	}
	// The init waits: it must not run the process before start.
	comm, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(st.Pid), "comm"))
	if strings.TrimSpace(string(comm)) == "sleep" {
		t.Fatal("process ran before start")
	}
	if _, _, code := r.run("delete", cid); code == 0 {
		t.Fatal("delete of a created container without --force succeeded")
	}
	r.must("start", cid)
	if st := r.state(cid); st.Status != "running" {
		t.Fatalf("after start: %+v", st)
	}
	if _, _, code := r.run("start", cid); code == 0 {
		t.Error("second start succeeded")
	}
	if _, _, code := r.run("create", "--bundle", b, cid); code == 0 {
		t.Error("create with an existing ID succeeded")
	}
	list := r.must("list")
	if !strings.Contains(list, cid) || !strings.Contains(list, "running") {
		t.Errorf("list:\n%s", list)
	}
	r.must("kill", cid, "KILL")
	r.waitStatus(cid, "stopped")
	r.must("delete", cid)
	if _, errOut, code := r.run("state", cid); code == 0 || !strings.Contains(errOut, "does not exist") {
		t.Errorf("state after delete: %d %s", code, errOut)
	}
	r.assertGone(cid)
}

func TestRuntimeExec(t *testing.T) {
	r := newRT(t)
	s := testutil.Spec(t, "sleep", "1000")
	s.Hostname = "exec-box"
	b := testutil.Bundle(t, s)
	cid := id(t)
	r.must("run", "-d", "--bundle", b, cid)
	out := r.must("exec", cid, "sh", "-c", "hostname; echo $$; id -u")
	f := strings.Fields(out)
	if len(f) != 3 || f[0] != "exec-box" || f[1] == "1" || f[2] != "0" {
		t.Errorf("exec output: %q", out)
	}
	out = r.must("exec", "--user", "65534:65534", "--cwd", "/tmp", "--env", "X=y", cid, "sh", "-c", "id -u; pwd; echo $X")
	if f := strings.Fields(out); len(f) != 3 || f[0] != "65534" || f[1] != "/tmp" || f[2] != "y" {
		t.Errorf("exec with flags: %q", out)
	}
	if _, _, code := r.run("exec", cid, "sh", "-c", "exit 7"); code != 7 {
		t.Errorf("exec exit code %d, want 7", code)
	}
	// The exec'd process is in the container's cgroup and pid namespace.
	out = r.must("exec", cid, "ps", "-o", "comm")
	if !strings.Contains(out, "sleep") {
		t.Errorf("exec'd ps does not see the container's init: %q", out)
	}
	ps := r.must("ps", "--format", "json", cid)
	if strings.Count(ps, ",") != 0 {
		t.Errorf("ps after exec'd processes exited: %s", ps)
	}
	r.must("delete", "-f", cid)
	r.assertGone(cid)
}

func TestRuntimePauseResume(t *testing.T) {
	r := newRT(t)
	b := testutil.Bundle(t, testutil.Spec(t, "sleep", "1000"))
	cid := id(t)
	r.must("run", "-d", "--bundle", b, cid)
	r.must("pause", cid)
	if st := r.state(cid); st.Status != "paused" {
		t.Fatalf("after pause: %s", st.Status)
	}
	r.must("resume", cid)
	if st := r.state(cid); st.Status != "running" {
		t.Fatalf("after resume: %s", st.Status)
	}
	r.must("delete", "-f", cid)
	r.assertGone(cid)
}

func TestRuntimeHooks(t *testing.T) {
	r := newRT(t)
	log := filepath.Join(t.TempDir(), "hooks.log")
	hook := func(name string) specs.Hook {
		// Each hook logs its name and the status it was given on stdin.
		return specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c", `read s; echo ` + name + ` $(echo "$s" | sed -n 's/.*"status":"\([a-z]*\)".*/\1/p') >> ` + log}}
	}
	s := testutil.Spec(t, "true")
	s.Hooks = &specs.Hooks{
		Prestart:        []specs.Hook{hook("prestart")},
		CreateRuntime:   []specs.Hook{hook("createRuntime")},
		CreateContainer: []specs.Hook{hook("createContainer")},
		Poststart:       []specs.Hook{hook("poststart")},
		Poststop:        []specs.Hook{hook("poststop")},
	}
	b := testutil.Bundle(t, s)
	cid := id(t)
	r.must("create", "--bundle", b, cid)
	r.must("start", cid)
	r.waitStatus(cid, "stopped")
	r.must("delete", cid)
	got, _ := os.ReadFile(log)
	want := "prestart created\ncreateRuntime created\ncreateContainer created\npoststart running\npoststop stopped\n"
	if string(got) != want {
		t.Errorf("hooks ran as:\n%s\nwant:\n%s", got, want)
	}
}

func TestRuntimeFailingHookCleansUp(t *testing.T) {
	r := newRT(t)
	s := testutil.Spec(t, "true")
	s.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{Path: "/bin/false"}}}
	b := testutil.Bundle(t, s)
	cid := id(t)
	_, errOut, code := r.run("create", "--bundle", b, cid)
	if code == 0 || !strings.Contains(errOut, "hooks.createRuntime[0] /bin/false") {
		t.Fatalf("failing hook: exit %d, %q", code, errOut)
	}
	r.assertGone(cid)
}

// A failing poststart hook fails start and stops the container
// (runtime-spec lifecycle, step 9).
func TestRuntimeFailingPoststart(t *testing.T) {
	r := newRT(t)
	s := testutil.Spec(t, "sleep", "100")
	s.Hooks = &specs.Hooks{Poststart: []specs.Hook{{Path: "/bin/false"}}}
	b := testutil.Bundle(t, s)
	cid := id(t)
	r.must("create", "--bundle", b, cid)
	defer r.run("delete", "-f", cid)
	if _, errOut, code := r.run("start", cid); code == 0 || !strings.Contains(errOut, "poststart") {
		t.Fatalf("failing poststart hook: exit %d, %q", code, errOut)
	}
	r.waitStatus(cid, "stopped")
	r.must("delete", cid)
	r.assertGone(cid)
}

// TestRuntimeCgroupEntry checks that the container process and an exec'd
// process are in the container's cgroup in every hierarchy: the init joins
// its cgroup itself (a thread writing to v1 "tasks" files, CLONE_INTO_CGROUP
// on cgroup v2), and the thread that does so must be the one that executes
// the container process.
func TestRuntimeCgroupEntry(t *testing.T) {
	r := newRT(t)
	cid := id(t)
	check := func(what, out string) {
		t.Helper()
		lines := strings.Fields(out)
		if len(lines) == 0 {
			t.Fatalf("%s: no /proc/self/cgroup lines", what)
		}
		for _, l := range lines {
			if !strings.HasSuffix(l, "/"+cid) {
				t.Errorf("%s: %q is not the container's cgroup (…/%s)", what, l, cid)
			}
		}
	}
	// Without a cgroup namespace, /proc/self/cgroup shows the host's paths.
	spec := func(args ...string) *specs.Spec {
		s := testutil.Spec(t, args...)
		s.Linux.Namespaces = slices.DeleteFunc(s.Linux.Namespaces, func(ns specs.LinuxNamespace) bool {
			return ns.Type == specs.CgroupNamespace
		})
		return s
	}
	b := testutil.Bundle(t, spec("cat", "/proc/self/cgroup"))
	check("run", r.must("run", "--bundle", b, cid))
	r.assertGone(cid)

	b = testutil.Bundle(t, spec("sleep", "1000"))
	r.must("run", "-d", "--bundle", b, cid)
	check("exec", r.must("exec", cid, "cat", "/proc/self/cgroup"))
	// The init (pid 1 inside) is listed in the container's cgroup, and
	// nothing of the runtime stays behind there.
	check("init", r.must("exec", cid, "cat", "/proc/1/cgroup"))
	ps := r.must("ps", "--format", "json", cid)
	if strings.Count(ps, ",") != 0 {
		t.Errorf("ps: %s", ps)
	}
	r.must("delete", "-f", cid)
	r.assertGone(cid)
}
