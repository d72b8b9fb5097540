package cgroups

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/hako-dev/hako/internal/errdefs"
)

// userHZ is the unit of cpuacct.stat: USER_HZ, 100 on every Linux ABI.
const userHZ = 100

func (m *v1) Stats() (*Stats, error) {
	if d := m.pidsDir(); d == "" || !fileExists(d, ".") {
		return nil, fmt.Errorf("read cgroup stats: cgroup %s does not exist: %w", d, errdefs.ErrNotFound)
	}
	s := &Stats{}
	steps := []struct {
		ctrl string
		read func(string, *Stats) error
	}{
		{"cpuacct", cpuacctStats},
		{"cpu", cpuStatsV1},
		{"cpuset", cpusetStats},
		{"memory", memoryStatsV1},
		{"pids", pidsStats},
		{"blkio", blkioStatsV1},
		{"hugetlb", func(d string, s *Stats) error { return hugetlbStats(d, s, "limit_in_bytes") }},
	}
	for _, st := range steps {
		d := m.paths[st.ctrl]
		if d == "" {
			continue
		}
		if err := st.read(d, s); err != nil {
			return nil, fmt.Errorf("read cgroup stats: %w", err)
		}
	}
	if m.paths["hugetlb"] == "" && m.unified != "" {
		if err := hugetlbStats(m.unified, s, "max"); err != nil {
			return nil, fmt.Errorf("read cgroup stats: %w", err)
		}
	}
	return s, nil
}

func cpuacctStats(dir string, s *Stats) error {
	u := &s.CPU.Usage
	var err error
	if u.Total, err = optUint(dir, "cpuacct.usage"); err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		dst  *[]uint64
	}{
		{"cpuacct.usage_percpu", &u.Percpu},
		{"cpuacct.usage_percpu_sys", &u.PercpuKernel},
		{"cpuacct.usage_percpu_user", &u.PercpuUser},
	} {
		if *f.dst, err = readUints(dir, f.name); err != nil {
			return err
		}
	}
	kv, err := optKV(dir, "cpuacct.stat")
	if err != nil {
		return err
	}
	const nsPerTick = 1e9 / userHZ
	u.User, u.Kernel = kv["user"]*nsPerTick, kv["system"]*nsPerTick
	return nil
}

// readUints reads a space-separated list of numbers; a missing file is
// an empty list.
func readUints(dir, file string) ([]uint64, error) {
	s, err := readFile(dir, file)
	if isNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []uint64
	for _, f := range strings.Fields(s) {
		v, err := parseUint(f, file, dir)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func cpuStatsV1(dir string, s *Stats) error {
	kv, err := optKV(dir, "cpu.stat")
	if err != nil {
		return err
	}
	s.CPU.Throttling = Throttling{Periods: kv["nr_periods"], ThrottledPeriods: kv["nr_throttled"], ThrottledTime: kv["throttled_time"]}
	return nil
}

func cpusetStats(dir string, s *Stats) error {
	c := &s.CPUSet
	for _, f := range []struct {
		name string
		dst  *[]uint16
	}{{"cpuset.cpus", &c.CPUs}, {"cpuset.mems", &c.Mems}} {
		v, err := readFile(dir, f.name)
		if isNotExist(err) {
			continue
		}
		if err != nil {
			return err
		}
		if *f.dst, err = listCPUs(v); err != nil {
			return fmt.Errorf("read %s in %s: %w", f.name, dir, err)
		}
	}
	for _, f := range []struct {
		name string
		dst  *uint64
	}{
		{"cpuset.cpu_exclusive", &c.CPUExclusive},
		{"cpuset.mem_hardwall", &c.MemHardwall},
		{"cpuset.mem_exclusive", &c.MemExclusive},
		{"cpuset.memory_migrate", &c.MemoryMigrate},
		{"cpuset.memory_spread_page", &c.MemorySpreadPage},
		{"cpuset.memory_spread_slab", &c.MemorySpreadSlab},
		{"cpuset.memory_pressure", &c.MemoryPressure},
		{"cpuset.sched_load_balance", &c.SchedLoadBalance},
	} {
		var err error
		if *f.dst, err = optUint(dir, f.name); err != nil {
			return err
		}
	}
	v, err := readFile(dir, "cpuset.sched_relax_domain_level")
	if err == nil {
		c.SchedRelaxDomainLevel, _ = strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	} else if !isNotExist(err) {
		return err
	}
	return nil
}

func memoryStatsV1(dir string, s *Stats) error {
	for _, e := range []struct {
		prefix string
		dst    *MemoryEntry
	}{
		{"memory.", &s.Memory.Usage},
		{"memory.memsw.", &s.Memory.Swap},
		{"memory.kmem.", &s.Memory.Kernel},
		{"memory.kmem.tcp.", &s.Memory.KernelTCP},
	} {
		for _, f := range []struct {
			name string
			dst  *uint64
		}{
			{"usage_in_bytes", &e.dst.Usage},
			{"max_usage_in_bytes", &e.dst.Max},
			{"failcnt", &e.dst.Failcnt},
			{"limit_in_bytes", &e.dst.Limit},
		} {
			var err error
			if *f.dst, err = optUint(dir, e.prefix+f.name); err != nil {
				return err
			}
		}
	}
	raw, err := optKV(dir, "memory.stat")
	if err != nil {
		return err
	}
	if len(raw) > 0 {
		s.Memory.Raw, s.Memory.Cache = raw, raw["cache"]
	}
	oom, err := optKV(dir, "memory.oom_control")
	if err != nil {
		return err
	}
	s.OOMKills = oom["oom_kill"]
	return nil
}

func pidsStats(dir string, s *Stats) error {
	var err error
	if s.Pids.Current, err = optUint(dir, "pids.current"); err != nil {
		return err
	}
	if s.Pids.Limit, err = optUint(dir, "pids.max"); err != nil {
		return err
	}
	if s.Pids.Limit == 1<<64-1 {
		s.Pids.Limit = 0
	}
	return nil
}

func blkioStatsV1(dir string, s *Stats) error {
	b := &s.Blkio
	type stat struct {
		file string
		dst  *[]BlkioEntry
	}
	// CFQ's counters, else BFQ's, else the throttling layer's, which
	// count every I/O whatever the scheduler.
	sets := [][]stat{
		{
			{"blkio.io_service_bytes_recursive", &b.IoServiceBytesRecursive},
			{"blkio.io_serviced_recursive", &b.IoServicedRecursive},
			{"blkio.io_queued_recursive", &b.IoQueuedRecursive},
			{"blkio.io_service_time_recursive", &b.IoServiceTimeRecursive},
			{"blkio.io_wait_time_recursive", &b.IoWaitTimeRecursive},
			{"blkio.io_merged_recursive", &b.IoMergedRecursive},
			{"blkio.time_recursive", &b.IoTimeRecursive},
			{"blkio.sectors_recursive", &b.SectorsRecursive},
		},
		{
			{"blkio.bfq.io_service_bytes_recursive", &b.IoServiceBytesRecursive},
			{"blkio.bfq.io_serviced_recursive", &b.IoServicedRecursive},
		},
		{
			{"blkio.throttle.io_service_bytes_recursive", &b.IoServiceBytesRecursive},
			{"blkio.throttle.io_serviced_recursive", &b.IoServicedRecursive},
		},
	}
	for _, set := range sets {
		if !fileExists(dir, set[0].file) {
			continue
		}
		for _, st := range set {
			var err error
			if *st.dst, err = blkioEntries(dir, st.file); err != nil {
				return err
			}
		}
		if len(b.IoServiceBytesRecursive) > 0 || len(b.IoServicedRecursive) > 0 {
			return nil
		}
	}
	return nil
}

// blkioEntries parses "8:0 Read 4096" (or "8:0 4096") lines; the summary
// line "Total N" has no device and is skipped.
func blkioEntries(dir, file string) ([]BlkioEntry, error) {
	s, err := readFile(dir, file)
	if isNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []BlkioEntry
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || len(f) > 3 {
			continue
		}
		maj, min, ok := parseDev(f[0])
		if !ok {
			continue
		}
		e := BlkioEntry{Major: maj, Minor: min}
		if len(f) == 3 {
			e.Op = f[1]
		}
		if e.Value, err = parseUint(f[len(f)-1], file, dir); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

func parseDev(s string) (uint64, uint64, bool) {
	a, b, ok := strings.Cut(s, ":")
	if !ok {
		return 0, 0, false
	}
	maj, err1 := strconv.ParseUint(a, 10, 64)
	min, err2 := strconv.ParseUint(b, 10, 64)
	return maj, min, err1 == nil && err2 == nil
}

// hugetlbStats reads the usage of each hugepage size, found from the
// hugetlb.<size>.<limitSuffix> files in dir: "limit_in_bytes" on v1,
// "max" on v2.
func hugetlbStats(dir string, s *Stats, limitSuffix string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		return fmt.Errorf("list %s: %w", dir, unwrapPath(err))
	}
	for _, e := range ents {
		size, ok := strings.CutPrefix(e.Name(), "hugetlb.")
		if !ok {
			continue
		}
		if size, ok = strings.CutSuffix(size, "."+limitSuffix); !ok || strings.Contains(size, ".") {
			continue
		}
		var h Hugetlb
		p := "hugetlb." + size + "."
		if limitSuffix == "max" {
			if h.Usage, err = optUint(dir, p+"current"); err != nil {
				return err
			}
			ev, err := optKV(dir, p+"events")
			if err != nil {
				return err
			}
			h.Failcnt = ev["max"]
		} else {
			for _, f := range []struct {
				name string
				dst  *uint64
			}{{"usage_in_bytes", &h.Usage}, {"max_usage_in_bytes", &h.Max}, {"failcnt", &h.Failcnt}} {
				if *f.dst, err = optUint(dir, p+f.name); err != nil {
					return err
				}
			}
		}
		if s.Hugetlb == nil {
			s.Hugetlb = make(map[string]Hugetlb)
		}
		s.Hugetlb[size] = h
	}
	return nil
}
