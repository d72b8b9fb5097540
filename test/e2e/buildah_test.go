package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hako-dev/hako/internal/testutil"
)

// buildah runs a Dockerfile's RUN steps with hako's runtime, as it runs
// them with runc or crun (--runtime): the steps see their own PID 1,
// default capabilities and seccomp, and an earlier step's files. Its
// store is the test's own.
func TestBuildahRunsOnHako(t *testing.T) {
	testutil.RequireRoot(t)
	if _, err := exec.LookPath("buildah"); err != nil {
		t.Skip("buildah not installed (apt-get install buildah)")
	}
	dir := t.TempDir()
	rt := filepath.Join(dir, "hako-runtime") // buildah resolves the path; a hard link keeps the name
	if err := os.Link(testutil.HakoBinary(t), rt); err != nil {
		t.Fatal(err)
	}
	ctx := filepath.Join(dir, "ctx")
	os.MkdirAll(ctx, 0o755)
	tar := exec.Command("tar", "--numeric-owner", "-C", testutil.BusyboxRootfs(t), "-cf", filepath.Join(ctx, "rootfs.tar"), ".")
	if out, err := tar.CombinedOutput(); err != nil {
		t.Fatalf("tar: %v: %s", err, out)
	}
	dockerfile := `FROM scratch
ADD rootfs.tar /
RUN echo step one > /one && ps -o pid,comm | grep -c ' 1 ' && grep -E '^(Seccomp|CapEff):' /proc/self/status
RUN cat /one
`
	os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte(dockerfile), 0o644)
	store := []string{"--root", filepath.Join(dir, "root"), "--runroot", filepath.Join(dir, "run"), "--storage-driver", "vfs"}
	t.Cleanup(func() {
		exec.Command("buildah", append(store, "rm", "--all")...).Run()
		exec.Command("buildah", append(store, "rmi", "--all", "--force")...).Run()
		// vfs layers hold no mounts; the store goes with the directory.
	})
	bud := func(runtime, tag string) string {
		t.Helper()
		args := append(append([]string{}, store...), "bud", "--runtime", runtime, "--network", "none", "--isolation", "oci",
			"--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096", "--layers=false", "-t", tag, ctx)
		out, err := exec.Command("buildah", args...).CombinedOutput()
		if err != nil {
			t.Fatalf("buildah bud --runtime %s: %v\n%s", runtime, err, out)
		}
		if !strings.Contains(string(out), "Successfully tagged localhost/"+tag+":latest") {
			t.Fatalf("buildah bud --runtime %s:\n%s", runtime, out)
		}
		// The steps' own output: from the first RUN to the commit.
		s := string(out)
		s = s[strings.Index(s, "STEP 3/4"):]
		return s[:strings.Index(s, "COMMIT")]
	}
	got := bud(rt, "hako-buildah-test")
	if !strings.Contains(got, "\n1\n") || !strings.Contains(got, "Seccomp:\t2") || !strings.Contains(got, "step one\n") {
		t.Fatalf("buildah's RUN steps on hako:\n%s", got)
	}
	// The same process environment as with runc (capabilities from
	// buildah's defaults, seccomp filter).
	if runc, err := exec.LookPath("runc"); err == nil {
		if want := bud(runc, "hako-buildah-runc"); got != want {
			t.Fatalf("buildah's RUN steps differ:\nhako:\n%s\nrunc:\n%s", got, want)
		}
	}
}
