package cri

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/hako-dev/hako/internal/errdefs"
	ctypes "github.com/moby/moby/api/types/container"
	mounttypes "github.com/moby/moby/api/types/mount"
	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// engineConfig translates a CRI container config, in its sandbox, to the
// engine's container and host configs.
func engineConfig(cfg *runtimeapi.ContainerConfig, sb *sandbox, imageRef string) (*ctypes.Config, *ctypes.HostConfig, error) {
	lx := cfg.GetLinux()
	sc := lx.GetSecurityContext()
	podCfg := sb.Config
	podNS := podCfg.GetLinux().GetSecurityContext().GetNamespaceOptions()
	c := &ctypes.Config{
		Image:      imageRef,
		Cmd:        cfg.Args,
		WorkingDir: cfg.WorkingDir,
		Tty:        cfg.Tty,
		OpenStdin:  cfg.Stdin,
		StdinOnce:  cfg.StdinOnce,
		Hostname:   podCfg.GetHostname(),
		Labels:     map[string]string{labelKind: "container", labelSandbox: sb.ID},
		// kubelet runs its own probes: an image's HEALTHCHECK is not
		// run for a pod's container (containerd does not either).
		Healthcheck: &ctypes.HealthConfig{Test: []string{"NONE"}},
	}
	if len(cfg.Command) > 0 {
		c.Entrypoint = cfg.Command
	}
	if cfg.WorkingDir != "" && !path.IsAbs(cfg.WorkingDir) {
		return nil, nil, fmt.Errorf("working directory %q is not absolute: %w", cfg.WorkingDir, errdefs.ErrInvalidArgument)
	}
	for _, kv := range cfg.Envs {
		if kv.Key == "" {
			continue
		}
		c.Env = append(c.Env, kv.Key+"="+string(kv.Value))
	}
	user, err := userSpec(sc)
	if err != nil {
		return nil, nil, err
	}
	c.User = user

	infra := "container:" + sb.ID
	hc := &ctypes.HostConfig{
		NetworkMode:    ctypes.NetworkMode(infra),
		IpcMode:        ctypes.IpcMode(infra),
		UTSMode:        ctypes.UTSMode(infra),
		Sysctls:        podCfg.GetLinux().GetSysctls(),
		Privileged:     sc.GetPrivileged(),
		ReadonlyRootfs: sc.GetReadonlyRootfs(),
		CapAdd:         sc.GetCapabilities().GetAddCapabilities(),
		CapDrop:        sc.GetCapabilities().GetDropCapabilities(),
	}
	hc.CgroupParent = podCfg.GetLinux().GetCgroupParent()
	if podNS.GetNetwork() == runtimeapi.NamespaceMode_NODE {
		hc.NetworkMode, hc.UTSMode = "host", "host"
		c.Hostname = ""
	}
	if podNS.GetIpc() == runtimeapi.NamespaceMode_NODE {
		hc.IpcMode = "host"
	} else if sb.Shm != "" {
		hc.Binds = append(hc.Binds, sb.Shm+":/dev/shm:rw")
	}
	ns := sc.GetNamespaceOptions()
	switch ns.GetPid() {
	case runtimeapi.NamespaceMode_POD:
		hc.PidMode = ctypes.PidMode(infra)
	case runtimeapi.NamespaceMode_NODE:
		hc.PidMode = "host"
	case runtimeapi.NamespaceMode_TARGET:
		if ns.GetTargetId() == "" {
			return nil, nil, fmt.Errorf("PID namespace mode TARGET needs a target container: %w", errdefs.ErrInvalidArgument)
		}
		hc.PidMode = ctypes.PidMode("container:" + ns.GetTargetId())
	}
	if ns.GetUsernsOptions() != nil && ns.GetUsernsOptions().GetMode() != runtimeapi.NamespaceMode_NODE {
		return nil, nil, fmt.Errorf("user namespaces are not supported: %w", errdefs.ErrInvalidArgument)
	}
	if err := dnsConfig(hc, podCfg.GetDnsConfig()); err != nil {
		return nil, nil, err
	}
	for _, g := range sc.GetSupplementalGroups() {
		hc.GroupAdd = append(hc.GroupAdd, strconv.FormatInt(g, 10))
	}
	if sc.GetNoNewPrivs() {
		hc.SecurityOpt = append(hc.SecurityOpt, "no-new-privileges")
	}
	secOpt, err := seccompOpt(sc.GetSeccomp(), sc.GetSeccompProfilePath(), sc.GetPrivileged())
	if err != nil {
		return nil, nil, err
	}
	if secOpt != "" {
		hc.SecurityOpt = append(hc.SecurityOpt, secOpt)
	}
	if !sc.GetPrivileged() {
		if mp := sc.GetMaskedPaths(); mp != nil {
			hc.MaskedPaths = mp
		}
		if rp := sc.GetReadonlyPaths(); rp != nil {
			hc.ReadonlyPaths = rp
		}
	}
	for _, m := range cfg.Mounts {
		bm, err := bindMount(m)
		if err != nil {
			return nil, nil, err
		}
		hc.Mounts = append(hc.Mounts, bm)
	}
	for _, d := range cfg.Devices {
		perms := d.Permissions
		if perms == "" {
			perms = "rwm"
		}
		hc.Devices = append(hc.Devices, ctypes.DeviceMapping{PathOnHost: d.HostPath, PathInContainer: d.ContainerPath, CgroupPermissions: perms})
	}
	if r := lx.GetResources(); r != nil {
		setResources(&hc.Resources, r)
		if r.OomScoreAdj != 0 {
			hc.OomScoreAdj = clampOOMScoreAdj(int(r.OomScoreAdj))
		}
	}
	hc.Annotations = cfg.Annotations
	return c, hc, nil
}

// userSpec is the engine's "user[:group]" for a security context.
func userSpec(sc *runtimeapi.LinuxContainerSecurityContext) (string, error) {
	user := ""
	switch {
	case sc.GetRunAsUser() != nil:
		user = strconv.FormatInt(sc.GetRunAsUser().Value, 10)
	case sc.GetRunAsUsername() != "":
		user = sc.GetRunAsUsername()
	}
	if g := sc.GetRunAsGroup(); g != nil {
		if user == "" {
			return "", fmt.Errorf("run_as_group needs run_as_user or run_as_username: %w", errdefs.ErrInvalidArgument)
		}
		user += ":" + strconv.FormatInt(g.Value, 10)
	}
	return user, nil
}

// bindMount is the engine's bind mount for a CRI mount.
func bindMount(m *runtimeapi.Mount) (mounttypes.Mount, error) {
	var out mounttypes.Mount
	if m.ContainerPath == "" || !path.IsAbs(m.ContainerPath) {
		return out, fmt.Errorf("mount container path %q is not absolute: %w", m.ContainerPath, errdefs.ErrInvalidArgument)
	}
	if m.Image != nil && m.Image.Image != "" {
		return out, fmt.Errorf("image volumes are not supported: %w", errdefs.ErrNotImplemented)
	}
	src := m.HostPath
	if src == "" {
		return out, fmt.Errorf("mount at %s: host path is empty: %w", m.ContainerPath, errdefs.ErrInvalidArgument)
	}
	if m.RecursiveReadOnly {
		if !m.Readonly {
			return out, fmt.Errorf("mount at %s: recursive read-only needs read-only: %w", m.ContainerPath, errdefs.ErrInvalidArgument)
		}
		if m.Propagation != runtimeapi.MountPropagation_PROPAGATION_PRIVATE {
			return out, fmt.Errorf("mount at %s: recursive read-only needs private propagation: %w", m.ContainerPath, errdefs.ErrInvalidArgument)
		}
	}
	// As containerd: a missing host path becomes a directory; a symlink
	// is followed.
	if _, err := os.Stat(src); os.IsNotExist(err) {
		if err := os.MkdirAll(src, 0o755); err != nil {
			return out, fmt.Errorf("mount at %s: create host path: %w", m.ContainerPath, err)
		}
	}
	if real, err := filepath.EvalSymlinks(src); err == nil {
		src = real
	}
	prop := mounttypes.PropagationRPrivate
	switch m.Propagation {
	case runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER:
		prop = mounttypes.PropagationRSlave
	case runtimeapi.MountPropagation_PROPAGATION_BIDIRECTIONAL:
		prop = mounttypes.PropagationRShared
	}
	return mounttypes.Mount{Type: mounttypes.TypeBind, Source: src, Target: m.ContainerPath, ReadOnly: m.Readonly,
		BindOptions: &mounttypes.BindOptions{Propagation: prop, ReadOnlyForceRecursive: m.RecursiveReadOnly}}, nil
}

// seccompOpt is the engine's --security-opt for a CRI seccomp profile
// (or the deprecated profile path); "" means the default profile.
func seccompOpt(p *runtimeapi.SecurityProfile, legacy string, privileged bool) (string, error) {
	if privileged {
		return "seccomp=unconfined", nil
	}
	if p != nil {
		switch p.ProfileType {
		case runtimeapi.SecurityProfile_RuntimeDefault:
			return "", nil
		case runtimeapi.SecurityProfile_Unconfined:
			return "seccomp=unconfined", nil
		case runtimeapi.SecurityProfile_Localhost:
			return localhostSeccomp(p.LocalhostRef)
		}
	}
	switch {
	case legacy == "" || legacy == "unconfined":
		// As containerd: no profile asked is no profile.
		return "seccomp=unconfined", nil
	case legacy == "runtime/default" || legacy == "docker/default":
		return "", nil
	case strings.HasPrefix(legacy, "localhost/"):
		return localhostSeccomp(strings.TrimPrefix(legacy, "localhost/"))
	}
	return "", fmt.Errorf("seccomp profile %q: want runtime/default, unconfined or localhost/PATH: %w", legacy, errdefs.ErrInvalidArgument)
}

func localhostSeccomp(p string) (string, error) {
	if !path.IsAbs(p) {
		return "", fmt.Errorf("localhost seccomp profile %q is not an absolute path: %w", p, errdefs.ErrInvalidArgument)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return "", fmt.Errorf("localhost seccomp profile: %w", err)
	}
	return "seccomp=" + string(b), nil
}

// setResources applies CRI resources to the engine's.
func setResources(r *ctypes.Resources, cr *runtimeapi.LinuxContainerResources) {
	r.CPUPeriod = cr.CpuPeriod
	r.CPUQuota = cr.CpuQuota
	r.CPUShares = cr.CpuShares
	r.Memory = cr.MemoryLimitInBytes
	r.CpusetCpus = cr.CpusetCpus
	r.CpusetMems = cr.CpusetMems
	if cr.MemorySwapLimitInBytes != 0 {
		r.MemorySwap = cr.MemorySwapLimitInBytes
	}
}

// clampOOMScoreAdj keeps v at or above this process's own score when it
// may not lower it (no CAP_SYS_RESOURCE), as containerd's
// restrict_oom_score_adj: the kernel refuses a lower value then.
func clampOOMScoreAdj(v int) int {
	if hasCapSysResource() {
		return v
	}
	b, err := os.ReadFile("/proc/self/oom_score_adj")
	if err != nil {
		return v
	}
	cur, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return v
	}
	if v < cur {
		return cur
	}
	return v
}

func hasCapSysResource() bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return false
	}
	return data[0].Effective&(1<<unix.CAP_SYS_RESOURCE) != 0
}
