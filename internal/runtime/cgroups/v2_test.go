package cgroups

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hako-dev/hako/internal/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// fakeV2 lays out a fake cgroup2 tree under a temp dir: the root offers
// every controller, and each dir in dirs (relative to the root) has the
// control files a real cgroup would, empty.
func fakeV2(t *testing.T, dirs ...string) string {
	t.Helper()
	root := t.TempDir()
	write(t, root, "cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc")
	write(t, root, "cgroup.subtree_control", "")
	for _, d := range dirs {
		p := root
		for _, part := range strings.Split(d, "/") {
			p = filepath.Join(p, part)
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{"cgroup.controllers", "cgroup.subtree_control", "cgroup.procs", "cgroup.freeze", "cgroup.kill",
				"cpu.weight", "cpu.max", "cpu.max.burst", "cpu.idle", "cpuset.cpus", "cpuset.mems",
				"memory.max", "memory.low", "memory.swap.max", "memory.current", "pids.max", "io.weight", "io.max"} {
				if _, err := os.Stat(filepath.Join(p, f)); err != nil {
					write(t, p, f, "")
				}
			}
			write(t, p, "cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc")
			write(t, p, "cpu.max", "max 100000")
		}
	}
	return root
}

func write(t *testing.T, dir, file, v string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, file), []byte(v), 0o644); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, dir, file string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func newV2(t *testing.T, root string, cfg Config) Manager {
	t.Helper()
	cfg.Root, cfg.Mode = root, ModeV2
	if cfg.Own == nil {
		cfg.Own = map[string]string{"": "/user.slice/session-1.scope"}
	}
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestV2Paths(t *testing.T) {
	root := t.TempDir()
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Path: "/hako/c1"}, "/hako/c1"},
		// Relative paths are below the parent of the caller's cgroup.
		{Config{Path: "hako/c1"}, "/user.slice/hako/c1"},
		{Config{ID: "abc"}, "/user.slice/abc"},
		{Config{Path: "/a/../b"}, "/b"},
		{Config{Systemd: true, Path: "machine.slice:hako:abc"}, "/machine.slice/hako-abc.scope"},
		{Config{Systemd: true, Path: "a-b.slice:hako:abc"}, "/a.slice/a-b.slice/hako-abc.scope"},
		{Config{Systemd: true, ID: "abc"}, "/system.slice/hako-abc.scope"},
	} {
		m := newV2(t, root, tc.cfg)
		if got := m.Paths()[""]; got != root+tc.want {
			t.Errorf("%+v: %s, want %s", tc.cfg, got, root+tc.want)
		}
	}
	for _, p := range []string{"/../etc", "a/../../..", "/", ".."} {
		_, err := New(Config{Root: root, Mode: ModeV2, Path: p, Own: map[string]string{"": "/x/y"}})
		if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "linux.cgroupsPath") {
			t.Errorf("path %q: %v", p, err)
		}
	}
}

func TestV2CreateAndSet(t *testing.T) {
	root := fakeV2(t, "hako/c1")
	m := newV2(t, root, Config{Path: "/hako/c1"})
	dir := m.Paths()[""]
	i64 := func(v int64) *int64 { return &v }
	u64 := func(v uint64) *uint64 { return &v }
	u16 := func(v uint16) *uint16 { return &v }
	r := &specs.LinuxResources{
		CPU:     &specs.LinuxCPU{Shares: u64(1024), Quota: i64(50000), Period: u64(100000), Cpus: "0-1", Mems: "0"},
		Memory:  &specs.LinuxMemory{Limit: i64(64 << 20), Reservation: i64(32 << 20), Swap: i64(128 << 20)},
		Pids:    &specs.LinuxPids{Limit: i64(100)},
		BlockIO: &specs.LinuxBlockIO{Weight: u16(500), ThrottleReadBpsDevice: []specs.LinuxThrottleDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 0}, Rate: 1048576}}},
		Unified: map[string]string{"memory.high": "max"},
	}
	write(t, dir, "memory.high", "")
	if err := m.Create(r); err != nil {
		t.Fatal(err)
	}
	// Controllers were enabled in every ancestor.
	for _, d := range []string{root, root + "/hako"} {
		if got := read(t, d, "cgroup.subtree_control"); !strings.Contains(got, "+memory") || !strings.Contains(got, "+cpu") {
			t.Errorf("%s/cgroup.subtree_control = %q", d, got)
		}
	}
	for file, want := range map[string]string{
		"cpu.weight":      "39", // 1 + (1024-2)*9999/262142, as runc
		"cpu.max":         "50000 100000",
		"cpuset.cpus":     "0-1",
		"cpuset.mems":     "0",
		"memory.max":      "67108864",
		"memory.low":      "33554432",
		"memory.swap.max": "67108864", // the memory+swap total minus memory
		"pids.max":        "100",
		"io.weight":       "4950", // 1 + (500-10)*9999/990, as runc
		"io.max":          "8:0 rbps=1048576",
		"memory.high":     "max",
	} {
		if got := read(t, dir, file); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}
	// Set changes only what it is given; -1 means unlimited.
	if err := m.Set(&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(-1)}, CPU: &specs.LinuxCPU{Quota: i64(-1)}}); err != nil {
		t.Fatal(err)
	}
	if got := read(t, dir, "pids.max"); got != "max" {
		t.Errorf("pids.max = %q", got)
	}
	if got := read(t, dir, "cpu.max"); got != "max" {
		t.Errorf("cpu.max = %q", got)
	}
	if got := read(t, dir, "memory.max"); got != "67108864" {
		t.Errorf("memory.max changed: %q", got)
	}
	if err := m.Join(1234); err != nil {
		t.Fatal(err)
	}
	if got := read(t, dir, "cgroup.procs"); got != "1234" {
		t.Errorf("cgroup.procs = %q", got)
	}
}

func TestV2Refuses(t *testing.T) {
	root := fakeV2(t, "c")
	m := newV2(t, root, Config{Path: "/c"})
	i64 := func(v int64) *int64 { return &v }
	for name, r := range map[string]*specs.LinuxResources{
		"realtime":      {CPU: &specs.LinuxCPU{RealtimeRuntime: i64(1000)}},
		"net_cls":       {Network: &specs.LinuxNetwork{ClassID: new(uint32)}},
		"swap < memory": {Memory: &specs.LinuxMemory{Limit: i64(100 << 20), Swap: i64(50 << 20)}},
		"unified procs": {Unified: map[string]string{"cgroup.procs": "1"}},
		"unified path":  {Unified: map[string]string{"../x": "1"}},
	} {
		err := m.Create(r)
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if !strings.Contains(err.Error(), "linux.resources") {
			t.Errorf("%s: error does not name the field: %v", name, err)
		}
	}
	// A controller the cgroup does not offer.
	write(t, root+"/c", "cgroup.controllers", "cpu")
	err := m.Create(&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(5)}})
	if !errdefs.IsNotImplemented(err) || !strings.Contains(err.Error(), "pids") {
		t.Errorf("missing pids controller: %v", err)
	}
}

func TestV2FreezeStatsDestroy(t *testing.T) {
	root := fakeV2(t, "c")
	m := newV2(t, root, Config{Path: "/c"})
	dir := m.Paths()[""]
	// The fake kernel has already frozen it.
	write(t, dir, "cgroup.events", "populated 1\nfrozen 1\n")
	if err := m.Freeze(); err != nil {
		t.Fatal(err)
	}
	if got := read(t, dir, "cgroup.freeze"); got != "1" {
		t.Errorf("cgroup.freeze = %q", got)
	}
	if f, err := m.Frozen(); err != nil || !f {
		t.Errorf("frozen: %v %v", f, err)
	}
	write(t, dir, "cgroup.events", "populated 1\nfrozen 0\n")
	if err := m.Thaw(); err != nil {
		t.Fatal(err)
	}
	write(t, dir, "cgroup.procs", "12\n34\n")
	if pids, err := m.Pids(); err != nil || len(pids) != 2 || pids[0] != 12 || pids[1] != 34 {
		t.Errorf("pids: %v %v", pids, err)
	}
	write(t, dir, "cpu.stat", "usage_usec 2000\nuser_usec 1500\nsystem_usec 500\nnr_periods 10\nnr_throttled 2\nthrottled_usec 300\n")
	write(t, dir, "memory.current", "4096\n")
	write(t, dir, "memory.max", "max\n")
	write(t, dir, "memory.swap.max", "max\n")
	write(t, dir, "memory.swap.current", "0\n")
	write(t, dir, "memory.stat", "anon 1024\nfile 2048\n")
	write(t, dir, "memory.events", "low 0\nhigh 0\nmax 3\noom 2\noom_kill 1\n")
	write(t, dir, "pids.current", "2\n")
	write(t, dir, "pids.max", "max\n")
	write(t, dir, "io.stat", "8:0 rbytes=100 wbytes=200 rios=1 wios=2 dbytes=0 dios=0\n")
	s, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if s.CPU.Usage.Total != 2000000 || s.CPU.Usage.User != 1500000 || s.CPU.Throttling.ThrottledPeriods != 2 || s.CPU.Throttling.ThrottledTime != 300000 {
		t.Errorf("cpu: %+v", s.CPU)
	}
	if s.Memory.Usage.Usage != 4096 || s.Pids.Current != 2 || s.Pids.Limit != 0 {
		t.Errorf("memory %+v pids %+v", s.Memory.Usage, s.Pids)
	}
	if s.OOMKills != 1 {
		t.Errorf("oom kills: %d", s.OOMKills)
	}
	if n, err := m.OOMKills(); n != 1 || err != nil {
		t.Errorf("OOMKills: %d %v", n, err)
	}
	if len(s.Blkio.IoServiceBytesRecursive) == 0 {
		t.Errorf("io: %+v", s.Blkio)
	}
	// Destroy on a fake tree: the files are regular files, so only check
	// that a missing cgroup is not an error.
	m2 := newV2(t, root, Config{Path: "/gone"})
	if err := m2.Destroy(); err != nil {
		t.Errorf("destroy of a missing cgroup: %v", err)
	}
}

func TestV2Load(t *testing.T) {
	root := fakeV2(t, "c")
	m := newV2(t, root, Config{Path: "/c"})
	l, err := Load(m.Paths())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := l.(*v2); !ok || l.Paths()[""] != root+"/c" || V1Hierarchies(l) != nil {
		t.Errorf("loaded: %+v", l.Paths())
	}
	if _, err := Load(map[string]string{"": "relative"}); !errdefs.IsInvalidArgument(err) {
		t.Errorf("relative path loaded: %v", err)
	}
}

func TestSharesToWeight(t *testing.T) {
	for s, w := range map[uint64]uint64{2: 1, 1024: 39, 262144: 10000, 1: 1, 1 << 20: 10000} {
		if got := sharesToWeight(s); got != w {
			t.Errorf("shares %d: weight %d, want %d", s, got, w)
		}
	}
}
