package e2e

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hako-dev/hako/internal/testutil"
)

// busybox imports a busybox image (from the host's static busybox) into
// the test's daemon as "busybox", with sh as its command.
func (e *hakoEnv) busybox() {
	e.t.Helper()
	dir := e.t.TempDir()
	rootfs := filepath.Join(dir, "rootfs")
	if _, err := os.Stat(testutil.Busybox); err != nil {
		e.t.Skip("needs a static busybox at /bin/busybox (apt-get install busybox-static)")
	}
	if err := testutil.MakeBusyboxRootfs(rootfs); err != nil {
		e.t.Fatal(err)
	}
	tarPath := filepath.Join(dir, "rootfs.tar")
	if out, err := exec.Command("tar", "-C", rootfs, "-cf", tarPath, ".").CombinedOutput(); err != nil {
		e.t.Fatalf("tar: %v: %s", err, out)
	}
	e.must("import", "-c", `CMD ["sh"]`, tarPath, "busybox")
}

// must runs the CLI and fails the test unless it exits 0.
func (e *hakoEnv) must(args ...string) string {
	e.t.Helper()
	out, errOut, code := e.hako(args...)
	if code != 0 {
		e.t.Fatalf("hako %s: exit %d\nstdout: %s\nstderr: %s\ndaemon log: %s", strings.Join(args, " "), code, out, errOut, e.daemonLog())
	}
	return out
}

func (e *hakoEnv) daemonLog() string {
	b, _ := os.ReadFile(filepath.Join(e.runRoot, "hako.log"))
	m, _ := os.ReadFile(filepath.Join(e.runRoot, "monitor", "monitor.log"))
	s := string(b) + "\nmonitor:\n" + string(m)
	if len(s) > 8000 {
		s = s[len(s)-8000:]
	}
	return s
}

func (e *hakoEnv) inspect(name string) map[string]any {
	e.t.Helper()
	out := e.must("inspect", name)
	var v []map[string]any
	if err := json.Unmarshal([]byte(out), &v); err != nil || len(v) != 1 {
		e.t.Fatalf("inspect %s: %v: %s", name, err, out)
	}
	return v[0]
}

func (e *hakoEnv) format(name, tmpl string) string {
	e.t.Helper()
	return strings.TrimSpace(e.must("inspect", "--format", tmpl, name))
}

// assertClean checks that nothing of the test's containers is left: no
// mount under the test's directories, no cgroup, no process.
func (e *hakoEnv) assertClean(ids ...string) {
	e.t.Helper()
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	for _, l := range strings.Split(string(mi), "\n") {
		f := strings.Fields(l)
		if len(f) > 4 && (strings.HasPrefix(f[4], e.runRoot+"/containers") || strings.Contains(f[4], e.root+"/overlay/snapshots")) {
			e.t.Errorf("mount left: %s", f[4])
		}
	}
	for _, id := range ids {
		for _, ctrl := range []string{"memory", "pids", "cpu,cpuacct", "freezer"} {
			if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", ctrl, "hako", id)); err == nil {
				e.t.Errorf("cgroup left: %s/hako/%s", ctrl, id)
			}
		}
	}
}

func cgroupFile(t *testing.T, ctrl, id, file string) string {
	t.Helper()
	dirs := []string{filepath.Join("/sys/fs/cgroup", ctrl, "hako", id), filepath.Join("/sys/fs/cgroup", "hako", id)}
	if ctrl == "cpu" { // mounted alone or co-mounted with cpuacct
		dirs = append(dirs, filepath.Join("/sys/fs/cgroup", "cpu,cpuacct", "hako", id))
	}
	for _, dir := range dirs {
		if b, err := os.ReadFile(filepath.Join(dir, file)); err == nil {
			return strings.TrimSpace(string(b))
		}
	}
	t.Fatalf("no cgroup file %s/%s for %s", ctrl, file, id)
	return ""
}

// The seed's first demonstration: a container has its own PID space in
// which its command is PID 1; another container can join it.
func TestContainerPIDNamespace(t *testing.T) {
	e := newHakoEnv(t)
	e.busybox()
	out := e.must("run", "--rm", "busybox", "ps", "-o", "pid,comm")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || strings.Fields(lines[1])[0] != "1" || strings.Fields(lines[1])[1] != "ps" {
		t.Fatalf("ps in a container should list only itself as PID 1:\n%s", out)
	}
	e.must("run", "-d", "--name", "pa", "busybox", "sleep", "1000")
	out = e.must("run", "--rm", "--pid", "container:pa", "busybox", "ps", "-o", "pid,comm")
	if !strings.Contains(out, "sleep") || !strings.Contains(out, " 1 sleep") && !strings.Contains(out, "1 sleep") {
		t.Fatalf("--pid container:pa should see pa's sleep as PID 1:\n%s", out)
	}
	if got := strings.TrimSpace(e.must("run", "--rm", "--hostname", "x", "busybox", "hostname")); got != "x" {
		t.Fatalf("hostname: %q", got)
	}
	// hako ns: b shares a's pid namespace, and nothing else.
	e.must("run", "-d", "--name", "pb", "--pid", "container:pa", "busybox", "sleep", "1000")
	ns := e.must("ns", "--format", "json", "pa", "pb")
	var infos []struct {
		Name       string
		Pid        int
		Namespaces []struct {
			Type       string
			Inode      uint64
			Host       bool
			SharedWith []string
		}
	}
	if err := json.Unmarshal([]byte(ns), &infos); err != nil {
		t.Fatalf("ns json: %v\n%s", err, ns)
	}
	if len(infos) != 2 {
		t.Fatalf("ns: %s", ns)
	}
	for _, n := range infos[1].Namespaces {
		self, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", infos[1].Pid, n.Type))
		if !strings.Contains(self, strconv.FormatUint(n.Inode, 10)) {
			t.Errorf("%s: inode %d, /proc says %s", n.Type, n.Inode, self)
		}
		shared := len(n.SharedWith) == 1 && n.SharedWith[0] == "/pa"
		switch n.Type {
		case "pid":
			if !shared {
				t.Errorf("b's pid namespace should be shared with a: %+v", n)
			}
		case "mnt", "uts", "ipc", "net":
			if shared || n.Host {
				t.Errorf("b's %s namespace should be its own: %+v", n.Type, n)
			}
		}
	}
	// The table names the sharing too.
	if table := e.must("ns", "pb"); !strings.Contains(table, "pa") {
		t.Errorf("ns table:\n%s", table)
	}
	e.must("rm", "-f", "pa", "pb")
}

// Limits land in the cgroup files; the kernel enforces them.
func TestContainerLimits(t *testing.T) {
	e := newHakoEnv(t)
	e.busybox()
	id := strings.TrimSpace(e.must("run", "-d", "--cpu-shares", "512", "--cpuset-cpus", "0", "-m", "64m", "--pids-limit", "50", "busybox", "sleep", "1000"))
	if got := cgroupFile(t, "cpu", id, "cpu.shares"); got != "512" {
		t.Errorf("cpu.shares = %s", got)
	}
	if got := cgroupFile(t, "cpuset", id, "cpuset.cpus"); got != "0" {
		t.Errorf("cpuset.cpus = %s", got)
	}
	if got := cgroupFile(t, "memory", id, "memory.limit_in_bytes"); got != strconv.Itoa(64<<20) {
		t.Errorf("memory.limit_in_bytes = %s", got)
	}
	if got := cgroupFile(t, "pids", id, "pids.max"); got != "50" {
		t.Errorf("pids.max = %s", got)
	}
	// update changes a running container's memory limit.
	e.must("update", "-m", "128m", "--memory-swap", "256m", id)
	if got := cgroupFile(t, "memory", id, "memory.limit_in_bytes"); got != strconv.Itoa(128<<20) {
		t.Errorf("after update: memory.limit_in_bytes = %s", got)
	}
	if got := e.format(id, "{{.HostConfig.Memory}}"); got != strconv.Itoa(128<<20) {
		t.Errorf("after update: HostConfig.Memory = %s", got)
	}
	e.must("rm", "-f", id)
	e.assertClean(id)
	// Block I/O throttles, by device path (the first block device here).
	ents, _ := os.ReadDir("/dev")
	for _, ent := range ents {
		var st syscall.Stat_t
		p := filepath.Join("/dev", ent.Name())
		if syscall.Stat(p, &st) != nil || st.Mode&syscall.S_IFMT != syscall.S_IFBLK {
			continue
		}
		io := strings.TrimSpace(e.must("run", "-d", "--device-read-bps", p+":1mb", "--device-write-iops", p+":100", "busybox", "sleep", "1000"))
		want := fmt.Sprintf("%d:%d", st.Rdev>>8&0xfff, st.Rdev&0xff|st.Rdev>>12&0xfff00)
		if got := cgroupFile(t, "blkio", io, "blkio.throttle.read_bps_device"); got != want+" 1048576" {
			t.Errorf("blkio.throttle.read_bps_device = %q, want %q", got, want+" 1048576")
		}
		if got := cgroupFile(t, "blkio", io, "blkio.throttle.write_iops_device"); got != want+" 100" {
			t.Errorf("blkio.throttle.write_iops_device = %q", got)
		}
		e.must("rm", "-f", io)
		break
	}
}

// A memory hog is OOM-killed: 137, and inspect says OOMKilled.
func TestContainerOOMKilled(t *testing.T) {
	e := newHakoEnv(t)
	e.busybox()
	_, _, code := e.hako("run", "--name", "hog", "-m", "16m", "--memory-swap", "16m", "busybox", "sh", "-c", "x=a; while true; do x=$x$x; done")
	if code != 137 {
		t.Fatalf("exit %d, want 137", code)
	}
	if got := e.format("hog", "{{.State.OOMKilled}} {{.State.ExitCode}}"); got != "true 137" {
		t.Fatalf("State: %s", got)
	}
}

// A fork bomb stops at --pids-limit; the host keeps working. Without
// the flag, the daemon's default limit stops it (-1 lifts it).
func TestContainerForkBomb(t *testing.T) {
	e := newHakoEnv(t)
	e.env = append(e.env, "HAKO_DEFAULT_PIDS_LIMIT=48")
	e.busybox()
	dflt := strings.TrimSpace(e.must("run", "-d", "busybox", "sh", "-c", "bomb() { bomb | bomb & }; bomb; sleep 1000"))
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if n, _ := strconv.Atoi(cgroupFile(t, "pids", dflt, "pids.current")); n >= 44 {
			break
		}
	}
	if n, _ := strconv.Atoi(cgroupFile(t, "pids", dflt, "pids.current")); n > 48 || n < 40 {
		t.Fatalf("pids.current %d with the default limit 48", n)
	}
	if got := e.format(dflt, "{{.HostConfig.PidsLimit}}"); got != "48" {
		t.Fatalf("HostConfig.PidsLimit: %s", got)
	}
	e.must("rm", "-f", dflt)
	unl := strings.TrimSpace(e.must("run", "-d", "--pids-limit", "-1", "busybox", "sleep", "1000"))
	if got := cgroupFile(t, "pids", unl, "pids.max"); got != "max" {
		t.Fatalf("--pids-limit -1: pids.max %s", got)
	}
	e.must("rm", "-f", unl)
	id := strings.TrimSpace(e.must("run", "-d", "--pids-limit", "64", "busybox", "sh", "-c", "bomb() { bomb | bomb & }; bomb; sleep 1000"))
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if n, _ := strconv.Atoi(cgroupFile(t, "pids", id, "pids.current")); n >= 60 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n, _ := strconv.Atoi(cgroupFile(t, "pids", id, "pids.current")); n > 64 {
		t.Fatalf("pids.current %d above the limit", n)
	}
	// The host still forks.
	if out, err := exec.Command("true").CombinedOutput(); err != nil {
		t.Fatalf("host cannot fork: %v %s", err, out)
	}
	e.must("rm", "-f", id)
	e.assertClean(id)
}

// --storage-opt size: a disk filler and an inode flood hit ENOSPC inside
// the container; the host's filesystem is untouched.
func TestContainerStorageQuota(t *testing.T) {
	e := newHakoEnv(t)
	e.busybox()
	var before syscall.Statfs_t
	syscall.Statfs(e.root, &before)
	out, _, code := e.hako("run", "--rm", "--storage-opt", "size=64M", "busybox", "sh", "-c", "dd if=/dev/zero of=/big bs=1M count=200 2>&1; echo rc=$?")
	if code != 0 || !strings.Contains(out, "No space left on device") {
		t.Fatalf("disk filler: exit %d: %s", code, out)
	}
	out, _, code = e.hako("run", "--rm", "--storage-opt", "size=64M", "busybox", "sh", "-c", "mkdir /f; i=0; while touch /f/$i 2>/dev/null; do i=$((i+1)); done; echo files=$i; touch /f/last")
	if code == 0 || !strings.Contains(out, "files=") || !strings.Contains(out+e.daemonLog(), "") {
		t.Fatalf("inode flood: exit %d: %s", code, out)
	}
	n, _ := strconv.Atoi(strings.TrimPrefix(strings.TrimSpace(strings.Split(out, "\n")[0]), "files="))
	if n < 1000 || n > 200000 {
		t.Fatalf("inode flood stopped after %d files", n)
	}
	var after syscall.Statfs_t
	syscall.Statfs(e.root, &after)
	if lost := (int64(before.Bfree) - int64(after.Bfree)) * before.Bsize; lost > 100<<20 {
		t.Fatalf("the host lost %d MiB", lost>>20)
	}
	e.assertClean()
}

// Copy-on-write: a file written in a container lands in its upper dir
// only; diff lists it; commit makes an image with it; the image's own
// layers are unchanged.
func TestContainerOverlayDiffCommit(t *testing.T) {
	e := newHakoEnv(t)
	e.busybox()
	e.must("run", "--name", "wr", "busybox", "sh", "-c", "echo hello > /greeting; rm /etc/group")
	upper := e.format("wr", "{{.GraphDriver.Data.UpperDir}}")
	if b, err := os.ReadFile(filepath.Join(upper, "greeting")); err != nil || string(b) != "hello\n" {
		t.Fatalf("upper dir %s: %q %v", upper, b, err)
	}
	for _, lower := range strings.Split(e.format("wr", "{{.GraphDriver.Data.LowerDir}}"), ":") {
		if _, err := os.Stat(filepath.Join(lower, "greeting")); err == nil {
			t.Fatalf("the image layer %s changed", lower)
		}
	}
	diff := e.must("diff", "wr")
	if !strings.Contains(diff, "A /greeting") || !strings.Contains(diff, "D /etc/group") {
		t.Fatalf("diff:\n%s", diff)
	}
	e.must("commit", "-m", "greeting", "-c", "CMD cat /greeting", "wr", "greeted")
	if got := e.must("run", "--rm", "greeted"); got != "hello\n" {
		t.Fatalf("committed image: %q", got)
	}
	if _, _, code := e.hako("run", "--rm", "greeted", "cat", "/etc/group"); code == 0 {
		t.Fatal("the deletion was not committed")
	}
	if got := e.must("run", "--rm", "busybox", "cat", "/etc/group"); !strings.Contains(got, "root") {
		t.Fatalf("the base image changed: %q", got)
	}
}

// Exit codes: the container's own, 125/126/127 as docker.
func TestContainerExitCodes(t *testing.T) {
	e := newHakoEnv(t)
	e.busybox()
	for _, c := range []struct {
		args []string
		want int
	}{
		{[]string{"run", "--rm", "busybox", "sh", "-c", "exit 3"}, 3},
		// As PID 1 the shell would ignore its own SIGTERM; under --init
		// it is not PID 1 and the init reports 128+15.
		{[]string{"run", "--rm", "--init", "busybox", "sh", "-c", "kill -TERM $$"}, 143},
		{[]string{"run", "--rm", "busybox", "nonexistent-command"}, 127},
		{[]string{"run", "--rm", "busybox", "/etc/passwd"}, 126},
		{[]string{"run", "--rm", "--bogus-flag", "busybox"}, 125},
		// --pull never: no test may ask the host's resolver for a registry.
		{[]string{"run", "--rm", "--pull", "never", "no-such-image:x"}, 125},
		{[]string{"run", "--rm", "127.0.0.1:1/no-such-image:x"}, 125},
	} {
		_, errOut, code := e.hako(c.args...)
		if code != c.want {
			t.Errorf("%v: exit %d, want %d (%s)", c.args, code, c.want, errOut)
		}
	}
	if out, _, _ := e.hako("ps", "-aq"); strings.TrimSpace(out) != "" {
		t.Errorf("--rm left containers: %s", out)
	}
}

// A detached container survives the CLI and a kill -9 of the daemon; the
// restarted daemon reports it, streams its logs and stops it.
func TestContainerSurvivesDaemonKill(t *testing.T) {
	e := newHakoEnv(t)
	e.busybox()
	id := strings.TrimSpace(e.must("run", "-d", "--name", "ticker", "busybox", "sh", "-c", "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done"))
	time.Sleep(500 * time.Millisecond)
	pid, _ := strconv.Atoi(e.format(id, "{{.State.Pid}}"))
	syscall.Kill(e.daemonPid(), syscall.SIGKILL)
	time.Sleep(500 * time.Millisecond)
	if !alive(pid) {
		t.Fatal("the container died with the daemon")
	}
	if got := e.format("ticker", "{{.State.Status}} {{.State.Pid}}"); got != fmt.Sprintf("running %d", pid) {
		t.Fatalf("after restart: %s", got)
	}
	out := e.must("logs", "--tail", "2", "ticker")
	if !strings.Contains(out, "tick") {
		t.Fatalf("logs: %q", out)
	}
	// logs -f follows new lines.
	cmd := e.cmd("logs", "-f", "--tail", "0", "ticker")
	var buf syncBuffer
	cmd.Stdout = &buf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	e.must("stop", "-t", "1", "ticker")
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatal("logs -f did not end when the container stopped")
	}
	if n := strings.Count(buf.String(), "tick"); n < 3 {
		t.Fatalf("logs -f saw %d lines: %q", n, buf.String())
	}
	if alive(pid) {
		t.Fatal("stop left the process")
	}
	e.must("rm", "ticker")
	e.assertClean(id)
}

// A kill -9 of the monitor that supervises a container: the container
// goes on (its output blocks in the pipe the daemon holds instead of
// killing it), the next monitor takes its output over, and it can be
// exec'd into and stopped.
func TestContainerSurvivesMonitorKill(t *testing.T) {
	e := newHakoEnv(t)
	e.busybox()
	id := strings.TrimSpace(e.must("run", "-d", "--name", "ticker", "busybox", "sh", "-c", "trap 'exit 0' TERM; i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.1; done"))
	time.Sleep(300 * time.Millisecond)
	pid, _ := strconv.Atoi(e.format(id, "{{.State.Pid}}"))
	syscall.Kill(e.monitorPid(), syscall.SIGKILL)
	time.Sleep(1500 * time.Millisecond)
	if !alive(pid) {
		t.Fatal("the container died with its monitor")
	}
	if got := e.format("ticker", "{{.State.Status}}"); got != "running" {
		t.Fatalf("after the monitor's death: %s", got)
	}
	before := strings.Count(e.must("logs", "ticker"), "tick")
	time.Sleep(500 * time.Millisecond)
	if after := strings.Count(e.must("logs", "ticker"), "tick"); after <= before {
		t.Fatalf("the new monitor does not log the container's output (%d then %d lines)", before, after)
	}
	if got := e.must("exec", "ticker", "echo", "ok"); got != "ok\n" {
		t.Fatalf("exec: %q", got)
	}
	e.must("stop", "-t", "5", "ticker")
	if alive(pid) {
		t.Fatal("stop left the process")
	}
	e.must("rm", "ticker")
	e.assertClean(id)
}

// kill -9 of the daemon while containers are being created and started:
// the next daemon keeps what was made, and once those are removed
// nothing is left: no record, runtime state, bundle, mount or snapshot.
func TestContainerDaemonKillMidCreate(t *testing.T) {
	e := newHakoEnv(t)
	e.busybox()
	snapDir := filepath.Join(e.root, "overlay", "snapshots")
	before, _ := os.ReadDir(snapDir)
	// Kill it at different points of the creates and starts.
	for _, delay := range []time.Duration{50 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond} {
		e.must("ps") // a daemon up
		var cmds []*exec.Cmd
		for range 8 {
			cmd := e.cmd("run", "-d", "busybox", "sleep", "1000")
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			cmds = append(cmds, cmd)
		}
		time.Sleep(delay)
		syscall.Kill(e.daemonPid(), syscall.SIGKILL)
		for _, cmd := range cmds {
			cmd.Wait() // some fail: their daemon died
		}
	}
	ids := strings.Fields(e.must("ps", "-aq", "--no-trunc"))
	t.Logf("%d containers were made", len(ids))
	if len(ids) > 0 {
		e.must(append([]string{"rm", "-f"}, ids...)...)
	}
	if out := e.must("ps", "-aq"); strings.TrimSpace(out) != "" {
		t.Fatalf("left: %s", out)
	}
	for _, dir := range []string{filepath.Join(e.root, "containers"), filepath.Join(e.runRoot, "containers"), filepath.Join(e.runRoot, "runtime")} {
		if ents, _ := os.ReadDir(dir); len(ents) > 0 {
			t.Errorf("%s still holds %v", dir, ents)
		}
	}
	if after, _ := os.ReadDir(snapDir); len(after) != len(before) {
		t.Errorf("snapshots: %d before, %d after", len(before), len(after))
	}
	e.assertClean(ids...)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Restart policies restart; a manual stop is respected.
func TestContainerRestartPolicy(t *testing.T) {
	e := newHakoEnv(t)
	e.busybox()
	e.must("run", "-d", "--name", "flaky", "--restart", "on-failure:3", "busybox", "sh", "-c", "sleep 0.2; exit 1")
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if e.format("flaky", "{{.State.Status}} {{.RestartCount}}") == "exited 3" {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if got := e.format("flaky", "{{.State.Status}} {{.RestartCount}} {{.State.ExitCode}}"); got != "exited 3 1" {
		t.Fatalf("on-failure:3: %s", got)
	}
	e.must("run", "-d", "--name", "always", "--restart", "always", "busybox", "sh", "-c", "sleep 0.2")
	time.Sleep(2 * time.Second)
	if n, _ := strconv.Atoi(e.format("always", "{{.RestartCount}}")); n < 1 {
		t.Fatalf("always: restarted %d times", n)
	}
	e.must("stop", "always")
	n1 := e.format("always", "{{.RestartCount}}")
	time.Sleep(time.Second)
	if n2 := e.format("always", "{{.RestartCount}} {{.State.Status}}"); n2 != n1+" exited" {
		t.Fatalf("a stopped 'always' container restarted: %s → %s", n1, n2)
	}
}

// exec, cp, top, stats, pause, rename, export, wait.
func TestContainerVerbs(t *testing.T) {
	e := newHakoEnv(t)
	e.busybox()
	e.must("run", "-d", "--name", "vb", "-e", "FOO=bar", "busybox", "sleep", "1000")
	if got := e.must("exec", "vb", "sh", "-c", "echo $FOO; pwd"); got != "bar\n/\n" {
		t.Fatalf("exec: %q", got)
	}
	// --log-opt labels/env/tag go with each entry; logs --details shows
	// them, docker's way (a space alone when there are none).
	e.must("run", "--name", "logattrs", "--label", "tier=front", "-e", "REGION=eu", "--log-opt", "labels=tier", "--log-opt", "env=REGION", "--log-opt", "tag={{.Name}}", "busybox", "echo", "hello")
	if got := e.must("logs", "--details", "logattrs"); got != "REGION=eu,tag=logattrs,tier=front hello\n" {
		t.Fatalf("logs --details: %q", got)
	}
	e.must("rm", "logattrs")
	if got := e.must("logs", "--details", "vb"); got != "" {
		t.Fatalf("logs --details of a silent container: %q", got)
	}
	if _, errOut, code := e.hako("run", "--rm", "--log-opt", "labels-regex=(", "busybox", "true"); code == 0 || !strings.Contains(errOut, "labels-regex") {
		t.Fatalf("a bad labels-regex: %d %q", code, errOut)
	}
	if got := e.must("exec", "-w", "/tmp", "-e", "X=1", "-u", "nobody", "vb", "sh", "-c", "echo $X $(pwd) $(id -u)"); got != "1 /tmp 65534\n" {
		t.Fatalf("exec -w -e -u: %q", got)
	}
	if _, _, code := e.hako("exec", "vb", "sh", "-c", "exit 7"); code != 7 {
		t.Fatalf("exec exit code %d", code)
	}
	// cp both ways.
	src := filepath.Join(t.TempDir(), "note.txt")
	os.WriteFile(src, []byte("from the host\n"), 0o644)
	os.Chown(src, 1234, 2345)
	e.must("cp", src, "vb:/tmp/")
	if got := e.must("exec", "vb", "cat", "/tmp/note.txt"); got != "from the host\n" {
		t.Fatalf("cp in: %q", got)
	}
	// The copy is the container's root's, unless -a keeps the owner.
	e.must("cp", "-a", src, "vb:/tmp/kept.txt")
	if got := e.must("exec", "vb", "stat", "-c", "%u:%g", "/tmp/note.txt", "/tmp/kept.txt"); got != "0:0\n1234:2345\n" {
		t.Fatalf("cp owners: %q", got)
	}
	dst := t.TempDir()
	e.must("cp", "vb:/etc/passwd", dst)
	if b, _ := os.ReadFile(filepath.Join(dst, "passwd")); !strings.Contains(string(b), "root:x:0:0") {
		t.Fatalf("cp out: %q", b)
	}
	// top lists the container's processes only.
	if top := e.must("top", "vb"); !strings.Contains(top, "sleep 1000") || strings.Count(top, "\n") != 2 {
		t.Fatalf("top:\n%s", top)
	}
	// stats --no-stream shows a memory limit and pids.
	if st := e.must("stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", "vb"); strings.TrimSpace(st) != "vb 1" {
		t.Fatalf("stats: %q", st)
	}
	e.must("pause", "vb")
	if got := e.format("vb", "{{.State.Status}}"); got != "paused" {
		t.Fatalf("pause: %s", got)
	}
	e.must("unpause", "vb")
	e.must("rename", "vb", "vb2")
	if out := e.must("ps", "--format", "{{.Names}} {{.Status}}"); !strings.HasPrefix(out, "vb2 Up") {
		t.Fatalf("ps after rename: %q", out)
	}
	// export is a tar of the whole filesystem.
	exp := e.cmd("export", "vb2")
	var tb bytes.Buffer
	exp.Stdout = &tb
	if err := exp.Run(); err != nil {
		t.Fatal(err)
	}
	found := false
	tr := tar.NewReader(&tb)
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		if strings.TrimPrefix(h.Name, "./") == "tmp/note.txt" {
			found = true
		}
	}
	if !found {
		t.Fatal("export lacks tmp/note.txt")
	}
	e.must("kill", "vb2")
	if got := strings.TrimSpace(e.must("wait", "vb2")); got != "137" {
		t.Fatalf("wait after kill: %q", got)
	}
	if out := e.must("container", "prune", "-f"); !strings.Contains(out, "Total reclaimed space") {
		t.Fatalf("prune: %q", out)
	}
	if out := e.must("ps", "-aq"); strings.TrimSpace(out) != "" {
		t.Fatalf("prune left %q", out)
	}
}

// -it under a real terminal: the shell sees a tty, the terminal size
// follows, input reaches it.
func TestContainerInteractiveTTY(t *testing.T) {
	e := newHakoEnv(t)
	e.busybox()
	// script(1) gives the CLI a pty; the container gets its own.
	cmd := exec.Command("script", "-qec", e.bin+" run --rm -it busybox sh -c 'tty; stty size; read x; echo got:$x'", "/dev/null")
	cmd.Env = e.cmd().Env
	cmd.Stdin = strings.NewReader("hello\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("script: %v: %s", err, out)
	}
	s := string(out)
	if !strings.Contains(s, "/dev/pts/0") || !strings.Contains(s, "got:hello") {
		t.Fatalf("-it output: %q", s)
	}
}

// Many concurrent clients: 50 `run --rm` at once all succeed.
func TestContainerConcurrentRuns(t *testing.T) {
	e := newHakoEnv(t)
	e.busybox()
	var wg sync.WaitGroup
	errs := make(chan string, 50)
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := e.cmd("run", "--rm", "busybox", "echo", fmt.Sprint(i))
			out, err := cmd.CombinedOutput()
			if err != nil || strings.TrimSpace(string(out)) != fmt.Sprint(i) {
				errs <- fmt.Sprintf("run %d: %v: %q", i, err, out)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if out := e.must("ps", "-aq"); strings.TrimSpace(out) != "" {
		t.Fatalf("left: %s", out)
	}
	e.assertClean()
}

// The real docker CLI drives hako's containers: run (attached, detached,
// --rm, exit codes), exec, logs, cp, inspect, stop, wait, rm.
func TestContainerDockerCLI(t *testing.T) {
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("docker CLI not installed")
	}
	e := newHakoEnv(t)
	e.busybox()
	docker := func(args ...string) (string, int) {
		out, _, code := e.docker(args...)
		return out, code
	}
	if out, code := docker("run", "--rm", "busybox", "echo", "hello"); out != "hello\n" || code != 0 {
		t.Fatalf("docker run: %q %d", out, code)
	}
	if _, code := docker("run", "--rm", "busybox", "sh", "-c", "exit 3"); code != 3 {
		t.Fatalf("exit code %d, want 3", code)
	}
	// What hako cannot honour is refused, in docker's words, and creates
	// nothing: another runtime, GPUs.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--runtime", "runc"}, "unknown or invalid runtime name: runc"},
		{[]string{"--gpus", "all"}, `could not select device driver "" with capabilities: [[gpu]]`},
	} {
		if _, errOut, code := e.docker(append(append([]string{"run", "--rm"}, c.args...), "busybox", "true")...); code != 125 || !strings.Contains(errOut, c.want) {
			t.Errorf("docker run %v: exit %d: %q, want %q", c.args, code, errOut, c.want)
		}
	}
	if out, _ := docker("ps", "-aq"); out != "" {
		t.Fatalf("refused runs left containers: %q", out)
	}
	if out, code := docker("run", "--rm", "--runtime", "hako", "busybox", "echo", "on hako"); out != "on hako\n" || code != 0 {
		t.Fatalf("docker run --runtime hako: %q %d", out, code)
	}
	id, code := docker("run", "-d", "--name", "dk", "busybox", "sh", "-c", "echo started; exec sleep 1000")
	if code != 0 {
		t.Fatal("docker run -d failed")
	}
	id = strings.TrimSpace(id)
	if out, _ := docker("exec", "dk", "sh", "-c", "echo $((6*7))"); out != "42\n" {
		t.Fatalf("docker exec: %q", out)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		out, _ := docker("logs", "dk")
		if out == "started\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("docker logs: %q", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	src := filepath.Join(t.TempDir(), "in.txt")
	os.WriteFile(src, []byte("copied\n"), 0o644)
	docker("cp", src, "dk:/tmp/in.txt")
	if out, _ := docker("exec", "dk", "cat", "/tmp/in.txt"); out != "copied\n" {
		t.Fatalf("docker cp: %q", out)
	}
	if out, _ := docker("inspect", "-f", "{{.Id}} {{.State.Running}}", "dk"); out != id+" true\n" {
		t.Fatalf("docker inspect: %q", out)
	}
	if out, _ := docker("ps", "--format", "{{.Names}}"); out != "dk\n" {
		t.Fatalf("docker ps: %q", out)
	}
	docker("stop", "-t", "1", "dk")
	if out, _ := docker("wait", "dk"); out != "137\n" {
		t.Fatalf("docker wait after stop: %q (sleep as PID 1 ignores SIGTERM: 137)", out)
	}
	if _, code := docker("rm", "dk"); code != 0 {
		t.Fatal("docker rm failed")
	}
	if out, _ := docker("ps", "-aq"); out != "" {
		t.Fatalf("left: %q", out)
	}
	e.assertClean(id)
}

// system prune removes stopped containers, unused networks, dangling
// images and (with --volumes) unused anonymous volumes, and keeps what a
// running container uses.
func TestSystemPrune(t *testing.T) {
	e := newHakoEnv(t)
	e.busybox()
	e.must("network", "create", "used")
	e.must("network", "create", "unused")
	e.must("run", "-d", "--name", "keep", "--network", "used", "-v", "/keepvol", "busybox", "sleep", "1000")
	e.must("run", "--name", "gone", "-v", "/anon", "busybox", "true")
	e.must("rm", "gone") // leaves its anonymous volume unused
	e.must("create", "--name", "stopped", "busybox", "true")
	e.must("build", "-q", "-t", "dangling", buildContext(t, "FROM busybox\nRUN echo 1 > /f\n"))
	e.must("build", "-q", "-t", "dangling", buildContext(t, "FROM busybox\nRUN echo 2 > /f\n")) // the first image loses its tag
	if _, _, code := e.hako("system", "prune", "--volumes", "--filter", "until=1h"); code == 0 {
		t.Error("until with --volumes was accepted")
	}
	out := e.must("system", "prune", "-f", "--volumes")
	for _, want := range []string{"Deleted Containers:", "Deleted Networks:\nunused\n", "Deleted Volumes:", "Deleted Images:", "Total reclaimed space:"} {
		if !strings.Contains(out, want) {
			t.Errorf("system prune output lacks %q:\n%s", want, out)
		}
	}
	if ps := e.must("ps", "-a", "--format", "{{.Names}}"); strings.TrimSpace(ps) != "keep" {
		t.Errorf("containers after prune: %q", ps)
	}
	if nets := e.must("network", "ls", "--format", "{{.Name}}"); !strings.Contains(nets, "used") || strings.Contains(nets, "unused") {
		t.Errorf("networks after prune: %q", nets)
	}
	if vols := e.must("volume", "ls", "-q"); len(strings.Fields(vols)) != 1 {
		t.Errorf("volumes after prune (only keep's should stay): %q", vols)
	}
	if imgs := e.must("images", "--format", "{{.Repository}}:{{.Tag}}"); strings.Contains(imgs, "<none>") {
		t.Errorf("a dangling image is left: %q", imgs)
	}
	e.must("rm", "-f", "-v", "keep")
}

// Health checks run as docker's do: starting, then healthy after a
// passing probe (ps shows it, the health filter finds it, events say
// so); failing probes make it unhealthy after the retries; an image's
// HEALTHCHECK applies unless the container overrides it.
func TestHealthcheck(t *testing.T) {
	e := newHakoEnv(t)
	e.busybox()
	e.must("run", "-d", "--name", "hc", "--health-cmd", "test -e /tmp/ok && echo fine", "--health-interval", "200ms",
		"--health-retries", "2", "busybox", "sleep", "1000")
	waitHealth := func(name, want string) {
		t.Helper()
		var got string
		for range 150 {
			if got = strings.TrimSpace(e.must("inspect", "-f", "{{.State.Health.Status}}", name)); got == want {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("%s: health %q, want %q", name, got, want)
	}
	waitHealth("hc", "unhealthy")
	if s := e.must("ps", "--format", "{{.Status}}", "--filter", "name=hc"); !strings.Contains(s, "(unhealthy)") {
		t.Errorf("ps status: %q", s)
	}
	e.must("exec", "hc", "touch", "/tmp/ok")
	waitHealth("hc", "healthy")
	if s := e.must("ps", "-q", "--filter", "health=healthy"); strings.TrimSpace(s) == "" {
		t.Error("the health filter does not find the healthy container")
	}
	log := e.must("inspect", "-f", "{{range .State.Health.Log}}{{.ExitCode}}:{{.Output}}|{{end}}", "hc")
	if !strings.Contains(log, "0:fine\n|") || !strings.Contains(log, "1:|") {
		t.Errorf("health log: %q", log)
	}
	if ev := e.must("events", "--since", "1h", "--until", "0s", "--filter", "container=hc", "--format", "{{.Action}}"); !strings.Contains(ev, "health_status: unhealthy") || !strings.Contains(ev, "health_status: healthy") {
		t.Errorf("events: %q", ev)
	}
	e.must("rm", "-f", "hc")

	// From the image, overridden by --no-healthcheck.
	e.must("build", "-q", "-t", "withhc", buildContext(t, "FROM busybox\nHEALTHCHECK --interval=200ms CMD true\n"))
	e.must("run", "-d", "--name", "img", "withhc", "sleep", "1000")
	waitHealth("img", "healthy")
	e.must("run", "-d", "--name", "nohc", "--no-healthcheck", "withhc", "sleep", "1000")
	if h := e.must("inspect", "-f", "{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}", "nohc"); strings.TrimSpace(h) != "none" {
		t.Errorf("--no-healthcheck: %q", h)
	}
	e.must("rm", "-f", "img", "nohc")
}

// docker runs the real docker CLI against the test's daemon and returns
// its stdout, stderr and exit status (a failure is logged).
func (e *hakoEnv) docker(args ...string) (string, string, int) {
	e.t.Helper()
	cmd := exec.Command("docker", args...)
	cmd.Env = append(os.Environ(), "DOCKER_HOST=unix://"+e.sock())
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatalf("docker %v: %v", args, err)
	}
	if code != 0 {
		e.t.Logf("docker %v: exit %d: %s", args, code, errOut.String())
	}
	return out.String(), errOut.String(), code
}

// A --rm container's overlay is mounted volatile (its unmount does not
// sync the host's filesystem); a kept container's is not.
func TestContainerRmVolatileOverlay(t *testing.T) {
	e := newHakoEnv(t)
	e.busybox()
	root := func(args ...string) string {
		t.Helper()
		out := e.must(append(append([]string{"run"}, args...), "busybox", "sh", "-c", "grep ' / / ' /proc/self/mountinfo")...)
		if !strings.Contains(out, "overlay") {
			t.Skipf("not an overlay root: %q", out)
		}
		return out
	}
	if out := root("--rm"); !strings.Contains(out, "volatile") {
		t.Errorf("--rm root mount without volatile: %q", out)
	}
	if out := root("--name", "kept"); strings.Contains(out, "volatile") {
		t.Errorf("a kept container's root mount is volatile: %q", out)
	}
	e.must("rm", "kept")
}
