package cgroups

import (
	"fmt"
	"math"
	"strings"

	"github.com/hako-dev/hako/internal/errdefs"
)

func (m *v2) Stats() (*Stats, error) {
	if !fileExists(m.dir, ".") {
		return nil, fmt.Errorf("read cgroup stats: cgroup %s does not exist: %w", m.dir, errdefs.ErrNotFound)
	}
	s := &Stats{}
	for _, read := range []func(string, *Stats) error{
		cpuStatsV2, cpusetStatsV2, memoryStatsV2, pidsStats, ioStats,
		func(d string, s *Stats) error { return hugetlbStats(d, s, "max") },
	} {
		if err := read(m.dir, s); err != nil {
			return nil, fmt.Errorf("read cgroup stats: %w", err)
		}
	}
	return s, nil
}

func cpuStatsV2(dir string, s *Stats) error {
	kv, err := optKV(dir, "cpu.stat")
	if err != nil {
		return err
	}
	const ns = 1000 // cpu.stat counts microseconds
	s.CPU.Usage.Total = kv["usage_usec"] * ns
	s.CPU.Usage.User = kv["user_usec"] * ns
	s.CPU.Usage.Kernel = kv["system_usec"] * ns
	s.CPU.Throttling = Throttling{Periods: kv["nr_periods"], ThrottledPeriods: kv["nr_throttled"], ThrottledTime: kv["throttled_usec"] * ns}
	return nil
}

func cpusetStatsV2(dir string, s *Stats) error {
	for _, f := range []struct {
		name string
		dst  *[]uint16
	}{{"cpuset.cpus.effective", &s.CPUSet.CPUs}, {"cpuset.mems.effective", &s.CPUSet.Mems}} {
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
	return nil
}

func memoryStatsV2(dir string, s *Stats) error {
	mem := &s.Memory
	for _, f := range []struct {
		name string
		dst  *uint64
	}{
		{"memory.current", &mem.Usage.Usage},
		{"memory.max", &mem.Usage.Limit},
		{"memory.peak", &mem.Usage.Max},
		{"memory.swap.current", &mem.Swap.Usage},
		{"memory.swap.max", &mem.Swap.Limit},
	} {
		var err error
		if *f.dst, err = optUint(dir, f.name); err != nil {
			return err
		}
	}
	// v1 reports swap as memory+swap: do the same.
	mem.Swap.Usage += mem.Usage.Usage
	if mem.Swap.Limit != math.MaxUint64 && mem.Usage.Limit != math.MaxUint64 {
		mem.Swap.Limit += mem.Usage.Limit
	} else {
		mem.Swap.Limit = math.MaxUint64
	}
	raw, err := optKV(dir, "memory.stat")
	if err != nil {
		return err
	}
	if len(raw) > 0 {
		mem.Raw, mem.Cache = raw, raw["file"]
	}
	ev, err := optKV(dir, "memory.events")
	if err != nil {
		return err
	}
	mem.Usage.Failcnt = ev["max"]
	s.OOMKills = ev["oom_kill"]
	return nil
}

// ioStats maps io.stat ("8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0
// dios=0") onto v1's recursive counters.
func ioStats(dir string, s *Stats) error {
	c, err := readFile(dir, "io.stat")
	if isNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	b := &s.Blkio
	for _, line := range strings.Split(c, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		maj, min, ok := parseDev(f[0])
		if !ok {
			continue
		}
		for _, kv := range f[1:] {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				continue
			}
			var dst *[]BlkioEntry
			op := ""
			switch k {
			case "rbytes":
				dst, op = &b.IoServiceBytesRecursive, "Read"
			case "wbytes":
				dst, op = &b.IoServiceBytesRecursive, "Write"
			case "dbytes":
				dst, op = &b.IoServiceBytesRecursive, "Discard"
			case "rios":
				dst, op = &b.IoServicedRecursive, "Read"
			case "wios":
				dst, op = &b.IoServicedRecursive, "Write"
			case "dios":
				dst, op = &b.IoServicedRecursive, "Discard"
			default:
				continue
			}
			n, err := parseUint(v, "io.stat", dir)
			if err != nil {
				return err
			}
			*dst = append(*dst, BlkioEntry{Major: maj, Minor: min, Op: op, Value: n})
		}
	}
	return nil
}
