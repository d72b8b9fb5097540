package oci

import (
	"github.com/moby/moby/api/types/blkiodev"
	"io/fs"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"

	ctypes "github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// minMemory is the smallest memory limit docker accepts.
const minMemory = 6 << 20

// Resources validates a container's limits as docker does and turns
// them into cgroup settings, with docker's device allowlist.
func Resources(hc *ctypes.HostConfig) (*specs.LinuxResources, error) {
	r := &specs.LinuxResources{Devices: defaultDeviceRules()}
	rs := hc.Resources

	// Memory.
	if rs.Memory != 0 && rs.Memory < minMemory {
		return nil, invalid("Minimum memory limit allowed is 6MB")
	}
	if rs.Memory < 0 {
		return nil, invalid("invalid memory limit %d", rs.Memory)
	}
	if rs.MemorySwap > 0 && rs.Memory == 0 {
		return nil, invalid("You should always set the Memory limit when using Memoryswap limit, see usage")
	}
	if rs.MemorySwap > 0 && rs.MemorySwap < rs.Memory {
		return nil, invalid("Minimum memoryswap limit should be larger than memory limit, see usage")
	}
	if rs.MemoryReservation < 0 {
		return nil, invalid("invalid memory reservation %d", rs.MemoryReservation)
	}
	if rs.Memory > 0 && rs.MemoryReservation > 0 && rs.Memory < rs.MemoryReservation {
		return nil, invalid("Minimum memory limit can not be less than memory reservation limit, see usage")
	}
	if rs.MemorySwappiness != nil && (*rs.MemorySwappiness < -1 || *rs.MemorySwappiness > 100) {
		return nil, invalid("Invalid value: %d, valid memory swappiness range is 0-100", *rs.MemorySwappiness)
	}
	mem := &specs.LinuxMemory{}
	memSet := false
	if rs.Memory > 0 {
		v := rs.Memory
		mem.Limit = &v
		swap := rs.MemorySwap
		if swap == 0 {
			swap = 2 * rs.Memory // docker: as much swap as memory
		}
		mem.Swap = &swap
		memSet = true
	} else if rs.MemorySwap == -1 {
		swap := int64(-1)
		mem.Swap = &swap
		memSet = true
	}
	if rs.MemoryReservation > 0 {
		v := rs.MemoryReservation
		mem.Reservation = &v
		memSet = true
	}
	if rs.MemorySwappiness != nil && *rs.MemorySwappiness >= 0 {
		v := uint64(*rs.MemorySwappiness)
		mem.Swappiness = &v
		memSet = true
	}
	if rs.OomKillDisable != nil && *rs.OomKillDisable {
		v := true
		mem.DisableOOMKiller = &v
		memSet = true
	}
	if memSet {
		r.Memory = mem
	}

	// CPU.
	ncpu := int64(goruntime.NumCPU())
	if rs.NanoCPUs != 0 && (rs.CPUPeriod != 0 || rs.CPUQuota != 0) {
		return nil, invalid("Conflicting options: Nano CPUs and CPU Period/Quota cannot both be set")
	}
	if rs.NanoCPUs < 0 || rs.NanoCPUs > ncpu*1e9 {
		return nil, invalid("Range of CPUs is from 0.01 to %d.00, as there are only %d CPUs available", ncpu, ncpu)
	}
	if rs.CPUPeriod != 0 && (rs.CPUPeriod < 1000 || rs.CPUPeriod > 1000000) {
		return nil, invalid("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)")
	}
	if rs.CPUQuota != 0 && rs.CPUQuota < 1000 && rs.CPUQuota != -1 {
		return nil, invalid("CPU cfs quota can not be less than 1ms (i.e. 1000)")
	}
	if rs.CPUShares < 0 {
		return nil, invalid("invalid CPU shares %d", rs.CPUShares)
	}
	cpu := &specs.LinuxCPU{}
	cpuSet := false
	if rs.CPUShares > 0 {
		v := uint64(min(max(rs.CPUShares, 2), 262144))
		cpu.Shares = &v
		cpuSet = true
	}
	if rs.NanoCPUs > 0 {
		period := uint64(100000)
		quota := rs.NanoCPUs * 100000 / 1e9
		cpu.Period, cpu.Quota = &period, &quota
		cpuSet = true
	}
	if rs.CPUPeriod > 0 {
		v := uint64(rs.CPUPeriod)
		cpu.Period = &v
		cpuSet = true
	}
	if rs.CPUQuota != 0 {
		v := rs.CPUQuota
		cpu.Quota = &v
		cpuSet = true
	}
	if rs.CpusetCpus != "" {
		if err := checkCpuset(rs.CpusetCpus, "/sys/devices/system/cpu/online", "CPUs"); err != nil {
			return nil, err
		}
		cpu.Cpus = rs.CpusetCpus
		cpuSet = true
	}
	if rs.CpusetMems != "" {
		if err := checkCpuset(rs.CpusetMems, "/sys/devices/system/node/online", "MEMs"); err != nil {
			return nil, err
		}
		cpu.Mems = rs.CpusetMems
		cpuSet = true
	}
	if rs.CPURealtimePeriod > 0 {
		v := uint64(rs.CPURealtimePeriod)
		cpu.RealtimePeriod = &v
		cpuSet = true
	}
	if rs.CPURealtimeRuntime != 0 {
		if rs.CPURealtimePeriod > 0 && rs.CPURealtimeRuntime > rs.CPURealtimePeriod {
			return nil, invalid("cpu-rt-runtime cannot be higher than cpu-rt-period")
		}
		v := rs.CPURealtimeRuntime
		cpu.RealtimeRuntime = &v
		cpuSet = true
	}
	if cpuSet {
		r.CPU = cpu
	}
	for _, rule := range rs.DeviceCgroupRules {
		d, err := deviceCgroupRule(rule)
		if err != nil {
			return nil, err
		}
		r.Devices = append(r.Devices, d)
	}

	// Processes and block I/O.
	if rs.PidsLimit != nil {
		v := *rs.PidsLimit
		if v <= 0 {
			v = -1 // 0 and -1 mean unlimited
		}
		r.Pids = &specs.LinuxPids{Limit: &v}
	}
	if rs.BlkioWeight != 0 {
		if rs.BlkioWeight < 10 || rs.BlkioWeight > 1000 {
			return nil, invalid("Range of blkio weight is from 10 to 1000")
		}
		w := rs.BlkioWeight
		r.BlockIO = &specs.LinuxBlockIO{Weight: &w}
	}
	if err := blockIODevices(r, &rs); err != nil {
		return nil, err
	}
	return r, nil
}

// blockIODevices adds the per-device weights and throttles
// (--blkio-weight-device, --device-read-bps and the others), each device
// named by its path and recorded by its numbers, as docker does.
func blockIODevices(r *specs.LinuxResources, rs *ctypes.Resources) error {
	dev := func(flag, path string) (specs.LinuxBlockIODevice, error) {
		var st unix.Stat_t
		if err := unix.Stat(path, &st); err != nil {
			return specs.LinuxBlockIODevice{}, invalid("%s %s: %v", flag, path, err)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFBLK {
			return specs.LinuxBlockIODevice{}, invalid("%s %s: not a block device", flag, path)
		}
		return specs.LinuxBlockIODevice{Major: int64(unix.Major(uint64(st.Rdev))), Minor: int64(unix.Minor(uint64(st.Rdev)))}, nil
	}
	bio := func() *specs.LinuxBlockIO {
		if r.BlockIO == nil {
			r.BlockIO = &specs.LinuxBlockIO{}
		}
		return r.BlockIO
	}
	for _, w := range rs.BlkioWeightDevice {
		if w == nil {
			continue
		}
		if w.Weight < 10 || w.Weight > 1000 {
			return invalid("--blkio-weight-device %s: the weight is from 10 to 1000", w.Path)
		}
		d, err := dev("--blkio-weight-device", w.Path)
		if err != nil {
			return err
		}
		weight := w.Weight
		bio().WeightDevice = append(bio().WeightDevice, specs.LinuxWeightDevice{LinuxBlockIODevice: d, Weight: &weight})
	}
	for _, t := range []struct {
		flag string
		devs []*blkiodev.ThrottleDevice
		dst  func(*specs.LinuxBlockIO) *[]specs.LinuxThrottleDevice
	}{
		{"--device-read-bps", rs.BlkioDeviceReadBps, func(b *specs.LinuxBlockIO) *[]specs.LinuxThrottleDevice { return &b.ThrottleReadBpsDevice }},
		{"--device-write-bps", rs.BlkioDeviceWriteBps, func(b *specs.LinuxBlockIO) *[]specs.LinuxThrottleDevice { return &b.ThrottleWriteBpsDevice }},
		{"--device-read-iops", rs.BlkioDeviceReadIOps, func(b *specs.LinuxBlockIO) *[]specs.LinuxThrottleDevice { return &b.ThrottleReadIOPSDevice }},
		{"--device-write-iops", rs.BlkioDeviceWriteIOps, func(b *specs.LinuxBlockIO) *[]specs.LinuxThrottleDevice { return &b.ThrottleWriteIOPSDevice }},
	} {
		for _, td := range t.devs {
			if td == nil {
				continue
			}
			d, err := dev(t.flag, td.Path)
			if err != nil {
				return err
			}
			dst := t.dst(bio())
			*dst = append(*dst, specs.LinuxThrottleDevice{LinuxBlockIODevice: d, Rate: td.Rate})
		}
	}
	return nil
}

// checkCpuset validates a cpuset list ("0-2,4") and that every element
// is online (listed in the file at online).
func checkCpuset(list, online, what string) error {
	want, err := parseSet(list)
	if err != nil {
		return invalid("Invalid value %s for cpuset %s", list, strings.ToLower(what))
	}
	b, err := os.ReadFile(online)
	if err != nil {
		return nil // cannot tell: let the kernel decide
	}
	have, err := parseSet(strings.TrimSpace(string(b)))
	if err != nil {
		return nil
	}
	for n := range want {
		if !have[n] {
			return invalid("Requested %s are not available - requested %s, available: %s", what, list, strings.TrimSpace(string(b)))
		}
	}
	return nil
}

func parseSet(s string) (map[int]bool, error) {
	out := map[int]bool{}
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return nil, invalid("bad set %q", s)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a || b-a > 1<<16 {
				return nil, invalid("bad set %q", s)
			}
		}
		for i := a; i <= b; i++ {
			out[i] = true
		}
	}
	return out, nil
}

// defaultDeviceRules is docker's device cgroup allowlist.
func defaultDeviceRules() []specs.LinuxDeviceCgroup {
	i := func(v int64) *int64 { return &v }
	wild := int64(-1)
	return []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		{Allow: true, Type: "c", Major: &wild, Minor: &wild, Access: "m"},
		{Allow: true, Type: "b", Major: &wild, Minor: &wild, Access: "m"},
		{Allow: true, Type: "c", Major: i(1), Minor: i(3), Access: "rwm"},    // null
		{Allow: true, Type: "c", Major: i(1), Minor: i(8), Access: "rwm"},    // random
		{Allow: true, Type: "c", Major: i(1), Minor: i(7), Access: "rwm"},    // full
		{Allow: true, Type: "c", Major: i(5), Minor: i(0), Access: "rwm"},    // tty
		{Allow: true, Type: "c", Major: i(1), Minor: i(5), Access: "rwm"},    // zero
		{Allow: true, Type: "c", Major: i(1), Minor: i(9), Access: "rwm"},    // urandom
		{Allow: true, Type: "c", Major: i(136), Minor: &wild, Access: "rwm"}, // pts
		{Allow: true, Type: "c", Major: i(5), Minor: i(1), Access: "rwm"},    // console
		{Allow: true, Type: "c", Major: i(5), Minor: i(2), Access: "rwm"},    // ptmx
		{Allow: true, Type: "c", Major: i(10), Minor: i(200), Access: "rwm"}, // tun
	}
}

// deviceMapping converts --device HOST[:CONTAINER[:PERMS]].
func deviceMapping(d ctypes.DeviceMapping) (specs.LinuxDevice, specs.LinuxDeviceCgroup, error) {
	perms := d.CgroupPermissions
	if perms == "" {
		perms = "rwm"
	}
	for _, c := range perms {
		if c != 'r' && c != 'w' && c != 'm' {
			return specs.LinuxDevice{}, specs.LinuxDeviceCgroup{}, invalid("invalid device cgroup permissions %q", perms)
		}
	}
	dev, err := deviceFromPath(d.PathOnHost)
	if err != nil {
		return specs.LinuxDevice{}, specs.LinuxDeviceCgroup{}, invalid("error gathering device information while adding custom device %q: %v", d.PathOnHost, err)
	}
	if d.PathInContainer != "" {
		dev.Path = d.PathInContainer
	}
	major, minor := dev.Major, dev.Minor
	return dev, specs.LinuxDeviceCgroup{Allow: true, Type: dev.Type, Major: &major, Minor: &minor, Access: perms}, nil
}

func deviceFromPath(p string) (specs.LinuxDevice, error) {
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		return specs.LinuxDevice{}, err
	}
	var t string
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFCHR:
		t = "c"
	case unix.S_IFBLK:
		t = "b"
	default:
		return specs.LinuxDevice{}, os.ErrInvalid
	}
	mode := fs.FileMode(st.Mode & 0o777)
	uid, gid := st.Uid, st.Gid
	return specs.LinuxDevice{
		Path: p, Type: t,
		Major: int64(unix.Major(uint64(st.Rdev))), Minor: int64(unix.Minor(uint64(st.Rdev))),
		FileMode: &mode, UID: &uid, GID: &gid,
	}, nil
}

// hostDevices lists the host's device nodes for --privileged, as docker
// does, leaving out the ones every container gets its own of.
func hostDevices() ([]specs.LinuxDevice, error) {
	var out []specs.LinuxDevice
	skip := map[string]bool{"/dev/pts": true, "/dev/shm": true, "/dev/mqueue": true, "/dev/.lxc": true, "/dev/.udev": true, "/dev/fd": true}
	err := filepath.WalkDir("/dev", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() {
			if skip[p] {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type()&(fs.ModeDevice|fs.ModeCharDevice) == 0 || p == "/dev/console" || p == "/dev/ptmx" {
			return nil
		}
		dev, err := deviceFromPath(p)
		if err == nil {
			out = append(out, dev)
		}
		return nil
	})
	return out, err
}

// deviceCgroupRule reads --device-cgroup-rule: "TYPE MAJOR:MINOR ACCESS",
// TYPE a, b or c, MAJOR and MINOR numbers or *, ACCESS of r, w and m, as
// the devices cgroup's own syntax.
func deviceCgroupRule(rule string) (specs.LinuxDeviceCgroup, error) {
	bad := func() (specs.LinuxDeviceCgroup, error) {
		return specs.LinuxDeviceCgroup{}, invalid("invalid device cgroup rule %q: want \"TYPE MAJOR:MINOR ACCESS\" (TYPE a, b or c; MAJOR and MINOR numbers or *; ACCESS of r, w, m)", rule)
	}
	f := strings.Fields(rule)
	if len(f) != 3 || len(f[0]) != 1 || !strings.Contains("abc", f[0]) {
		return bad()
	}
	maj, mnr, ok := strings.Cut(f[1], ":")
	if !ok {
		return bad()
	}
	num := func(v string) (*int64, bool) {
		if v == "*" {
			return nil, true
		}
		n, err := strconv.ParseInt(v, 10, 64)
		return &n, err == nil && n >= 0
	}
	major, ok1 := num(maj)
	minor, ok2 := num(mnr)
	if !ok1 || !ok2 || f[2] == "" || strings.Trim(f[2], "rwm") != "" {
		return bad()
	}
	return specs.LinuxDeviceCgroup{Allow: true, Type: f[0], Major: major, Minor: minor, Access: f[2]}, nil
}
