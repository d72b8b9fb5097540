package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hako-dev/hako/internal/testutil"
)

// containerd (Debian's 1.6) drives hako's runtime through its runc shim,
// as it drives runc: ctr run with --runc-binary, for a plain command, a
// detached container with a memory limit, exec, ps, pause and resume.
func TestContainerdRunsOnHako(t *testing.T) {
	testutil.RequireRoot(t)
	for _, bin := range []string{"containerd", "ctr", "containerd-shim-runc-v2"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s not installed (apt-get install containerd)", bin)
		}
	}
	rt := filepath.Join(filepath.Dir(testutil.HakoBinary(t)), "hako-runtime")
	dir := t.TempDir()
	sock := filepath.Join(dir, "containerd.sock")
	cfg := filepath.Join(dir, "config.toml")
	// No CRI plugin: it would want CNI and a sandbox image.
	if err := os.WriteFile(cfg, []byte("version = 2\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	daemon := exec.Command("containerd", "--root", filepath.Join(dir, "root"), "--state", filepath.Join(dir, "state"), "--address", sock, "--config", cfg)
	daemon.Stdout, daemon.Stderr = &log, &log
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	cid := id(t)
	ns := "hakotest" + cid[len(cid)-8:] // the random part

	t.Cleanup(func() {
		daemon.Process.Kill()
		daemon.Wait()
		// containerd puts tasks in /<namespace>/<id>.
		for _, pattern := range []string{"/sys/fs/cgroup/*/" + ns + "/*", "/sys/fs/cgroup/*/" + ns} {
			ms, _ := filepath.Glob(pattern)
			for _, d := range ms {
				os.Remove(d)
			}
		}
	})
	ctr := func(args ...string) (string, error) {
		t.Helper()
		cmd := exec.Command("ctr", append([]string{"--address", sock, "--namespace", ns}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			return string(out), fmt.Errorf("ctr %v: %v: %s", args, err, out)
		}
		return string(out), nil
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := ctr("version"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("containerd did not start:\n%s", log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	rootfs := testutil.BusyboxRootfs(t)

	if out, err := ctr("run", "--rm", "--runc-binary", rt, "--rootfs", rootfs, "plain", "echo", "hello from hako"); err != nil || strings.TrimSpace(out) != "hello from hako" {
		t.Fatalf("ctr run: %q %v\ncontainerd: %s", out, err, log.String())
	}

	if _, err := ctr("run", "-d", "--runc-binary", rt, "--memory-limit", "67108864", "--rootfs", rootfs, "bg", "sleep", "1000"); err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctr("task", "kill", "-s", "SIGKILL", "bg")
		time.Sleep(200 * time.Millisecond)
		ctr("task", "rm", "-f", "bg")
		ctr("container", "rm", "bg")
	}()
	if b, err := os.ReadFile(filepath.Join("/sys/fs/cgroup/memory", ns, "bg", "memory.limit_in_bytes")); err == nil {
		if strings.TrimSpace(string(b)) != "67108864" {
			t.Errorf("memory limit in the cgroup: %q", b)
		}
	} else if b, err := os.ReadFile(filepath.Join("/sys/fs/cgroup", ns, "bg", "memory.max")); err != nil || strings.TrimSpace(string(b)) != "67108864" {
		t.Errorf("memory limit in the cgroup: %q %v", b, err)
	}
	if out, err := ctr("task", "exec", "--exec-id", "e1", "bg", "sh", "-c", "echo exec in $(hostname); ps -o comm | grep -c sleep"); err != nil || !strings.Contains(out, "exec in") || !strings.HasSuffix(strings.TrimSpace(out), "1") {
		t.Errorf("ctr task exec: %q %v", out, err)
	}
	if out, err := ctr("task", "ps", "bg"); err != nil || len(strings.Split(strings.TrimSpace(out), "\n")) != 2 {
		t.Errorf("ctr task ps (the sleep alone): %q %v", out, err)
	}
	if _, err := ctr("task", "pause", "bg"); err != nil {
		t.Fatal(err)
	}
	if out, _ := ctr("task", "ls"); !strings.Contains(out, "PAUSED") {
		t.Errorf("after pause: %s", out)
	}
	if _, err := ctr("task", "resume", "bg"); err != nil {
		t.Fatal(err)
	}
	if out, _ := ctr("task", "ls"); !strings.Contains(out, "RUNNING") {
		t.Errorf("after resume: %s", out)
	}
	if _, err := ctr("task", "kill", "-s", "SIGKILL", "bg"); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(10 * time.Second)
	for {
		out, _ := ctr("task", "ls")
		if strings.Contains(out, "STOPPED") || !strings.Contains(out, "bg") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the task did not stop: %s", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := ctr("task", "rm", "bg"); err != nil {
		t.Errorf("ctr task rm: %v", err)
	}
	if _, err := ctr("container", "rm", "bg"); err != nil {
		t.Errorf("ctr container rm: %v", err)
	}
	if left, _ := filepath.Glob("/sys/fs/cgroup/*/" + ns + "/bg"); len(left) > 0 {
		t.Errorf("cgroups left behind: %v", left)
	}
}
