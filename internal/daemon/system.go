package daemon

import (
	"bufio"
	"context"
	"fmt"
	"os"
	goruntime "runtime"
	"strings"
	"time"

	"github.com/hako-dev/hako/internal/daemon/container"
	"github.com/moby/moby/api/types/system"
	"golang.org/x/sys/unix"
)

// Info describes the engine and its host, as GET /info and `hako info`
// show them.
func (d *Daemon) Info(ctx context.Context) (*system.Info, error) {
	var uts unix.Utsname
	unix.Uname(&uts)
	var si unix.Sysinfo_t
	unix.Sysinfo(&si)
	host, _ := os.Hostname()
	cgVersion := "1"
	var st unix.Statfs_t
	if unix.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		cgVersion = "2"
	}
	osName, osVersion := osRelease()
	info := &system.Info{
		ID:                 d.id,
		Driver:             d.driver,
		LoggingDriver:      "json-file",
		CgroupDriver:       "cgroupfs",
		CgroupVersion:      cgVersion,
		KernelVersion:      unix.ByteSliceToString(uts.Release[:]),
		OperatingSystem:    osName,
		OSVersion:          osVersion,
		OSType:             "linux",
		Architecture:       unix.ByteSliceToString(uts.Machine[:]),
		IndexServerAddress: "https://index.docker.io/v1/",
		NCPU:               goruntime.NumCPU(),
		MemTotal:           int64(si.Totalram) * int64(si.Unit),
		DockerRootDir:      d.cfg.Root,
		Name:               host,
		ServerVersion:      d.cfg.Version,
		MemoryLimit:        true,
		SwapLimit:          true,
		CPUCfsPeriod:       true,
		CPUCfsQuota:        true,
		CPUShares:          true,
		CPUSet:             true,
		PidsLimit:          true,
		OomKillDisable:     cgVersion == "1",
		IPv4Forwarding:     readTrimmed("/proc/sys/net/ipv4/ip_forward") == "1",
		NGoroutines:        goruntime.NumGoroutine(),
		SystemTime:         time.Now().Format(time.RFC3339Nano),
		DefaultRuntime:     RuntimeName,
		Runtimes:           map[string]system.RuntimeWithStatus{RuntimeName: {Runtime: system.Runtime{Path: "hako-runtime"}}},
		LiveRestoreEnabled: true,
		SecurityOptions:    []string{"name=seccomp,profile=builtin"},
	}
	if imgs, err := d.images.List(); err == nil {
		info.Images = len(imgs)
	}
	info.DriverStatus = [][2]string{{"Backing Filesystem", backingFS(d.cfg.Root)}, {"Supports d_type", "true"}}
	info.Swarm.LocalNodeState = "inactive"
	info.Plugins.Volume = []string{"local"}
	info.Plugins.Network = []string{"bridge", "host", "null"}
	info.Plugins.Log = []string{"json-file", "none"}
	for _, c := range d.containers.List() {
		c.Lock()
		st := c.State.Status
		c.Unlock()
		info.Containers++
		switch st {
		case container.StatusRunning, container.StatusRestarting:
			info.ContainersRunning++
		case container.StatusPaused:
			info.ContainersPaused++
		default:
			info.ContainersStopped++
		}
	}
	if cgVersion == "2" {
		info.SecurityOptions = append(info.SecurityOptions, "name=cgroupns")
	}
	if d.remap != nil {
		info.SecurityOptions = append(info.SecurityOptions, "name=userns")
	}
	if ents, err := os.ReadDir("/proc/self/fd"); err == nil {
		info.NFd = len(ents)
	}
	return info, nil
}

// Version describes the engine's build; the API layer adds its versions.
func (d *Daemon) Version(ctx context.Context) *system.VersionResponse {
	var uts unix.Utsname
	unix.Uname(&uts)
	return &system.VersionResponse{
		Platform:      system.PlatformInfo{Name: "hako"},
		Version:       d.cfg.Version,
		Os:            goruntime.GOOS,
		Arch:          goruntime.GOARCH,
		GoVersion:     goruntime.Version(),
		KernelVersion: unix.ByteSliceToString(uts.Release[:]),
		Components: []system.ComponentVersion{
			{Name: "Engine", Version: d.cfg.Version, Details: map[string]string{"GoVersion": goruntime.Version(), "Os": goruntime.GOOS, "Arch": goruntime.GOARCH}},
			{Name: "hako-runtime", Version: d.cfg.Version},
		},
	}
}

// osRelease returns PRETTY_NAME and VERSION_ID from /etc/os-release.
func osRelease() (name, version string) {
	f, err := os.Open("/etc/os-release")
	if err != nil {
		return "Linux", ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			continue
		}
		v = strings.Trim(v, `"'`)
		switch k {
		case "PRETTY_NAME":
			name = v
		case "VERSION_ID":
			version = v
		}
	}
	if name == "" {
		name = "Linux"
	}
	return name, version
}

func readTrimmed(p string) string {
	b, _ := os.ReadFile(p)
	return strings.TrimSpace(string(b))
}

// backingFS names the filesystem under dir as docker does ("extfs",
// "xfs", "tmpfs", ...).
func backingFS(dir string) string {
	var st unix.Statfs_t
	if unix.Statfs(dir, &st) != nil {
		return "unknown"
	}
	switch st.Type {
	case unix.EXT4_SUPER_MAGIC:
		return "extfs"
	case unix.XFS_SUPER_MAGIC:
		return "xfs"
	case unix.BTRFS_SUPER_MAGIC:
		return "btrfs"
	case unix.TMPFS_MAGIC:
		return "tmpfs"
	case unix.OVERLAYFS_SUPER_MAGIC:
		return "overlayfs"
	}
	return fmt.Sprintf("0x%x", st.Type)
}
