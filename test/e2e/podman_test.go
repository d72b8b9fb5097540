package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hako-dev/hako/internal/testutil"
)

// podman drives hako's runtime through conmon, as it drives crun and runc.
type podman struct {
	t     *testing.T
	rt    string
	image string
}

// Root here lacks CAP_SYS_RESOURCE: podman's default limits (nofile and
// nproc 1048576) cannot be applied, so ask for lower ones.
var podmanLimits = []string{"--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096", "--network", "none"}

func newPodman(t *testing.T) *podman {
	t.Helper()
	testutil.RequireRoot(t)
	if _, err := exec.LookPath("podman"); err != nil {
		t.Skip("podman not installed (apt-get install podman)")
	}
	if testing.Short() {
		t.Skip("podman tests are slow")
	}
	rt := filepath.Join(filepath.Dir(testutil.HakoBinary(t)), "hako-runtime")
	// podman resolves the runtime path; a hard link keeps the name.
	hard := filepath.Join(t.TempDir(), "hako-runtime")
	if err := os.Link(testutil.HakoBinary(t), hard); err != nil {
		hard = rt
	}
	p := &podman{t: t, rt: hard, image: "localhost/" + id(t) + ":latest"}
	rootfs := testutil.BusyboxRootfs(t)
	imp := exec.Command("sh", "-c", "tar --numeric-owner -C \"$1\" -c . | podman import - \"$2\"", "sh", rootfs, p.image)
	if out, err := imp.CombinedOutput(); err != nil {
		t.Fatalf("podman import: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("podman", "rmi", "-f", p.image).Run() })
	return p
}

func (p *podman) run(args ...string) (string, error) {
	p.t.Helper()
	cmd := exec.Command("podman", append([]string{"--runtime", p.rt}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		return out.String(), &podmanError{err, errb.String()}
	}
	return out.String(), nil
}

type podmanError struct {
	err    error
	stderr string
}

func (e *podmanError) Error() string { return e.err.Error() + ": " + e.stderr }

func (p *podman) runImage(extra []string, cmd ...string) (string, error) {
	args := append([]string{"run", "--rm"}, podmanLimits...)
	args = append(args, extra...)
	args = append(args, p.image)
	return p.run(append(args, cmd...)...)
}

func TestPodmanRunsOnHako(t *testing.T) {
	p := newPodman(t)

	out, err := p.runImage(nil, "echo", "hello from hako")
	if err != nil || strings.TrimSpace(out) != "hello from hako" {
		t.Fatalf("podman run: %q %v", out, err)
	}

	out, err = p.runImage(nil, "ps", "-o", "pid,comm")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.HasSuffix(lines[1], "ps") {
		t.Errorf("ps in a podman container sees more than itself:\n%s", out)
	}

	out, err = p.runImage([]string{"--memory", "64m"}, "sh", "-c", "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max")
	if err != nil || strings.TrimSpace(out) != "67108864" {
		t.Errorf("memory limit read back: %q %v", out, err)
	}

	name := id(t)
	args := append([]string{"run", "-d", "--name", name}, podmanLimits...)
	if _, err := p.run(append(args, p.image, "sleep", "1000")...); err != nil {
		t.Fatal(err)
	}
	defer p.run("rm", "-f", "-t", "0", name)
	out, err = p.run("exec", name, "sh", "-c", "echo exec in $(hostname); ps -o comm | grep -c sleep")
	if err != nil || !strings.Contains(out, "exec in") || !strings.HasSuffix(strings.TrimSpace(out), "1") {
		t.Errorf("podman exec: %q %v", out, err)
	}
	if _, err := p.run("rm", "-f", "-t", "0", name); err != nil {
		t.Errorf("podman rm: %v", err)
	}
}
