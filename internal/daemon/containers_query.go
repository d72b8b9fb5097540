package daemon

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hako-dev/hako/internal/daemon/container"
	"github.com/hako-dev/hako/internal/errdefs"
	"github.com/hako-dev/hako/internal/runtime/cgroups"
	"github.com/hako-dev/hako/internal/runtime/linux"
	ctypes "github.com/moby/moby/api/types/container"
	eventtypes "github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/storage"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

var listFilters = map[string]bool{"id": true, "name": true, "label": true, "status": true, "exited": true, "ancestor": true, "before": true, "since": true, "volume": true, "network": true, "health": true, "is-task": true, "expose": true, "publish": true}

// ContainerList lists containers as `docker ps` shows them.
func (d *Daemon) ContainerList(ctx context.Context, o ListOptions) ([]ctypes.Summary, error) {
	for k, vs := range o.Filters {
		if !listFilters[k] {
			return nil, fmt.Errorf("invalid filter '%s': %w", k, errdefs.ErrInvalidArgument)
		}
		if k == "status" {
			for _, v := range vs {
				switch v {
				case "created", "restarting", "running", "removing", "paused", "exited", "dead":
				default:
					return nil, fmt.Errorf("invalid filter 'status=%s': %w", v, errdefs.ErrInvalidArgument)
				}
			}
		}
	}
	all := d.containers.List()
	var before, since time.Time
	if v := o.Filters["before"]; len(v) > 0 {
		c, err := d.containers.Get(v[0])
		if err != nil {
			return nil, err
		}
		before = c.Created
	}
	if v := o.Filters["since"]; len(v) > 0 {
		c, err := d.containers.Get(v[0])
		if err != nil {
			return nil, err
		}
		since = c.Created
	}
	out := []ctypes.Summary{}
	for _, c := range all {
		c.Lock()
		s, ok := d.summary(c, o, before, since)
		c.Unlock()
		if !ok {
			continue
		}
		if o.Size {
			if u, err := d.snapshots.Usage(ctx, c.SnapshotKey); err == nil {
				s.SizeRw = u.Size
			}
			s.SizeRootFs = s.SizeRw + d.imageSize(c.Image)
		}
		out = append(out, s)
		if o.Limit > 0 && len(out) >= o.Limit {
			break
		}
	}
	return out, nil
}

func (d *Daemon) imageSize(id string) int64 {
	img, err := d.images.Get(id)
	if err != nil {
		return 0
	}
	return img.Size
}

// summary builds c's list entry, or false when the filters exclude it.
func (d *Daemon) summary(c *container.Container, o ListOptions, before, since time.Time) (ctypes.Summary, bool) {
	f := o.Filters
	st := c.State.Status
	if !o.All && !c.Running() && len(f["status"]) == 0 && len(f["exited"]) == 0 {
		return ctypes.Summary{}, false
	}
	match := func(key string, fn func(v string) bool) bool {
		vs := f[key]
		if len(vs) == 0 {
			return true
		}
		for _, v := range vs {
			if fn(v) {
				return true
			}
		}
		return false
	}
	ok := match("id", func(v string) bool { return strings.HasPrefix(c.ID, v) }) &&
		match("name", func(v string) bool { return strings.Contains(c.Name, strings.TrimPrefix(v, "/")) }) &&
		match("status", func(v string) bool { return v == st }) &&
		match("exited", func(v string) bool { return st == container.StatusExited && strconv.Itoa(c.State.ExitCode) == v }) &&
		match("ancestor", func(v string) bool { return d.isAncestor(c, v) }) &&
		match("network", func(v string) bool { return onNetwork(c, v) }) &&
		match("health", func(v string) bool {
			if c.State.Health == nil || !c.Running() {
				return v == string(ctypes.NoHealthcheck)
			}
			return v == string(c.State.Health.Status)
		}) &&
		match("label", func(v string) bool {
			k, val, has := strings.Cut(v, "=")
			lv, ok := c.Config.Labels[k]
			return ok && (!has || lv == val)
		})
	if len(f["label"]) > 1 { // every label filter must match
		for _, v := range f["label"] {
			k, val, has := strings.Cut(v, "=")
			lv, ok := c.Config.Labels[k]
			if !ok || (has && lv != val) {
				return ctypes.Summary{}, false
			}
		}
	}
	ok = ok && match("volume", func(v string) bool {
		for _, m := range c.MountPoints {
			if m.Destination == v || m.Name == v || (m.Name == "" && m.Source == v) {
				return true
			}
		}
		_, tmpfs := c.HostConfig.Tmpfs[v]
		return tmpfs
	})
	if !ok || (!before.IsZero() && !c.Created.Before(before)) || (!since.IsZero() && !c.Created.After(since)) {
		return ctypes.Summary{}, false
	}
	s := ctypes.Summary{
		ID:      c.ID,
		Names:   []string{c.Name},
		Image:   c.ImageName,
		ImageID: c.Image,
		Command: strings.Join(append([]string{c.Path}, c.Args...), " "),
		Created: c.Created.Unix(),
		Labels:  c.Config.Labels,
		State:   ctypes.ContainerState(st),
		Status:  statusText(c),
		Ports:   portSummary(c),
		Mounts:  apiMountPoints(c),
	}
	s.HostConfig.NetworkMode = string(c.HostConfig.NetworkMode)
	s.NetworkSettings = networkSummary(c)
	if h := c.State.Health; h != nil {
		s.Health = &ctypes.HealthSummary{Status: h.Status, FailingStreak: h.FailingStreak}
	}
	return s, true
}

func (d *Daemon) isAncestor(c *container.Container, ref string) bool {
	img, err := d.images.Get(ref)
	if err != nil {
		return false
	}
	return img.ID.String() == c.Image
}

// statusText is docker's human status: "Up 3 minutes", "Exited (0) 2
// hours ago", "Created".
func statusText(c *container.Container) string {
	s := c.State
	switch s.Status {
	case container.StatusRunning:
		up := "Up " + humanDuration(time.Since(s.StartedAt))
		if s.Health != nil {
			switch s.Health.Status {
			case ctypes.Starting:
				up += " (health: starting)"
			default:
				up += " (" + string(s.Health.Status) + ")"
			}
		}
		return up
	case container.StatusPaused:
		return "Up " + humanDuration(time.Since(s.StartedAt)) + " (Paused)"
	case container.StatusRestarting:
		return fmt.Sprintf("Restarting (%d) %s ago", s.ExitCode, humanDuration(time.Since(s.FinishedAt)))
	case container.StatusExited:
		if s.FinishedAt.IsZero() {
			return fmt.Sprintf("Exited (%d)", s.ExitCode)
		}
		return fmt.Sprintf("Exited (%d) %s ago", s.ExitCode, humanDuration(time.Since(s.FinishedAt)))
	case container.StatusRemoving:
		return "Removal In Progress"
	case container.StatusDead:
		return "Dead"
	}
	return "Created"
}

// humanDuration is docker's go-units HumanDuration wording.
func humanDuration(d time.Duration) string {
	switch sec := int(d.Seconds()); {
	case sec < 1:
		return "Less than a second"
	case sec == 1:
		return "1 second"
	case sec < 60:
		return fmt.Sprintf("%d seconds", sec)
	}
	switch m := int(d.Minutes()); {
	case m == 1:
		return "About a minute"
	case m < 60:
		return fmt.Sprintf("%d minutes", m)
	}
	switch h := int(d.Hours() + 0.5); {
	case h == 1:
		return "About an hour"
	case h < 48:
		return fmt.Sprintf("%d hours", h)
	case h < 24*7*2:
		return fmt.Sprintf("%d days", h/24)
	case h < 24*30*2:
		return fmt.Sprintf("%d weeks", h/24/7)
	case h < 24*365*2:
		return fmt.Sprintf("%d months", h/24/30)
	default:
		return fmt.Sprintf("%d years", int(d.Hours())/24/365)
	}
}

// ContainerInspect is GET /containers/{id}/json.
func (d *Daemon) ContainerInspect(ctx context.Context, ref string, size bool) (*ctypes.InspectResponse, error) {
	c, err := d.containers.Get(ref)
	if err != nil {
		return nil, err
	}
	c.Lock()
	defer c.Unlock()
	r := &ctypes.InspectResponse{
		ID:              c.ID,
		Created:         c.Created.Format(time.RFC3339Nano),
		Path:            c.Path,
		Args:            c.Args,
		State:           c.InspectState(),
		Image:           c.Image,
		ResolvConfPath:  filepath.Join(c.Dir, "resolv.conf"),
		HostnamePath:    filepath.Join(c.Dir, "hostname"),
		HostsPath:       filepath.Join(c.Dir, "hosts"),
		LogPath:         c.LogPath,
		Name:            c.Name,
		RestartCount:    c.RestartCount,
		Driver:          c.Driver,
		Platform:        "linux",
		HostConfig:      c.HostConfig,
		Config:          c.Config,
		Mounts:          apiMountPoints(c),
		ExecIDs:         d.execIDs(c.ID),
		NetworkSettings: inspectNetworkSettings(c),
	}
	if dir, err := d.snapshots.Dir(ctx, c.SnapshotKey); err == nil {
		data := map[string]string{"UpperDir": dir, "MergedDir": d.rootfsDir(c.ID)}
		if d.driver == "overlay" {
			data["WorkDir"] = filepath.Join(filepath.Dir(dir), "work")
			if img, err := d.images.Get(c.Image); err == nil {
				data["LowerDir"] = strings.Join(d.containerLowers(ctx, c, img), ":")
			}
		}
		r.GraphDriver = &storage.DriverData{Name: d.driver, Data: data}
	}
	if size {
		if u, err := d.snapshots.Usage(ctx, c.SnapshotKey); err == nil {
			rw, rootfs := u.Size, u.Size+d.imageSize(c.Image)
			r.SizeRw, r.SizeRootFs = &rw, &rootfs
		}
	}
	return r, nil
}

func (d *Daemon) execIDs(id string) []string {
	d.cs.mu.Lock()
	defer d.cs.mu.Unlock()
	var out []string
	for _, e := range d.cs.execs {
		if e.ContainerID == id {
			out = append(out, e.ID)
		}
	}
	return out
}

// running returns c if its process runs (paused counts when allowPaused).
func (d *Daemon) runningContainer(ref string, allowPaused bool) (*container.Container, error) {
	c, err := d.containers.Get(ref)
	if err != nil {
		return nil, err
	}
	c.Lock()
	defer c.Unlock()
	if c.State.Status == container.StatusRunning || (allowPaused && c.State.Status == container.StatusPaused) {
		return c, nil
	}
	if c.State.Status == container.StatusPaused {
		return nil, fmt.Errorf("Container %s is paused, unpause the container first: %w", c.ID, errdefs.ErrConflict)
	}
	return nil, fmt.Errorf("Container %s is not running: %w", c.ID, errdefs.ErrConflict)
}

// ContainerTop runs ps on the host and keeps the container's processes,
// as docker does.
func (d *Daemon) ContainerTop(ctx context.Context, ref, psArgs string) (*ctypes.TopResponse, error) {
	c, err := d.runningContainer(ref, true)
	if err != nil {
		return nil, err
	}
	rc, err := d.rt.Load(c.ID)
	if err != nil {
		return nil, err
	}
	pids, err := rc.Processes()
	if err != nil {
		return nil, err
	}
	if psArgs == "" {
		psArgs = "-ef"
	}
	out, err := exec.CommandContext(ctx, "ps", strings.Fields(psArgs)...).Output()
	if err != nil {
		return nil, fmt.Errorf("ps %s: %v: %w", psArgs, err, errdefs.ErrInvalidArgument)
	}
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(lines) == 0 {
		return &ctypes.TopResponse{}, nil
	}
	titles := strings.Fields(lines[0])
	col := slices.Index(titles, "PID")
	if col < 0 {
		return nil, fmt.Errorf("Couldn't find PID field in ps output: %w", errdefs.ErrInvalidArgument)
	}
	in := map[int]bool{}
	for _, p := range pids {
		in[p] = true
	}
	r := &ctypes.TopResponse{Titles: titles, Processes: [][]string{}}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) <= col {
			continue
		}
		pid, err := strconv.Atoi(f[col])
		if err != nil || !in[pid] {
			continue
		}
		// The last column (the command) may hold spaces.
		if len(f) > len(titles) {
			f = append(f[:len(titles)-1], strings.Join(f[len(titles)-1:], " "))
		}
		r.Processes = append(r.Processes, f)
	}
	return r, nil
}

// ContainerStats samples a container's counters: once (stream false) or
// every second until ctx ends or the container stops.
func (d *Daemon) ContainerStats(ctx context.Context, ref string, stream, oneShot bool, emit func(*ctypes.StatsResponse) error) error {
	c, err := d.containers.Get(ref)
	if err != nil {
		return err
	}
	var prev *ctypes.StatsResponse
	for {
		s := d.sample(c)
		if prev != nil {
			s.PreCPUStats, s.PreRead = prev.CPUStats, prev.Read
		} else if !stream && !oneShot {
			// docker's non-stream answer carries two samples, a second
			// apart, so that a CPU percentage can be computed.
			prev = s
			select {
			case <-time.After(time.Second):
			case <-ctx.Done():
				return nil
			}
			continue
		}
		if err := emit(s); err != nil || !stream {
			return nil
		}
		prev = s
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
			return nil
		}
		c.Lock()
		gone := !c.Running() && c.State.Status != container.StatusRestarting
		c.Unlock()
		if gone || d.isRemoved(c) {
			emit(&ctypes.StatsResponse{ID: c.ID, Name: c.Name, Read: time.Now().UTC()})
			return nil
		}
	}
}

func (d *Daemon) sample(c *container.Container) *ctypes.StatsResponse {
	s := &ctypes.StatsResponse{ID: c.ID, Name: c.Name, OSType: "linux", Read: time.Now().UTC()}
	rc, err := d.rt.Load(c.ID)
	if err != nil || !c.Running() {
		return s
	}
	st, err := rc.CgroupStats()
	if err != nil {
		return s
	}
	s.CPUStats = ctypes.CPUStats{
		CPUUsage: ctypes.CPUUsage{
			TotalUsage: st.CPU.Usage.Total, PercpuUsage: st.CPU.Usage.Percpu,
			UsageInKernelmode: st.CPU.Usage.Kernel, UsageInUsermode: st.CPU.Usage.User,
		},
		SystemUsage: systemCPUUsage(),
		OnlineCPUs:  uint32(onlineCPUs()),
		ThrottlingData: ctypes.ThrottlingData{
			Periods: st.CPU.Throttling.Periods, ThrottledPeriods: st.CPU.Throttling.ThrottledPeriods, ThrottledTime: st.CPU.Throttling.ThrottledTime,
		},
	}
	limit := st.Memory.Usage.Limit
	if limit == 0 || limit > uint64(1)<<62 {
		limit = hostMemory()
	}
	s.MemoryStats = ctypes.MemoryStats{Usage: st.Memory.Usage.Usage, MaxUsage: st.Memory.Usage.Max, Failcnt: st.Memory.Usage.Failcnt, Limit: limit, Stats: st.Memory.Raw}
	s.PidsStats = ctypes.PidsStats{Current: st.Pids.Current, Limit: st.Pids.Limit}
	conv := func(es []cgroups.BlkioEntry) []ctypes.BlkioStatEntry {
		out := []ctypes.BlkioStatEntry{}
		for _, e := range es {
			out = append(out, ctypes.BlkioStatEntry{Major: e.Major, Minor: e.Minor, Op: e.Op, Value: e.Value})
		}
		return out
	}
	b := st.Blkio
	s.BlkioStats = ctypes.BlkioStats{
		IoServiceBytesRecursive: conv(b.IoServiceBytesRecursive), IoServicedRecursive: conv(b.IoServicedRecursive),
		IoQueuedRecursive: conv(b.IoQueuedRecursive), IoServiceTimeRecursive: conv(b.IoServiceTimeRecursive),
		IoWaitTimeRecursive: conv(b.IoWaitTimeRecursive), IoMergedRecursive: conv(b.IoMergedRecursive),
		IoTimeRecursive: conv(b.IoTimeRecursive), SectorsRecursive: conv(b.SectorsRecursive),
	}
	s.Networks = netStats(c.State.Pid)
	return s
}

// systemCPUUsage is the host's CPU time in nanoseconds (/proc/stat's cpu
// line, in clock ticks of 10ms), as docker computes it.
func systemCPUUsage() uint64 {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) > 1 && fs[0] == "cpu" {
			var total uint64
			for _, v := range fs[1:8] {
				n, _ := strconv.ParseUint(v, 10, 64)
				total += n
			}
			return total * 1e7
		}
	}
	return 0
}

func onlineCPUs() int {
	var set unix.CPUSet
	if unix.SchedGetaffinity(0, &set) == nil {
		return set.Count()
	}
	return 1
}

func hostMemory() uint64 {
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) == nil {
		return si.Totalram * uint64(si.Unit)
	}
	return 0
}

// netStats reads the interfaces' counters in the container's network
// namespace (/proc/PID/net/dev), loopback excluded as docker does.
func netStats(pid int) map[string]ctypes.NetworkStats {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/dev", pid))
	if err != nil {
		return nil
	}
	out := map[string]ctypes.NetworkStats{}
	for _, l := range strings.Split(string(b), "\n")[2:] {
		name, rest, ok := strings.Cut(l, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "lo" {
			continue
		}
		f := strings.Fields(rest)
		if len(f) < 16 {
			continue
		}
		n := func(i int) uint64 { v, _ := strconv.ParseUint(f[i], 10, 64); return v }
		out[name] = ctypes.NetworkStats{RxBytes: n(0), RxPackets: n(1), RxErrors: n(2), RxDropped: n(3), TxBytes: n(8), TxPackets: n(9), TxErrors: n(10), TxDropped: n(11)}
	}
	return out
}

// ContainerRename renames a container.
func (d *Daemon) ContainerRename(ctx context.Context, ref, name string) error {
	if name == "" {
		return fmt.Errorf("Neither old nor new names may be empty: %w", errdefs.ErrInvalidArgument)
	}
	if err := container.ValidateName(name); err != nil {
		return err
	}
	c, err := d.containers.Get(ref)
	if err != nil {
		return err
	}
	newName := "/" + strings.TrimPrefix(name, "/")
	c.Lock()
	defer c.Unlock()
	if c.Name == newName {
		return fmt.Errorf("Renaming a container with the same name as its current name: %w", errdefs.ErrInvalidArgument)
	}
	old := c.Name
	if err := d.containers.Rename(c, newName); err != nil {
		return err
	}
	c.Name = newName
	d.renameEndpoints(c)
	if err := c.Save(); err != nil {
		c.Name = old
		d.renameEndpoints(c)
		d.containers.Rename(c, old)
		return err
	}
	d.containerEvent(c, eventtypes.ActionRename, map[string]string{"oldName": old})
	return nil
}

// ContainerPause freezes a running container.
func (d *Daemon) ContainerPause(ctx context.Context, ref string) error {
	c, err := d.containers.Get(ref)
	if err != nil {
		return err
	}
	c.Lock()
	defer c.Unlock()
	switch c.State.Status {
	case container.StatusRunning:
	case container.StatusPaused:
		return fmt.Errorf("Container %s is already paused: %w", c.ID, errdefs.ErrConflict)
	default:
		return fmt.Errorf("Container %s is not running: %w", c.ID, errdefs.ErrConflict)
	}
	rc, err := d.rt.Load(c.ID)
	if err != nil {
		return err
	}
	if err := rc.Pause(); err != nil {
		return err
	}
	c.State.Status = container.StatusPaused
	c.Save()
	c.Notify()
	d.containerEvent(c, eventtypes.ActionPause, nil)
	return nil
}

// ContainerUnpause thaws a paused container.
func (d *Daemon) ContainerUnpause(ctx context.Context, ref string) error {
	c, err := d.containers.Get(ref)
	if err != nil {
		return err
	}
	c.Lock()
	defer c.Unlock()
	if c.State.Status != container.StatusPaused {
		return fmt.Errorf("Container %s is not paused: %w", c.ID, errdefs.ErrConflict)
	}
	rc, err := d.rt.Load(c.ID)
	if err != nil {
		return err
	}
	if err := rc.Resume(); err != nil {
		return err
	}
	c.State.Status = container.StatusRunning
	c.Save()
	c.Notify()
	d.containerEvent(c, eventtypes.ActionUnPause, nil)
	return nil
}

// ContainerUpdate changes resource limits (live when running) and the
// restart policy.
func (d *Daemon) ContainerUpdate(ctx context.Context, ref string, u *ctypes.UpdateConfig) (*ctypes.UpdateResponse, error) {
	c, err := d.containers.Get(ref)
	if err != nil {
		return nil, err
	}
	c.Lock()
	defer c.Unlock()
	hc := *c.HostConfig
	r := u.Resources
	set := func(dst *int64, v int64) {
		if v != 0 {
			*dst = v
		}
	}
	set(&hc.CPUShares, r.CPUShares)
	set(&hc.NanoCPUs, r.NanoCPUs)
	set(&hc.CPUPeriod, r.CPUPeriod)
	set(&hc.CPUQuota, r.CPUQuota)
	set(&hc.Memory, r.Memory)
	set(&hc.MemorySwap, r.MemorySwap)
	set(&hc.MemoryReservation, r.MemoryReservation)
	if r.CpusetCpus != "" {
		hc.CpusetCpus = r.CpusetCpus
	}
	if r.CpusetMems != "" {
		hc.CpusetMems = r.CpusetMems
	}
	if r.PidsLimit != nil {
		hc.PidsLimit = r.PidsLimit
	}
	if r.BlkioWeight != 0 {
		hc.BlkioWeight = r.BlkioWeight
	}
	if r.Memory != 0 && r.MemorySwap == 0 && c.HostConfig.MemorySwap > 0 && c.HostConfig.MemorySwap < r.Memory {
		hc.MemorySwap = -1
	}
	if u.RestartPolicy.Name != "" {
		if hc.AutoRemove && u.RestartPolicy.Name != ctypes.RestartPolicyDisabled {
			return nil, fmt.Errorf("Restart policy cannot be updated because AutoRemove is enabled for the container: %w", errdefs.ErrInvalidArgument)
		}
		if err := ctypes.ValidateRestartPolicy(u.RestartPolicy); err != nil {
			return nil, fmt.Errorf("%v: %w", err, errdefs.ErrInvalidArgument)
		}
		hc.RestartPolicy = u.RestartPolicy
	}
	// The generator validates the combination (memory ≥ 6MB, swap ≥
	// memory, …) and turns it into cgroup values.
	saved := c.HostConfig
	c.HostConfig = &hc
	s, err := d.containerSpec(c, true)
	if err != nil {
		c.HostConfig = saved
		return nil, err
	}
	if c.Running() {
		rc, err := d.rt.Load(c.ID)
		if err == nil {
			var res *specs.LinuxResources
			if s.Linux != nil {
				res = s.Linux.Resources
			}
			if res != nil {
				res.Devices = nil
				err = rc.Update(res)
			}
		}
		if err != nil {
			c.HostConfig = saved
			return nil, fmt.Errorf("Cannot update container %s: %w", c.ID, err)
		}
	}
	if err := c.Save(); err != nil {
		return nil, err
	}
	d.containerEvent(c, eventtypes.ActionUpdate, nil)
	return &ctypes.UpdateResponse{Warnings: []string{}}, nil
}

// ContainersPrune removes every stopped container.
func (d *Daemon) ContainersPrune(ctx context.Context, filters map[string][]string) (*ctypes.PruneReport, error) {
	for k := range filters {
		if k != "label" && k != "label!" && k != "until" {
			return nil, fmt.Errorf("invalid filter '%s': %w", k, errdefs.ErrInvalidArgument)
		}
	}
	until, err := untilFilter(filters)
	if err != nil {
		return nil, err
	}
	rep := &ctypes.PruneReport{ContainersDeleted: []string{}}
	for _, c := range d.containers.List() {
		c.Lock()
		stopped := c.State.Status == container.StatusExited || c.State.Status == container.StatusCreated || c.State.Status == container.StatusDead
		ok := stopped && (until.IsZero() || c.Created.Before(until)) && labelsMatch(c.Config.Labels, filters["label"], filters["label!"])
		c.Unlock()
		if !ok {
			continue
		}
		var size int64
		if u, err := d.snapshots.Usage(ctx, c.SnapshotKey); err == nil {
			size = u.Size
		}
		if err := d.ContainerRemove(ctx, c.ID, false, false); err != nil {
			continue
		}
		rep.ContainersDeleted = append(rep.ContainersDeleted, c.ID)
		rep.SpaceReclaimed += uint64(size)
	}
	d.events.Publish(eventtypes.Message{Type: eventtypes.ContainerEventType, Action: eventtypes.ActionPrune, Actor: eventtypes.Actor{Attributes: map[string]string{"reclaimed": strconv.FormatUint(rep.SpaceReclaimed, 10)}}, Scope: "local", Time: time.Now().Unix(), TimeNano: time.Now().UnixNano()})
	return rep, nil
}

func labelsMatch(labels map[string]string, want, notWant []string) bool {
	has := func(f string) bool {
		k, v, withV := strings.Cut(f, "=")
		lv, ok := labels[k]
		return ok && (!withV || lv == v)
	}
	for _, f := range want {
		if !has(f) {
			return false
		}
	}
	for _, f := range notWant {
		if has(f) {
			return false
		}
	}
	return true
}

// untilFilter is a prune's "until" filter (zero when there is none).
func untilFilter(filters map[string][]string) (time.Time, error) {
	if v := filters["until"]; len(v) > 0 {
		return parseTimeFilter(v[0])
	}
	return time.Time{}, nil
}

// parseTimeFilter reads docker's timestamps: RFC 3339, a date, unix
// seconds, or a duration before now ("10m").
func parseTimeFilter(v string) (time.Time, error) {
	if dur, err := time.ParseDuration(v); err == nil {
		return time.Now().Add(-dur), nil
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		return time.Unix(int64(f), 0), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("cannot parse %q as a time: %w", v, errdefs.ErrInvalidArgument)
}

var nsTypes = []string{"cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts"}

func nsInode(pid int, t string) uint64 {
	var st unix.Stat_t
	if unix.Stat(fmt.Sprintf("/proc/%d/ns/%s", pid, t), &st) != nil {
		return 0
	}
	return st.Ino
}

// hostNamespace is the host's namespace of type t: pid 1's, or the
// daemon's own where pid 1's cannot be read (a restricted /proc).
func hostNamespace(t string) uint64 {
	if ino := nsInode(1, t); ino != 0 {
		return ino
	}
	return nsInode(os.Getpid(), t)
}

// ContainerNamespaces reads a running container's namespaces from
// /proc/PID/ns and tells which it shares with the host or with other
// running containers.
func (d *Daemon) ContainerNamespaces(ctx context.Context, ref string) (*ContainerNamespaces, error) {
	c, err := d.runningContainer(ref, true)
	if err != nil {
		return nil, err
	}
	pid := c.State.Pid
	r := &ContainerNamespaces{ID: c.ID, Name: c.Name, Pid: pid}
	others := map[string]map[uint64][]string{}
	for _, o := range d.containers.List() {
		if o.ID == c.ID {
			continue
		}
		o.Lock()
		opid, run := o.State.Pid, o.Running()
		name := o.Name
		o.Unlock()
		if !run || opid == 0 {
			continue
		}
		for _, t := range nsTypes {
			if others[t] == nil {
				others[t] = map[uint64][]string{}
			}
			ino := nsInode(opid, t)
			others[t][ino] = append(others[t][ino], name)
		}
	}
	for _, t := range nsTypes {
		ino := nsInode(pid, t)
		if ino == 0 {
			continue
		}
		info := NamespaceInfo{Type: t, Inode: ino, Host: ino == hostNamespace(t), SharedWith: others[t][ino]}
		if info.SharedWith == nil {
			info.SharedWith = []string{}
		}
		slices.Sort(info.SharedWith)
		r.Namespaces = append(r.Namespaces, info)
	}
	if !linux.ProcessAlive(pid, 0) {
		return nil, fmt.Errorf("Container %s is not running: %w", c.ID, errdefs.ErrConflict)
	}
	return r, nil
}

var _ = json.Marshal
