package cgroups

import (
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// v1Plan is what checking the resources computed before any write, so a
// bad value fails before anything changes.
type v1Plan struct {
	devices []devWrite
}

// plan checks r against what this host has.
func (m *v1) plan(r *specs.LinuxResources) (*v1Plan, error) {
	p := &v1Plan{}
	if r == nil {
		return p, nil
	}
	need := func(ctrl, field string) error {
		if m.paths[ctrl] == "" {
			return unsupported(field, "the %s controller is not mounted on this host", ctrl)
		}
		return nil
	}
	var errs []error
	if len(r.Unified) > 0 {
		errs = append(errs, unsupported("linux.resources.unified", "needs cgroup v2, and this host uses cgroup v1"))
	}
	if len(r.Devices) > 0 {
		errs = append(errs, need("devices", "linux.resources.devices"))
		rs, err := deviceRules(r.Devices)
		if err == nil {
			p.devices, err = v1DeviceWrites(rs)
		}
		errs = append(errs, err)
	}
	if mem := r.Memory; mem != nil {
		if mem.Limit != nil || mem.Reservation != nil || mem.Swap != nil || mem.Kernel != nil ||
			mem.KernelTCP != nil || mem.Swappiness != nil || mem.DisableOOMKiller != nil || mem.UseHierarchy != nil {
			errs = append(errs, need("memory", "linux.resources.memory"))
		}
		if mem.Swappiness != nil && *mem.Swappiness > 100 {
			errs = append(errs, invalid("linux.resources.memory.swappiness", "%d is above 100", *mem.Swappiness))
		}
	}
	if c := r.CPU; c != nil {
		if c.Shares != nil || c.Quota != nil || c.Period != nil || c.RealtimeRuntime != nil ||
			c.RealtimePeriod != nil || c.Idle != nil || c.Burst != nil {
			errs = append(errs, need("cpu", "linux.resources.cpu"))
		}
		if c.Cpus != "" || c.Mems != "" {
			errs = append(errs, need("cpuset", "linux.resources.cpu"))
		}
	}
	if r.Pids != nil && r.Pids.Limit != nil {
		errs = append(errs, need("pids", "linux.resources.pids"))
	}
	if r.BlockIO != nil {
		errs = append(errs, need("blkio", "linux.resources.blockIO"))
	}
	if len(r.HugepageLimits) > 0 {
		errs = append(errs, checkPageSizes(r.HugepageLimits))
		if m.paths["hugetlb"] == "" && m.unified == "" {
			errs = append(errs, need("hugetlb", "linux.resources.hugepageLimits"))
		}
	}
	if n := r.Network; n != nil {
		if n.ClassID != nil {
			errs = append(errs, need("net_cls", "linux.resources.network.classID"))
		}
		if len(n.Priorities) > 0 {
			errs = append(errs, need("net_prio", "linux.resources.network.priorities"))
		}
	}
	if len(r.Rdma) > 0 {
		errs = append(errs, need("rdma", "linux.resources.rdma"), checkRdma(r.Rdma))
	}
	return p, errors.Join(errs...)
}

func checkPageSizes(hs []specs.LinuxHugepageLimit) error {
	for i, h := range hs {
		if !safeName(h.Pagesize) || strings.Contains(h.Pagesize, ".") {
			return invalid(fmt.Sprintf("linux.resources.hugepageLimits[%d].pageSize", i), "%q is not a page size such as \"2MB\"", h.Pagesize)
		}
	}
	return nil
}

func checkRdma(rd map[string]specs.LinuxRdma) error {
	for dev := range rd {
		if dev == "" || strings.ContainsAny(dev, " \t\n=") {
			return invalid("linux.resources.rdma", "%q is not an RDMA device name", dev)
		}
	}
	return nil
}

// apply writes r, checked by plan, in the order runc does.
func (m *v1) apply(r *specs.LinuxResources, p *v1Plan, update bool) error {
	if r == nil {
		return nil
	}
	if c := r.CPU; c != nil {
		if err := setCpuset(m.paths["cpuset"], c); err != nil {
			return err
		}
	}
	if err := writeDevices(m.paths["devices"], p.devices); err != nil {
		return err
	}
	if r.Memory != nil {
		if err := setMemoryV1(m.paths["memory"], r.Memory, update); err != nil {
			return err
		}
	}
	if r.CPU != nil {
		if err := setCPUV1(m.paths["cpu"], r.CPU); err != nil {
			return err
		}
	}
	if r.Pids != nil && r.Pids.Limit != nil {
		if err := writeFile(m.paths["pids"], "pids.max", pidsMax(*r.Pids.Limit)); err != nil {
			return err
		}
	}
	if r.BlockIO != nil {
		if err := setBlkioV1(m.paths["blkio"], r.BlockIO); err != nil {
			return err
		}
	}
	if len(r.HugepageLimits) > 0 {
		if err := m.setHugetlb(r.HugepageLimits); err != nil {
			return err
		}
	}
	if n := r.Network; n != nil {
		if n.ClassID != nil {
			if err := writeFile(m.paths["net_cls"], "net_cls.classid", utoa(uint64(*n.ClassID))); err != nil {
				return err
			}
		}
		for _, p := range n.Priorities {
			if err := writeFile(m.paths["net_prio"], "net_prio.ifpriomap", p.Name+" "+utoa(uint64(p.Priority))); err != nil {
				return err
			}
		}
	}
	return setRdma(m.paths["rdma"], r.Rdma)
}

func setCpuset(dir string, c *specs.LinuxCPU) error {
	if c.Cpus != "" {
		if err := writeFile(dir, "cpuset.cpus", c.Cpus); err != nil {
			return err
		}
	}
	if c.Mems != "" {
		if err := writeFile(dir, "cpuset.mems", c.Mems); err != nil {
			return err
		}
	}
	return nil
}

// pidsMax formats pids.max: zero or less is no limit.
func pidsMax(v int64) string {
	if v <= 0 {
		return "max"
	}
	return itoa(v)
}

// nz returns *p, or 0 for nil: runc reads 0 as "not set" for these
// fields, and so does hako.
func nz[T int64 | uint64](p *T) T {
	if p == nil {
		return 0
	}
	return *p
}

func setMemoryV1(dir string, mem *specs.LinuxMemory, update bool) error {
	limit, swap := nz(mem.Limit), nz(mem.Swap)
	if update && limit > 0 && mem.CheckBeforeUpdate != nil && *mem.CheckBeforeUpdate {
		if err := checkUsage(dir, "memory.usage_in_bytes", limit); err != nil {
			return err
		}
	}
	if limit == -1 && swap == 0 && fileExists(dir, "memory.memsw.limit_in_bytes") {
		// As runc: unlimited memory with swap unset means both unlimited.
		swap = -1
	}
	// The kernel keeps memory.memsw.limit_in_bytes >= memory.limit_in_bytes
	// at every step: raise swap first when it grows past the current
	// memory limit, lower memory first otherwise.
	swapFirst := false
	if limit != 0 && swap != 0 {
		cur, err := readUint(dir, "memory.limit_in_bytes")
		if err != nil {
			return err
		}
		swapFirst = swap == -1 || cur < uint64(swap)
	}
	setLimit := func() error {
		if limit == 0 {
			return nil
		}
		err := writeFile(dir, "memory.limit_in_bytes", fmtLimit(limit))
		if errors.Is(err, unix.EBUSY) {
			usage, _ := readUint(dir, "memory.usage_in_bytes")
			return fmt.Errorf("%w (the cgroup uses %d bytes and cannot free enough)", err, usage)
		}
		return err
	}
	setSwap := func() error {
		if swap == 0 {
			return nil
		}
		return writeFile(dir, "memory.memsw.limit_in_bytes", fmtLimit(swap))
	}
	steps := []func() error{setLimit, setSwap}
	if swapFirst {
		steps[0], steps[1] = setSwap, setLimit
	}
	for _, f := range steps {
		if err := f(); err != nil {
			return err
		}
	}
	if v := nz(mem.Reservation); v != 0 {
		if err := writeFile(dir, "memory.soft_limit_in_bytes", fmtLimit(v)); err != nil {
			return err
		}
	}
	if v := nz(mem.Kernel); v != 0 {
		// Deprecated, ignored by kernels since 5.4 and gone in 6.x:
		// best effort, as the spec allows.
		_ = writeFile(dir, "memory.kmem.limit_in_bytes", fmtLimit(v))
	}
	if v := nz(mem.KernelTCP); v != 0 {
		if err := writeFile(dir, "memory.kmem.tcp.limit_in_bytes", fmtLimit(v)); err != nil {
			return err
		}
	}
	if mem.Swappiness != nil {
		if err := writeFile(dir, "memory.swappiness", utoa(*mem.Swappiness)); err != nil {
			return err
		}
	}
	if mem.DisableOOMKiller != nil {
		if err := writeFile(dir, "memory.oom_control", boolNum(*mem.DisableOOMKiller)); err != nil {
			return err
		}
	}
	if mem.UseHierarchy != nil {
		if err := writeFile(dir, "memory.use_hierarchy", boolNum(*mem.UseHierarchy)); err != nil {
			return err
		}
	}
	return nil
}

// checkUsage refuses a memory limit below the current usage
// (linux.resources.memory.checkBeforeUpdate).
func checkUsage(dir, file string, limit int64) error {
	usage, err := readUint(dir, file)
	if err != nil {
		return err
	}
	if uint64(limit) < usage {
		return invalid("linux.resources.memory.limit", "%d is below the current usage of %d bytes (checkBeforeUpdate is set)", limit, usage)
	}
	return nil
}

func boolNum(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func fileExists(dir, file string) bool {
	return unix.Access(dir+"/"+file, unix.F_OK) == nil
}

func setCPUV1(dir string, c *specs.LinuxCPU) error {
	// Real-time settings first: a task with a real-time policy cannot join
	// a cgroup without real-time runtime.
	if err := setPair(dir, "cpu.rt_period_us", utoa(nz(c.RealtimePeriod)), "cpu.rt_runtime_us", itoa(nz(c.RealtimeRuntime))); err != nil {
		if errors.Is(err, unix.EINVAL) && nz(c.RealtimeRuntime) > 0 {
			// The kernel gives a cgroup no more real-time runtime than
			// its parent has left for its children.
			return fmt.Errorf("%w: the parent cgroup (%s) has less real-time runtime than asked: give it some first (cpu.rt_runtime_us; dockerd's --cpu-rt-runtime)", err, path.Dir(dir))
		}
		return err
	}
	if v := nz(c.Shares); v != 0 {
		if err := writeFile(dir, "cpu.shares", utoa(v)); err != nil {
			return err
		}
		// The kernel clamps shares to its range instead of failing.
		got, err := readUint(dir, "cpu.shares")
		if err != nil {
			return err
		}
		if got != v {
			return invalid("linux.resources.cpu.shares", "%d is out of the kernel's range (it stored %d)", v, got)
		}
	}
	quota := ""
	if q := nz(c.Quota); q != 0 {
		quota = fmtLimit(q)
	}
	if err := setPair(dir, "cpu.cfs_period_us", utoa(nz(c.Period)), "cpu.cfs_quota_us", quota); err != nil {
		return err
	}
	if c.Burst != nil {
		if err := writeFile(dir, "cpu.cfs_burst_us", utoa(*c.Burst)); err != nil {
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

// setPair writes a period and the amount of time allowed in it ("" or "0"
// means unset). The period goes first; when the kernel refuses it because
// the current amount no longer fits (EINVAL), it is written again after
// the amount.
func setPair(dir, periodFile, period, amountFile, amount string) error {
	if period == "0" {
		period = ""
	}
	if amount == "0" {
		amount = ""
	}
	retry := false
	if period != "" {
		if err := writeFile(dir, periodFile, period); err != nil {
			if !errors.Is(err, unix.EINVAL) || amount == "" {
				return err
			}
			retry = true
		}
	}
	if amount != "" {
		if err := writeFile(dir, amountFile, amount); err != nil {
			return err
		}
	}
	if retry {
		return writeFile(dir, periodFile, period)
	}
	return nil
}

func setBlkioV1(dir string, b *specs.LinuxBlockIO) error {
	if b.Weight != nil {
		if err := writeEither(dir, "blkio.weight", "blkio.bfq.weight", utoa(uint64(*b.Weight)), "linux.resources.blockIO.weight"); err != nil {
			return err
		}
	}
	if b.LeafWeight != nil {
		if err := writeFile(dir, "blkio.leaf_weight", utoa(uint64(*b.LeafWeight))); err != nil {
			return err
		}
	}
	for i, d := range b.WeightDevice {
		dev := itoa(d.Major) + ":" + itoa(d.Minor) + " "
		if d.Weight != nil {
			if err := writeEither(dir, "blkio.weight_device", "blkio.bfq.weight_device", dev+utoa(uint64(*d.Weight)),
				fmt.Sprintf("linux.resources.blockIO.weightDevice[%d].weight", i)); err != nil {
				return err
			}
		}
		if d.LeafWeight != nil {
			if err := writeFile(dir, "blkio.leaf_weight_device", dev+utoa(uint64(*d.LeafWeight))); err != nil {
				return err
			}
		}
	}
	for _, t := range throttles(b) {
		for _, d := range t.devs {
			if err := writeFile(dir, "blkio.throttle."+t.v1, itoa(d.Major)+":"+itoa(d.Minor)+" "+utoa(d.Rate)); err != nil {
				return err
			}
		}
	}
	return nil
}

// throttle is one kind of I/O throttle: its v1 file and v2 io.max key.
type throttle struct {
	v1, v2 string
	devs   []specs.LinuxThrottleDevice
}

func throttles(b *specs.LinuxBlockIO) [4]throttle {
	return [4]throttle{
		{"read_bps_device", "rbps", b.ThrottleReadBpsDevice},
		{"write_bps_device", "wbps", b.ThrottleWriteBpsDevice},
		{"read_iops_device", "riops", b.ThrottleReadIOPSDevice},
		{"write_iops_device", "wiops", b.ThrottleWriteIOPSDevice},
	}
}

// writeEither writes value to the first of two files that exists (CFQ's
// and BFQ's names for a weight), with a clear error when neither does.
func writeEither(dir, file, alt, value, field string) error {
	err := writeFile(dir, file, value)
	if !errors.Is(err, unix.ENOENT) {
		return err
	}
	err = writeFile(dir, alt, value)
	if errors.Is(err, unix.ENOENT) && fileExists(dir, ".") {
		return unsupported(field, "%s has neither %s nor %s: the disks' I/O scheduler does not support weights", dir, file, alt)
	}
	return err
}

// setHugetlb writes hugepage limits to the v1 hugetlb hierarchy or, on a
// hybrid host without one, to the unified directory.
func (m *v1) setHugetlb(hs []specs.LinuxHugepageLimit) error {
	if dir := m.paths["hugetlb"]; dir != "" {
		return setHugetlb(dir, hs, "limit_in_bytes")
	}
	return setHugetlb(m.unified, hs, "max")
}

// setHugetlb writes hugetlb.<size>.<suffix>, and the reservation limit
// hugetlb.<size>.rsvd.<suffix> where the kernel has it.
func setHugetlb(dir string, hs []specs.LinuxHugepageLimit, suffix string) error {
	for i, h := range hs {
		v := utoa(h.Limit)
		err := writeFile(dir, "hugetlb."+h.Pagesize+"."+suffix, v)
		if errors.Is(err, unix.ENOENT) && fileExists(dir, ".") {
			return unsupported(fmt.Sprintf("linux.resources.hugepageLimits[%d].pageSize", i), "%q is not a hugepage size of this host (%s has no hugetlb.%s.%s)", h.Pagesize, dir, h.Pagesize, suffix)
		}
		if err != nil {
			return err
		}
		if err := writeFile(dir, "hugetlb."+h.Pagesize+".rsvd."+suffix, v); err != nil && !errors.Is(err, unix.ENOENT) {
			return err
		}
	}
	return nil
}

// setRdma writes rdma.max, one device per write; a limit left nil is not
// changed.
func setRdma(dir string, rd map[string]specs.LinuxRdma) error {
	for _, dev := range sortedKeys(rd) {
		l := rd[dev]
		var b strings.Builder
		b.WriteString(dev)
		if l.HcaHandles != nil {
			b.WriteString(" hca_handle=" + strconv.FormatUint(uint64(*l.HcaHandles), 10))
		}
		if l.HcaObjects != nil {
			b.WriteString(" hca_object=" + strconv.FormatUint(uint64(*l.HcaObjects), 10))
		}
		if l.HcaHandles == nil && l.HcaObjects == nil {
			continue
		}
		if err := writeFile(dir, "rdma.max", b.String()); err != nil {
			return err
		}
	}
	return nil
}
