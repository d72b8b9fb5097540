package e2e

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hako-dev/hako/internal/testutil"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// CVE-2019-5736: while the container's init waits for "start", its
// /proc/PID/exe must not lead to a writable runtime binary. A container that
// keeps a reference and writes through it once the runtime is gone must not
// change the runtime. The init is either the runtime's forked child, which
// has executed hako's trampoline from a sealed memfd by then, or the
// re-executed runtime binary, run from a detached read-only bind mount.
func TestRuntimeCannotOverwriteRuntimeBinary(t *testing.T) {
	r := newRT(t)
	// A private copy of the runtime: if the defence failed, only this copy
	// would be damaged.
	dir := t.TempDir()
	data, err := os.ReadFile(r.bin)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "hako-runtime")
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	r.bin = bin

	for _, tc := range []struct {
		name   string
		reexec bool // a personality setting makes the runtime re-execute itself as the init
	}{{"forked init", false}, {"re-executed init", true}} {
		t.Run(tc.name, func(t *testing.T) {
			s := testutil.Spec(t, "true")
			args := []string{"create"}
			if tc.reexec {
				s.Linux.Personality = &specs.LinuxPersonality{Domain: specs.PerLinux}
			}
			b := testutil.Bundle(t, s)
			cid := id(t)
			r.must(append(args, "--bundle", b, cid)...)
			st := r.state(cid)
			// What the exploit does from inside: hold the init's exe ...
			exe, err := os.OpenFile(filepath.Join("/proc", strconv.Itoa(st.Pid), "exe"), unix.O_PATH, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer exe.Close()
			// ... wait until no process runs the binary any more ...
			r.must("delete", "-f", cid)
			// ... and reopen it for writing.
			f, err := os.OpenFile(filepath.Join("/proc/self/fd", strconv.Itoa(int(exe.Fd()))), os.O_WRONLY, 0)
			if err == nil {
				// A sealed memfd opens, and refuses every write.
				_, werr := f.Write([]byte("pwned"))
				f.Close()
				if werr == nil {
					t.Fatal("wrote through the container init's exe")
				}
			} else if !errors.Is(err, syscall.EROFS) {
				t.Errorf("opening the init's exe for writing failed with %v, want EROFS (read-only bind mount)", err)
			}
			after, _ := os.ReadFile(bin)
			if sha256.Sum256(after) != sum {
				t.Fatal("the runtime binary changed")
			}
		})
	}
}

// CVE-2024-21626: the container process inherits no descriptor of the
// runtime and no working directory outside the container.
func TestRuntimeNoHostFDsOrCwd(t *testing.T) {
	r := newRT(t)
	s := testutil.Spec(t, "sh", "-c", "ls /proc/self/fd; pwd; ls -l /proc/self/cwd")
	s.Process.Cwd = "/tmp"
	b := testutil.Bundle(t, s)
	out := r.must("run", "--bundle", b, id(t))
	lines := strings.Split(strings.TrimSpace(out), "\n")
	// ls lists 0 1 2 and the directory it reads (3).
	if len(lines) < 3 || strings.Join(lines[:len(lines)-2], " ") != "0 1 2 3" {
		t.Errorf("container process has extra descriptors: %q", out)
	}
	if lines[len(lines)-2] != "/tmp" || !strings.HasSuffix(lines[len(lines)-1], "-> /tmp") {
		t.Errorf("cwd: %q", out)
	}
	// A cwd naming a runtime descriptor must not lead outside.
	for fd := 3; fd < 8; fd++ {
		s := testutil.Spec(t, "sh", "-c", "ls ..")
		s.Process.Cwd = "/proc/self/fd/" + strconv.Itoa(fd)
		b := testutil.Bundle(t, s)
		out, _, code := r.run("run", "--bundle", b, id(t))
		if code == 0 && (strings.Contains(out, "etc") && strings.Contains(out, "usr") && strings.Contains(out, "home")) {
			t.Fatalf("cwd %s escaped to the host: %q", s.Process.Cwd, out)
		}
	}
}

// CVE-2021-30465 class: a mount destination that is a symlink to a host
// path lands inside the rootfs.
func TestRuntimeSymlinkMountDestination(t *testing.T) {
	r := newRT(t)
	rootfs := t.TempDir()
	if err := testutil.MakeBusyboxRootfs(rootfs); err != nil {
		t.Fatal(err)
	}
	hostDir := t.TempDir()
	if err := os.Symlink(hostDir, filepath.Join(rootfs, "escape")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../../../../../.."+hostDir, filepath.Join(rootfs, "escape2")); err != nil {
		t.Fatal(err)
	}
	s := testutil.Spec(t, "sh", "-c", "touch /escape/x /escape2/y && grep -c tmpfs /proc/mounts")
	s.Root.Path = rootfs
	s.Root.Readonly = false
	s.Mounts = append(s.Mounts,
		specs.Mount{Destination: "/escape", Type: "tmpfs", Source: "tmpfs"},
		specs.Mount{Destination: "/escape2", Type: "tmpfs", Source: "tmpfs"})
	b := testutil.Bundle(t, s)
	cid := id(t)
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.must("run", "--bundle", b, cid)
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("container did not finish")
	}
	entries, _ := os.ReadDir(hostDir)
	if len(entries) != 0 {
		t.Fatalf("the container wrote into the host directory: %v", entries)
	}
	if m := testutil.Mounts(t, hostDir); len(m) != 0 {
		t.Fatalf("a mount landed on the host path: %v", m)
	}
	// The mounts were made inside the rootfs, where the symlinks resolve
	// when the rootfs is the root.
	if _, err := os.Stat(filepath.Join(rootfs, hostDir)); err != nil {
		t.Errorf("the symlink target was not created inside the rootfs: %v", err)
	}
	_ = bytes.MinRead
}
