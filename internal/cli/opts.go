package cli

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/docker/go-units"
	"github.com/moby/moby/api/types/blkiodev"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/spf13/pflag"
)

// containerOptions are the flags run and create share, as docker's.
// Flags that take a list validate each value as it is given, so a bad
// value is reported as docker reports it: invalid argument "x" for
// "-e, --env" flag: ...
type containerOptions struct {
	attach, env, envFile, labels, labelFile, volumes, tmpfs, publish, expose []string
	dns, dnsSearch, dnsOptions, extraHosts, capAdd, capDrop, groupAdd        []string
	securityOpt, storageOpt, logOpts, sysctls, devices, deviceCgroupRules    []string
	links, aliases, volumesFrom, annotations                                 []string
	mounts                                                                   []mount.Mount
	ulimits                                                                  map[string]*container.Ulimit
	networks                                                                 []networkAttachment
	weightDevices                                                            []*blkiodev.WeightDevice
	readBps, writeBps, readIOps, writeIOps                                   []*blkiodev.ThrottleDevice

	stdin, tty, autoRemove, quiet, readOnly, privileged, publishAll, init, oomKillDisable, noHealthcheck bool

	name, entrypoint, workdir, user, hostname, domainname, macAddress, ipv4, ipv6     string
	restart, pid, ipc, uts, userns, cgroupns, cgroupParent, stopSignal, logDriver     string
	cidfile, platform, pull, runtime, volumeDriver, healthCmd, cpusetCpus, cpusetMems string

	stopTimeout, oomScoreAdj, healthRetries                          int
	cpuShares, cpuPeriod, cpuQuota, cpuRtPeriod, cpuRtRuntime, swapp int64
	pidsLimit                                                        int64
	blkioWeight                                                      uint16
	memory, memoryReservation, memorySwap, shmSize, kernelMemory     int64
	cpus                                                             int64 // NanoCPUs

	healthInterval, healthTimeout, healthStartPeriod, healthStartInterval time.Duration
}

// networkAttachment is one --network value: a name, or docker's long
// form name=NAME,alias=A,ip=...,ip6=...,mac-address=...,driver-opt=K=V.
type networkAttachment struct {
	name       string
	aliases    []string
	ipv4, ipv6 netip.Addr
	mac        string
	driverOpts map[string]string
	gwPriority int
}

// deprecationWarnings tells on stderr (stdout is the container's) about
// flags that are accepted but no longer do anything.
func deprecationWarnings(f *pflag.FlagSet, stderr io.Writer) {
	if f.Changed("kernel-memory") {
		fmt.Fprintln(stderr, "Flag --kernel-memory has been deprecated, and no longer supported by the kernel")
	}
}

// containerConfig is what a create request carries.
type containerConfig struct {
	Config     *container.Config
	HostConfig *container.HostConfig
	Networking *network.NetworkingConfig
}

// addContainerFlags registers the flags run and create share. Parsing
// stops at the image name (docker run busybox ls -l passes -l to ls), and
// -h is --hostname, not help.
func addContainerFlags(f *pflag.FlagSet) *containerOptions {
	o := &containerOptions{ulimits: map[string]*container.Ulimit{}}
	f.SetInterspersed(false)
	f.Bool("help", false, "print usage")

	list := func(p *[]string, name, short, usage string, check func(string) (string, error)) {
		f.VarP(&listValue{p: p, check: check}, name, short, usage)
	}
	list(&o.attach, "attach", "a", "attach to STDIN, STDOUT or STDERR", validateAttach)
	list(&o.env, "env", "e", "set environment variables (KEY=VALUE, or KEY to pass the CLI's value)", validateEnv)
	list(&o.envFile, "env-file", "", "read in a file of environment variables", nil)
	list(&o.labels, "label", "l", "set metadata on a container", validateLabel)
	list(&o.labelFile, "label-file", "", "read in a line delimited file of labels", nil)
	list(&o.volumes, "volume", "v", "bind mount a volume ([SRC:]DST[:OPTS])", nil)
	list(&o.tmpfs, "tmpfs", "", "mount a tmpfs directory (PATH[:OPTS])", nil)
	list(&o.publish, "publish", "p", "publish a container's port(s) to the host ([IP:][HOST_PORT:]CONTAINER_PORT[/PROTO])", nil)
	list(&o.expose, "expose", "", "expose a port or a range of ports", nil)
	list(&o.dns, "dns", "", "set custom DNS servers", validateIP)
	list(&o.dnsSearch, "dns-search", "", "set custom DNS search domains", nil)
	list(&o.dnsOptions, "dns-option", "", "set DNS options", nil)
	list(&o.dnsOptions, "dns-opt", "", "set DNS options", nil)
	f.MarkHidden("dns-opt")
	list(&o.extraHosts, "add-host", "", "add a custom host-to-IP mapping (HOST:IP)", validateExtraHost)
	list(&o.capAdd, "cap-add", "", "add Linux capabilities", nil)
	list(&o.capDrop, "cap-drop", "", "drop Linux capabilities", nil)
	list(&o.groupAdd, "group-add", "", "add additional groups to join", nil)
	list(&o.securityOpt, "security-opt", "", "security options (seccomp=FILE|unconfined, apparmor=..., no-new-privileges, ...)", nil)
	list(&o.storageOpt, "storage-opt", "", "storage driver options for the container", nil)
	list(&o.logOpts, "log-opt", "", "log driver options", nil)
	list(&o.sysctls, "sysctl", "", "sysctl options", validateSysctl)
	list(&o.devices, "device", "", "add a host device to the container (SRC[:DST][:PERMS])", validateDevice)
	list(&o.deviceCgroupRules, "device-cgroup-rule", "", "add a rule to the cgroup allowed devices list", validateDeviceCgroupRule)
	list(&o.links, "link", "", "add link to another container", validateLink)
	list(&o.aliases, "network-alias", "", "add network-scoped alias for the container", nil)
	list(&o.aliases, "net-alias", "", "add network-scoped alias for the container", nil)
	f.MarkHidden("net-alias")
	list(&o.volumesFrom, "volumes-from", "", "mount volumes from the specified container(s)", nil)
	list(&o.annotations, "annotation", "", "add an annotation to the container (passed through to the OCI runtime)", nil)
	f.Var(&mountValue{&o.mounts}, "mount", "attach a filesystem mount to the container")
	f.Var(&ulimitValue{o.ulimits}, "ulimit", "ulimit options (NAME=SOFT[:HARD])")
	f.Var(&networkValue{&o.networks}, "network", "connect a container to a network")
	f.Var(&networkValue{&o.networks}, "net", "connect a container to a network")
	f.MarkHidden("net")
	f.Var(&weightDeviceValue{&o.weightDevices}, "blkio-weight-device", "block IO weight (relative device weight)")
	f.Var(&throttleValue{p: &o.readBps, bytes: true}, "device-read-bps", "limit read rate (bytes per second) from a device")
	f.Var(&throttleValue{p: &o.writeBps, bytes: true}, "device-write-bps", "limit write rate (bytes per second) to a device")
	f.Var(&throttleValue{p: &o.readIOps}, "device-read-iops", "limit read rate (IO per second) from a device")
	f.Var(&throttleValue{p: &o.writeIOps}, "device-write-iops", "limit write rate (IO per second) to a device")

	f.BoolVarP(&o.stdin, "interactive", "i", false, "keep STDIN open even if not attached")
	f.BoolVarP(&o.tty, "tty", "t", false, "allocate a pseudo-TTY")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "suppress the pull output")
	f.BoolVar(&o.autoRemove, "rm", false, "automatically remove the container when it exits")
	f.BoolVar(&o.readOnly, "read-only", false, "mount the container's root filesystem as read only")
	f.BoolVar(&o.privileged, "privileged", false, "give extended privileges to this container")
	f.BoolVarP(&o.publishAll, "publish-all", "P", false, "publish all exposed ports to random ports")
	f.BoolVar(&o.init, "init", false, "run an init inside the container that forwards signals and reaps processes")
	f.BoolVar(&o.oomKillDisable, "oom-kill-disable", false, "disable OOM Killer")
	f.BoolVar(&o.noHealthcheck, "no-healthcheck", false, "disable any container-specified HEALTHCHECK")

	f.StringVar(&o.name, "name", "", "assign a name to the container")
	f.StringVar(&o.entrypoint, "entrypoint", "", "overwrite the default ENTRYPOINT of the image")
	f.StringVarP(&o.workdir, "workdir", "w", "", "working directory inside the container")
	f.StringVarP(&o.user, "user", "u", "", "username or UID (format: <name|uid>[:<group|gid>])")
	f.StringVarP(&o.hostname, "hostname", "h", "", "container host name")
	f.StringVar(&o.domainname, "domainname", "", "container NIS domain name")
	f.StringVar(&o.macAddress, "mac-address", "", "container MAC address (e.g., 92:d0:c6:0a:29:33)")
	f.StringVar(&o.ipv4, "ip", "", "IPv4 address (e.g., 172.30.100.104)")
	f.StringVar(&o.ipv6, "ip6", "", "IPv6 address (e.g., 2001:db8::33)")
	f.StringVar(&o.restart, "restart", "no", "restart policy to apply when a container exits (no, on-failure[:N], always, unless-stopped)")
	f.StringVar(&o.pid, "pid", "", "PID namespace to use (host, container:NAME)")
	f.StringVar(&o.ipc, "ipc", "", "IPC mode to use (private, shareable, host, none, container:NAME)")
	f.StringVar(&o.uts, "uts", "", "UTS namespace to use (host)")
	f.StringVar(&o.userns, "userns", "", "user namespace to use (host)")
	f.StringVar(&o.cgroupns, "cgroupns", "", "cgroup namespace to use (host|private)")
	f.StringVar(&o.cgroupParent, "cgroup-parent", "", "optional parent cgroup for the container")
	f.StringVar(&o.stopSignal, "stop-signal", "", "signal to stop the container")
	f.StringVar(&o.logDriver, "log-driver", "", "logging driver for the container")
	f.StringVar(&o.cidfile, "cidfile", "", "write the container ID to the file")
	f.StringVar(&o.platform, "platform", os.Getenv("DOCKER_DEFAULT_PLATFORM"), "set platform if server is multi-platform capable")
	f.StringVar(&o.pull, "pull", "missing", `pull image before running ("always", "missing", "never")`)
	f.StringVar(&o.runtime, "runtime", "", "runtime to use for this container")
	f.StringVar(&o.volumeDriver, "volume-driver", "", "optional volume driver for the container")
	f.StringVar(&o.healthCmd, "health-cmd", "", "command to run to check health")
	f.StringVar(&o.cpusetCpus, "cpuset-cpus", "", "CPUs in which to allow execution (0-3, 0,1)")
	f.StringVar(&o.cpusetMems, "cpuset-mems", "", "MEMs in which to allow execution (0-3, 0,1)")

	f.IntVar(&o.stopTimeout, "stop-timeout", 0, "timeout (in seconds) to stop a container")
	f.IntVar(&o.oomScoreAdj, "oom-score-adj", 0, "tune host's OOM preferences (-1000 to 1000)")
	f.IntVar(&o.healthRetries, "health-retries", 0, "consecutive failures needed to report unhealthy")
	f.Int64VarP(&o.cpuShares, "cpu-shares", "c", 0, "CPU shares (relative weight)")
	f.Int64Var(&o.cpuPeriod, "cpu-period", 0, "limit CPU CFS (Completely Fair Scheduler) period")
	f.Int64Var(&o.cpuQuota, "cpu-quota", 0, "limit CPU CFS (Completely Fair Scheduler) quota")
	f.Int64Var(&o.cpuRtPeriod, "cpu-rt-period", 0, "limit CPU real-time period in microseconds")
	f.Int64Var(&o.cpuRtRuntime, "cpu-rt-runtime", 0, "limit CPU real-time runtime in microseconds")
	f.Int64Var(&o.swapp, "memory-swappiness", -1, "tune container memory swappiness (0 to 100)")
	f.Int64Var(&o.pidsLimit, "pids-limit", 0, "tune container pids limit (set -1 for unlimited)")
	f.Uint16Var(&o.blkioWeight, "blkio-weight", 0, "block IO (relative weight), between 10 and 1000, or 0 to disable")
	f.VarP(&bytesValue{p: &o.memory}, "memory", "m", "memory limit")
	f.Var(&bytesValue{p: &o.memoryReservation}, "memory-reservation", "memory soft limit")
	f.Var(&bytesValue{p: &o.memorySwap, minusOne: true}, "memory-swap", "swap limit equal to memory plus swap: '-1' to enable unlimited swap")
	f.Var(&bytesValue{p: &o.shmSize}, "shm-size", "size of /dev/shm")
	f.Var(&bytesValue{p: &o.kernelMemory}, "kernel-memory", "kernel memory limit (deprecated)")
	f.MarkHidden("kernel-memory") // accepted and ignored; see deprecationWarnings
	f.Var(&cpusValue{&o.cpus}, "cpus", "number of CPUs")

	f.DurationVar(&o.healthInterval, "health-interval", 0, "time between running the check (ms|s|m|h)")
	f.DurationVar(&o.healthTimeout, "health-timeout", 0, "maximum time to allow one check to run (ms|s|m|h)")
	f.DurationVar(&o.healthStartPeriod, "health-start-period", 0, "start period for the container to initialize before starting health-retries countdown (ms|s|m|h)")
	f.DurationVar(&o.healthStartInterval, "health-start-interval", 0, "time between running the check during the start period (ms|s|m|h)")
	return o
}

// parse turns the flags, the image and its arguments into a create
// request, with docker's validation and messages.
func (o *containerOptions) parse(f *pflag.FlagSet, image string, args []string) (*containerConfig, error) {
	if err := validatePull(o.pull); err != nil {
		return nil, err
	}
	if o.macAddress != "" {
		if _, err := net.ParseMAC(strings.TrimSpace(o.macAddress)); err != nil {
			return nil, fmt.Errorf("%s is not a valid mac address", o.macAddress)
		}
	}
	if o.swapp != -1 && (o.swapp < 0 || o.swapp > 100) {
		return nil, fmt.Errorf("invalid value: %d. Valid memory swappiness range is 0-100", o.swapp)
	}

	attach := map[string]bool{}
	for _, a := range o.attach {
		attach[strings.ToLower(a)] = true
	}
	if len(o.attach) == 0 {
		attach["stdout"], attach["stderr"] = true, true
	}
	if o.stdin {
		attach["stdin"] = true
	}

	cfg := &container.Config{
		Image:        image,
		Hostname:     o.hostname,
		Domainname:   o.domainname,
		User:         o.user,
		Tty:          o.tty,
		OpenStdin:    o.stdin,
		AttachStdin:  attach["stdin"],
		AttachStdout: attach["stdout"],
		AttachStderr: attach["stderr"],
		WorkingDir:   o.workdir,
		StopSignal:   o.stopSignal,
	}
	// Stdin of an attached, interactive container closes when the client
	// that started it detaches, as docker's.
	cfg.StdinOnce = cfg.OpenStdin && cfg.AttachStdin
	if len(args) > 0 {
		cfg.Cmd = args
	}
	if o.entrypoint != "" {
		cfg.Entrypoint = []string{o.entrypoint}
	} else if f.Changed("entrypoint") {
		cfg.Entrypoint = []string{""} // --entrypoint= clears the image's
	}
	if f.Changed("stop-timeout") {
		cfg.StopTimeout = &o.stopTimeout
	}

	var err error
	if cfg.Env, err = readKVFiles(o.envFile, os.LookupEnv); err != nil {
		return nil, fmt.Errorf("--env-file: %w", err)
	}
	cfg.Env = append(cfg.Env, o.env...)
	labels, err := readKVFiles(o.labelFile, nil)
	if err != nil {
		return nil, fmt.Errorf("--label-file: %w", err)
	}
	cfg.Labels = kvMap(append(labels, o.labels...))

	hc := &container.HostConfig{
		ContainerIDFile: o.cidfile,
		AutoRemove:      o.autoRemove,
		ReadonlyRootfs:  o.readOnly,
		Privileged:      o.privileged,
		PublishAllPorts: o.publishAll,
		CapAdd:          o.capAdd,
		CapDrop:         o.capDrop,
		GroupAdd:        o.groupAdd,
		DNSSearch:       orEmpty(o.dnsSearch),
		DNSOptions:      orEmpty(o.dnsOptions),
		DNS:             []netip.Addr{},
		ExtraHosts:      o.extraHosts,
		Links:           o.links,
		VolumesFrom:     o.volumesFrom,
		OomScoreAdj:     o.oomScoreAdj,
		PidMode:         container.PidMode(o.pid),
		IpcMode:         container.IpcMode(o.ipc),
		UTSMode:         container.UTSMode(o.uts),
		UsernsMode:      container.UsernsMode(o.userns),
		CgroupnsMode:    container.CgroupnsMode(o.cgroupns),
		ShmSize:         o.shmSize,
		Runtime:         o.runtime,
		VolumeDriver:    o.volumeDriver,
		Mounts:          o.mounts,
		NetworkMode:     container.NetworkMode("default"),
		LogConfig:       container.LogConfig{Type: o.logDriver, Config: kvMap(o.logOpts)},
	}
	for _, d := range o.dns {
		hc.DNS = append(hc.DNS, netip.MustParseAddr(d)) // validated by the flag
	}
	if len(o.networks) > 0 {
		hc.NetworkMode = container.NetworkMode(o.networks[0].name)
	}
	if !hc.PidMode.Valid() {
		return nil, errors.New("--pid: invalid PID mode")
	}
	if !hc.IpcMode.Valid() {
		return nil, errors.New("--ipc: invalid IPC mode")
	}
	if !hc.UTSMode.Valid() {
		return nil, errors.New("--uts: invalid UTS mode")
	}
	if !hc.UsernsMode.Valid() {
		return nil, errors.New("--userns: invalid USER mode")
	}
	if !hc.CgroupnsMode.Valid() {
		return nil, errors.New("--cgroupns: invalid CGROUP mode")
	}
	if o.logDriver == "none" && len(o.logOpts) > 0 {
		return nil, fmt.Errorf("invalid logging opts for driver %s", o.logDriver)
	}
	if hc.RestartPolicy, err = parseRestartPolicy(o.restart); err != nil {
		return nil, err
	}
	if o.autoRemove && !hc.RestartPolicy.IsNone() {
		return nil, errors.New("conflicting options: cannot specify both --restart and --rm")
	}
	if f.Changed("init") {
		hc.Init = &o.init
	}
	if hc.SecurityOpt, err = parseSecurityOpts(o.securityOpt); err != nil {
		return nil, err
	}
	hc.SecurityOpt, hc.MaskedPaths, hc.ReadonlyPaths = systemPaths(hc.SecurityOpt)
	if len(o.storageOpt) > 0 {
		hc.StorageOpt = map[string]string{}
		for _, s := range o.storageOpt {
			k, v, ok := strings.Cut(s, "=")
			if !ok {
				return nil, errors.New("invalid storage option")
			}
			hc.StorageOpt[k] = v
		}
	}
	if len(o.sysctls) > 0 {
		hc.Sysctls = kvMap(o.sysctls)
	}
	if len(o.annotations) > 0 {
		hc.Annotations = kvMap(o.annotations)
	}
	if len(o.tmpfs) > 0 {
		hc.Tmpfs = map[string]string{}
		for _, t := range o.tmpfs {
			k, v, _ := strings.Cut(t, ":")
			hc.Tmpfs[k] = v
		}
	}

	// -v: a source makes a bind (or a named volume); a lone path is an
	// anonymous volume in Config.Volumes.
	for _, v := range o.volumes {
		bind, anon, err := parseVolume(v)
		if err != nil {
			return nil, err
		}
		if anon != "" {
			if cfg.Volumes == nil {
				cfg.Volumes = map[string]struct{}{}
			}
			cfg.Volumes[anon] = struct{}{}
			continue
		}
		hc.Binds = append(hc.Binds, bind)
	}

	if cfg.ExposedPorts, hc.PortBindings, err = parsePorts(o.publish, o.expose); err != nil {
		return nil, err
	}

	if cfg.Healthcheck, err = o.healthcheck(); err != nil {
		return nil, err
	}

	r := &hc.Resources
	r.CgroupParent = o.cgroupParent
	r.Memory, r.MemoryReservation, r.MemorySwap = o.memory, o.memoryReservation, o.memorySwap
	r.NanoCPUs, r.CPUShares, r.CPUPeriod, r.CPUQuota = o.cpus, o.cpuShares, o.cpuPeriod, o.cpuQuota
	r.CPURealtimePeriod, r.CPURealtimeRuntime = o.cpuRtPeriod, o.cpuRtRuntime
	r.CpusetCpus, r.CpusetMems = o.cpusetCpus, o.cpusetMems
	r.BlkioWeight, r.BlkioWeightDevice = o.blkioWeight, o.weightDevices
	r.BlkioDeviceReadBps, r.BlkioDeviceWriteBps = o.readBps, o.writeBps
	r.BlkioDeviceReadIOps, r.BlkioDeviceWriteIOps = o.readIOps, o.writeIOps
	r.DeviceCgroupRules = o.deviceCgroupRules
	if f.Changed("memory-swappiness") {
		r.MemorySwappiness = &o.swapp
	}
	if f.Changed("oom-kill-disable") {
		r.OomKillDisable = &o.oomKillDisable
	}
	if f.Changed("pids-limit") {
		r.PidsLimit = &o.pidsLimit
	}
	for _, name := range slices.Sorted(maps.Keys(o.ulimits)) {
		r.Ulimits = append(r.Ulimits, o.ulimits[name])
	}
	for _, d := range o.devices {
		r.Devices = append(r.Devices, parseDevice(d))
	}

	nc, err := o.endpoints()
	if err != nil {
		return nil, err
	}
	return &containerConfig{Config: cfg, HostConfig: hc, Networking: nc}, nil
}

func (o *containerOptions) healthcheck() (*container.HealthConfig, error) {
	set := o.healthCmd != "" || o.healthInterval != 0 || o.healthTimeout != 0 || o.healthStartPeriod != 0 || o.healthStartInterval != 0 || o.healthRetries != 0
	if o.noHealthcheck {
		if set {
			return nil, errors.New("--no-healthcheck conflicts with --health-* options")
		}
		return &container.HealthConfig{Test: []string{"NONE"}}, nil
	}
	if !set {
		return nil, nil
	}
	for _, d := range []struct {
		name string
		v    int64
	}{{"interval", int64(o.healthInterval)}, {"timeout", int64(o.healthTimeout)}, {"start-period", int64(o.healthStartPeriod)}, {"start-interval", int64(o.healthStartInterval)}, {"retries", int64(o.healthRetries)}} {
		if d.v < 0 {
			return nil, fmt.Errorf("--health-%s cannot be negative", d.name)
		}
	}
	h := &container.HealthConfig{Interval: o.healthInterval, Timeout: o.healthTimeout, StartPeriod: o.healthStartPeriod, StartInterval: o.healthStartInterval, Retries: o.healthRetries}
	if o.healthCmd != "" {
		h.Test = []string{"CMD-SHELL", o.healthCmd}
	}
	return h, nil
}

// endpoints builds the NetworkingConfig: the first network carries
// --network-alias, --ip, --ip6 and --mac-address, as docker's.
func (o *containerOptions) endpoints() (*network.NetworkingConfig, error) {
	nets := o.networks
	if len(nets) == 0 {
		nets = []networkAttachment{{name: "default"}}
	}
	eps := map[string]*network.EndpointSettings{}
	userDefined, builtin := false, false
	for i, n := range nets {
		if isUserDefinedNetwork(n.name) {
			userDefined = true
		} else {
			builtin = true
		}
		if i == 0 {
			if len(o.aliases) > 0 {
				if len(n.aliases) > 0 {
					return nil, errors.New("conflicting options: cannot specify both --network-alias and per-network alias")
				}
				n.aliases = o.aliases
			}
			if o.ipv4 != "" || o.ipv6 != "" {
				for _, a := range []struct {
					flag, v string
					to      *netip.Addr
				}{{"--ip", o.ipv4, &n.ipv4}, {"--ip6", o.ipv6, &n.ipv6}} {
					if a.v == "" {
						continue
					}
					if a.to.IsValid() {
						return nil, fmt.Errorf("conflicting options: cannot specify both %s and per-network address", a.flag)
					}
					ip, err := netip.ParseAddr(a.v)
					if err != nil {
						return nil, fmt.Errorf("invalid argument %q for %q flag: invalid IP address", a.v, a.flag)
					}
					*a.to = ip
				}
			}
			if o.macAddress != "" {
				if n.mac != "" {
					return nil, errors.New("conflicting options: cannot specify both --mac-address and per-network MAC address")
				}
				n.mac = o.macAddress
			}
		}
		if _, dup := eps[n.name]; dup {
			return nil, fmt.Errorf("network %q is specified multiple times", n.name)
		}
		if !isUserDefinedNetwork(n.name) && len(n.aliases) > 0 {
			return nil, errors.New("network-scoped aliases are only supported for user-defined networks")
		}
		ep := &network.EndpointSettings{Aliases: n.aliases, DriverOpts: n.driverOpts, GwPriority: n.gwPriority}
		if n.ipv4.IsValid() || n.ipv6.IsValid() {
			ep.IPAMConfig = &network.EndpointIPAMConfig{IPv4Address: n.ipv4, IPv6Address: n.ipv6}
		}
		if n.mac != "" {
			hw, err := net.ParseMAC(strings.TrimSpace(n.mac))
			if err != nil {
				return nil, fmt.Errorf("%s is not a valid mac address", n.mac)
			}
			ep.MacAddress = network.HardwareAddr(hw)
		}
		// A single plain --network NAME needs no endpoint settings.
		if len(o.networks) == 1 && i == 0 && ep.IPAMConfig == nil && ep.MacAddress == nil && len(ep.Aliases) == 0 && len(ep.DriverOpts) == 0 && ep.GwPriority == 0 {
			continue
		}
		eps[n.name] = ep
	}
	if userDefined && builtin {
		return nil, errors.New("conflicting options: cannot attach both user-defined and non-user-defined network-modes")
	}
	return &network.NetworkingConfig{EndpointsConfig: eps}, nil
}

func isUserDefinedNetwork(n string) bool {
	m := container.NetworkMode(n)
	return !m.IsDefault() && n != "bridge" && n != "host" && n != "none" && !m.IsContainer()
}

func validatePull(v string) error {
	switch v {
	case "always", "missing", "never", "":
		return nil
	}
	return fmt.Errorf(`invalid pull option: '%s': must be one of "always", "missing" or "never"`, v)
}

// parseRestartPolicy reads no, always, unless-stopped, on-failure[:N].
func parseRestartPolicy(s string) (container.RestartPolicy, error) {
	if s == "" {
		return container.RestartPolicy{}, nil
	}
	name, count, ok := strings.Cut(s, ":")
	if ok && name == "" {
		return container.RestartPolicy{}, errors.New("invalid restart policy format: no policy provided before colon")
	}
	p := container.RestartPolicy{Name: container.RestartPolicyMode(name)}
	if count != "" {
		n, err := strconv.Atoi(count)
		if err != nil {
			return container.RestartPolicy{}, errors.New("invalid restart policy format: maximum retry count must be an integer")
		}
		p.MaximumRetryCount = n
	}
	return p, container.ValidateRestartPolicy(p)
}

// parseSecurityOpts checks KEY=VALUE (or KEY:VALUE) options; a seccomp
// profile that is a file is read here and sent as its JSON content.
func parseSecurityOpts(in []string) ([]string, error) {
	out := make([]string, 0, len(in))
	for _, opt := range in {
		k, v, ok := strings.Cut(opt, "=")
		if !ok && k != "no-new-privileges" {
			k, v, ok = strings.Cut(opt, ":")
		}
		if (!ok || v == "") && k != "no-new-privileges" {
			return nil, fmt.Errorf("invalid --security-opt: %q", opt)
		}
		if k == "seccomp" && v != "unconfined" && v != "builtin" {
			data, err := os.ReadFile(v)
			if err != nil {
				return nil, fmt.Errorf("opening seccomp profile (%s) failed: %w", v, err)
			}
			var b bytes.Buffer
			if err := json.Compact(&b, data); err != nil {
				return nil, fmt.Errorf("compacting json for seccomp profile (%s) failed: %w", v, err)
			}
			opt = "seccomp=" + b.String()
		}
		out = append(out, opt)
	}
	return out, nil
}

// systemPaths handles systempaths=unconfined client-side, as docker: it
// empties the masked and read-only path lists and is not sent on.
func systemPaths(opts []string) (rest, masked, readonly []string) {
	for _, o := range opts {
		if o == "systempaths=unconfined" {
			masked, readonly = []string{}, []string{}
			continue
		}
		rest = append(rest, o)
	}
	return rest, masked, readonly
}

// parseVolume reads -v [SRC:]DST[:OPTS]: a bind or named volume ("SRC:DST
// [:OPTS]", a relative ./src made absolute), or an anonymous volume (DST).
func parseVolume(v string) (bind, anon string, err error) {
	parts := strings.Split(v, ":")
	bad := fmt.Errorf("invalid volume specification: '%s'", v)
	switch {
	case v == "" || len(parts) > 3 || slices.Contains(parts[:min(2, len(parts))], ""):
		return "", "", bad
	case len(parts) == 1:
		if !filepath.IsAbs(parts[0]) {
			return "", "", fmt.Errorf("invalid volume specification: '%s': invalid mount config for type \"volume\": invalid mount path: '%s' mount path must be absolute", v, parts[0])
		}
		return "", parts[0], nil
	}
	if !filepath.IsAbs(parts[1]) {
		return "", "", fmt.Errorf("invalid volume specification: '%s': invalid mount config for type \"bind\": invalid mount path: '%s' mount path must be absolute", v, parts[1])
	}
	if strings.HasPrefix(parts[0], ".") {
		if abs, err := filepath.Abs(parts[0]); err == nil {
			parts[0] = abs
		}
	}
	return strings.Join(parts, ":"), "", nil
}

// parsePorts reads -p ([IP:][HOST:]CONTAINER[/PROTO], ranges allowed, or
// the long form published=,target=,protocol=) and --expose (PORT[-END]
// [/PROTO]).
func parsePorts(publish, expose []string) (network.PortSet, network.PortMap, error) {
	exposed, bindings := network.PortSet{}, network.PortMap{}
	for _, spec := range publish {
		if strings.Contains(spec, "=") {
			params := map[string]string{"protocol": "tcp"}
			for _, kv := range strings.Split(spec, ",") {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return nil, nil, fmt.Errorf("invalid publish opts format (should be name=value but got '%s')", kv)
				}
				params[k] = v
			}
			spec = params["published"] + ":" + params["target"] + "/" + params["protocol"]
		}
		if err := parsePortSpec(spec, exposed, bindings); err != nil {
			return nil, nil, err
		}
	}
	for _, e := range expose {
		pr, err := network.ParsePortRange(e)
		if err != nil {
			return nil, nil, fmt.Errorf("invalid range format for --expose: %w", err)
		}
		for p := range pr.All() {
			exposed[p] = struct{}{}
		}
	}
	return exposed, bindings, nil
}

func parsePortSpec(spec string, exposed network.PortSet, bindings network.PortMap) error {
	rest, proto, _ := strings.Cut(spec, "/")
	if proto == "" {
		proto = "tcp"
	}
	switch proto {
	case "tcp", "udp", "sctp":
	default:
		return fmt.Errorf("invalid proto: %s", proto)
	}
	var ip, host, ctr string
	if strings.HasPrefix(rest, "[") {
		// [IPv6]:HOST:CONTAINER
		end := strings.Index(rest, "]")
		after := ""
		if end > 0 {
			ip, after = rest[1:end], rest[end+1:]
		}
		h, c, ok := strings.Cut(strings.TrimPrefix(after, ":"), ":")
		if end < 0 || !strings.HasPrefix(after, ":") || !ok {
			return fmt.Errorf("invalid IP address: %s", rest)
		}
		host, ctr = h, c
	} else {
		parts := strings.Split(rest, ":")
		n := len(parts)
		ctr = parts[n-1]
		if n >= 2 {
			host = parts[n-2]
		}
		if n >= 3 {
			ip = strings.Join(parts[:n-2], ":")
		}
	}
	var hostIP netip.Addr
	if ip != "" {
		a, err := netip.ParseAddr(strings.Trim(ip, "[]"))
		if err != nil {
			return fmt.Errorf("invalid IP address: %s", ip)
		}
		hostIP = a
	}
	if ctr == "" {
		return fmt.Errorf("no port specified: %s<empty>", spec)
	}
	cStart, cEnd, err := parseRange(ctr)
	if err != nil {
		return fmt.Errorf("invalid containerPort: %s", ctr)
	}
	var hStart, hEnd uint16
	if host != "" {
		if hStart, hEnd, err = parseRange(host); err != nil {
			return fmt.Errorf("invalid hostPort: %s", host)
		}
	}
	if host != "" && cEnd != cStart && hEnd-hStart != cEnd-cStart {
		return fmt.Errorf("invalid ranges specified for container and host Ports: %s and %s", ctr, host)
	}
	for i := 0; i <= int(cEnd-cStart); i++ {
		p, _ := network.PortFrom(cStart+uint16(i), network.IPProtocol(proto))
		exposed[p] = struct{}{}
		hp := ""
		switch {
		case host == "":
		case cEnd == cStart && hEnd != hStart:
			hp = host // any port of the host range
		default:
			hp = strconv.Itoa(int(hStart) + i)
		}
		bindings[p] = append(bindings[p], network.PortBinding{HostIP: hostIP, HostPort: hp})
	}
	return nil
}

func parseRange(s string) (start, end uint16, err error) {
	a, b, isRange := strings.Cut(s, "-")
	x, err := strconv.ParseUint(a, 10, 16)
	if err != nil {
		return 0, 0, err
	}
	y := x
	if isRange {
		if y, err = strconv.ParseUint(b, 10, 16); err != nil {
			return 0, 0, err
		}
		if y < x {
			return 0, 0, errors.New("invalid range")
		}
	}
	return uint16(x), uint16(y), nil
}

// parseDevice reads SRC[:DST][:PERMS] (validated by the flag).
func parseDevice(d string) container.DeviceMapping {
	m := container.DeviceMapping{CgroupPermissions: "rwm"}
	parts := strings.Split(d, ":")
	m.PathOnHost = parts[0]
	switch len(parts) {
	case 3:
		m.PathInContainer, m.CgroupPermissions = parts[1], parts[2]
	case 2:
		if validDeviceMode(parts[1]) {
			m.CgroupPermissions = parts[1]
		} else {
			m.PathInContainer = parts[1]
		}
	}
	if m.PathInContainer == "" {
		m.PathInContainer = m.PathOnHost
	}
	return m
}

func validDeviceMode(mode string) bool {
	if mode == "" || len(mode) > 3 {
		return false
	}
	seen := map[rune]bool{}
	for _, c := range mode {
		if !strings.ContainsRune("rwm", c) || seen[c] {
			return false
		}
		seen[c] = true
	}
	return true
}

// readKVFiles reads docker's KEY=VALUE files (--env-file, --label-file):
// blank lines and # comments skipped; a bare KEY takes lookup's value (and
// is dropped when it has none).
func readKVFiles(files []string, lookup func(string) (string, bool)) ([]string, error) {
	var out []string
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(bytes.NewReader(bytes.TrimPrefix(data, []byte("\xEF\xBB\xBF"))))
		for n := 1; sc.Scan(); n++ {
			if !utf8.Valid(sc.Bytes()) {
				return nil, fmt.Errorf("invalid env file (%s): invalid utf8 bytes at line %d: %v", name, n, sc.Bytes())
			}
			line := strings.TrimLeftFunc(sc.Text(), unicode.IsSpace)
			if line == "" || line[0] == '#' {
				continue
			}
			k, _, hasValue := strings.Cut(line, "=")
			switch {
			case k == "":
				return nil, fmt.Errorf("invalid env file (%s): no variable name on line '%s'", name, line)
			case strings.ContainsAny(k, " \t"):
				return nil, fmt.Errorf("invalid env file (%s): variable '%s' contains whitespaces", name, k)
			case hasValue:
				out = append(out, line)
			case lookup != nil:
				if v, ok := lookup(k); ok {
					out = append(out, k+"="+v)
				}
			}
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("invalid env file (%s): %w", name, err)
		}
	}
	return out, nil
}

func kvMap(kvs []string) map[string]string {
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Validators of single flag values.

func validateAttach(v string) (string, error) {
	switch s := strings.ToLower(v); s {
	case "stdin", "stdout", "stderr":
		return s, nil
	}
	return v, errors.New("valid streams are STDIN, STDOUT and STDERR")
}

func validateEnv(v string) (string, error) {
	k, _, hasValue := strings.Cut(v, "=")
	if k == "" {
		return "", errors.New("invalid environment variable: " + v)
	}
	if !hasValue {
		if ev, ok := os.LookupEnv(k); ok {
			return k + "=" + ev, nil
		}
	}
	return v, nil
}

func validateLabel(v string) (string, error) {
	k, _, _ := strings.Cut(v, "=")
	if k == "" {
		return "", fmt.Errorf("invalid label '%s': empty name", v)
	}
	if strings.ContainsAny(k, " \t\n") {
		return "", fmt.Errorf("label '%s' contains whitespaces", k)
	}
	return v, nil
}

func validateIP(v string) (string, error) {
	a, err := netip.ParseAddr(strings.TrimSpace(v))
	if err != nil {
		return "", fmt.Errorf("IP address is not correctly formatted: %s", v)
	}
	return a.String(), nil
}

// validateExtraHost accepts HOST:IP and HOST=IP (IPv6 possibly in
// brackets, or host-gateway) and sends HOST:IP, which the daemon reads.
func validateExtraHost(v string) (string, error) {
	k, ip, ok := strings.Cut(v, "=")
	if !ok {
		k, ip, ok = strings.Cut(v, ":")
	}
	if !ok || k == "" || strings.Contains(k, ":") {
		return "", fmt.Errorf("bad format for add-host: %q", v)
	}
	if ip != "host-gateway" {
		if len(ip) > 2 && ip[0] == '[' && ip[len(ip)-1] == ']' {
			ip = ip[1 : len(ip)-1]
		}
		if _, err := netip.ParseAddr(ip); err != nil {
			return "", fmt.Errorf("invalid IP address in add-host: %q", ip)
		}
	}
	return k + ":" + ip, nil
}

// validateSysctl allows the namespaced sysctls docker allows.
func validateSysctl(v string) (string, error) {
	k, _, ok := strings.Cut(v, "=")
	if ok {
		switch {
		case slices.Contains([]string{"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"}, k),
			strings.HasPrefix(k, "fs.mqueue."), strings.HasPrefix(k, "net."):
			return v, nil
		}
	}
	return "", fmt.Errorf("sysctl '%s' is not allowed", v)
}

func validateDevice(v string) (string, error) {
	parts := strings.Split(v, ":")
	if len(parts) > 3 {
		return v, fmt.Errorf("bad format for path: %s", v)
	}
	if len(parts) == 3 && !validDeviceMode(parts[2]) {
		return v, fmt.Errorf("bad mode specified: %s", parts[2])
	}
	if len(parts) >= 2 && !validDeviceMode(parts[1]) && !filepath.IsAbs(parts[1]) {
		return v, fmt.Errorf("%s is not an absolute path", parts[1])
	}
	if parts[0] == "" {
		return v, fmt.Errorf("bad format for path: %s", v)
	}
	return v, nil
}

var deviceCgroupRule = regexp.MustCompile(`^[acb] ([0-9]+|\*):([0-9]+|\*) [rwm]{1,3}$`)

func validateDeviceCgroupRule(v string) (string, error) {
	if deviceCgroupRule.MatchString(v) {
		return v, nil
	}
	return v, fmt.Errorf("invalid device cgroup format '%s'", v)
}

func validateLink(v string) (string, error) {
	name, alias, ok := strings.Cut(v, ":")
	if name == "" || (ok && (alias == "" || strings.Contains(alias, ":"))) {
		return "", errors.New("bad format for links: " + v)
	}
	return v, nil
}

// pflag values.

// listValue is a repeatable flag, each value checked (and possibly
// rewritten) as it is given.
type listValue struct {
	p     *[]string
	check func(string) (string, error)
}

func (l *listValue) Set(v string) error {
	if l.check != nil {
		var err error
		if v, err = l.check(v); err != nil {
			return err
		}
	}
	*l.p = append(*l.p, v)
	return nil
}
func (l *listValue) String() string {
	if len(*l.p) == 0 {
		return ""
	}
	return "[" + strings.Join(*l.p, " ") + "]"
}
func (l *listValue) Type() string { return "list" }

// bytesValue is a size like 512m (docker's RAM units); minusOne allows -1
// for "unlimited" (--memory-swap).
type bytesValue struct {
	p        *int64
	minusOne bool
}

func (b *bytesValue) Set(v string) error {
	if b.minusOne && v == "-1" {
		*b.p = -1
		return nil
	}
	n, err := units.RAMInBytes(v)
	if err != nil {
		return err
	}
	*b.p = n
	return nil
}

func (b *bytesValue) String() string {
	if *b.p == 0 {
		return ""
	}
	return units.BytesSize(float64(*b.p))
}
func (b *bytesValue) Type() string { return "bytes" }

// cpusValue is --cpus: a decimal number of CPUs, sent as nano-CPUs.
type cpusValue struct{ p *int64 }

func (c *cpusValue) Set(v string) error {
	r, ok := new(big.Rat).SetString(v)
	if !ok {
		return fmt.Errorf("failed to parse %v as a rational number", v)
	}
	n := r.Mul(r, big.NewRat(1e9, 1))
	if !n.IsInt() {
		return errors.New("value is too precise")
	}
	*c.p = n.Num().Int64()
	return nil
}

func (c *cpusValue) String() string {
	if *c.p == 0 {
		return ""
	}
	return big.NewRat(*c.p, 1e9).FloatString(3)
}
func (c *cpusValue) Type() string { return "decimal" }

// ulimitValue is --ulimit NAME=SOFT[:HARD]; a later value for a name
// replaces an earlier one.
type ulimitValue struct{ m map[string]*container.Ulimit }

func (u *ulimitValue) Set(v string) error {
	l, err := units.ParseUlimit(v)
	if err != nil {
		return err
	}
	u.m[l.Name] = l
	return nil
}

func (u *ulimitValue) String() string {
	if len(u.m) == 0 {
		return ""
	}
	var s []string
	for _, l := range u.m {
		s = append(s, l.String())
	}
	slices.Sort(s)
	return "[" + strings.Join(s, " ") + "]"
}
func (u *ulimitValue) Type() string { return "ulimit" }

type networkValue struct{ p *[]networkAttachment }

func (n *networkValue) Set(v string) error {
	a := networkAttachment{name: v}
	if strings.Contains(v, "=") {
		a = networkAttachment{}
		fields, err := csv.NewReader(strings.NewReader(v)).Read()
		if err != nil {
			return err
		}
		for _, field := range fields {
			k, val, ok := strings.Cut(field, "=")
			k, val = strings.TrimSpace(strings.ToLower(k)), strings.TrimSpace(val)
			if !ok || k == "" {
				return fmt.Errorf("invalid field %s", field)
			}
			switch k {
			case "name":
				a.name = val
			case "alias":
				a.aliases = append(a.aliases, val)
			case "ip", "ip6":
				ip, err := netip.ParseAddr(val)
				if err != nil {
					return err
				}
				if k == "ip" {
					a.ipv4 = ip
				} else {
					a.ipv6 = ip
				}
			case "mac-address":
				a.mac = val
			case "driver-opt":
				dk, dv, ok := strings.Cut(val, "=")
				if !ok {
					return fmt.Errorf("invalid key value pair format in driver options")
				}
				if a.driverOpts == nil {
					a.driverOpts = map[string]string{}
				}
				a.driverOpts[strings.TrimSpace(strings.ToLower(dk))] = strings.TrimSpace(dv)
			case "gw-priority":
				p, err := strconv.Atoi(val)
				if err != nil {
					return fmt.Errorf("invalid gw-priority (%s): %w", val, errors.Unwrap(err))
				}
				a.gwPriority = p
			default:
				return errors.New("invalid field key " + k)
			}
		}
		if a.name == "" {
			return errors.New("network name/id is not specified")
		}
	}
	*n.p = append(*n.p, a)
	return nil
}
func (n *networkValue) String() string { return "" }
func (n *networkValue) Type() string   { return "network" }

// mountValue is --mount type=bind|volume|tmpfs|image,source=,target=,...
type mountValue struct{ p *[]mount.Mount }

func (mv *mountValue) Set(v string) error {
	fields, err := csv.NewReader(strings.NewReader(v)).Read()
	if err != nil {
		return err
	}
	m := mount.Mount{Type: mount.TypeVolume}
	bind := func() *mount.BindOptions {
		if m.BindOptions == nil {
			m.BindOptions = &mount.BindOptions{}
		}
		return m.BindOptions
	}
	vol := func() *mount.VolumeOptions {
		if m.VolumeOptions == nil {
			m.VolumeOptions = &mount.VolumeOptions{}
		}
		return m.VolumeOptions
	}
	tmpfs := func() *mount.TmpfsOptions {
		if m.TmpfsOptions == nil {
			m.TmpfsOptions = &mount.TmpfsOptions{}
		}
		return m.TmpfsOptions
	}
	boolOf := func(k, val string) (bool, error) {
		switch strings.ToLower(val) {
		case "", "1", "true":
			return true, nil
		case "0", "false":
			return false, nil
		}
		return false, fmt.Errorf("invalid value for %s: %s", k, val)
	}
	for _, field := range fields {
		k, val, ok := strings.Cut(field, "=")
		k = strings.ToLower(strings.TrimSpace(k))
		if !ok {
			switch k {
			case "readonly", "ro", "volume-nocopy", "bind-create-src":
			default:
				return fmt.Errorf("invalid field '%s' must be a key=value pair", field)
			}
		}
		switch k {
		case "type":
			m.Type = mount.Type(strings.ToLower(val))
		case "source", "src":
			m.Source = val
		case "target", "dst", "destination":
			m.Target = val
		case "readonly", "ro":
			if m.ReadOnly, err = boolOf(k, val); err != nil {
				return err
			}
		case "consistency":
			m.Consistency = mount.Consistency(strings.ToLower(val))
		case "bind-propagation":
			bind().Propagation = mount.Propagation(strings.ToLower(val))
		case "bind-recursive":
			switch val {
			case "enabled":
			case "disabled":
				bind().NonRecursive = true
			case "writable":
				bind().ReadOnlyNonRecursive = true
			case "readonly":
				bind().ReadOnlyForceRecursive = true
			default:
				return fmt.Errorf(`invalid value for %s: %s (must be "enabled", "disabled", "writable", or "readonly")`, k, val)
			}
		case "bind-create-src":
			if bind().CreateMountpoint, err = boolOf(k, val); err != nil {
				return err
			}
		case "volume-nocopy":
			if vol().NoCopy, err = boolOf(k, val); err != nil {
				return err
			}
		case "volume-subpath":
			vol().Subpath = val
		case "volume-label":
			lk, lv, _ := strings.Cut(val, "=")
			if vol().Labels == nil {
				vol().Labels = map[string]string{}
			}
			vol().Labels[lk] = lv
		case "volume-driver":
			if vol().DriverConfig == nil {
				vol().DriverConfig = &mount.Driver{}
			}
			vol().DriverConfig.Name = val
		case "volume-opt":
			ok, ov, _ := strings.Cut(val, "=")
			if vol().DriverConfig == nil {
				vol().DriverConfig = &mount.Driver{}
			}
			if vol().DriverConfig.Options == nil {
				vol().DriverConfig.Options = map[string]string{}
			}
			vol().DriverConfig.Options[ok] = ov
		case "image-subpath":
			m.ImageOptions = &mount.ImageOptions{Subpath: val}
		case "tmpfs-size":
			n, err := units.RAMInBytes(val)
			if err != nil {
				return fmt.Errorf("invalid value for %s: %s", k, val)
			}
			tmpfs().SizeBytes = n
		case "tmpfs-mode":
			n, err := strconv.ParseUint(val, 8, 32)
			if err != nil {
				return fmt.Errorf("invalid value for %s: %s", k, val)
			}
			tmpfs().Mode = os.FileMode(n)
		default:
			return fmt.Errorf("unknown option '%s' in '%s'", k, field)
		}
	}
	if m.Type == "" {
		return errors.New("type is required")
	}
	if m.Target == "" {
		return errors.New("target is required")
	}
	if m.BindOptions != nil && m.Type != mount.TypeBind {
		return fmt.Errorf("cannot mix 'bind-*' options with mount type '%s'", m.Type)
	}
	if m.VolumeOptions != nil && m.Type != mount.TypeVolume {
		return fmt.Errorf("cannot mix 'volume-*' options with mount type '%s'", m.Type)
	}
	if m.TmpfsOptions != nil && m.Type != mount.TypeTmpfs {
		return fmt.Errorf("cannot mix 'tmpfs-*' options with mount type '%s'", m.Type)
	}
	*mv.p = append(*mv.p, m)
	return nil
}
func (mv *mountValue) String() string { return "" }
func (mv *mountValue) Type() string   { return "mount" }

// weightDeviceValue is --blkio-weight-device PATH:WEIGHT (10 to 1000).
type weightDeviceValue struct{ p *[]*blkiodev.WeightDevice }

func (w *weightDeviceValue) Set(v string) error {
	path, ws, ok := strings.Cut(v, ":")
	if !ok || !strings.HasPrefix(path, "/dev/") {
		return fmt.Errorf("bad format: %s", v)
	}
	n, err := strconv.ParseUint(ws, 10, 16)
	if err != nil || (n > 0 && (n < 10 || n > 1000)) {
		return fmt.Errorf("invalid weight for device: %s", v)
	}
	*w.p = append(*w.p, &blkiodev.WeightDevice{Path: path, Weight: uint16(n)})
	return nil
}
func (w *weightDeviceValue) String() string { return "" }
func (w *weightDeviceValue) Type() string   { return "list" }

// throttleValue is --device-{read,write}-{bps,iops} PATH:RATE; bps rates
// take size units (1mb).
type throttleValue struct {
	p     *[]*blkiodev.ThrottleDevice
	bytes bool
}

func (t *throttleValue) Set(v string) error {
	path, rs, ok := strings.Cut(v, ":")
	if !ok {
		return fmt.Errorf("bad format: %s", v)
	}
	if !strings.HasPrefix(path, "/dev/") {
		return fmt.Errorf("bad format for device path: %s", v)
	}
	var rate uint64
	if t.bytes {
		n, err := units.RAMInBytes(rs)
		if err != nil || n < 0 {
			return fmt.Errorf("invalid rate for device: %s. The correct format is <device-path>:<number>[<unit>]. Number must be a positive integer. Unit is optional and can be kb, mb, or gb", v)
		}
		rate = uint64(n)
	} else {
		n, err := strconv.ParseUint(rs, 10, 64)
		if err != nil {
			return fmt.Errorf("invalid rate for device: %s. The correct format is <device-path>:<number>. Number must be a positive integer", v)
		}
		rate = n
	}
	*t.p = append(*t.p, &blkiodev.ThrottleDevice{Path: path, Rate: rate})
	return nil
}
func (t *throttleValue) String() string { return "" }
func (t *throttleValue) Type() string   { return "list" }
