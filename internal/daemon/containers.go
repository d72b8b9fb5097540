package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	apitypes "github.com/hako-dev/hako/internal/api/types"
	"github.com/hako-dev/hako/internal/atomicfile"
	"github.com/hako-dev/hako/internal/daemon/container"
	"github.com/hako-dev/hako/internal/daemon/logger/jsonfile"
	"github.com/hako-dev/hako/internal/daemon/monitor"
	"github.com/hako-dev/hako/internal/errdefs"
	"github.com/hako-dev/hako/internal/image"
	"github.com/hako-dev/hako/internal/mount"
	"github.com/hako-dev/hako/internal/oci"
	"github.com/hako-dev/hako/internal/reference"
	"github.com/hako-dev/hako/internal/runtime/cgroups"
	"github.com/hako-dev/hako/internal/snapshot"
	ctypes "github.com/moby/moby/api/types/container"
	eventtypes "github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/network"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// ErrNotModified answers starting a running or stopping a stopped
// container (HTTP 304, as docker).
var ErrNotModified = errdefs.ErrNotModified

// Request types shared with the API routers.
type (
	CreateRequest       = apitypes.CreateRequest
	ListOptions         = apitypes.ListOptions
	Hijack              = apitypes.Hijack
	AttachOptions       = apitypes.AttachOptions
	LogsOptions         = apitypes.LogsOptions
	CommitOptions       = apitypes.CommitOptions
	NamespaceInfo       = apitypes.NamespaceInfo
	ContainerNamespaces = apitypes.ContainerNamespaces
)

func (d *Daemon) bundleDir(id string) string { return filepath.Join(d.cfg.RunRoot, "containers", id) }
func (d *Daemon) rootfsDir(id string) string { return filepath.Join(d.bundleDir(id), "rootfs") }

// ContainerCreate makes a container from an image: a record, a writable
// snapshot over the image's layers, and nothing running yet.
func (d *Daemon) ContainerCreate(ctx context.Context, req CreateRequest) (ctypes.CreateResponse, error) {
	if d.cfg.DefaultPidsLimit > 0 {
		var h ctypes.HostConfig
		if req.HostConfig != nil {
			h = *req.HostConfig
		}
		if h.PidsLimit == nil || *h.PidsLimit == 0 {
			v := d.cfg.DefaultPidsLimit
			h.PidsLimit = &v
		}
		req.HostConfig = &h
	}
	return d.createContainer(ctx, req, nil)
}

// createContainer is ContainerCreate; extend, when set, completes the
// record before anything is made from it (the CRI's additions).
func (d *Daemon) createContainer(ctx context.Context, req CreateRequest, extend func(*container.Container)) (_ ctypes.CreateResponse, retErr error) {
	var resp ctypes.CreateResponse
	cfg, hc := req.Config, req.HostConfig
	if cfg == nil {
		return resp, fmt.Errorf("config cannot be empty in order to create a container: %w", errdefs.ErrInvalidArgument)
	}
	if hc == nil {
		hc = &ctypes.HostConfig{}
	}
	if err := validateHostConfig(hc); err != nil {
		return resp, err
	}
	// A --link names a container that exists (it must run when this one
	// starts).
	for _, l := range hc.Links {
		name, _, _ := strings.Cut(l, ":")
		if _, err := d.containers.Get(strings.TrimPrefix(name, "/")); err != nil {
			return resp, fmt.Errorf("could not get container for %s: %w", strings.TrimPrefix(name, "/"), err)
		}
	}
	if req.Name != "" {
		if err := container.ValidateName(req.Name); err != nil {
			return resp, err
		}
	}
	if cfg.Image == "" {
		return resp, fmt.Errorf("no image given: %w", errdefs.ErrInvalidArgument)
	}
	img, err := d.images.Get(cfg.Image)
	if err != nil {
		if errors.Is(err, errdefs.ErrNotFound) {
			name := cfg.Image
			if r, perr := reference.Parse(cfg.Image); perr == nil {
				name = r.Familiar()
			}
			return resp, fmt.Errorf("No such image: %s: %w", name, errdefs.ErrNotFound)
		}
		return resp, err
	}
	imgCfg, err := d.imageConfig(img)
	if err != nil {
		return resp, err
	}
	merged := mergeImageConfig(cfg, &imgCfg.Config.ImageConfig)
	merged.Healthcheck = mergeHealthcheck(cfg.Healthcheck, imgCfg.Config.Healthcheck)
	if len(merged.Entrypoint) == 0 && len(merged.Cmd) == 0 {
		return resp, fmt.Errorf("no command specified: %w", errdefs.ErrInvalidArgument)
	}
	snapOpts, err := snapshot.ParseStorageOpts(hc.StorageOpt)
	if err != nil {
		return resp, err
	}
	var warnings []string
	if hc.BlkioWeight > 0 && !blkioWeightSupported() {
		// As docker: warn and discard rather than fail every start.
		warnings = append(warnings, "Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.")
		hc.BlkioWeight = 0
	}
	if len(hc.BlkioWeightDevice) > 0 && !blkioWeightSupported() {
		warnings = append(warnings, "Your kernel does not support Block I/O weight_device or the cgroup is not mounted. Weight-device discarded.")
		hc.BlkioWeightDevice = nil
	}

	c := &container.Container{
		ID:         d.containers.NewID(),
		Created:    time.Now().UTC(),
		Config:     merged,
		HostConfig: hc,
		Networking: req.Networking,
		Image:      img.ID.String(),
		ImageName:  cfg.Image,
		Driver:     d.driver,
		State:      container.State{Status: container.StatusCreated},
	}
	c.Config.Image = cfg.Image
	// The Engine API's containers only: the CRI's follow the kubelet's
	// pod settings.
	if d.remap != nil && !hc.UsernsMode.IsHost() && extend == nil {
		if hc.Privileged {
			return resp, fmt.Errorf("privileged mode is incompatible with user namespaces. You must run the container in the host namespace when running privileged mode (--userns=host): %w", errdefs.ErrInvalidArgument)
		}
		// The host's PID and IPC namespaces belong to the host's user
		// namespace: the container's root could not mount their /proc and
		// /dev/mqueue.
		if hc.PidMode.IsHost() || hc.IpcMode.IsHost() {
			return resp, fmt.Errorf("cannot share the host's PID or IPC namespace when user namespaces are enabled (--userns-remap): add --userns=host: %w", errdefs.ErrInvalidArgument)
		}
		m := *d.remap
		c.IDMap = &m
	}
	c.SnapshotKey = "container-" + c.ID
	c.Dir = d.containers.Dir(c.ID)
	c.Path, c.Args = commandOf(merged)
	if err := d.initNetworking(c); err != nil {
		return resp, err
	}
	if hc.LogConfig.Type == "" {
		hc.LogConfig.Type = "json-file"
	}
	if hc.LogConfig.Type == "json-file" {
		c.LogPath = filepath.Join(c.Dir, c.ID+"-json.log")
	}
	if extend != nil {
		extend(c)
	}
	if req.Name != "" {
		c.Name = "/" + strings.TrimPrefix(req.Name, "/")
	} else {
		c.Name = "/" + d.generateName(c.ID)
	}
	if req.Name != "" {
		if err := d.containers.Reserve(c.Name, c.ID); err != nil {
			return resp, err
		}
	}
	defer func() {
		if retErr != nil {
			d.containers.Release(c.Name, c.ID)
		}
	}()

	// The snapshot first, the record last: a crash in between leaves an
	// orphan snapshot, which restore removes.
	parent := ""
	if chain := image.ChainIDs(img.DiffIDs); len(chain) > 0 {
		parent = chain[len(chain)-1].String()
	}
	defer func() {
		if retErr != nil {
			d.unmountRootfs(c)
			d.removeContainerSnapshots(context.WithoutCancel(ctx), c.SnapshotKey)
			os.RemoveAll(c.Dir)
		}
	}()
	if d.driver == "overlay" {
		if parent, err = d.prepareInitLayer(ctx, c, img, parent); err != nil {
			return resp, err
		}
	}
	ms, err := d.snapshots.Prepare(ctx, c.SnapshotKey, parent, snapOpts...)
	if err != nil {
		return resp, err
	}
	if c.IDMap != nil {
		// The root directory of the container's own layer is its root's:
		// overlayfs shows it as the root filesystem's.
		if err := chownUpper(ms, c.IDMap); err != nil {
			return resp, err
		}
	}
	if err := os.MkdirAll(c.Dir, 0o700); err != nil {
		return resp, err
	}
	if c.IDMap != nil {
		if err := remapDir(c.Dir, c.IDMap); err != nil {
			return resp, err
		}
	}
	// Check the configuration against the image now, as docker does at
	// create: a bad user or option fails here, not at start.
	if err := d.mountRootfs(ctx, c); err != nil {
		return resp, err
	}
	if err := d.registerMountPoints(c); err != nil {
		return resp, err
	}
	defer func() {
		if retErr != nil {
			d.releaseVolumes(c, true)
		}
	}()
	if err := d.seedVolumes(c); err != nil {
		return resp, err
	}
	if _, err := d.containerSpec(c, true); err != nil {
		return resp, err
	}
	c.Lock()
	err = c.Save()
	c.Unlock()
	if err != nil {
		return resp, err
	}
	if err := d.containers.Add(c); err != nil {
		return resp, err
	}
	d.containerEvent(c, eventtypes.ActionCreate, nil)
	resp.ID = c.ID
	if hc.Memory > 0 && hc.MemorySwap == 0 && !d.swapAccounting() {
		resp.Warnings = append(resp.Warnings, "Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap.")
	}
	resp.Warnings = append(resp.Warnings, warnings...)
	if resp.Warnings == nil {
		resp.Warnings = []string{}
	}
	return resp, nil
}

// blkioWeightSupported reports whether the kernel can weigh block I/O
// (needs an I/O scheduler with weights, such as BFQ).
func blkioWeightSupported() bool {
	if cgroups.IsV2() {
		b, err := os.ReadFile("/sys/fs/cgroup/cgroup.controllers")
		return err == nil && slices.Contains(strings.Fields(string(b)), "io")
	}
	for _, f := range []string{"blkio.weight", "blkio.bfq.weight"} {
		if _, err := os.Stat(filepath.Join("/sys/fs/cgroup/blkio", f)); err == nil {
			return true
		}
	}
	return false
}

func (d *Daemon) swapAccounting() bool {
	if _, err := os.Stat("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"); err == nil {
		return true
	}
	_, err := os.Stat("/sys/fs/cgroup/memory.swap.max")
	return err == nil
}

// RuntimeName is the engine's one runtime, as GET /info lists it.
const RuntimeName = "hako"

func validateHostConfig(hc *ctypes.HostConfig) error {
	switch hc.Runtime {
	case "":
		hc.Runtime = RuntimeName
	case RuntimeName:
	default:
		// docker's words: only registered runtimes run containers, and
		// hako runs its own (it does not hand containers to runc or crun).
		return fmt.Errorf("unknown or invalid runtime name: %s: %w", hc.Runtime, errdefs.ErrInvalidArgument)
	}
	for _, dr := range hc.DeviceRequests {
		// --gpus: no device driver (nvidia's or another) is available.
		return fmt.Errorf("could not select device driver %q with capabilities: %v: %w", dr.Driver, dr.Capabilities, errdefs.ErrInvalidArgument)
	}
	if err := ctypes.ValidateRestartPolicy(hc.RestartPolicy); err != nil {
		return fmt.Errorf("%v: %w", err, errdefs.ErrInvalidArgument)
	}
	if hc.AutoRemove && hc.RestartPolicy.Name != "" && hc.RestartPolicy.Name != ctypes.RestartPolicyDisabled {
		return fmt.Errorf("can't create 'AutoRemove' container with restart policy: %w", errdefs.ErrInvalidArgument)
	}
	switch hc.LogConfig.Type {
	case "", "json-file", "none":
	case "local":
		hc.LogConfig.Type = "json-file" // same reader and writer; a different file format is not worth a second one
	default:
		return fmt.Errorf("logging driver %q is not supported (use json-file or none): %w", hc.LogConfig.Type, errdefs.ErrInvalidArgument)
	}
	if hc.LogConfig.Type != "none" {
		if _, err := jsonfile.ParseOptions(hc.LogConfig.Config); err != nil {
			return err
		}
		if _, err := jsonfile.Attrs(hc.LogConfig.Config, jsonfile.Info{}); err != nil {
			return err
		}
	}
	return nil
}

// mergeImageConfig fills what the user left out with the image's
// defaults, as docker does (an entrypoint given by the user drops the
// image's command).
// mergeHealthcheck is docker's: the container's health check, with the
// image's test and timings where the container leaves them unset.
func mergeHealthcheck(c, img *ctypes.HealthConfig) *ctypes.HealthConfig {
	if img == nil {
		return c
	}
	if c == nil {
		h := *img
		return &h
	}
	h := *c
	if len(h.Test) == 0 {
		h.Test = img.Test
	}
	if h.Interval == 0 {
		h.Interval = img.Interval
	}
	if h.Timeout == 0 {
		h.Timeout = img.Timeout
	}
	if h.StartPeriod == 0 {
		h.StartPeriod = img.StartPeriod
	}
	if h.StartInterval == 0 {
		h.StartInterval = img.StartInterval
	}
	if h.Retries == 0 {
		h.Retries = img.Retries
	}
	return &h
}

func mergeImageConfig(cfg *ctypes.Config, img *ocispec.ImageConfig) *ctypes.Config {
	out := *cfg
	if out.User == "" {
		out.User = img.User
	}
	if len(out.Entrypoint) == 0 && out.Entrypoint == nil {
		out.Entrypoint = img.Entrypoint
		if len(out.Cmd) == 0 {
			out.Cmd = img.Cmd
		}
	}
	if out.WorkingDir == "" {
		out.WorkingDir = img.WorkingDir
	}
	if out.StopSignal == "" {
		out.StopSignal = img.StopSignal
	}
	env := append([]string(nil), img.Env...)
	for _, e := range out.Env {
		k, _, _ := strings.Cut(e, "=")
		replaced := false
		for i, ie := range env {
			if ik, _, _ := strings.Cut(ie, "="); ik == k {
				env[i], replaced = e, true
				break
			}
		}
		if !replaced {
			env = append(env, e)
		}
	}
	out.Env = env
	if len(img.Labels) > 0 {
		labels := map[string]string{}
		for k, v := range img.Labels {
			labels[k] = v
		}
		for k, v := range out.Labels {
			labels[k] = v
		}
		out.Labels = labels
	}
	if len(img.ExposedPorts) > 0 {
		if out.ExposedPorts == nil {
			out.ExposedPorts = network.PortSet{}
		}
		for p := range img.ExposedPorts {
			if port, err := network.ParsePort(p); err == nil {
				out.ExposedPorts[port] = struct{}{}
			}
		}
	}
	if len(img.Volumes) > 0 {
		if out.Volumes == nil {
			out.Volumes = map[string]struct{}{}
		}
		for v := range img.Volumes {
			out.Volumes[v] = struct{}{}
		}
	}
	if out.Labels == nil {
		out.Labels = map[string]string{}
	}
	return &out
}

func commandOf(c *ctypes.Config) (string, []string) {
	argv := append(append([]string{}, c.Entrypoint...), c.Cmd...)
	if len(argv) == 0 {
		return "", []string{}
	}
	return argv[0], argv[1:]
}

// mountRootfs mounts the container's snapshot at its rootfs dir unless it
// is mounted already.
func (d *Daemon) mountRootfs(ctx context.Context, c *container.Container) error {
	target := d.rootfsDir(c.ID)
	if mount.IsMountPoint(target) {
		return nil
	}
	ms, err := d.snapshots.Mounts(ctx, c.SnapshotKey)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(target, 0o755); err != nil {
		return err
	}
	all := mount.All
	if c.IDMap != nil {
		fd, err := d.usernsFD(c.IDMap)
		if err != nil {
			return err
		}
		all = func(ms []mount.Mount, target string) error { return mount.AllIdmapped(ms, target, fd) }
	}
	if c.HostConfig.AutoRemove {
		if vs, ok := volatileOverlay(ms); ok && all(vs, target) == nil {
			return nil
		}
	}
	if err := all(ms, target); err != nil {
		return fmt.Errorf("mount the root filesystem of %s: %w", c.Name, err)
	}
	return nil
}

// chownUpper gives the upper directory of an overlay (or a bind's
// source) to the root of the ID map.
func chownUpper(ms []mount.Mount, m *container.IDMap) error {
	for _, mt := range ms {
		dir := ""
		if mt.Type == "bind" {
			dir = mt.Source
		}
		for _, o := range mt.Options {
			if v, ok := strings.CutPrefix(o, "upperdir="); ok {
				dir = v
			}
		}
		if dir != "" {
			if err := os.Lchown(dir, int(m.UID), int(m.GID)); err != nil {
				return err
			}
		}
	}
	return nil
}

// volatileOverlay adds overlayfs's volatile option to the overlay mounts
// of a container that is removed when it stops (--rm), as podman does:
// overlayfs then never syncs the upper filesystem, whose sync at unmount
// otherwise flushes every dirty page of the host's whole filesystem
// (tens of milliseconds on a busy host, for each container). A machine
// crash may leave such an upper dir inconsistent, which does not matter
// for a container that is thrown away. The marker overlayfs leaves in the
// work dir to refuse a second volatile mount is removed first (a restart
// of the same --rm container). ok is false when there is no overlay.
func volatileOverlay(ms []mount.Mount) (_ []mount.Mount, ok bool) {
	out := make([]mount.Mount, len(ms))
	for i, m := range ms {
		out[i] = m
		if m.Type != "overlay" {
			continue
		}
		for _, o := range m.Options {
			if wd, found := strings.CutPrefix(o, "workdir="); found {
				os.Remove(filepath.Join(wd, "work", "incompat", "volatile"))
			}
		}
		out[i].Options = append(slices.Clip(m.Options), "volatile")
		ok = true
	}
	return out, ok
}

func (d *Daemon) unmountRootfs(c *container.Container) error {
	target := d.rootfsDir(c.ID)
	for mount.IsMountPoint(target) {
		if err := unix.Unmount(target, 0); err != nil {
			if err := unix.Unmount(target, unix.MNT_DETACH); err != nil {
				return fmt.Errorf("unmount %s: %w", target, err)
			}
		}
	}
	return nil
}

// containerSpec generates c's runtime spec; dryRun skips what needs other
// containers to be running (namespace joins).
func (d *Daemon) containerSpec(c *container.Container, dryRun bool) (*specs.Spec, error) {
	hc := c.HostConfig
	o := &oci.ContainerOpts{
		ID:             c.ID,
		Config:         c.Config,
		HostConfig:     hc,
		Rootfs:         d.rootfsDir(c.ID),
		HostnamePath:   filepath.Join(c.Dir, "hostname"),
		HostsPath:      filepath.Join(c.Dir, "hosts"),
		ResolvConfPath: filepath.Join(c.Dir, "resolv.conf"),
		CgroupsPath:    cgroupsPath(hc.CgroupParent, c.ID),
		CgroupV2:       cgroups.IsV2(),
		StrictGroups:   c.StrictGroups,
	}
	if m := c.IDMap; m != nil {
		o.UIDMap = []specs.LinuxIDMapping{{ContainerID: 0, HostID: m.UID, Size: m.Size}}
		o.GIDMap = []specs.LinuxIDMapping{{ContainerID: 0, HostID: m.GID, Size: m.Size}}
	}
	if hc.Init != nil && *hc.Init {
		exe, err := os.Executable()
		if err != nil {
			return nil, err
		}
		o.InitPath = exe
	}
	if !dryRun {
		joins, shm, err := d.namespaceJoins(c)
		if err != nil {
			return nil, err
		}
		o.JoinNamespaces, o.ShmPath = joins, shm
	}
	ms, err := specMounts(c, dryRun)
	if err != nil {
		return nil, err
	}
	o.Mounts = ms
	s, err := oci.ContainerSpec(o)
	if err != nil || dryRun || len(hc.Links) == 0 || hc.NetworkMode.IsHost() {
		return s, err
	}
	// The variables of --link on the default bridge come under the
	// container's own.
	links, err := d.resolveLinks(c)
	if err != nil {
		return nil, err
	}
	for _, l := range links {
		for _, kv := range l.linkEnv(c.Name) {
			k, _, _ := strings.Cut(kv, "=")
			if !slices.ContainsFunc(s.Process.Env, func(e string) bool { return strings.HasPrefix(e, k+"=") }) {
				s.Process.Env = append(s.Process.Env, kv)
			}
		}
	}
	return s, nil
}

func cgroupsPath(parent, id string) string {
	if parent == "" {
		parent = "/hako"
	}
	if !strings.HasPrefix(parent, "/") {
		parent = "/" + parent
	}
	return filepath.Join(parent, id)
}

// namespaceJoins resolves --pid/--ipc/--uts/--network container:NAME and
// host modes to the namespaces to join.
func (d *Daemon) namespaceJoins(c *container.Container) (map[specs.LinuxNamespaceType]string, string, error) {
	hc := c.HostConfig
	joins := map[specs.LinuxNamespaceType]string{}
	shm := ""
	join := func(kind specs.LinuxNamespaceType, proc, ref string) error {
		other, err := d.containers.Get(ref)
		if err != nil {
			return fmt.Errorf("joining the %s namespace of %s: %w", kind, ref, err)
		}
		if other.ID == c.ID {
			return fmt.Errorf("a container cannot join its own %s namespace: %w", kind, errdefs.ErrInvalidArgument)
		}
		pid := other.State.Pid
		if !other.Running() || pid == 0 {
			return fmt.Errorf("cannot join the %s namespace of container %s: it is not running: %w", kind, strings.TrimPrefix(other.Name, "/"), errdefs.ErrConflict)
		}
		joins[kind] = fmt.Sprintf("/proc/%d/ns/%s", pid, proc)
		if c.IDMap != nil {
			// The other's namespaces belong to its user namespace: this
			// container joins that one too, as docker's do; its own new
			// namespaces are then made inside it.
			if other.IDMap == nil || *other.IDMap != *c.IDMap {
				return fmt.Errorf("a container with a user namespace (--userns-remap) cannot join the %s namespace of container %s, which has another: %w", kind, strings.TrimPrefix(other.Name, "/"), errdefs.ErrInvalidArgument)
			}
			joins[specs.UserNamespace] = fmt.Sprintf("/proc/%d/ns/user", pid)
		}
		if kind == specs.IPCNamespace {
			shm = fmt.Sprintf("/proc/%d/root/dev/shm", pid)
		}
		return nil
	}
	if hc.PidMode.IsContainer() {
		if err := join(specs.PIDNamespace, "pid", hc.PidMode.Container()); err != nil {
			return nil, "", err
		}
	}
	if hc.IpcMode.IsContainer() {
		if err := join(specs.IPCNamespace, "ipc", hc.IpcMode.Container()); err != nil {
			return nil, "", err
		}
	}
	if ref, ok := strings.CutPrefix(string(hc.UTSMode), "container:"); ok {
		if err := join(specs.UTSNamespace, "uts", ref); err != nil {
			return nil, "", err
		}
	}
	if hc.NetworkMode.IsContainer() {
		if err := join(specs.NetworkNamespace, "net", hc.NetworkMode.ConnectedContainer()); err != nil {
			return nil, "", err
		}
	}
	if p, ok := netnsPath(hc); ok {
		joins[specs.NetworkNamespace] = p
	}
	if hc.IpcMode.IsHost() {
		shm = "/dev/shm"
	}
	return joins, shm, nil
}

// ContainerStart starts a created or stopped container.
func (d *Daemon) ContainerStart(ctx context.Context, ref string) error {
	c, err := d.containers.Get(ref)
	if err != nil {
		return err
	}
	c.Lock()
	defer c.Unlock()
	switch c.State.Status {
	case container.StatusRunning, container.StatusPaused:
		return ErrNotModified
	case container.StatusRemoving, container.StatusDead:
		return fmt.Errorf("container %s is marked for removal and cannot be started: %w", c.ID, errdefs.ErrConflict)
	}
	c.State.ManuallyStopped = false
	err = d.startLocked(ctx, c)
	if err != nil && c.HostConfig.AutoRemove {
		// As docker: a --rm container that cannot start is removed (the
		// docker CLI waits for that).
		go func() {
			if rerr := d.ContainerRemove(context.WithoutCancel(ctx), c.ID, true, true); rerr != nil {
				d.log().Warn("auto-remove", "id", c.ID, "error", rerr)
			}
		}()
	}
	return err
}

// startLocked starts c; the caller holds its lock.
func (d *Daemon) startLocked(ctx context.Context, c *container.Container) (retErr error) {
	defer func() {
		if retErr != nil {
			c.State.Error = retErr.Error()
			var ee *monitor.ExecError
			if errors.As(retErr, &ee) {
				c.State.ExitCode = ee.Code
			} else if c.State.ExitCode == 0 {
				c.State.ExitCode = 128
			}
			if c.State.Status == container.StatusRestarting {
				c.State.Status = container.StatusExited
			}
			d.disconnectNetworks(c)
			c.SaveState()
			c.Notify()
			d.unmountRootfs(c)
			d.unmountVolumes(c)
		}
	}()
	if err := d.mountRootfs(ctx, c); err != nil {
		return err
	}
	if err := d.mountVolumes(c); err != nil {
		return err
	}
	if err := d.allocateNetworks(c); err != nil {
		return err
	}
	if err := d.writeEtcFiles(c); err != nil {
		return err
	}
	s, err := d.containerSpec(c, false)
	if err != nil {
		return err
	}
	bundle := d.bundleDir(c.ID)
	s.Root.Path = "rootfs"
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	if err := atomicfile.Replace(filepath.Join(bundle, "config.json"), b, 0o600); err != nil {
		return err
	}
	// A runtime state left by a crash blocks a new create: clear it.
	if old, err := d.rt.Load(c.ID); err == nil {
		old.Delete(true)
	}
	logPath, logMax, logFiles, logAttrs := d.logOptions(c)
	// Exits are only seen through a subscription: make sure one is up
	// (this starts the monitor when none runs).
	if err := d.watchExits(); err != nil {
		return err
	}
	cs := c.HostConfig.ConsoleSize
	pid, err := d.monitor.Create(c.ID, monitor.CreateOptions{
		Bundle: bundle, Tty: c.Config.Tty, OpenStdin: c.Config.OpenStdin, StdinOnce: c.Config.StdinOnce,
		LogPath: logPath, LogMaxSize: logMax, LogMaxFiles: logFiles, LogAttrs: logAttrs, LogFormat: c.LogFormat, ConsoleSize: [2]uint{cs[0], cs[1]},
	})
	if err != nil {
		return err
	}
	if err := d.connectNetworks(c, pid); err != nil {
		d.monitor.Forget(c.ID, "")
		if rc, lerr := d.rt.Load(c.ID); lerr == nil {
			rc.Delete(true)
		}
		return err
	}
	// Attach requests made before the start connect now, so that they
	// see the process's first output.
	d.openStartGate(c.ID)
	if err := d.monitor.Begin(c.ID); err != nil {
		d.monitor.Forget(c.ID, "")
		if rc, lerr := d.rt.Load(c.ID); lerr == nil {
			rc.Delete(true)
		}
		return err
	}
	c.State = container.State{Status: container.StatusRunning, Pid: pid, StartedAt: time.Now().UTC()}
	d.startHealthcheck(c)
	d.holdStdio(c.ID)
	c.Notify()
	if err := c.SaveState(); err != nil {
		d.log().Warn("save container", "id", c.ID, "error", err)
	}
	d.containerEvent(c, eventtypes.ActionStart, nil)
	return nil
}

// ContainerStop stops a running container: its stop signal, then SIGKILL
// after timeout seconds (nil: its StopTimeout or 10; negative: wait
// forever).
func (d *Daemon) ContainerStop(ctx context.Context, ref string, timeout *int, signal string) error {
	c, err := d.containers.Get(ref)
	if err != nil {
		return err
	}
	c.Lock()
	if !c.Running() && c.State.Status != container.StatusRestarting {
		c.Unlock()
		return ErrNotModified
	}
	c.State.ManuallyStopped = true
	if c.State.Status == container.StatusRestarting {
		c.State.Status = container.StatusExited
		c.Save()
		c.Notify()
		c.Unlock()
		return nil
	}
	c.Save()
	c.Unlock()
	return d.stop(ctx, c, timeout, signal)
}

func (d *Daemon) stop(ctx context.Context, c *container.Container, timeout *int, signal string) error {
	if signal == "" {
		signal = c.Config.StopSignal
	}
	sig := unix.SIGTERM
	if signal != "" {
		s, err := parseSignal(signal)
		if err != nil {
			return err
		}
		sig = s
	}
	t := 10
	if c.Config.StopTimeout != nil {
		t = *c.Config.StopTimeout
	}
	if timeout != nil {
		t = *timeout
	}
	if c.State.Status == container.StatusPaused {
		// A frozen process cannot handle its signal: thaw it after
		// sending, as docker does.
		d.signal(c, sig, false)
		if rc, err := d.rt.Load(c.ID); err == nil {
			rc.Resume()
		}
	} else if err := d.signal(c, sig, false); err != nil && !errors.Is(err, errdefs.ErrConflict) {
		return err
	}
	var deadline <-chan time.Time
	if t >= 0 {
		deadline = time.After(time.Duration(t) * time.Second)
	}
	if d.waitStopped(ctx, c, deadline) {
		return nil
	}
	d.signal(c, unix.SIGKILL, true)
	if !d.waitStopped(ctx, c, time.After(30*time.Second)) {
		return fmt.Errorf("container %s did not stop after SIGKILL", c.ID)
	}
	return nil
}

// waitStopped waits until c is not running, deadline or ctx.
func (d *Daemon) waitStopped(ctx context.Context, c *container.Container, deadline <-chan time.Time) bool {
	for {
		ch := c.Changed()
		c.Lock()
		running := c.Running()
		c.Unlock()
		if !running {
			return true
		}
		select {
		case <-ch:
		case <-deadline:
			return false
		case <-ctx.Done():
			return false
		}
	}
}

func (d *Daemon) signal(c *container.Container, sig unix.Signal, all bool) error {
	rc, err := d.rt.Load(c.ID)
	if err != nil {
		return err
	}
	return rc.Kill(sig, all)
}

// ContainerKill sends a signal (default SIGKILL) to a running container.
func (d *Daemon) ContainerKill(ctx context.Context, ref, signal string) error {
	c, err := d.containers.Get(ref)
	if err != nil {
		return err
	}
	sig := unix.SIGKILL
	if signal != "" {
		if sig, err = parseSignal(signal); err != nil {
			return err
		}
	}
	c.Lock()
	if !c.Running() {
		c.Unlock()
		return fmt.Errorf("cannot kill container: %s: container %s is not running: %w", ref, c.ID, errdefs.ErrConflict)
	}
	stopSig := unix.SIGTERM
	if s, err := parseSignal(c.Config.StopSignal); err == nil && c.Config.StopSignal != "" {
		stopSig = s
	}
	if sig == unix.SIGKILL || sig == stopSig {
		c.State.ManuallyStopped = true
		c.Save()
	}
	c.Unlock()
	if err := d.signal(c, sig, sig == unix.SIGKILL); err != nil {
		return fmt.Errorf("cannot kill container: %s: %w", ref, err)
	}
	d.containerEvent(c, eventtypes.ActionKill, map[string]string{"signal": strconv.Itoa(int(sig))})
	return nil
}

// ContainerRestart stops (if running) and starts a container.
func (d *Daemon) ContainerRestart(ctx context.Context, ref string, timeout *int, signal string) error {
	c, err := d.containers.Get(ref)
	if err != nil {
		return err
	}
	c.Lock()
	running := c.Running()
	if running {
		c.State.ManuallyStopped = true // no restart policy in between
	}
	c.Unlock()
	if running {
		if err := d.stop(ctx, c, timeout, signal); err != nil {
			return err
		}
	}
	c.Lock()
	defer c.Unlock()
	if c.Running() {
		return nil // a restart policy got there first
	}
	c.State.ManuallyStopped = false
	if err := d.startLocked(ctx, c); err != nil {
		return err
	}
	d.containerEvent(c, eventtypes.ActionRestart, nil)
	return nil
}

// ContainerWait waits for condition: "not-running" (default),
// "next-exit" or "removed"; it returns the exit status.
func (d *Daemon) ContainerWait(ctx context.Context, ref, condition string) (<-chan ctypes.WaitResponse, error) {
	c, err := d.containers.Get(ref)
	if err != nil {
		return nil, err
	}
	switch condition {
	case "", "not-running", "next-exit", "removed":
	default:
		return nil, fmt.Errorf("invalid condition: %q: %w", condition, errdefs.ErrInvalidArgument)
	}
	c.Lock()
	exits := d.exitCount(c.ID)
	c.Unlock()
	out := make(chan ctypes.WaitResponse, 1)
	go func() {
		defer close(out)
		for {
			ch := c.Changed()
			c.Lock()
			st := c.State
			running := c.Running() || st.Status == container.StatusRestarting
			removed := d.isRemoved(c)
			n := d.exitCount(c.ID)
			c.Unlock()
			done := false
			switch condition {
			case "", "not-running":
				done = !running
			case "next-exit":
				done = n > exits
			case "removed":
				done = removed
			}
			if condition != "removed" && removed && !done {
				done = true
			}
			if done {
				r := ctypes.WaitResponse{StatusCode: int64(st.ExitCode)}
				if st.Error != "" {
					r.Error = &ctypes.WaitExitError{Message: st.Error}
				}
				out <- r
				return
			}
			select {
			case <-ch:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

// ContainerRemove removes a container; a running one only with force.
func (d *Daemon) ContainerRemove(ctx context.Context, ref string, force, volumes bool) error {
	c, err := d.containers.Get(ref)
	if err != nil {
		return err
	}
	c.Lock()
	if c.State.Status == container.StatusRemoving {
		c.Unlock()
		return fmt.Errorf("removal of container %s is already in progress: %w", strings.TrimPrefix(c.Name, "/"), errdefs.ErrConflict)
	}
	if c.Running() || c.State.Status == container.StatusRestarting {
		if !force {
			c.Unlock()
			state := "running"
			if c.State.Status == container.StatusPaused {
				state = "paused"
			}
			return fmt.Errorf("cannot remove container %q: container is %s: stop the container before removing or force remove: %w", c.Name, state, errdefs.ErrConflict)
		}
		c.State.ManuallyStopped = true
		c.Save()
		c.Unlock()
		if rc, err := d.rt.Load(c.ID); err == nil {
			if c.State.Status == container.StatusPaused {
				rc.Kill(unix.SIGKILL, true)
				rc.Resume()
			}
			rc.Kill(unix.SIGKILL, true)
		}
		if !d.waitStopped(ctx, c, time.After(30*time.Second)) {
			return fmt.Errorf("could not kill container %s", c.ID)
		}
		c.Lock()
	}
	defer c.Unlock()
	return d.removeLocked(ctx, c, volumes)
}

// removeLocked removes a stopped container's runtime state, mounts,
// snapshot and record, in that order: a crash part-way is finished by
// restore (the record says "removing"). Its volumes are released after,
// and with volumes its anonymous ones removed.
func (d *Daemon) removeLocked(ctx context.Context, c *container.Container, volumes bool) error {
	d.stopHealthcheck(c.ID)
	c.State.Status = container.StatusRemoving
	if err := c.Save(); err != nil {
		return err
	}
	var errs []error
	if rc, err := d.rt.Load(c.ID); err == nil {
		errs = append(errs, rc.Delete(true))
	}
	d.disconnectNetworks(c)
	errs = append(errs, d.unmountRootfs(c))
	os.RemoveAll(d.bundleDir(c.ID))
	if err := d.removeContainerSnapshots(ctx, c.SnapshotKey); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		c.State.Status = container.StatusDead
		c.State.Error = err.Error()
		c.Save()
		c.Notify()
		return fmt.Errorf("remove container %s: %w", c.ID, err)
	}
	if err := d.containers.Delete(c); err != nil {
		return err
	}
	d.releaseVolumes(c, volumes)
	d.markRemoved(c)
	c.Notify()
	d.containerEvent(c, eventtypes.ActionDestroy, nil)
	return nil
}

// handleExit records the end of a container's init (or of an exec) that
// the monitor reported, then applies the restart policy or --rm.
func (d *Daemon) handleExit(x monitor.Exit) {
	if x.ExecID != "" {
		d.execExited(x)
		d.monitor.Forget(x.ID, x.ExecID)
		return
	}
	d.releaseStdio(x.ID)
	c, err := d.containers.Get(x.ID)
	if err != nil || c.ID != x.ID {
		d.monitor.Forget(x.ID, "")
		return
	}
	c.Lock()
	if !c.Running() || (c.State.Pid != x.Pid && c.State.Pid != 0) {
		c.Unlock()
		d.monitor.Forget(x.ID, "")
		return
	}
	d.stopHealthcheck(c.ID)
	oom := false
	if rc, err := d.rt.Load(c.ID); err == nil {
		if n, err := rc.OOMKills(); err == nil && n > 0 {
			oom = true
		}
		rc.Delete(true)
	}
	d.unmountRootfs(c)
	d.unmountVolumes(c)
	d.disconnectNetworks(c)
	ran := x.ExitedAt.Sub(c.State.StartedAt)
	c.State.Status = container.StatusExited
	c.State.ExitCode = x.ExitCode
	c.State.FinishedAt = x.ExitedAt
	c.State.OOMKilled = oom
	c.State.Pid = 0
	if x.Unknown {
		c.State.Error = "exit status unknown: the container's monitor was restarted while it ran"
	}
	restart := d.shouldRestart(c)
	if restart {
		c.State.Status = container.StatusRestarting
	}
	d.countExit(c.ID)
	c.SaveState()
	c.Notify()
	attrs := map[string]string{"exitCode": strconv.Itoa(x.ExitCode)}
	if oom {
		d.containerEvent(c, eventtypes.ActionOOM, nil)
	}
	d.containerEvent(c, eventtypes.ActionDie, attrs)
	autoRemove := c.HostConfig.AutoRemove && !restart
	c.Unlock()
	d.monitor.Forget(x.ID, "")
	if restart {
		d.scheduleRestart(c, ran)
	} else if autoRemove {
		go func() {
			if err := d.ContainerRemove(context.Background(), c.ID, true, true); err != nil {
				d.log().Warn("auto-remove", "id", c.ID, "error", err)
			}
		}()
	}
}

// shouldRestart applies c's restart policy to its last exit; the caller
// holds the lock.
func (d *Daemon) shouldRestart(c *container.Container) bool {
	rp := c.HostConfig.RestartPolicy
	switch rp.Name {
	case ctypes.RestartPolicyAlways:
		return !c.State.ManuallyStopped
	case ctypes.RestartPolicyUnlessStopped:
		return !c.State.ManuallyStopped
	case ctypes.RestartPolicyOnFailure:
		if c.State.ManuallyStopped || c.State.ExitCode == 0 {
			return false
		}
		return rp.MaximumRetryCount == 0 || c.RestartCount < rp.MaximumRetryCount
	}
	return false
}

// scheduleRestart starts c again after a back-off that doubles from
// 100ms while it keeps failing fast, as docker's restart manager does.
func (d *Daemon) scheduleRestart(c *container.Container, ran time.Duration) {
	delay := d.restartDelay(c.ID, ran)
	time.AfterFunc(delay, func() {
		c.Lock()
		defer c.Unlock()
		if c.State.Status != container.StatusRestarting || c.State.ManuallyStopped || d.isRemoved(c) {
			return
		}
		c.RestartCount++
		if err := d.startLocked(context.Background(), c); err != nil {
			d.log().Warn("restart", "id", c.ID, "error", err)
			// A start failure counts as a failure: try again later.
			if d.shouldRestart(c) {
				c.State.Status = container.StatusRestarting
				c.SaveState()
				go d.scheduleRestart(c, 0)
			}
		}
	})
}

// containerEvent publishes a container event.
func (d *Daemon) containerEvent(c *container.Container, action eventtypes.Action, extra map[string]string) {
	attrs := map[string]string{"name": strings.TrimPrefix(c.Name, "/"), "image": c.ImageName}
	for k, v := range c.Config.Labels {
		attrs[k] = v
	}
	for k, v := range extra {
		attrs[k] = v
	}
	now := time.Now()
	d.events.Publish(eventtypes.Message{
		Type:     eventtypes.ContainerEventType,
		Action:   action,
		Actor:    eventtypes.Actor{ID: c.ID, Attributes: attrs},
		Scope:    "local",
		Time:     now.Unix(),
		TimeNano: now.UnixNano(),
	})
}

func parseSignal(s string) (unix.Signal, error) {
	s = strings.ToUpper(strings.TrimSpace(s))
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return 0, fmt.Errorf("invalid signal: %s: %w", s, errdefs.ErrInvalidArgument)
		}
		return unix.Signal(n), nil
	}
	if !strings.HasPrefix(s, "SIG") {
		s = "SIG" + s
	}
	if strings.HasPrefix(s, "SIGRTMIN") || strings.HasPrefix(s, "SIGRTMAX") {
		base, off := 34, 0
		rest := strings.TrimPrefix(s, "SIGRTMIN")
		if strings.HasPrefix(s, "SIGRTMAX") {
			base, rest = 64, strings.TrimPrefix(s, "SIGRTMAX")
		}
		if rest != "" {
			n, err := strconv.Atoi(rest)
			if err != nil {
				return 0, fmt.Errorf("invalid signal: %s: %w", s, errdefs.ErrInvalidArgument)
			}
			off = n
		}
		return unix.Signal(base + off), nil
	}
	sig := unix.SignalNum(s)
	if sig == 0 {
		return 0, fmt.Errorf("invalid signal: %s: %w", s, errdefs.ErrInvalidArgument)
	}
	return sig, nil
}

// logOptions is where and how the monitor logs c's output ("" path:
// not at all).
func (d *Daemon) logOptions(c *container.Container) (string, int64, int, map[string]string) {
	if c.LogFormat == "cri" {
		return c.LogPath, 0, 0, nil
	}
	if c.HostConfig.LogConfig.Type == "none" || c.LogPath == "" {
		return "", 0, 0, nil
	}
	lo, err := jsonfile.ParseOptions(c.HostConfig.LogConfig.Config)
	if err != nil {
		return c.LogPath, 0, 0, nil
	}
	attrs, err := jsonfile.Attrs(c.HostConfig.LogConfig.Config, logInfo(c))
	if err != nil {
		d.log().Warn("log attributes", "id", c.ID, "error", err)
	}
	return c.LogPath, lo.MaxSize, lo.MaxFiles, attrs
}

// logInfo is what --log-opt labels, env and tag may log of c.
func logInfo(c *container.Container) jsonfile.Info {
	return jsonfile.Info{ID: c.ID, Name: c.Name, ImageName: c.Config.Image, ImageID: c.Image, Labels: c.Config.Labels, Env: c.Config.Env}
}
