package cgroups

import (
	"errors"
	"fmt"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// v2Plan is what checking the resources computed before any write.
type v2Plan struct {
	devices []devRule
	swap    string // memory.swap.max; "" leaves it
	need    []string
}

// planV2 checks r and converts what needs converting. Fields that cgroup
// v2 has no place for are ignored, as runc does: memory.kernel,
// memory.kernelTCP, memory.swappiness, memory.disableOOMKiller,
// memory.useHierarchy and blockIO.leafWeight.
func planV2(r *specs.LinuxResources) (*v2Plan, error) {
	p := &v2Plan{}
	if r == nil {
		return p, nil
	}
	var errs []error
	if len(r.Devices) > 0 {
		var err error
		p.devices, err = deviceRules(r.Devices)
		errs = append(errs, err)
		if len(p.devices) == 0 {
			p.devices = nil
		}
	}
	if c := r.CPU; c != nil {
		if c.Shares != nil || c.Quota != nil || c.Period != nil || c.Idle != nil || c.Burst != nil {
			p.need = append(p.need, "cpu")
		}
		if nz(c.RealtimeRuntime) != 0 || nz(c.RealtimePeriod) != 0 {
			errs = append(errs, unsupported("linux.resources.cpu.realtimeRuntime", "cgroup v2 has no real-time CPU limits"))
		}
		if c.Cpus != "" || c.Mems != "" {
			p.need = append(p.need, "cpuset")
		}
	}
	if mem := r.Memory; mem != nil {
		if mem.Limit != nil || mem.Reservation != nil || mem.Swap != nil {
			p.need = append(p.need, "memory")
		}
		var err error
		p.swap, err = swapMax(nz(mem.Limit), nz(mem.Swap))
		errs = append(errs, err)
	}
	if r.Pids != nil && r.Pids.Limit != nil {
		p.need = append(p.need, "pids")
	}
	if b := r.BlockIO; b != nil && (b.Weight != nil || len(b.WeightDevice) > 0 || len(b.ThrottleReadBpsDevice) > 0 ||
		len(b.ThrottleWriteBpsDevice) > 0 || len(b.ThrottleReadIOPSDevice) > 0 || len(b.ThrottleWriteIOPSDevice) > 0) {
		p.need = append(p.need, "io")
	}
	if len(r.HugepageLimits) > 0 {
		p.need = append(p.need, "hugetlb")
		errs = append(errs, checkPageSizes(r.HugepageLimits))
	}
	if len(r.Rdma) > 0 {
		p.need = append(p.need, "rdma")
		errs = append(errs, checkRdma(r.Rdma))
	}
	if n := r.Network; n != nil && (n.ClassID != nil || len(n.Priorities) > 0) {
		errs = append(errs, unsupported("linux.resources.network", "cgroup v2 has no net_cls or net_prio controller"))
	}
	for k := range r.Unified {
		errs = append(errs, checkUnifiedKey(k))
	}
	return p, errors.Join(errs...)
}

// checkUnifiedKey refuses keys that are not a file name, and the files
// through which the runtime itself drives the cgroup.
func checkUnifiedKey(k string) error {
	field := "linux.resources.unified[" + fmt.Sprintf("%q", k) + "]"
	if !safeName(k) {
		return invalid(field, "not a cgroup file name")
	}
	switch k {
	case "cgroup.procs", "cgroup.threads", "cgroup.subtree_control", "cgroup.type", "cgroup.freeze", "cgroup.kill":
		return invalid(field, "%s is managed by the runtime", k)
	}
	return nil
}

// swapMax converts the spec's swap, the v1 memory+swap total, to v2's
// memory.swap.max, swap alone, as runc does.
func swapMax(limit, swap int64) (string, error) {
	switch {
	case limit == -1 && swap == 0:
		// Unlimited memory with swap unset: both unlimited.
		return "max", nil
	case swap == 0:
		return "", nil
	case swap == -1:
		return "max", nil
	case limit <= 0:
		return "", invalid("linux.resources.memory.swap", "a swap limit needs a memory limit")
	case swap < limit:
		return "", invalid("linux.resources.memory.swap", "%d is below the memory limit %d (swap is the memory+swap total)", swap, limit)
	}
	return itoa(swap - limit), nil
}

// sharesToWeight maps cpu.shares [2, 262144] onto cpu.weight [1, 10000].
func sharesToWeight(s uint64) uint64 {
	s = min(max(s, 2), 262144)
	return 1 + (s-2)*9999/262142
}

// blkioToIOWeight maps blkio.weight [10, 1000] onto io.weight [1, 10000].
func blkioToIOWeight(w uint16) uint64 {
	v := uint64(min(max(w, 10), 1000))
	return 1 + (v-10)*9999/990
}

func (m *v2) apply(r *specs.LinuxResources, p *v2Plan, update bool, enableErr error) error {
	if r == nil {
		return nil
	}
	if len(p.need) > 0 {
		have, err := readFile(m.dir, "cgroup.controllers")
		if err != nil {
			return err
		}
		for _, c := range p.need {
			if !contains(strings.Fields(have), c) {
				err := unsupported("linux.resources", "the %s controller is not available in %s", c, m.dir)
				if enableErr != nil {
					err = fmt.Errorf("%w (enabling it failed: %w)", err, enableErr)
				}
				return err
			}
		}
	}
	if c := r.CPU; c != nil {
		if err := setCPUV2(m.dir, c); err != nil {
			return err
		}
		if err := setCpuset(m.dir, c); err != nil {
			return err
		}
	}
	if r.Memory != nil {
		if err := setMemoryV2(m.dir, r.Memory, p.swap, update); err != nil {
			return err
		}
	}
	if r.Pids != nil && r.Pids.Limit != nil {
		if err := writeFile(m.dir, "pids.max", pidsMax(*r.Pids.Limit)); err != nil {
			return err
		}
	}
	if r.BlockIO != nil {
		if err := setIO(m.dir, r.BlockIO); err != nil {
			return err
		}
	}
	if err := setHugetlb(m.dir, r.HugepageLimits, "max"); err != nil {
		return err
	}
	if err := setRdma(m.dir, r.Rdma); err != nil {
		return err
	}
	if p.devices != nil {
		if err := setDeviceFilter(m.dir, p.devices); err != nil {
			return err
		}
	}
	// Last, so a raw value overrides the mapped ones.
	for _, k := range sortedKeys(r.Unified) {
		err := writeFile(m.dir, k, r.Unified[k])
		if errors.Is(err, unix.ENOENT) && fileExists(m.dir, ".") {
			return unsupported("linux.resources.unified["+fmt.Sprintf("%q", k)+"]", "%s has no such file", m.dir)
		}
		if err != nil {
			return fmt.Errorf("linux.resources.unified[%q]: %w", k, err)
		}
	}
	return nil
}

func setCPUV2(dir string, c *specs.LinuxCPU) error {
	if v := nz(c.Shares); v != 0 {
		if err := writeFile(dir, "cpu.weight", utoa(sharesToWeight(v))); err != nil {
			return err
		}
	}
	quota, period := nz(c.Quota), nz(c.Period)
	if quota != 0 || period != 0 {
		// cpu.max is "$QUOTA $PERIOD"; writing the quota alone keeps the
		// period, and a new period alone keeps the current quota.
		v := fmtMax(quota)
		if quota == 0 {
			cur, err := readFile(dir, "cpu.max")
			if err != nil {
				return err
			}
			v, _, _ = strings.Cut(cur, " ")
		}
		if period != 0 {
			v += " " + utoa(period)
		}
		if err := writeFile(dir, "cpu.max", v); err != nil {
			return err
		}
	}
	if c.Burst != nil {
		if err := writeFile(dir, "cpu.max.burst", utoa(*c.Burst)); err != nil {
			return err
		}
	}
	if c.Idle != nil {
		if err := writeFile(dir, "cpu.idle", itoa(*c.Idle)); err != nil {
			return err
		}
	}
	return nil
}

func setMemoryV2(dir string, mem *specs.LinuxMemory, swap string, update bool) error {
	limit := nz(mem.Limit)
	if update && limit > 0 && mem.CheckBeforeUpdate != nil && *mem.CheckBeforeUpdate {
		if err := checkUsage(dir, "memory.current", limit); err != nil {
			return err
		}
	}
	if swap != "" {
		err := writeFile(dir, "memory.swap.max", swap)
		// No swap accounting: "unlimited" is what there is anyway.
		if err != nil && !(swap == "max" && errors.Is(err, unix.ENOENT)) {
			return err
		}
	}
	if limit != 0 {
		err := writeFile(dir, "memory.max", fmtMax(limit))
		if errors.Is(err, unix.EBUSY) {
			usage, _ := readUint(dir, "memory.current")
			return fmt.Errorf("%w (the cgroup uses %d bytes and cannot free enough)", err, usage)
		}
		if err != nil {
			return err
		}
	}
	if v := nz(mem.Reservation); v != 0 {
		if err := writeFile(dir, "memory.low", fmtMax(v)); err != nil {
			return err
		}
	}
	return nil
}

func setIO(dir string, b *specs.LinuxBlockIO) error {
	// BFQ's io.bfq.weight takes blkio's range as is; io.weight is wider.
	if b.Weight != nil {
		err := writeFile(dir, "io.bfq.weight", utoa(uint64(*b.Weight)))
		if errors.Is(err, unix.ENOENT) {
			err = writeFile(dir, "io.weight", utoa(blkioToIOWeight(*b.Weight)))
		}
		if err != nil {
			return err
		}
	}
	for _, d := range b.WeightDevice {
		if d.Weight == nil {
			continue
		}
		dev := itoa(d.Major) + ":" + itoa(d.Minor) + " "
		err := writeFile(dir, "io.bfq.weight", dev+utoa(uint64(*d.Weight)))
		if errors.Is(err, unix.ENOENT) {
			err = writeFile(dir, "io.weight", dev+utoa(blkioToIOWeight(*d.Weight)))
		}
		if err != nil {
			return err
		}
	}
	for _, t := range throttles(b) {
		for _, d := range t.devs {
			if err := writeFile(dir, "io.max", itoa(d.Major)+":"+itoa(d.Minor)+" "+t.v2+"="+utoa(d.Rate)); err != nil {
				return err
			}
		}
	}
	return nil
}
