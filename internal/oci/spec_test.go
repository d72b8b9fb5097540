package oci

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hako-dev/hako/internal/errdefs"
	ctypes "github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func testRootfs(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0:root:/root:/bin/sh\nwww:x:33:33::/var/www:/bin/false\nalice:x:1000:1000::/home/alice:/bin/sh\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/group"), []byte("root:x:0:\nwheel:x:10:root,alice\nwww:x:33:\nalice:x:1000:\naudio:x:29:alice\n"), 0o644)
	return root
}

func spec(t *testing.T, cfg *ctypes.Config, hc *ctypes.HostConfig) *specs.Spec {
	t.Helper()
	if cfg.Cmd == nil {
		cfg.Cmd = []string{"sh"}
	}
	s, err := ContainerSpec(&ContainerOpts{ID: "0123456789abcdef", Config: cfg, HostConfig: hc, Rootfs: testRootfs(t)})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDefaults(t *testing.T) {
	s := spec(t, &ctypes.Config{Env: []string{"A=1", "PATH=/bin"}}, &ctypes.HostConfig{})
	if s.Hostname != "0123456789ab" {
		t.Errorf("hostname %q", s.Hostname)
	}
	if !slices.Equal(s.Process.Capabilities.Bounding, DefaultCapabilities) {
		t.Errorf("caps %v", s.Process.Capabilities.Bounding)
	}
	if s.Linux.Seccomp == nil || s.Linux.Seccomp.DefaultAction == "" {
		t.Error("no default seccomp profile")
	}
	if !slices.Equal(s.Linux.MaskedPaths, DefaultMaskedPaths) || !slices.Equal(s.Linux.ReadonlyPaths, DefaultReadonlyPaths) {
		t.Error("masked/readonly paths are not docker's")
	}
	if !slices.Contains(s.Process.Env, "PATH=/bin") || !slices.Contains(s.Process.Env, "A=1") || !slices.Contains(s.Process.Env, "HOSTNAME=0123456789ab") {
		t.Errorf("env %v", s.Process.Env)
	}
	var types []specs.LinuxNamespaceType
	for _, ns := range s.Linux.Namespaces {
		types = append(types, ns.Type)
	}
	for _, want := range []specs.LinuxNamespaceType{"mount", "pid", "ipc", "uts", "network"} {
		if !slices.Contains(types, want) {
			t.Errorf("namespace %s missing from %v", want, types)
		}
	}
	if slices.Contains(types, specs.CgroupNamespace) {
		t.Error("cgroup namespace on v1 by default")
	}
	var dsts []string
	for _, m := range s.Mounts {
		dsts = append(dsts, m.Destination)
	}
	for _, want := range []string{"/proc", "/dev", "/dev/pts", "/sys", "/dev/shm", "/dev/mqueue"} {
		if !slices.Contains(dsts, want) {
			t.Errorf("mount %s missing", want)
		}
	}
	if s.Process.Cwd != "/" || s.Process.User.UID != 0 {
		t.Errorf("cwd %q uid %d", s.Process.Cwd, s.Process.User.UID)
	}
}

func TestUser(t *testing.T) {
	for _, tc := range []struct {
		user  string
		add   []string
		uid   uint32
		gid   uint32
		extra []uint32
		err   string
	}{
		{user: "", uid: 0, gid: 0, extra: []uint32{10}},
		{user: "www", uid: 33, gid: 33},
		{user: "alice", uid: 1000, gid: 1000, extra: []uint32{10, 29}},
		{user: "alice:www", uid: 1000, gid: 33},
		{user: "1000:5", uid: 1000, gid: 5},
		{user: "4242", uid: 4242, gid: 0},
		{user: "33", uid: 33, gid: 33},
		{user: "www", add: []string{"audio", "99"}, uid: 33, gid: 33, extra: []uint32{29, 99}},
		{user: "nobody", err: "unable to find user nobody: no matching entries in passwd file"},
		{user: "www:nogroup", err: "unable to find group nogroup"},
	} {
		u, err := resolveUser(testRootfs(t), tc.user, tc.add, false)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Errorf("%q: error %v, want %q", tc.user, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.user, err)
			continue
		}
		if u.UID != tc.uid || u.GID != tc.gid || !slices.Equal(u.AdditionalGids, tc.extra) {
			t.Errorf("%q: got %d:%d %v, want %d:%d %v", tc.user, u.UID, u.GID, u.AdditionalGids, tc.uid, tc.gid, tc.extra)
		}
	}
}

// Strict groups: the primary group from passwd, and only the groups
// asked for (the CRI's SupplementalGroupsPolicy Strict).
func TestUserStrictGroups(t *testing.T) {
	u, err := resolveUser(testRootfs(t), "alice", []string{"99"}, true)
	if err != nil || u.UID != 1000 || u.GID != 1000 || !slices.Equal(u.AdditionalGids, []uint32{99}) {
		t.Errorf("strict alice: %+v %v", u, err)
	}
}

// An image whose /etc/passwd is a symlink to the host's must not make
// the lookup read the host's file.
func TestUserLookupStaysInRootfs(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.Symlink("/etc/passwd", filepath.Join(root, "etc/passwd"))
	if _, err := resolveUser(root, "root", nil, false); err == nil {
		t.Fatal("the lookup followed a symlink out of the rootfs")
	}
}

func TestCapabilities(t *testing.T) {
	s := spec(t, &ctypes.Config{}, &ctypes.HostConfig{CapAdd: []string{"sys_admin"}, CapDrop: []string{"NET_RAW", "CAP_KILL"}})
	caps := s.Process.Capabilities.Bounding
	if !slices.Contains(caps, "CAP_SYS_ADMIN") || slices.Contains(caps, "CAP_NET_RAW") || slices.Contains(caps, "CAP_KILL") {
		t.Errorf("caps %v", caps)
	}
	s = spec(t, &ctypes.Config{}, &ctypes.HostConfig{CapDrop: []string{"ALL"}, CapAdd: []string{"CHOWN"}})
	if !slices.Equal(s.Process.Capabilities.Bounding, []string{"CAP_CHOWN"}) {
		t.Errorf("drop ALL add CHOWN: %v", s.Process.Capabilities.Bounding)
	}
	s = spec(t, &ctypes.Config{}, &ctypes.HostConfig{Privileged: true})
	if len(s.Process.Capabilities.Bounding) < 38 || s.Linux.Seccomp != nil || len(s.Linux.MaskedPaths) != 0 {
		t.Errorf("privileged: %d caps, seccomp %v, masked %v", len(s.Process.Capabilities.Bounding), s.Linux.Seccomp != nil, s.Linux.MaskedPaths)
	}
	if _, err := ContainerSpec(&ContainerOpts{Config: &ctypes.Config{Cmd: []string{"x"}}, HostConfig: &ctypes.HostConfig{CapAdd: []string{"FLY"}}}); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("unknown capability: %v", err)
	}
}

func TestResources(t *testing.T) {
	pids := int64(50)
	s := spec(t, &ctypes.Config{}, &ctypes.HostConfig{Resources: ctypes.Resources{
		CPUShares: 512, Memory: 64 << 20, PidsLimit: &pids, NanoCPUs: 500000000, CpusetCpus: "0", BlkioWeight: 300,
	}})
	r := s.Linux.Resources
	if *r.CPU.Shares != 512 || *r.Memory.Limit != 64<<20 || *r.Memory.Swap != 128<<20 || *r.Pids.Limit != 50 ||
		*r.CPU.Quota != 50000 || *r.CPU.Period != 100000 || r.CPU.Cpus != "0" || *r.BlockIO.Weight != 300 {
		t.Errorf("resources %+v", r)
	}
	for _, bad := range []ctypes.Resources{
		{Memory: 1 << 20},
		{Memory: 64 << 20, MemorySwap: 32 << 20},
		{MemorySwap: 64 << 20},
		{CpusetCpus: "0-4096"},
		{CpusetCpus: "x"},
		{BlkioWeight: 5},
		{NanoCPUs: 1e9, CPUQuota: 50000},
		{NanoCPUs: 1e15},
	} {
		_, err := ContainerSpec(&ContainerOpts{Config: &ctypes.Config{Cmd: []string{"x"}}, HostConfig: &ctypes.HostConfig{Resources: bad}})
		if !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("%+v: error %v", bad, err)
		}
	}
}

func TestMountsAndModes(t *testing.T) {
	dir := t.TempDir()
	s, err := ContainerSpec(&ContainerOpts{
		ID: "0123456789abcdef", Config: &ctypes.Config{Tty: true, Cmd: []string{"sh"}}, Rootfs: testRootfs(t),
		HostConfig: &ctypes.HostConfig{
			Binds:   []string{"ignored:/ignored"}, // the engine resolves binds into Mounts
			Tmpfs:   map[string]string{"/run": "size=1m,exec"},
			PidMode: "host", IpcMode: "host", UTSMode: "host",
			ShmSize: 1 << 20,
		},
		HostsPath: "/x/hosts",
		Mounts: []specs.Mount{
			{Destination: "/etc/app", Type: "bind", Source: dir, Options: []string{"rbind", "ro", "rprivate"}},
			{Destination: "/etc", Type: "bind", Source: dir, Options: []string{"rbind", "rw", "rprivate"}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	index := map[string]int{}
	for i, m := range s.Mounts {
		index[m.Destination] = i
	}
	if _, ok := index["/ignored"]; ok {
		t.Error("HostConfig.Binds was read")
	}
	// Parents first: the /etc volume, then what lands in it.
	if !(index["/etc"] < index["/etc/hosts"] && index["/etc"] < index["/etc/app"]) {
		t.Errorf("order: %v", index)
	}
	run := s.Mounts[index["/run"]]
	if run.Type != "tmpfs" || !slices.Contains(run.Options, "exec") || slices.Contains(run.Options, "noexec") || !slices.Contains(run.Options, "size=1m") {
		t.Errorf("tmpfs %+v", run)
	}
	for _, ns := range s.Linux.Namespaces {
		if ns.Type == "pid" || ns.Type == "ipc" || ns.Type == "uts" {
			t.Errorf("host mode still has a %s namespace", ns.Type)
		}
	}
	if s.Hostname != "" || !slices.Contains(s.Process.Env, "TERM=xterm") {
		t.Errorf("hostname %q env %v", s.Hostname, s.Process.Env)
	}
	// A user mount replaces a generated one; two user mounts at one place
	// are refused.
	s, err = ContainerSpec(&ContainerOpts{Config: &ctypes.Config{Cmd: []string{"x"}}, HostConfig: &ctypes.HostConfig{}, HostsPath: "/x/hosts",
		Mounts: []specs.Mount{{Destination: "/etc/hosts", Type: "bind", Source: "/mine", Options: []string{"rbind"}}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range s.Mounts {
		if m.Destination == "/etc/hosts" && m.Source != "/mine" {
			t.Errorf("generated /etc/hosts kept: %+v", m)
		}
	}
	_, err = ContainerSpec(&ContainerOpts{Config: &ctypes.Config{Cmd: []string{"x"}}, HostConfig: &ctypes.HostConfig{Tmpfs: map[string]string{"/data": ""}},
		Mounts: []specs.Mount{{Destination: "/data", Type: "bind", Source: dir}}})
	if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), "Duplicate mount point: /data") {
		t.Errorf("duplicate: %v", err)
	}
}

func TestJoinAndInit(t *testing.T) {
	s, err := ContainerSpec(&ContainerOpts{
		Config:         &ctypes.Config{Cmd: []string{"sleep", "1"}},
		HostConfig:     &ctypes.HostConfig{PidMode: "container:abc"},
		JoinNamespaces: map[specs.LinuxNamespaceType]string{specs.PIDNamespace: "/proc/42/ns/pid"},
		InitPath:       "/usr/bin/hako",
	})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, ns := range s.Linux.Namespaces {
		if ns.Type == specs.PIDNamespace && ns.Path == "/proc/42/ns/pid" {
			found = true
		}
	}
	if !found {
		t.Errorf("pid namespace join missing: %+v", s.Linux.Namespaces)
	}
	if !slices.Equal(s.Process.Args, []string{"/dev/init", "--", "sleep", "1"}) {
		t.Errorf("args %v", s.Process.Args)
	}
}

func TestSecurityOpts(t *testing.T) {
	s := spec(t, &ctypes.Config{}, &ctypes.HostConfig{SecurityOpt: []string{"no-new-privileges", "seccomp=unconfined"}})
	if !s.Process.NoNewPrivileges || s.Linux.Seccomp != nil {
		t.Errorf("nnp %v seccomp %v", s.Process.NoNewPrivileges, s.Linux.Seccomp != nil)
	}
	s = spec(t, &ctypes.Config{}, &ctypes.HostConfig{SecurityOpt: []string{`seccomp={"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"}]}`}})
	if s.Linux.Seccomp == nil || s.Linux.Seccomp.DefaultAction != specs.ActAllow {
		t.Errorf("custom profile: %+v", s.Linux.Seccomp)
	}
	if _, err := ContainerSpec(&ContainerOpts{Config: &ctypes.Config{Cmd: []string{"x"}}, HostConfig: &ctypes.HostConfig{SecurityOpt: []string{"bogus"}}}); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("bogus security opt: %v", err)
	}
	if _, err := ContainerSpec(&ContainerOpts{Config: &ctypes.Config{Cmd: []string{"x"}}, HostConfig: &ctypes.HostConfig{Sysctls: map[string]string{"kernel.panic": "1"}}}); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("non-namespaced sysctl: %v", err)
	}
}
