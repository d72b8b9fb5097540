package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hako-dev/hako/internal/testutil"
)

// rt runs the runtime face of hako with its own state root.
type rt struct {
	t    *testing.T
	bin  string // hako-runtime
	root string
	// enosys, when set, are system calls the runtime runs without (see
	// enosysEnv).
	enosys []string
}

func newRT(t *testing.T) *rt {
	t.Helper()
	testutil.RequireRoot(t)
	bin := filepath.Join(filepath.Dir(testutil.HakoBinary(t)), "hako-runtime")
	r := &rt{t: t, bin: bin, root: t.TempDir()}
	t.Cleanup(func() {
		// Remove whatever a failed test left: kill and delete every
		// container under this root.
		out, _ := exec.Command(r.bin, "--root", r.root, "list", "-q").Output()
		for _, id := range strings.Fields(string(out)) {
			exec.Command(r.bin, "--root", r.root, "delete", "-f", id).Run()
		}
	})
	return r
}

// id returns a fresh container ID; "hako-test" makes leaks findable.
func id(t *testing.T) string {
	b := make([]byte, 4)
	rand.Read(b)
	name := strings.NewReplacer("/", "-", " ", "-").Replace(t.Name())
	if len(name) > 40 {
		name = name[:40]
	}
	return "hako-test-" + strings.ToLower(name) + "-" + hex.EncodeToString(b)
}

func (r *rt) cmd(args ...string) *exec.Cmd {
	args = append([]string{"--root", r.root}, args...)
	if len(r.enosys) == 0 {
		return exec.Command(r.bin, args...)
	}
	self, err := os.Executable()
	if err != nil {
		r.t.Fatal(err)
	}
	cmd := exec.Command(self, append([]string{r.bin}, args...)...)
	cmd.Env = append(os.Environ(), enosysEnv+"="+strings.Join(r.enosys, ","))
	return cmd
}

// run runs a runtime verb and returns stdout, stderr and the exit code.
func (r *rt) run(args ...string) (string, string, int) {
	r.t.Helper()
	cmd := r.cmd(args...)
	// Files, not pipes: a container made by "create" inherits the
	// runtime's stdio and keeps it open, so reading a pipe to EOF would
	// wait for the container to exit.
	stdout, err := os.CreateTemp(r.t.TempDir(), "stdout")
	if err != nil {
		r.t.Fatal(err)
	}
	defer stdout.Close()
	stderr, err := os.CreateTemp(r.t.TempDir(), "stderr")
	if err != nil {
		r.t.Fatal(err)
	}
	defer stderr.Close()
	cmd.Stdout, cmd.Stderr = stdout, stderr
	err = cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			r.t.Fatalf("%v: %v", args, err)
		}
		code = ee.ExitCode()
	}
	out, _ := os.ReadFile(stdout.Name())
	errOut, _ := os.ReadFile(stderr.Name())
	return string(out), string(errOut), code
}

// must runs a verb that has to succeed and returns its stdout.
func (r *rt) must(args ...string) string {
	r.t.Helper()
	out, errOut, code := r.run(args...)
	if code != 0 {
		r.t.Fatalf("%v: exit %d: %s", args, code, errOut)
	}
	return out
}

type state struct {
	ID     string `json:"id"`
	Pid    int    `json:"pid"`
	Status string `json:"status"`
	Bundle string `json:"bundle"`
}

func (r *rt) state(id string) state {
	r.t.Helper()
	var s state
	if err := json.Unmarshal([]byte(r.must("state", id)), &s); err != nil {
		r.t.Fatal(err)
	}
	return s
}

func (r *rt) waitStatus(id, want string) {
	r.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := r.state(id)
		if s.Status == want {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("container %s: status %s, want %s", id, s.Status, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// assertGone checks that nothing of container id is left on the host:
// state, cgroups, mounts.
func (r *rt) assertGone(id string) {
	r.t.Helper()
	if _, err := os.Stat(filepath.Join(r.root, id)); !os.IsNotExist(err) {
		r.t.Errorf("state directory of %s left behind", id)
	}
	if dirs := testutil.CgroupDirs(r.t, id); len(dirs) > 0 {
		r.t.Errorf("cgroups of %s left behind: %v", id, dirs)
	}
	if m := testutil.Mounts(r.t, id); len(m) > 0 {
		r.t.Errorf("mounts of %s left behind: %v", id, m)
	}
}
