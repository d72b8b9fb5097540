package oci

import (
	"fmt"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/hako-dev/hako/internal/errdefs"
	"github.com/hako-dev/hako/internal/runtime/linux"
	ctypes "github.com/moby/moby/api/types/container"
	mobyseccomp "github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// ContainerOpts is what the engine knows about a container when it
// builds its spec.
type ContainerOpts struct {
	ID         string
	Config     *ctypes.Config
	HostConfig *ctypes.HostConfig
	// Rootfs is the container's mounted root filesystem, read for user
	// and group lookups.
	Rootfs string
	// Files bind-mounted over /etc/hostname, /etc/hosts and
	// /etc/resolv.conf ("" skips the mount).
	HostnamePath, HostsPath, ResolvConfPath string
	// ShmPath, when set, is bind-mounted at /dev/shm instead of a new
	// tmpfs (a shared IPC namespace shares its /dev/shm too).
	ShmPath string
	// JoinNamespaces maps a namespace type to the path of one to join
	// (--pid container:NAME and friends).
	JoinNamespaces map[specs.LinuxNamespaceType]string
	CgroupsPath    string
	// InitPath is the binary bind-mounted at /dev/init for --init.
	InitPath string
	// Mounts are the container's volumes, binds and --mount entries as
	// the engine resolved them: HostConfig.Binds and Mounts are not read
	// here. --tmpfs entries (HostConfig.Tmpfs) are added to them.
	Mounts []specs.Mount
	// ExtraMounts are appended after the generated ones.
	ExtraMounts []specs.Mount
	// StrictGroups leaves out the user's memberships in /etc/group: the
	// supplementary groups are exactly HostConfig.GroupAdd.
	StrictGroups bool
	// CgroupV2 selects the cgroup namespace default: private on v2,
	// host on v1, as docker.
	CgroupV2 bool
	// UIDMap and GIDMap, when set, put the container in a user namespace
	// of its own with these mappings (--userns-remap), or in the one
	// JoinNamespaces names.
	UIDMap, GIDMap []specs.LinuxIDMapping
}

// InitTarget is where the --init binary appears in the container.
const InitTarget = "/dev/init"

// DefaultCapabilities is docker's default capability set.
var DefaultCapabilities = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
	"CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
	"CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

// DefaultMaskedPaths and DefaultReadonlyPaths are docker's.
var (
	DefaultMaskedPaths = []string{
		"/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore",
		"/proc/keys", "/proc/latency_stats", "/proc/timer_list",
		"/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
		"/sys/firmware", "/sys/devices/virtual/powercap",
	}
	DefaultReadonlyPaths = []string{
		"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
	}
)

const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

func invalid(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), errdefs.ErrInvalidArgument)
}

// ContainerSpec builds the runtime spec of a container the way docker
// does: its namespaces, mounts, capabilities, seccomp profile, masked
// paths and cgroup limits. It validates the configuration; an invalid
// one is errdefs.ErrInvalidArgument with a message for the user.
func ContainerSpec(o *ContainerOpts) (*specs.Spec, error) {
	cfg, hc := o.Config, o.HostConfig
	if cfg == nil {
		cfg = &ctypes.Config{}
	}
	if hc == nil {
		hc = &ctypes.HostConfig{}
	}
	s := &specs.Spec{
		Version:     specs.Version,
		Root:        &specs.Root{Path: o.Rootfs, Readonly: hc.ReadonlyRootfs},
		Annotations: hc.Annotations,
		Linux: &specs.Linux{
			CgroupsPath: o.CgroupsPath,
		},
	}

	p, err := process(o, cfg, hc)
	if err != nil {
		return nil, err
	}
	s.Process = p

	if err := namespaces(s, o, hc); err != nil {
		return nil, err
	}
	if !hc.UTSMode.IsHost() && o.JoinNamespaces[specs.UTSNamespace] == "" {
		s.Hostname = cfg.Hostname
		if s.Hostname == "" && len(o.ID) >= 12 {
			s.Hostname = o.ID[:12]
		}
		s.Domainname = cfg.Domainname
	}
	if s.Hostname != "" {
		p.Env = setEnv(p.Env, "HOSTNAME="+s.Hostname, false)
	}

	if err := mounts(s, o, hc); err != nil {
		return nil, err
	}
	res, err := Resources(hc)
	if err != nil {
		return nil, err
	}
	s.Linux.Resources = res
	if hc.Privileged {
		devs, err := hostDevices()
		if err != nil {
			return nil, err
		}
		s.Linux.Devices = devs
		res.Devices = []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}
	} else {
		s.Linux.MaskedPaths = DefaultMaskedPaths
		if hc.MaskedPaths != nil {
			s.Linux.MaskedPaths = hc.MaskedPaths
		}
		s.Linux.ReadonlyPaths = DefaultReadonlyPaths
		if hc.ReadonlyPaths != nil {
			s.Linux.ReadonlyPaths = hc.ReadonlyPaths
		}
	}
	for _, d := range hc.Devices {
		dev, rule, err := deviceMapping(d)
		if err != nil {
			return nil, err
		}
		s.Linux.Devices = append(s.Linux.Devices, dev)
		res.Devices = append(res.Devices, rule)
	}
	if err := sysctls(s, hc); err != nil {
		return nil, err
	}
	if err := security(s, hc); err != nil {
		return nil, err
	}
	return s, nil
}

// process builds the container's process: command, environment, user,
// capabilities and rlimits.
func process(o *ContainerOpts, cfg *ctypes.Config, hc *ctypes.HostConfig) (*specs.Process, error) {
	args := append(append([]string{}, cfg.Entrypoint...), cfg.Cmd...)
	if len(args) == 0 {
		return nil, invalid("no command specified")
	}
	if o.InitPath != "" {
		args = append([]string{InitTarget, "--"}, args...)
	}
	p := &specs.Process{
		Terminal: cfg.Tty,
		Args:     args,
		Cwd:      cfg.WorkingDir,
		Env:      []string{defaultPath},
	}
	if p.Cwd == "" {
		p.Cwd = "/"
	}
	if !path.IsAbs(p.Cwd) {
		return nil, invalid("the working directory '%s' is invalid: it needs to be an absolute path", cfg.WorkingDir)
	}
	if cfg.Tty {
		p.Env = append(p.Env, "TERM=xterm")
	}
	for _, e := range cfg.Env {
		if e == "" || strings.HasPrefix(e, "=") {
			return nil, invalid("invalid environment variable: %q", e)
		}
		if !strings.Contains(e, "=") {
			continue // a name without value unsets nothing in docker either
		}
		p.Env = setEnv(p.Env, e, true)
	}
	if hc.ConsoleSize[0] > 0 || hc.ConsoleSize[1] > 0 {
		p.ConsoleSize = &specs.Box{Height: hc.ConsoleSize[0], Width: hc.ConsoleSize[1]}
	}
	user, err := resolveUser(o.Rootfs, cfg.User, hc.GroupAdd, o.StrictGroups)
	if err != nil {
		return nil, err
	}
	p.User = user
	if hc.Umask != nil {
		u := *hc.Umask
		p.User.Umask = &u
	}
	caps, err := capabilities(hc)
	if err != nil {
		return nil, err
	}
	p.Capabilities = caps
	for _, u := range hc.Ulimits {
		if u == nil {
			continue
		}
		name := "RLIMIT_" + strings.ToUpper(u.Name)
		if !slices.Contains(rlimitNames, name) {
			return nil, invalid("invalid ulimit type: %s", u.Name)
		}
		if u.Soft > u.Hard && u.Hard >= 0 {
			return nil, invalid("ulimit soft limit must be less than or equal to hard limit: %d > %d", u.Soft, u.Hard)
		}
		p.Rlimits = append(p.Rlimits, specs.POSIXRlimit{Type: name, Hard: uint64(u.Hard), Soft: uint64(u.Soft)})
	}
	if hc.OomScoreAdj != 0 {
		if hc.OomScoreAdj < -1000 || hc.OomScoreAdj > 1000 {
			return nil, invalid("invalid value %d, range for oom score adj is [-1000, 1000]", hc.OomScoreAdj)
		}
		v := hc.OomScoreAdj
		p.OOMScoreAdj = &v
	}
	return p, nil
}

var rlimitNames = []string{
	"RLIMIT_AS", "RLIMIT_CORE", "RLIMIT_CPU", "RLIMIT_DATA", "RLIMIT_FSIZE",
	"RLIMIT_LOCKS", "RLIMIT_MEMLOCK", "RLIMIT_MSGQUEUE", "RLIMIT_NICE",
	"RLIMIT_NOFILE", "RLIMIT_NPROC", "RLIMIT_RSS", "RLIMIT_RTPRIO",
	"RLIMIT_RTTIME", "RLIMIT_SIGPENDING", "RLIMIT_STACK",
}

// setEnv sets NAME=value in env; replace decides whether an existing
// NAME is overwritten.
func setEnv(env []string, kv string, replace bool) []string {
	name, _, _ := strings.Cut(kv, "=")
	for i, e := range env {
		if n, _, _ := strings.Cut(e, "="); n == name {
			if replace {
				env[i] = kv
			}
			return env
		}
	}
	return append(env, kv)
}

// capabilities applies --privileged, --cap-add and --cap-drop to
// docker's default set. Names may omit the CAP_ prefix; ALL means every
// capability the kernel knows.
func capabilities(hc *ctypes.HostConfig) (*specs.LinuxCapabilities, error) {
	all := allCapabilities()
	var set []string
	if hc.Privileged {
		set = all
	} else {
		norm := func(list []string) ([]string, bool, error) {
			var out []string
			hasAll := false
			for _, c := range list {
				c = strings.ToUpper(strings.TrimSpace(c))
				if c == "ALL" {
					hasAll = true
					continue
				}
				if !strings.HasPrefix(c, "CAP_") {
					c = "CAP_" + c
				}
				if _, ok := linux.CapabilityNumber(c); !ok {
					return nil, false, invalid("unknown capability: %q", c)
				}
				out = append(out, c)
			}
			return out, hasAll, nil
		}
		add, addAll, err := norm(hc.CapAdd)
		if err != nil {
			return nil, err
		}
		drop, dropAll, err := norm(hc.CapDrop)
		if err != nil {
			return nil, err
		}
		switch {
		case addAll:
			set = all
		case dropAll:
			set = nil
		default:
			set = slices.Clone(DefaultCapabilities)
		}
		if !addAll {
			for _, c := range add {
				if !slices.Contains(set, c) {
					set = append(set, c)
				}
			}
		}
		if !dropAll {
			set = slices.DeleteFunc(set, func(c string) bool {
				// An explicit add wins over a drop of the same name, as docker.
				return slices.Contains(drop, c) && !slices.Contains(add, c)
			})
		}
	}
	if set == nil {
		set = []string{}
	}
	return &specs.LinuxCapabilities{
		Bounding:  set,
		Effective: set,
		Permitted: set,
	}, nil
}

// allCapabilities is what --privileged and --cap-add ALL grant: every
// capability the kernel knows that the engine itself holds in its
// bounding set (a capability it lacks cannot be given).
func allCapabilities() []string {
	last := linux.LastCap()
	bounding := boundingSet()
	var out []string
	for _, c := range linux.KnownCapabilities() {
		if n, ok := linux.CapabilityNumber(c); ok && n <= last && bounding&(1<<uint(n)) != 0 {
			out = append(out, c)
		}
	}
	return out
}

// boundingSet reads this process's capability bounding set (all bits
// when it cannot be read).
func boundingSet() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return ^uint64(0)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapBnd:"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				return ^uint64(0)
			}
			return n
		}
	}
	return ^uint64(0)
}

// namespaces sets the namespaces: new ones by default, the host's for
// host modes, another container's for container:NAME (given as paths).
func namespaces(s *specs.Spec, o *ContainerOpts, hc *ctypes.HostConfig) error {
	add := func(t specs.LinuxNamespaceType) {
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: t, Path: o.JoinNamespaces[t]})
	}
	add(specs.MountNamespace)
	if !hc.PidMode.IsHost() {
		if hc.PidMode != "" && !hc.PidMode.IsContainer() {
			return invalid("invalid --pid mode: %q", hc.PidMode)
		}
		add(specs.PIDNamespace)
	}
	switch {
	case hc.IpcMode.IsHost():
	case hc.IpcMode == "" || hc.IpcMode.IsPrivate() || hc.IpcMode.IsShareable() || hc.IpcMode.IsContainer() || hc.IpcMode.IsNone():
		add(specs.IPCNamespace)
	default:
		return invalid("invalid --ipc mode: %q", hc.IpcMode)
	}
	switch {
	case hc.UTSMode.IsHost():
	case hc.UTSMode == "" || strings.HasPrefix(string(hc.UTSMode), "container:"):
		add(specs.UTSNamespace)
	default:
		return invalid("invalid --uts mode: %q", hc.UTSMode)
	}
	if !hc.NetworkMode.IsHost() {
		add(specs.NetworkNamespace)
	}
	switch hc.CgroupnsMode {
	case ctypes.CgroupnsModePrivate:
		add(specs.CgroupNamespace)
	case ctypes.CgroupnsModeHost:
	case "":
		if o.CgroupV2 {
			add(specs.CgroupNamespace)
		}
	default:
		return invalid("invalid --cgroupns mode: %q", hc.CgroupnsMode)
	}
	switch hc.UsernsMode {
	case "", "host":
	default:
		return invalid("user namespace mode %q is not supported: use \"host\" (the daemon's --userns-remap gives containers user namespaces)", hc.UsernsMode)
	}
	if len(o.UIDMap) > 0 {
		add(specs.UserNamespace)
		if o.JoinNamespaces[specs.UserNamespace] == "" {
			s.Linux.UIDMappings, s.Linux.GIDMappings = o.UIDMap, o.GIDMap
		}
	}
	if (hc.PidMode.IsHost() || hc.UTSMode.IsHost()) && hc.Privileged {
		// nothing special: docker allows it
	}
	return nil
}

// mounts adds docker's default mounts, the /etc files, the engine's
// resolved mounts and --tmpfs entries.
func mounts(s *specs.Spec, o *ContainerOpts, hc *ctypes.HostConfig) error {
	sysOpts := []string{"nosuid", "noexec", "nodev", "ro"}
	cgOpts := []string{"ro", "nosuid", "noexec", "nodev"}
	if hc.Privileged {
		sysOpts = []string{"nosuid", "noexec", "nodev", "rw"}
		cgOpts = []string{"rw", "nosuid", "noexec", "nodev"}
	}
	ms := []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: sysOpts},
		{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: cgOpts},
		{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
	}
	if hc.NetworkMode.IsHost() && !hc.Privileged {
		// sysfs of another network namespace cannot be mounted; bind the host's.
		ms[3] = specs.Mount{Destination: "/sys", Type: "bind", Source: "/sys", Options: []string{"rbind", "nosuid", "noexec", "nodev", "ro"}}
	}
	switch {
	case hc.IpcMode.IsNone():
	case o.ShmPath != "":
		ms = append(ms, specs.Mount{Destination: "/dev/shm", Type: "bind", Source: o.ShmPath, Options: []string{"rbind", "nosuid", "noexec", "nodev"}})
	default:
		size := hc.ShmSize
		if size == 0 {
			size = 64 << 20
		}
		if size < 0 {
			return invalid("SHM size can not be less than 0")
		}
		ms = append(ms, specs.Mount{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", fmt.Sprintf("size=%d", size)}})
	}
	// The generated files and the user's mounts go in one list, sorted
	// parents first: a volume on /etc comes before the /etc/hosts bind
	// that lands in it. A user mount replaces a generated one at the same
	// place.
	var generated []specs.Mount
	etcOpts := []string{"rbind", "rprivate"}
	if hc.ReadonlyRootfs {
		etcOpts = append(etcOpts, "ro")
	}
	for _, f := range []struct{ src, dst string }{
		{o.ResolvConfPath, "/etc/resolv.conf"},
		{o.HostnamePath, "/etc/hostname"},
		{o.HostsPath, "/etc/hosts"},
	} {
		if f.src != "" {
			generated = append(generated, specs.Mount{Destination: f.dst, Type: "bind", Source: f.src, Options: etcOpts})
		}
	}
	if o.InitPath != "" {
		generated = append(generated, specs.Mount{Destination: InitTarget, Type: "bind", Source: o.InitPath, Options: []string{"bind", "ro", "nosuid", "nodev"}})
	}

	user := slices.Clone(o.Mounts)
	for dst, opts := range hc.Tmpfs {
		m, err := tmpfsMount(dst, opts)
		if err != nil {
			return err
		}
		user = append(user, m)
	}
	seen := map[string]bool{}
	for _, m := range user {
		if seen[path.Clean(m.Destination)] {
			return invalid("Duplicate mount point: %s", m.Destination)
		}
		seen[path.Clean(m.Destination)] = true
	}
	drop := func(d specs.Mount) bool { return seen[d.Destination] }
	ms = slices.DeleteFunc(ms, drop)
	all := append(slices.DeleteFunc(generated, drop), user...)
	slices.SortStableFunc(all, func(a, b specs.Mount) int {
		return strings.Count(path.Clean(a.Destination), "/") - strings.Count(path.Clean(b.Destination), "/")
	})
	s.Mounts = append(append(ms, all...), o.ExtraMounts...)
	s.Linux.RootfsPropagation = rootfsPropagation(s.Mounts)
	return nil
}

// rootfsPropagation is what the root must be for the mounts'
// propagation to work, as docker sets it: shared when a mount shares
// events both ways (the container's mounts must reach the host), slave
// when one receives them; "" (the runtime's default) otherwise.
func rootfsPropagation(ms []specs.Mount) string {
	prop := ""
	for _, m := range ms {
		for _, o := range m.Options {
			switch o {
			case "shared", "rshared":
				return "rshared"
			case "slave", "rslave":
				prop = "rslave"
			}
		}
	}
	return prop
}

// tmpfsMount converts a --tmpfs DST:OPTS entry; docker's defaults are
// noexec,nosuid,nodev unless the options say otherwise.
func tmpfsMount(dst, opts string) (specs.Mount, error) {
	if !path.IsAbs(dst) || path.Clean(dst) == "/" {
		return specs.Mount{}, invalid("invalid tmpfs mount point %q: it needs to be an absolute path and not /", dst)
	}
	out := []string{"noexec", "nosuid", "nodev"}
	override := map[string]string{"exec": "noexec", "noexec": "exec", "suid": "nosuid", "nosuid": "suid", "dev": "nodev", "nodev": "dev"}
	if opts != "" {
		for _, o := range strings.Split(opts, ",") {
			if o == "" {
				continue
			}
			if opp, ok := override[o]; ok {
				out = slices.DeleteFunc(out, func(x string) bool { return x == opp || x == o })
			}
			out = append(out, o)
		}
	}
	return specs.Mount{Destination: path.Clean(dst), Type: "tmpfs", Source: "tmpfs", Options: out}, nil
}

// namespacedSysctls are the sysctls a container may set (docker's list).
var namespacedSysctls = map[string]bool{
	"kernel.msgmax": true, "kernel.msgmnb": true, "kernel.msgmni": true,
	"kernel.sem": true, "kernel.shmall": true, "kernel.shmmax": true,
	"kernel.shmmni": true, "kernel.shm_rmid_forced": true,
}

func sysctls(s *specs.Spec, hc *ctypes.HostConfig) error {
	for k, v := range hc.Sysctls {
		switch {
		case namespacedSysctls[k] || strings.HasPrefix(k, "fs.mqueue."):
			if hc.IpcMode.IsHost() {
				return invalid("sysctl %q is not allowed when sharing the host's IPC namespace", k)
			}
		case strings.HasPrefix(k, "net."):
			if hc.NetworkMode.IsHost() {
				return invalid("sysctl %q is not allowed in host network mode", k)
			}
		case k == "kernel.domainname" || k == "kernel.hostname":
			if hc.UTSMode.IsHost() {
				return invalid("sysctl %q is not allowed in host UTS mode", k)
			}
		default:
			return invalid("sysctl %q is not allowed: it is not namespaced", k)
		}
		if s.Linux.Sysctl == nil {
			s.Linux.Sysctl = map[string]string{}
		}
		s.Linux.Sysctl[k] = v
	}
	return nil
}

// security applies --security-opt and the default seccomp profile.
func security(s *specs.Spec, hc *ctypes.HostConfig) error {
	seccomp := ""
	for _, opt := range hc.SecurityOpt {
		k, v, hasValue := strings.Cut(opt, "=")
		if !hasValue {
			k, v, hasValue = strings.Cut(opt, ":")
		}
		switch k {
		case "no-new-privileges":
			b := true
			if hasValue {
				switch v {
				case "true":
				case "false":
					b = false
				default:
					return invalid("invalid --security-opt %q: no-new-privileges takes true or false", opt)
				}
			}
			s.Process.NoNewPrivileges = b
		case "seccomp":
			if v == "" {
				return invalid("invalid --security-opt %q: seccomp needs a profile or unconfined", opt)
			}
			seccomp = v
		case "apparmor":
			// No AppArmor on hako hosts: accept "unconfined" silently.
			if v != "unconfined" {
				return invalid("invalid --security-opt %q: AppArmor is not supported", opt)
			}
		case "label":
			if v != "disable" && v != "" {
				return invalid("invalid --security-opt %q: SELinux labels are not supported", opt)
			}
		case "systempaths":
			if v != "unconfined" {
				return invalid("invalid --security-opt %q", opt)
			}
			s.Linux.MaskedPaths, s.Linux.ReadonlyPaths = nil, nil
		default:
			return invalid("invalid --security-opt: %q", opt)
		}
	}
	switch {
	case seccomp == "unconfined":
	case seccomp != "" && seccomp != "builtin":
		// The docker CLI sends the profile's content; a path also works.
		content := []byte(seccomp)
		if !strings.HasPrefix(strings.TrimSpace(seccomp), "{") {
			b, err := os.ReadFile(seccomp)
			if err != nil {
				return invalid("opening seccomp profile (%s) failed: %v", seccomp, err)
			}
			content = b
		}
		p, err := mobyseccomp.LoadProfile(string(content), s)
		if err != nil {
			return invalid("loading seccomp profile: %v", err)
		}
		s.Linux.Seccomp = p
	case hc.Privileged:
		// docker runs privileged containers without seccomp.
	default:
		p, err := DefaultSeccomp(s)
		if err != nil {
			return err
		}
		s.Linux.Seccomp = p
	}
	return nil
}
