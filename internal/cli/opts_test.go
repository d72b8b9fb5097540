package cli

import (
	"encoding/json"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/blkiodev"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/spf13/pflag"
)

// parseRunArgs parses run's flags and arguments as the command does.
func parseRunArgs(args ...string) (*containerConfig, error) {
	fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	o := addContainerFlags(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	rest := fs.Args()
	if len(rest) == 0 {
		rest = []string{"busybox"}
	}
	return o.parse(fs, rest[0], rest[1:])
}

func mustPort(s string) network.Port { return network.MustParsePort(s) }

func pointerTo[T any](v T) *T { return &v }

func TestParseRunFlags(t *testing.T) {
	t.Setenv("HAKO_TEST_FROM_ENV", "from-cli")
	dir := t.TempDir()
	envFile := filepath.Join(dir, "env")
	os.WriteFile(envFile, []byte("\xEF\xBB\xBF# comment\n\nA=1\n  B=two words\nHAKO_TEST_FROM_ENV\nHAKO_TEST_UNSET_VAR\n"), 0o644)
	labelFile := filepath.Join(dir, "labels")
	os.WriteFile(labelFile, []byte("x=1\ny=2\n"), 0o644)
	seccomp := filepath.Join(dir, "seccomp.json")
	os.WriteFile(seccomp, []byte("{\n  \"defaultAction\": \"SCMP_ACT_ALLOW\"\n}\n"), 0o644)

	for _, tc := range []struct {
		name  string
		args  []string
		check func(t *testing.T, cc *containerConfig)
	}{
		{"defaults", []string{"busybox"}, func(t *testing.T, cc *containerConfig) {
			c, h := cc.Config, cc.HostConfig
			wantEq(t, c.Image, "busybox")
			wantEq(t, c.Cmd, []string(nil))
			wantEq(t, c.AttachStdin, false)
			wantEq(t, c.AttachStdout && c.AttachStderr, true)
			wantEq(t, h.NetworkMode, container.NetworkMode("default"))
			wantEq(t, h.RestartPolicy, container.RestartPolicy{Name: "no"})
			wantEq(t, h.Init, (*bool)(nil))
			wantEq(t, h.PidsLimit, (*int64)(nil))
			wantEq(t, h.MemorySwappiness, (*int64)(nil))
			wantEq(t, c.StopTimeout, (*int)(nil))
			wantEq(t, c.Entrypoint, []string(nil))
			if _, ok := cc.Networking.EndpointsConfig["default"]; !ok {
				t.Errorf("no default endpoint: %v", cc.Networking.EndpointsConfig)
			}
		}},
		{"command after the image is not parsed", []string{"busybox", "ls", "-l", "--rm"}, func(t *testing.T, cc *containerConfig) {
			wantEq(t, cc.Config.Cmd, []string{"ls", "-l", "--rm"})
			wantEq(t, cc.HostConfig.AutoRemove, false)
		}},
		{"interactive tty", []string{"-it", "--rm", "--name", "x", "busybox", "sh"}, func(t *testing.T, cc *containerConfig) {
			c := cc.Config
			wantEq(t, c.Tty && c.OpenStdin && c.AttachStdin && c.StdinOnce, true)
			wantEq(t, cc.HostConfig.AutoRemove, true)
		}},
		{"attach streams", []string{"-a", "stdout", "-a", "STDIN"}, func(t *testing.T, cc *containerConfig) {
			c := cc.Config
			wantEq(t, []bool{c.AttachStdin, c.AttachStdout, c.AttachStderr}, []bool{true, true, false})
		}},
		{"env", []string{"--env-file", envFile, "-e", "C=3", "-e", "HAKO_TEST_FROM_ENV", "-e", "HAKO_TEST_UNSET_VAR", "--env=D="}, func(t *testing.T, cc *containerConfig) {
			wantEq(t, cc.Config.Env, []string{"A=1", "B=two words", "HAKO_TEST_FROM_ENV=from-cli", "C=3", "HAKO_TEST_FROM_ENV=from-cli", "HAKO_TEST_UNSET_VAR", "D="})
		}},
		{"labels", []string{"--label-file", labelFile, "-l", "y=3", "--label", "z"}, func(t *testing.T, cc *containerConfig) {
			wantEq(t, cc.Config.Labels, map[string]string{"x": "1", "y": "3", "z": ""})
		}},
		{"process", []string{"-w", "/tmp", "-u", "1000:1000", "-h", "box", "--domainname", "example.org", "--stop-signal", "SIGUSR1", "--stop-timeout", "0"}, func(t *testing.T, cc *containerConfig) {
			c := cc.Config
			wantEq(t, []string{c.WorkingDir, c.User, c.Hostname, c.Domainname, c.StopSignal}, []string{"/tmp", "1000:1000", "box", "example.org", "SIGUSR1"})
			wantEq(t, c.StopTimeout, pointerTo(0))
		}},
		{"entrypoint", []string{"--entrypoint", "/bin/echo", "busybox", "hi"}, func(t *testing.T, cc *containerConfig) {
			wantEq(t, cc.Config.Entrypoint, []string{"/bin/echo"})
			wantEq(t, cc.Config.Cmd, []string{"hi"})
		}},
		{"empty entrypoint clears", []string{"--entrypoint="}, func(t *testing.T, cc *containerConfig) {
			wantEq(t, cc.Config.Entrypoint, []string{""})
		}},
		{"security", []string{"--read-only", "--privileged", "--cap-add", "NET_ADMIN", "--cap-drop", "ALL", "--security-opt", "seccomp=" + seccomp, "--security-opt", "no-new-privileges", "--security-opt", "apparmor:unconfined", "--security-opt", "systempaths=unconfined"}, func(t *testing.T, cc *containerConfig) {
			h := cc.HostConfig
			wantEq(t, h.ReadonlyRootfs && h.Privileged, true)
			wantEq(t, h.CapAdd, []string{"NET_ADMIN"})
			wantEq(t, h.CapDrop, []string{"ALL"})
			wantEq(t, h.SecurityOpt, []string{`seccomp={"defaultAction":"SCMP_ACT_ALLOW"}`, "no-new-privileges", "apparmor:unconfined"})
			wantEq(t, h.MaskedPaths, []string{})
			wantEq(t, h.ReadonlyPaths, []string{})
		}},
		{"seccomp unconfined is sent as is", []string{"--security-opt", "seccomp=unconfined"}, func(t *testing.T, cc *containerConfig) {
			wantEq(t, cc.HostConfig.SecurityOpt, []string{"seccomp=unconfined"})
			wantEq(t, cc.HostConfig.MaskedPaths, []string(nil))
		}},
		{"ulimits", []string{"--ulimit", "nofile=1024:2048", "--ulimit", "nproc=10", "--ulimit", "nofile=512:1024"}, func(t *testing.T, cc *containerConfig) {
			wantEq(t, cc.HostConfig.Ulimits, []*container.Ulimit{{Name: "nofile", Soft: 512, Hard: 1024}, {Name: "nproc", Soft: 10, Hard: 10}})
		}},
		{"init and restart", []string{"--init", "--restart", "on-failure:3"}, func(t *testing.T, cc *containerConfig) {
			wantEq(t, cc.HostConfig.Init, pointerTo(true))
			wantEq(t, cc.HostConfig.RestartPolicy, container.RestartPolicy{Name: "on-failure", MaximumRetryCount: 3})
		}},
		{"restart unless-stopped", []string{"--restart=unless-stopped", "--init=false"}, func(t *testing.T, cc *containerConfig) {
			wantEq(t, cc.HostConfig.RestartPolicy.Name, container.RestartPolicyUnlessStopped)
			wantEq(t, cc.HostConfig.Init, pointerTo(false))
		}},
		{"namespaces", []string{"--pid", "host", "--ipc", "container:db", "--uts", "host", "--userns", "host", "--cgroupns", "private"}, func(t *testing.T, cc *containerConfig) {
			h := cc.HostConfig
			wantEq(t, []string{string(h.PidMode), string(h.IpcMode), string(h.UTSMode), string(h.UsernsMode), string(h.CgroupnsMode)}, []string{"host", "container:db", "host", "host", "private"})
		}},
		{"pid of a container", []string{"--pid=container:web"}, func(t *testing.T, cc *containerConfig) {
			wantEq(t, cc.HostConfig.PidMode.Container(), "web")
		}},
		{"tmpfs", []string{"--tmpfs", "/run", "--tmpfs", "/tmp:rw,size=64m"}, func(t *testing.T, cc *containerConfig) {
			wantEq(t, cc.HostConfig.Tmpfs, map[string]string{"/run": "", "/tmp": "rw,size=64m"})
		}},
		{"volumes", []string{"-v", "/data", "-v", "/host:/ctr:ro", "-v", "named:/vol", "-v", "./rel:/rel"}, func(t *testing.T, cc *containerConfig) {
			wd, _ := os.Getwd()
			wantEq(t, cc.Config.Volumes, map[string]struct{}{"/data": {}})
			wantEq(t, cc.HostConfig.Binds, []string{"/host:/ctr:ro", "named:/vol", filepath.Join(wd, "rel") + ":/rel"})
		}},
		{"mounts", []string{"--mount", "type=bind,src=/a,dst=/b,readonly,bind-propagation=rslave", "--mount", "type=tmpfs,target=/t,tmpfs-size=1m,tmpfs-mode=1770", "--mount", "source=v,target=/v,volume-nocopy,volume-label=a=b"}, func(t *testing.T, cc *containerConfig) {
			wantEq(t, cc.HostConfig.Mounts, []mount.Mount{
				{Type: "bind", Source: "/a", Target: "/b", ReadOnly: true, BindOptions: &mount.BindOptions{Propagation: "rslave"}},
				{Type: "tmpfs", Target: "/t", TmpfsOptions: &mount.TmpfsOptions{SizeBytes: 1 << 20, Mode: 0o1770}},
				{Type: "volume", Source: "v", Target: "/v", VolumeOptions: &mount.VolumeOptions{NoCopy: true, Labels: map[string]string{"a": "b"}}},
			})
		}},
		{"ports", []string{"-p", "8080:80", "-p", "127.0.0.1:53:53/udp", "-p", "[::1]:2222:22", "-p", "9000-9001:7000-7001", "-p", "443", "-p", "8000-8010:81", "--expose", "5000-5001", "--expose", "6000/udp", "-P"}, func(t *testing.T, cc *containerConfig) {
			wantEq(t, cc.HostConfig.PublishAllPorts, true)
			wantEq(t, cc.Config.ExposedPorts, network.PortSet{mustPort("80/tcp"): {}, mustPort("53/udp"): {}, mustPort("22/tcp"): {}, mustPort("7000/tcp"): {}, mustPort("7001/tcp"): {}, mustPort("443/tcp"): {}, mustPort("81/tcp"): {}, mustPort("5000/tcp"): {}, mustPort("5001/tcp"): {}, mustPort("6000/udp"): {}})
			wantEq(t, cc.HostConfig.PortBindings, network.PortMap{
				mustPort("80/tcp"):   {{HostPort: "8080"}},
				mustPort("53/udp"):   {{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: "53"}},
				mustPort("22/tcp"):   {{HostIP: netip.MustParseAddr("::1"), HostPort: "2222"}},
				mustPort("7000/tcp"): {{HostPort: "9000"}},
				mustPort("7001/tcp"): {{HostPort: "9001"}},
				mustPort("443/tcp"):  {{HostPort: ""}},
				mustPort("81/tcp"):   {{HostPort: "8000-8010"}},
			})
		}},
		{"publish long form", []string{"-p", "published=8080,target=80,protocol=udp"}, func(t *testing.T, cc *containerConfig) {
			wantEq(t, cc.HostConfig.PortBindings, network.PortMap{mustPort("80/udp"): {{HostPort: "8080"}}})
		}},
		{"network", []string{"--network", "mynet", "--network-alias", "web", "--ip", "10.0.0.5", "--mac-address", "92:d0:c6:0a:29:33"}, func(t *testing.T, cc *containerConfig) {
			wantEq(t, cc.HostConfig.NetworkMode, container.NetworkMode("mynet"))
			ep := cc.Networking.EndpointsConfig["mynet"]
			if ep == nil {
				t.Fatalf("endpoints %v", cc.Networking.EndpointsConfig)
			}
			wantEq(t, ep.Aliases, []string{"web"})
			wantEq(t, ep.IPAMConfig.IPv4Address, netip.MustParseAddr("10.0.0.5"))
			wantEq(t, ep.MacAddress.String(), "92:d0:c6:0a:29:33")
		}},
		{"plain network has no endpoint settings", []string{"--net=host"}, func(t *testing.T, cc *containerConfig) {
			wantEq(t, cc.HostConfig.NetworkMode, container.NetworkMode("host"))
			wantEq(t, len(cc.Networking.EndpointsConfig), 0)
		}},
		{"network long form", []string{"--network", "name=a,alias=x,driver-opt=k=v", "--network", "b"}, func(t *testing.T, cc *containerConfig) {
			wantEq(t, cc.Networking.EndpointsConfig["a"].Aliases, []string{"x"})
			wantEq(t, cc.Networking.EndpointsConfig["a"].DriverOpts, map[string]string{"k": "v"})
			if cc.Networking.EndpointsConfig["b"] == nil {
				t.Error("no endpoint for b")
			}
		}},
		{"dns and hosts", []string{"--dns", "1.1.1.1", "--dns", "::1", "--dns-search", "example.org", "--dns-option", "ndots:2", "--add-host", "db:10.0.0.2", "--add-host", "v6=[::2]", "--add-host", "gw:host-gateway"}, func(t *testing.T, cc *containerConfig) {
			h := cc.HostConfig
			wantEq(t, h.DNS, []netip.Addr{netip.MustParseAddr("1.1.1.1"), netip.MustParseAddr("::1")})
			wantEq(t, h.DNSSearch, []string{"example.org"})
			wantEq(t, h.DNSOptions, []string{"ndots:2"})
			wantEq(t, h.ExtraHosts, []string{"db:10.0.0.2", "v6:::2", "gw:host-gateway"})
		}},
		{"logging and storage", []string{"--log-driver", "json-file", "--log-opt", "max-size=10m", "--storage-opt", "size=1G", "--sysctl", "net.ipv4.ip_forward=1", "--sysctl", "kernel.shmmax=1000"}, func(t *testing.T, cc *containerConfig) {
			h := cc.HostConfig
			wantEq(t, h.LogConfig, container.LogConfig{Type: "json-file", Config: map[string]string{"max-size": "10m"}})
			wantEq(t, h.StorageOpt, map[string]string{"size": "1G"})
			wantEq(t, h.Sysctls, map[string]string{"net.ipv4.ip_forward": "1", "kernel.shmmax": "1000"})
		}},
		{"devices", []string{"--device", "/dev/fuse", "--device", "/dev/sda:/dev/xvda:r", "--device", "/dev/null:rw", "--device-cgroup-rule", "c 1:3 mr", "--group-add", "audio", "--oom-score-adj", "-500", "--shm-size", "128m"}, func(t *testing.T, cc *containerConfig) {
			h := cc.HostConfig
			wantEq(t, h.Devices, []container.DeviceMapping{{PathOnHost: "/dev/fuse", PathInContainer: "/dev/fuse", CgroupPermissions: "rwm"}, {PathOnHost: "/dev/sda", PathInContainer: "/dev/xvda", CgroupPermissions: "r"}, {PathOnHost: "/dev/null", PathInContainer: "/dev/null", CgroupPermissions: "rw"}})
			wantEq(t, h.DeviceCgroupRules, []string{"c 1:3 mr"})
			wantEq(t, h.GroupAdd, []string{"audio"})
			wantEq(t, h.OomScoreAdj, -500)
			wantEq(t, h.ShmSize, int64(128<<20))
		}},
		{"limits", []string{"-c", "512", "--cpus", "1.5", "--cpu-period", "100000", "--cpu-quota", "50000", "--cpuset-cpus", "0-1", "--cpuset-mems", "0", "-m", "256m", "--memory-swap", "-1", "--memory-reservation", "128m", "--memory-swappiness", "10", "--oom-kill-disable", "--pids-limit", "100", "--blkio-weight", "300", "--device-read-bps", "/dev/sda:1mb", "--device-write-iops", "/dev/sda:100", "--blkio-weight-device", "/dev/sda:200"}, func(t *testing.T, cc *containerConfig) {
			r := cc.HostConfig.Resources
			wantEq(t, []int64{r.CPUShares, r.NanoCPUs, r.CPUPeriod, r.CPUQuota, r.Memory, r.MemorySwap, r.MemoryReservation}, []int64{512, 1_500_000_000, 100000, 50000, 256 << 20, -1, 128 << 20})
			wantEq(t, []string{r.CpusetCpus, r.CpusetMems}, []string{"0-1", "0"})
			wantEq(t, r.MemorySwappiness, pointerTo(int64(10)))
			wantEq(t, r.OomKillDisable, pointerTo(true))
			wantEq(t, r.PidsLimit, pointerTo(int64(100)))
			wantEq(t, r.BlkioWeight, uint16(300))
			wantEq(t, r.BlkioDeviceReadBps, []*blkiodev.ThrottleDevice{{Path: "/dev/sda", Rate: 1 << 20}})
			wantEq(t, r.BlkioDeviceWriteIOps, []*blkiodev.ThrottleDevice{{Path: "/dev/sda", Rate: 100}})
			wantEq(t, r.BlkioWeightDevice, []*blkiodev.WeightDevice{{Path: "/dev/sda", Weight: 200}})
		}},
		{"kernel memory is accepted and ignored", []string{"--kernel-memory", "10m"}, func(t *testing.T, cc *containerConfig) {
			wantEq(t, cc.HostConfig.Memory, int64(0))
		}},
		{"healthcheck", []string{"--health-cmd", "curl -f localhost", "--health-interval", "5s", "--health-timeout", "2s", "--health-retries", "3", "--health-start-period", "1m", "--health-start-interval", "1s"}, func(t *testing.T, cc *containerConfig) {
			wantEq(t, cc.Config.Healthcheck, &container.HealthConfig{Test: []string{"CMD-SHELL", "curl -f localhost"}, Interval: 5 * time.Second, Timeout: 2 * time.Second, Retries: 3, StartPeriod: time.Minute, StartInterval: time.Second})
		}},
		{"no healthcheck", []string{"--no-healthcheck"}, func(t *testing.T, cc *containerConfig) {
			wantEq(t, cc.Config.Healthcheck, &container.HealthConfig{Test: []string{"NONE"}})
		}},
		{"cidfile and annotations", []string{"--cidfile", "/tmp/x.cid", "--annotation", "a=b", "--runtime", "hako"}, func(t *testing.T, cc *containerConfig) {
			wantEq(t, cc.HostConfig.ContainerIDFile, "/tmp/x.cid")
			wantEq(t, cc.HostConfig.Annotations, map[string]string{"a": "b"})
			wantEq(t, cc.HostConfig.Runtime, "hako")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cc, err := parseRunArgs(tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, cc)
			// Whatever the flags, the request encodes.
			if _, err := json.Marshal(container.CreateRequest{Config: cc.Config, HostConfig: cc.HostConfig, NetworkingConfig: cc.Networking}); err != nil {
				t.Errorf("encode: %v", err)
			}
		})
	}
}

func TestParseRunErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-m", "1x"}, `invalid argument "1x" for "-m, --memory" flag: invalid suffix: 'x'`},
		{[]string{"--memory-swap", "lots"}, `invalid argument "lots" for "--memory-swap" flag: invalid size: 'lots'`},
		{[]string{"--cpus", "one"}, `failed to parse one as a rational number`},
		{[]string{"--cpus", "0.0000000001"}, `value is too precise`},
		{[]string{"--restart", "sometimes"}, `invalid restart policy: unknown policy 'sometimes'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'`},
		{[]string{"--restart", "always:3"}, `invalid restart policy: maximum retry count can only be used with 'on-failure'`},
		{[]string{"--restart", "on-failure:x"}, `invalid restart policy format: maximum retry count must be an integer`},
		{[]string{"--restart", ":1"}, `invalid restart policy format: no policy provided before colon`},
		{[]string{"--rm", "--restart", "always"}, `conflicting options: cannot specify both --restart and --rm`},
		{[]string{"-p", "80:x"}, `invalid containerPort: x`},
		{[]string{"-p", "x:80"}, `invalid hostPort: x`},
		{[]string{"-p", "80/icmp"}, `invalid proto: icmp`},
		{[]string{"-p", "1.2.3:80:80"}, `invalid IP address: 1.2.3`},
		{[]string{"-p", "8000-8001:80-82"}, `invalid ranges specified for container and host Ports: 80-82 and 8000-8001`},
		{[]string{"-p", "8080:"}, `no port specified: 8080:<empty>`},
		{[]string{"--expose", "x"}, `invalid range format for --expose`},
		{[]string{"--ulimit", "nofile=2048:1024"}, `ulimit soft limit must be less than or equal to hard limit: 2048 > 1024`},
		{[]string{"--ulimit", "bogus=1"}, `invalid ulimit type: bogus`},
		{[]string{"--ulimit", "nofile"}, `invalid ulimit argument: nofile`},
		{[]string{"-e", "=x"}, `invalid environment variable: =x`},
		{[]string{"--env-file", "/nonexistent/env"}, `--env-file: open /nonexistent/env`},
		{[]string{"-l", "=x"}, `invalid label '=x': empty name`},
		{[]string{"--dns", "dns.example"}, `IP address is not correctly formatted: dns.example`},
		{[]string{"--add-host", "nohost"}, `bad format for add-host: "nohost"`},
		{[]string{"--add-host", "h:999.1.1.1"}, `invalid IP address in add-host: "999.1.1.1"`},
		{[]string{"--sysctl", "kernel.hostname=x"}, `sysctl 'kernel.hostname=x' is not allowed`},
		{[]string{"--device-cgroup-rule", "x 1:3 r"}, `invalid device cgroup format 'x 1:3 r'`},
		{[]string{"--device", "/dev/a:rel"}, `rel is not an absolute path`},
		{[]string{"--device-read-bps", "/dev/sda:fast"}, `invalid rate for device: /dev/sda:fast`},
		{[]string{"--mac-address", "zz"}, `zz is not a valid mac address`},
		{[]string{"--memory-swappiness", "101"}, `invalid value: 101. Valid memory swappiness range is 0-100`},
		{[]string{"--pid", "bogus"}, `--pid: invalid PID mode`},
		{[]string{"--uts", "container:x"}, `--uts: invalid UTS mode`},
		{[]string{"--cgroupns", "shared"}, `--cgroupns: invalid CGROUP mode`},
		{[]string{"--ipc", "weird"}, `--ipc: invalid IPC mode`},
		{[]string{"--security-opt", "seccomp=/nonexistent.json"}, `opening seccomp profile (/nonexistent.json) failed`},
		{[]string{"--security-opt", "label"}, `invalid --security-opt: "label"`},
		{[]string{"--pull", "sometimes"}, `invalid pull option: 'sometimes': must be one of "always", "missing" or "never"`},
		{[]string{"-a", "stdweird"}, `valid streams are STDIN, STDOUT and STDERR`},
		{[]string{"-v", "a:b:c:d"}, `invalid volume specification: 'a:b:c:d'`},
		{[]string{"-v", "/a:rel"}, `mount path must be absolute`},
		{[]string{"--mount", "type=bind,src=/a"}, `target is required`},
		{[]string{"--mount", "type=tmpfs,target=/t,volume-nocopy"}, `cannot mix 'volume-*' options with mount type 'tmpfs'`},
		{[]string{"--mount", "type=bind,target=/t,bogus=1"}, `unknown option 'bogus' in 'bogus=1'`},
		{[]string{"--no-healthcheck", "--health-cmd", "true"}, `--no-healthcheck conflicts with --health-* options`},
		{[]string{"--health-retries", "-1"}, `--health-retries cannot be negative`},
		{[]string{"--network-alias", "x"}, `network-scoped aliases are only supported for user-defined networks`},
		{[]string{"--network", "host", "--network", "mynet"}, `conflicting options: cannot attach both user-defined and non-user-defined network-modes`},
		{[]string{"--log-driver", "none", "--log-opt", "max-size=1m"}, `invalid logging opts for driver none`},
		{[]string{"--storage-opt", "size"}, `invalid storage option`},
		{[]string{"--bogus"}, `unknown flag: --bogus`},
	} {
		_, err := parseRunArgs(tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.args, err, tc.want)
		}
	}
}

func TestParseDetachKeys(t *testing.T) {
	for in, want := range map[string][]byte{"": {16, 17}, "ctrl-p,ctrl-q": {16, 17}, "ctrl-a": {1}, "a,b": {'a', 'b'}, "ctrl-@,ctrl-_": {0, 31}} {
		got, err := parseDetachKeys(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("parseDetachKeys(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"ctrl-", "ab", "ctrl-1"} {
		if _, err := parseDetachKeys(bad); err == nil || !strings.Contains(err.Error(), "invalid detach keys") {
			t.Errorf("parseDetachKeys(%q): %v", bad, err)
		}
	}
}

func wantEq[T any](t *testing.T, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		gb, _ := json.Marshal(got)
		wb, _ := json.Marshal(want)
		t.Errorf("got %s (%#v), want %s", gb, got, wb)
	}
}
