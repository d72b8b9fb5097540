// Package testutil has the fixtures hako's tests share: privilege checks, a
// busybox root filesystem built from the host's static busybox, OCI bundles
// around it, and the hako binary built once per test process.
package testutil

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/hako-dev/hako/internal/runtime/spec"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// RequireRoot skips t unless the test runs as root. Root tests run for real
// on CI (root, all capabilities).
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: run the tests as root to exercise namespaces, mounts and cgroups")
	}
}

// Busybox is the static busybox the fixtures use.
const Busybox = "/bin/busybox"

var (
	rootfsOnce sync.Once
	rootfsDir  string
	rootfsErr  error
)

// BusyboxRootfs returns a root filesystem holding a static busybox and its
// applets, shared (read-only) by every test of the process. It is removed by
// Cleanup.
func BusyboxRootfs(t testing.TB) string {
	t.Helper()
	if _, err := os.Stat(Busybox); err != nil {
		t.Skip("needs a static busybox at /bin/busybox (apt-get install busybox-static)")
	}
	rootfsOnce.Do(func() {
		rootfsDir, rootfsErr = os.MkdirTemp("", "hako-test-rootfs-")
		if rootfsErr != nil {
			return
		}
		if rootfsErr = os.Chmod(rootfsDir, 0o755); rootfsErr != nil {
			return
		}
		rootfsErr = MakeBusyboxRootfs(rootfsDir)
	})
	if rootfsErr != nil {
		t.Fatalf("busybox rootfs: %v", rootfsErr)
	}
	return rootfsDir
}

// MakeBusyboxRootfs fills dir with a busybox root filesystem.
func MakeBusyboxRootfs(dir string) error {
	for _, d := range []string{"bin", "dev", "etc", "proc", "sys", "tmp", "root"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	if err := os.Chmod(filepath.Join(dir, "tmp"), 0o1777); err != nil {
		return err
	}
	data, err := os.ReadFile(Busybox)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "bin/busybox"), data, 0o755); err != nil {
		return err
	}
	out, err := exec.Command(Busybox, "--list").Output()
	if err != nil {
		return err
	}
	for _, a := range strings.Fields(string(out)) {
		if a == "busybox" {
			continue
		}
		if err := os.Symlink("busybox", filepath.Join(dir, "bin", a)); err != nil && !os.IsExist(err) {
			return err
		}
	}
	files := map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
		"etc/group":  "root:x:0:\ntty:x:5:\nnogroup:x:65534:\n",
	}
	for p, c := range files {
		if err := os.WriteFile(filepath.Join(dir, p), []byte(c), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Cleanup removes the shared fixtures; call it from TestMain after m.Run.
func Cleanup() {
	if rootfsDir != "" {
		os.RemoveAll(rootfsDir)
	}
	if binDir != "" {
		os.RemoveAll(binDir)
	}
}

// Spec returns the default configuration for a non-interactive container
// running args in the busybox rootfs.
func Spec(t testing.TB, args ...string) *specs.Spec {
	t.Helper()
	s := spec.Default(false)
	s.Root.Path = BusyboxRootfs(t)
	s.Process.Terminal = false
	s.Process.Args = args
	return s
}

// Bundle writes s as config.json into a new bundle directory.
func Bundle(t testing.TB, s *specs.Spec) string {
	t.Helper()
	dir := t.TempDir()
	WriteSpec(t, dir, s)
	return dir
}

// WriteSpec writes s as DIR/config.json.
func WriteSpec(t testing.TB, dir string, s *specs.Spec) {
	t.Helper()
	b, err := json.MarshalIndent(s, "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

var (
	binOnce sync.Once
	binDir  string
	binErr  error
)

// HakoBinary builds cmd/hako once per test process (static, as released)
// and returns its path; a hako-runtime link sits beside it.
func HakoBinary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "hako-test-bin-")
		if binErr != nil {
			return
		}
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "../..")
		out := filepath.Join(binDir, "hako")
		cmd := exec.Command("go", "build", "-o", out, "./cmd/hako")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOEXPERIMENT=jsonv2")
		if b, err := cmd.CombinedOutput(); err != nil {
			binErr = &buildError{err, string(b)}
			return
		}
		binErr = os.Symlink("hako", filepath.Join(binDir, "hako-runtime"))
	})
	if binErr != nil {
		t.Fatalf("build hako: %v", binErr)
	}
	return filepath.Join(binDir, "hako")
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }
