package cgroups

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// fakeV1 lays out v1 hierarchies under a temp dir, each with the files a
// real cgroup has, empty, at the container's path p.
func fakeV1(t *testing.T, p string) (string, []Mount) {
	t.Helper()
	root := t.TempDir()
	mounts := []Mount{
		{Dir: root + "/cpu,cpuacct", Controllers: []string{"cpu", "cpuacct"}, Subtree: "/"},
		{Dir: root + "/cpuset", Controllers: []string{"cpuset"}, Subtree: "/"},
		{Dir: root + "/memory", Controllers: []string{"memory"}, Subtree: "/"},
		{Dir: root + "/pids", Controllers: []string{"pids"}, Subtree: "/"},
		{Dir: root + "/blkio", Controllers: []string{"blkio"}, Subtree: "/"},
		{Dir: root + "/devices", Controllers: []string{"devices"}, Subtree: "/"},
		{Dir: root + "/freezer", Controllers: []string{"freezer"}, Subtree: "/"},
		{Dir: root + "/systemd", Controllers: []string{"name=systemd"}, Subtree: "/"},
	}
	files := []string{"cgroup.procs", "tasks", "cpu.shares", "cpu.cfs_quota_us", "cpu.cfs_period_us", "cpuset.cpus", "cpuset.mems",
		"memory.limit_in_bytes", "memory.soft_limit_in_bytes", "memory.memsw.limit_in_bytes", "memory.swappiness", "memory.oom_control",
		"pids.max", "blkio.weight", "blkio.throttle.read_bps_device", "devices.allow", "devices.deny", "freezer.state"}
	for _, mt := range mounts {
		dirs := []string{mt.Dir}
		for d, rest := mt.Dir, strings.TrimPrefix(p, "/"); rest != ""; {
			part, r, _ := strings.Cut(rest, "/")
			d, rest = d+"/"+part, r
			dirs = append(dirs, d)
		}
		for _, d := range dirs {
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
			for _, f := range files {
				write(t, d, f, "")
			}
			write(t, d, "memory.limit_in_bytes", "9223372036854771712\n")
			write(t, d, "memory.memsw.limit_in_bytes", "9223372036854771712\n")
		}
		write(t, mt.Dir, "cpuset.cpus", "0-3\n")
		write(t, mt.Dir, "cpuset.mems", "0\n")
	}
	return root, mounts
}

func TestV1CreateAndSet(t *testing.T) {
	root, mounts := fakeV1(t, "/hako/c1")
	m, err := New(Config{Root: root, Mode: ModeV1, Mounts: mounts, Path: "/hako/c1"})
	if err != nil {
		t.Fatal(err)
	}
	paths := m.Paths()
	if paths["cpu"] != root+"/cpu,cpuacct/hako/c1" || paths["cpuacct"] != paths["cpu"] || paths["name=systemd"] != root+"/systemd/hako/c1" {
		t.Fatalf("paths: %v", paths)
	}
	i64 := func(v int64) *int64 { return &v }
	u64 := func(v uint64) *uint64 { return &v }
	u16 := func(v uint16) *uint16 { return &v }
	r := &specs.LinuxResources{
		CPU:     &specs.LinuxCPU{Shares: u64(512), Quota: i64(50000), Period: u64(100000)},
		Memory:  &specs.LinuxMemory{Limit: i64(64 << 20), Reservation: i64(32 << 20), Swap: i64(128 << 20)},
		Pids:    &specs.LinuxPids{Limit: i64(100)},
		BlockIO: &specs.LinuxBlockIO{Weight: u16(500)},
	}
	if err := m.Create(r); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{
		"cpu,cpuacct/hako/c1/cpu.shares":             "512",
		"cpu,cpuacct/hako/c1/cpu.cfs_quota_us":       "50000",
		"cpu,cpuacct/hako/c1/cpu.cfs_period_us":      "100000",
		"memory/hako/c1/memory.limit_in_bytes":       "67108864",
		"memory/hako/c1/memory.soft_limit_in_bytes":  "33554432",
		"memory/hako/c1/memory.memsw.limit_in_bytes": "134217728",
		"pids/hako/c1/pids.max":                      "100",
		"blkio/hako/c1/blkio.weight":                 "500",
		"cpuset/hako/c1/cpuset.cpus":                 "0-3", // copied from the parent: an empty cpuset takes no task
		"cpuset/hako/c1/cpuset.mems":                 "0",
	} {
		if got := strings.TrimSpace(read(t, root, file)); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}
	if err := m.Join(4321); err != nil {
		t.Fatal(err)
	}
	for _, mt := range mounts {
		if got := read(t, mt.Dir+"/hako/c1", "cgroup.procs"); got != "4321" {
			t.Errorf("%s: cgroup.procs = %q", mt.Dir, got)
		}
	}
	hs := V1Hierarchies(m)
	i := slices.IndexFunc(hs, func(h Hierarchy) bool { return h.Name == "cpu,cpuacct" })
	if i < 0 || hs[i].Source != root+"/cpu,cpuacct/hako/c1" || !slices.Equal(hs[i].Links, []string{"cpu", "cpuacct"}) {
		t.Errorf("hierarchies: %+v", hs)
	}
	if i := slices.IndexFunc(hs, func(h Hierarchy) bool { return h.Name == "systemd" }); i < 0 {
		t.Errorf("no systemd hierarchy: %+v", hs)
	}
	l, err := Load(paths)
	if err != nil {
		t.Fatal(err)
	}
	if !maps(l.Paths(), paths) {
		t.Errorf("load: %v, want %v", l.Paths(), paths)
	}
	// Update only the memory limit.
	if err := l.Set(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(100 << 20), Swap: i64(200 << 20)}}); err != nil {
		t.Fatal(err)
	}
	if got := read(t, root, "memory/hako/c1/memory.limit_in_bytes"); got != "104857600" {
		t.Errorf("updated limit %q", got)
	}
	if got := read(t, root, "cpu,cpuacct/hako/c1/cpu.shares"); got != "512" {
		t.Errorf("shares changed: %q", got)
	}
}

func maps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// The real thing, on whatever cgroups this machine has: a process is
// limited, listed, frozen, killed, and the cgroup removed.
func TestRealCgroup(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	if testing.Short() {
		t.Skip("short")
	}
	id := "hako-cgtest-" + strconv.Itoa(os.Getpid())
	m, err := New(Config{ID: id, Path: "/" + id})
	if err != nil {
		t.Skipf("no usable cgroups here: %v", err)
	}
	t.Cleanup(func() {
		m.Kill(syscall.SIGKILL)
		for range 100 {
			if m.Destroy() == nil {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	limit, pids := int64(64<<20), int64(20)
	if err := m.Create(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit}, Pids: &specs.LinuxPids{Limit: &pids}}); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sleep", "100")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	if err := m.Join(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	paths := m.Paths()
	if dir, ok := paths["memory"]; ok {
		if got := strings.TrimSpace(read(t, dir, "memory.limit_in_bytes")); got != "67108864" {
			t.Errorf("memory.limit_in_bytes = %s", got)
		}
	} else if got := strings.TrimSpace(read(t, paths[""], "memory.max")); got != "67108864" {
		t.Errorf("memory.max = %s", got)
	}
	got, err := m.Pids()
	if err != nil || !slices.Contains(got, cmd.Process.Pid) {
		t.Fatalf("pids %v (%v), want %d among them", got, err, cmd.Process.Pid)
	}
	if err := m.Freeze(); err != nil {
		t.Fatal(err)
	}
	if f, err := m.Frozen(); err != nil || !f {
		t.Errorf("frozen: %v %v", f, err)
	}
	if err := m.Thaw(); err != nil {
		t.Fatal(err)
	}
	s, err := m.Stats()
	if err != nil || s.Pids.Current < 1 || s.Memory.Usage.Limit != 67108864 {
		t.Errorf("stats: %+v %v", s, err)
	}
	if err := m.Kill(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-waited:
	case <-time.After(10 * time.Second):
		t.Fatal("the process survived Kill")
	}
	if err := m.Destroy(); err != nil {
		t.Fatal(err)
	}
	for k, d := range paths {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("%s: %s left behind", k, filepath.Base(d))
		}
	}
}
