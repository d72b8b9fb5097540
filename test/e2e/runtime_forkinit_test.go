package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hako-dev/hako/internal/testutil"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// The runtime builds most containers with a forked init running a
// compiled program of system calls (package forkinit), and the rest by
// executing itself as the init (package initproc). The two must build
// the same container: the same configuration, once each way (a no-op
// personality setting is what sends it the re-executed way), shows the
// same view from inside.
func TestRuntimeForkedAndReexecutedInitsAgree(t *testing.T) {
	r := newRT(t)
	vol := t.TempDir()
	if err := os.WriteFile(filepath.Join(vol, "f"), []byte("from the host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	script := strings.Join([]string{
		"id", "pwd", "umask", "ulimit -n", "ulimit -u", "hostname", "cat /proc/sys/kernel/domainname",
		"grep -E '^(Cap|NoNewPrivs|Seccomp:)' /proc/self/status",
		"cat /proc/self/oom_score_adj",
		"awk '{print $5, $6, $9}' /proc/self/mountinfo | sort",
		"ls -ln /dev | awk '{print $1, $3, $4, $5, $6, $NF}'",
		"cat /proc/self/cgroup | sed 's/:.*:/:/' | sort",
		"cat /proc/sys/net/ipv4/ip_forward",
		"cat /proc/kcore 2>&1 | head -c 20; echo",
		"ls /sys/firmware | wc -l",
		"cat /vol/f", "echo x > /vol/g 2>&1 || echo read-only",
		"ls /proc/self/fd",
		"env | sort",
	}, "; ")
	mk := func(reexec bool) *specs.Spec {
		s := testutil.Spec(t, "sh", "-c", script)
		s.Process.Cwd = "/work/dir"
		s.Process.User = specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{10, 20}, Umask: ptrU32(0o027)}
		s.Process.Env = append(s.Process.Env, "FOO=bar")
		s.Process.OOMScoreAdj = ptrInt(500)
		s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 512, Hard: 1024}, {Type: "RLIMIT_NPROC", Soft: 100, Hard: 200}}
		s.Hostname, s.Domainname = "forky", "example.org"
		s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"}
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/vol", Type: "bind", Source: vol, Options: []string{"rbind", "ro", "rprivate"}},
			specs.Mount{Destination: "/work/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "size=1m"}})
		s.Linux.Devices = append(s.Linux.Devices, specs.LinuxDevice{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229, FileMode: ptrMode(0o640), UID: ptrU32(1000), GID: ptrU32(1000)})
		if reexec {
			s.Linux.Personality = &specs.LinuxPersonality{Domain: specs.PerLinux}
		}
		return s
	}
	forked := r.must("run", "--bundle", testutil.Bundle(t, mk(false)), id(t))
	reexec := r.must("run", "--bundle", testutil.Bundle(t, mk(true)), id(t))
	if forked != reexec {
		t.Fatalf("the forked init built another container than the re-executed one\n--- forked:\n%s\n--- re-executed:\n%s", forked, reexec)
	}
	for _, want := range []string{"uid=1000", "groups=10", "/work/dir", "0027", "forky", "example.org", "from the host", "read-only", "FOO=bar", "229 fuse"} {
		if !strings.Contains(forked, want) {
			t.Errorf("output lacks %q:\n%s", want, forked)
		}
	}
}

// The same for exec: a process entered into a running container either
// way (a no-op AppArmor profile, AppArmor being off here, sends it the
// re-executed way) sees the same.
func TestRuntimeForkedAndReexecutedExecsAgree(t *testing.T) {
	r := newRT(t)
	s := testutil.Spec(t, "sleep", "60")
	s.Hostname = "execy"
	cid := id(t)
	r.must("run", "-d", "--bundle", testutil.Bundle(t, s), cid)
	defer r.run("delete", "-f", cid)
	script := `id; pwd; umask; ulimit -n; hostname; grep -E '^(Cap|NoNewPrivs|Seccomp:)' /proc/self/status; cat /proc/self/oom_score_adj; cat /proc/self/cgroup | sed 's/:.*:/:/' | sort; ls /proc/self/fd; env | sort`
	mk := func(reexec bool) string {
		p := &specs.Process{
			Args: []string{"sh", "-c", script},
			Env:  []string{"PATH=/usr/bin:/bin", "FOO=bar"},
			Cwd:  "/tmp",
			User: specs.User{UID: 65534, GID: 65534, AdditionalGids: []uint32{10}, Umask: ptrU32(0o077)},
			Capabilities: &specs.LinuxCapabilities{
				Bounding: []string{"CAP_KILL", "CAP_CHOWN"}, Effective: []string{"CAP_KILL"}, Permitted: []string{"CAP_KILL"},
			},
			Rlimits:         []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 256, Hard: 256}},
			NoNewPrivileges: true,
			OOMScoreAdj:     ptrInt(300),
		}
		if reexec {
			p.ApparmorProfile = "unconfined"
		}
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(t.TempDir(), "process.json")
		if err := os.WriteFile(f, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return r.must("exec", "-p", f, cid)
	}
	forked, reexec := mk(false), mk(true)
	if forked != reexec {
		t.Fatalf("the forked exec differs from the re-executed one\n--- forked:\n%s\n--- re-executed:\n%s", forked, reexec)
	}
	for _, want := range []string{"uid=65534", "groups=10", "/tmp", "0077", "256", "execy", "FOO=bar", "CapBnd:\t0000000000000021", "300"} {
		if !strings.Contains(forked, want) {
			t.Errorf("output lacks %q:\n%s", want, forked)
		}
	}
}

func ptrU32(v uint32) *uint32            { return &v }
func ptrInt(v int) *int                  { return &v }
func ptrMode(v os.FileMode) *os.FileMode { return &v }

// A mount destination behind a dangling symlink in the image: the
// re-executed init follows the link and makes its target inside the
// rootfs, as mkdir -p would in a chroot; the forked init's compiler sees
// the link and hands the container to it.
func TestRuntimeDanglingSymlinkDestinationFallsBack(t *testing.T) {
	r := newRT(t)
	rootfs := t.TempDir()
	if err := testutil.MakeBusyboxRootfs(rootfs); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/srv/data", filepath.Join(rootfs, "data")); err != nil {
		t.Fatal(err)
	}
	s := testutil.Spec(t, "sh", "-c", "grep -c ' /srv/data tmpfs' /proc/mounts")
	s.Root.Path = rootfs
	s.Root.Readonly = false
	s.Mounts = append(s.Mounts, specs.Mount{Destination: "/data", Type: "tmpfs", Source: "tmpfs"})
	if out := strings.TrimSpace(r.must("run", "--bundle", testutil.Bundle(t, s), id(t))); out != "1" {
		t.Fatalf("mounts at /srv/data: %q, want 1", out)
	}
	if fi, err := os.Stat(filepath.Join(rootfs, "srv", "data")); err != nil || !fi.IsDir() {
		t.Fatalf("the link's target was not made in the rootfs: %v", err)
	}
}

// With a cgroup namespace of its own, a container's cgroup2 mount shows
// its own cgroup, not the host's tree: the namespace is made once the
// init is in its cgroup and before the mounts. Both inits.
func TestRuntimeCgroupNamespaceMount(t *testing.T) {
	var st unix.Statfs_t
	if err := unix.Statfs("/sys/fs/cgroup/unified", &st); err != nil || st.Type != unix.CGROUP2_SUPER_MAGIC {
		if err := unix.Statfs("/sys/fs/cgroup", &st); err != nil || st.Type != unix.CGROUP2_SUPER_MAGIC {
			t.Skip("no cgroup2 hierarchy")
		}
	}
	r := newRT(t)
	for _, reexec := range []bool{false, true} {
		rootfs := t.TempDir()
		if err := testutil.MakeBusyboxRootfs(rootfs); err != nil {
			t.Fatal(err)
		}
		s := testutil.Spec(t, "sh", "-c", "grep -c '^0::/$' /proc/self/cgroup; find /cg2 -mindepth 1 -type d | wc -l")
		s.Root.Path = rootfs
		s.Root.Readonly = false
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/cg2", Type: "cgroup2", Source: "cgroup2", Options: []string{"nosuid", "noexec", "nodev"}})
		if reexec {
			s.Linux.Personality = &specs.LinuxPersonality{Domain: specs.PerLinux}
		}
		out := strings.Fields(r.must("run", "--bundle", testutil.Bundle(t, s), id(t)))
		// Its own cgroup is the root, and holds no other cgroup.
		if len(out) != 2 || out[0] != "1" || out[1] != "0" {
			t.Errorf("re-executed init %v: cgroup2 mount shows %v, want its own cgroup alone", reexec, out)
		}
	}
}

// The forked init sets the flags of the cgroup v1 tree (a tmpfs and a
// bind per hierarchy) with one recursive mount_setattr(2); a kernel
// without that call (before 5.12) gets each mount remounted instead, and
// the same container.
func TestRuntimeWithoutMountSetattr(t *testing.T) {
	r := newRT(t)
	old := newRT(t)
	old.enosys = []string{"mount_setattr"}
	script := "awk '$5 ~ /^\\/sys/ {print $5, $6, $9}' /proc/self/mountinfo | sort; touch /sys/fs/cgroup/x /sys/fs/cgroup/pids/x 2>&1; ls /sys/fs/cgroup"
	s := testutil.Spec(t, "sh", "-c", script)
	now := r.must("run", "--bundle", testutil.Bundle(t, s), id(t))
	before := old.must("run", "--bundle", testutil.Bundle(t, s), id(t))
	if now != before {
		t.Fatalf("another container without mount_setattr\n--- with:\n%s\n--- without:\n%s", now, before)
	}
	for _, want := range []string{"/sys/fs/cgroup ro,nosuid,nodev,noexec,relatime tmpfs", "/sys/fs/cgroup/pids ro,nosuid,nodev,noexec,relatime cgroup", "/sys/fs/cgroup/x: Read-only", "/sys/fs/cgroup/pids/x: Read-only"} {
		if !strings.Contains(now, want) {
			t.Errorf("output lacks %q:\n%s", want, now)
		}
	}
}
