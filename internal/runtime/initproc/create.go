package initproc

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/hako-dev/hako/internal/runtime/hooks"
	"github.com/hako-dev/hako/internal/runtime/linux"
	"github.com/hako-dev/hako/internal/runtime/process"
	"github.com/hako-dev/hako/internal/runtime/rootfs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// create is the container's init: it builds the container around itself,
// reports ready, waits for start, and executes the container process.
func (c *child) create() error {
	cfg, err := c.config()
	if err != nil {
		return err
	}
	s := cfg.Spec
	if c.mntFD >= 0 {
		if err := joinMountNS(c.mntFD); err != nil {
			return err
		}
	}
	if cfg.UnshareCgroupNS {
		// Inside its cgroup (joined on receiving the config), so the
		// namespace is rooted there; before the mounts, since a cgroup2
		// mount shows the namespace's root.
		if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
			return fmt.Errorf("create cgroup namespace: %w", err)
		}
	}
	if !cfg.NoNewKeyring {
		// A keyring of its own, so the container cannot read the host's
		// session keys. Kernels or seccomp policies without keyctl: skip.
		if _, err := unix.KeyctlJoinSessionKeyring("hako-" + cfg.ID); err != nil && !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.EPERM) {
			return fmt.Errorf("create session keyring: %w", err)
		}
	}
	rc := &rootfs.Config{
		Spec:    s,
		Rootfs:  cfg.Rootfs,
		Bundle:  cfg.Bundle,
		NoPivot: cfg.NoPivot,
		UserNS:  hasNS(s, specs.UserNamespace),
		// Without a mount namespace of its own the container shares the
		// runtime's (see rootfs.Config.SharedMountNS).
		SharedMountNS: !hasNS(s, specs.MountNamespace),
		CgroupV1:      cfg.CgroupV1,
		CgroupV2:      cfg.CgroupV2,
		CgroupNS:      hasNS(s, specs.CgroupNamespace),
	}
	if err := rootfs.Prepare(rc); err != nil {
		return err
	}
	if err := makeCwd(cfg.Rootfs, s.Process.Cwd); err != nil {
		return err
	}
	if cfg.Hooks {
		if err := c.conn.Send(&process.Message{Type: process.MsgHooks}); err != nil {
			return err
		}
		if _, _, err := c.conn.Expect(process.MsgHooksDone); err != nil {
			return err
		}
	}
	if s.Hooks != nil {
		if err := hooks.Run("createContainer", s.Hooks.CreateContainer, cfg.State); err != nil {
			return err
		}
	}
	if err := dialListener(s); err != nil {
		return err
	}
	if err := rootfs.Pivot(rc); err != nil {
		return err
	}
	// Before Finish makes /proc/sys read-only.
	if err := setHostnames(s); err != nil {
		return err
	}
	if err := writeSysctls(s.Linux.Sysctl); err != nil {
		return err
	}
	if err := rootfs.Finish(rc); err != nil {
		return err
	}
	p, err := prepare(cfg, s.Process)
	if err != nil {
		return err
	}
	if err := c.ready(p); err != nil {
		return err
	}
	if err := c.waitStart(); err != nil {
		return err
	}
	if s.Hooks != nil {
		st := *cfg.State
		st.Status = specs.StateRunning
		if err := hooks.Run("startContainer", s.Hooks.StartContainer, &st); err != nil {
			return err
		}
	}
	return p.exec()
}

// waitStart blocks until the container is started: by a byte on exec.fifo
// (create; the runtime that created us has exited by then) or by a start
// message (run).
func (c *child) waitStart() error {
	if c.fifoFD < 0 {
		_, _, err := c.conn.Expect(process.MsgStart)
		return err
	}
	c.detachedErr = true
	c.conn.Close()
	var b [1]byte
	for {
		n, err := unix.Read(c.fifoFD, b[:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("wait for start: %w", err)
		}
		if n == 1 {
			return nil
		}
	}
}

func hasNS(s *specs.Spec, t specs.LinuxNamespaceType) bool {
	for _, ns := range s.Linux.Namespaces {
		if ns.Type == t {
			return true
		}
	}
	return false
}

// makeCwd creates the process's working directory in the rootfs if the
// image lacks it, as runc does.
func makeCwd(rootfsPath, cwd string) error {
	if cwd == "" || cwd == "/" {
		return nil
	}
	root, err := unix.Open(rootfsPath, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(root)
	fd, err := linux.MkdirAllInRoot(root, cwd, 0o755)
	if err != nil {
		return fmt.Errorf("process.cwd %s: %w", cwd, err)
	}
	unix.Close(fd)
	return nil
}

func setHostnames(s *specs.Spec) error {
	if s.Hostname != "" {
		if err := unix.Sethostname([]byte(s.Hostname)); err != nil {
			return fmt.Errorf("hostname %q: %w", s.Hostname, err)
		}
	}
	if s.Domainname != "" {
		if err := unix.Setdomainname([]byte(s.Domainname)); err != nil {
			return fmt.Errorf("domainname %q: %w", s.Domainname, err)
		}
	}
	return nil
}

func writeSysctls(m map[string]string) error {
	for k, v := range m {
		p := "/proc/sys/" + strings.ReplaceAll(k, ".", "/")
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC, 0)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("linux.sysctl %q: no such sysctl", k)
			}
			return fmt.Errorf("linux.sysctl %q: %w", k, err)
		}
		_, err = f.WriteString(v)
		f.Close()
		if err != nil {
			return fmt.Errorf("linux.sysctl %q=%q: %w", k, v, err)
		}
	}
	return nil
}
