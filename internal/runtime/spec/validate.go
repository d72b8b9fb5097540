package spec

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/hako-dev/hako/internal/errdefs"
	"github.com/hako-dev/hako/internal/runtime/linux"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Checker validates the parts of a configuration that belong to other
// packages (seccomp profiles), so this package stays free of them.
type Checker func(s *specs.Spec) error

// Validate checks a configuration for a container to be created from bundle.
// It checks everything that can be checked without side effects, so that a
// bad configuration fails before anything is created on the host.
func Validate(s *specs.Spec, bundle string, extra ...Checker) error {
	v := validator{s: s, bundle: bundle}
	v.version()
	v.root()
	v.process()
	v.namespaces()
	v.mounts()
	v.hooks()
	v.linux()
	for _, c := range extra {
		if v.err != nil {
			break
		}
		if err := c(s); err != nil {
			v.err = err
		}
	}
	if v.err != nil {
		if errors.Is(v.err, errdefs.ErrInvalidArgument) || errors.Is(v.err, errdefs.ErrNotFound) || errors.Is(v.err, errdefs.ErrNotImplemented) {
			return v.err
		}
		return fmt.Errorf("%w: %w", v.err, errdefs.ErrInvalidArgument)
	}
	return nil
}

type validator struct {
	s      *specs.Spec
	bundle string
	err    error // first error only
}

func (v *validator) fail(format string, args ...any) {
	if v.err == nil {
		v.err = fmt.Errorf(format, args...)
	}
}

func (v *validator) version() {
	ver := v.s.Version
	if ver == "" {
		v.fail("ociVersion: missing")
		return
	}
	major, rest, ok := strings.Cut(ver, ".")
	if !ok || major != "1" {
		v.fail("ociVersion %q: unsupported version (hako supports 1.x)", ver)
		return
	}
	minor, _, _ := strings.Cut(rest, ".")
	if _, err := strconv.Atoi(minor); err != nil {
		v.fail("ociVersion %q: not a valid version", ver)
	}
}

func (v *validator) root() {
	if v.s.Root == nil || v.s.Root.Path == "" {
		v.fail("root.path: missing")
		return
	}
	p := RootfsPath(v.s, v.bundle)
	fi, err := os.Stat(p)
	switch {
	case errors.Is(err, os.ErrNotExist):
		v.err = fmt.Errorf("root.path %q: no such directory: %w", v.s.Root.Path, errdefs.ErrNotFound)
	case err != nil:
		v.fail("root.path %q: %v", v.s.Root.Path, err)
	case !fi.IsDir():
		v.fail("root.path %q: not a directory", v.s.Root.Path)
	}
}

// RootfsPath returns the absolute rootfs path of a configuration whose
// root.path may be relative to the bundle.
func RootfsPath(s *specs.Spec, bundle string) string {
	p := s.Root.Path
	if !filepath.IsAbs(p) {
		p = filepath.Join(bundle, p)
	}
	return filepath.Clean(p)
}

func (v *validator) process() {
	p := v.s.Process
	if p == nil {
		v.fail("process: missing")
		return
	}
	v.checkProcess("process", p)
}

// ValidateProcess checks a process configuration given to exec.
func ValidateProcess(p *specs.Process) error {
	v := validator{}
	v.checkProcess("process", p)
	if v.err != nil {
		return fmt.Errorf("%w: %w", v.err, errdefs.ErrInvalidArgument)
	}
	return nil
}

func (v *validator) checkProcess(field string, p *specs.Process) {
	if len(p.Args) == 0 || p.Args[0] == "" {
		v.fail("%s.args: must name a program to run", field)
	}
	if p.Cwd == "" {
		v.fail("%s.cwd: missing", field)
	} else if !filepath.IsAbs(p.Cwd) {
		v.fail("%s.cwd %q: must be an absolute path", field, p.Cwd)
	}
	if c := p.Capabilities; c != nil {
		last := linux.LastCap()
		for _, set := range []struct {
			name  string
			names []string
		}{
			{"bounding", c.Bounding}, {"effective", c.Effective}, {"inheritable", c.Inheritable},
			{"permitted", c.Permitted}, {"ambient", c.Ambient},
		} {
			if _, _, err := linux.ParseCapSet(field+".capabilities."+set.name, set.names, last); err != nil {
				v.fail("%v", err)
			}
		}
	}
	seen := make(map[string]bool, len(p.Rlimits))
	for i, r := range p.Rlimits {
		if _, ok := linux.RlimitNumber(r.Type); !ok {
			v.fail("%s.rlimits[%d].type: unknown rlimit %q", field, i, r.Type)
		}
		if seen[r.Type] {
			v.fail("%s.rlimits[%d].type: %s given twice", field, i, r.Type)
		}
		seen[r.Type] = true
		if r.Soft > r.Hard {
			v.fail("%s.rlimits[%d]: soft limit %d is above hard limit %d", field, i, r.Soft, r.Hard)
		}
	}
	if p.OOMScoreAdj != nil && (*p.OOMScoreAdj < -1000 || *p.OOMScoreAdj > 1000) {
		v.fail("%s.oomScoreAdj %d: must be between -1000 and 1000", field, *p.OOMScoreAdj)
	}
	if io := p.IOPriority; io != nil {
		switch io.Class {
		case specs.IOPRIO_CLASS_RT, specs.IOPRIO_CLASS_BE, specs.IOPRIO_CLASS_IDLE:
		default:
			v.fail("%s.ioPriority.class %q: unknown class", field, io.Class)
		}
		if io.Priority < 0 || io.Priority > 7 {
			v.fail("%s.ioPriority.priority %d: must be between 0 and 7", field, io.Priority)
		}
	}
	if sc := p.Scheduler; sc != nil {
		if _, ok := SchedPolicy(sc.Policy); !ok {
			v.fail("%s.scheduler.policy %q: unknown policy", field, sc.Policy)
		}
		for i, f := range sc.Flags {
			if _, ok := SchedFlag(f); !ok {
				v.fail("%s.scheduler.flags[%d] %q: unknown flag", field, i, f)
			}
		}
	}
	if p.ConsoleSize != nil && !p.Terminal {
		v.fail("%s.consoleSize: set without process.terminal", field)
	}
}

func (v *validator) namespaces() {
	if v.s.Linux == nil {
		v.fail("linux: missing (hako runs Linux containers)")
		return
	}
	seen := map[specs.LinuxNamespaceType]bool{}
	for i, ns := range v.s.Linux.Namespaces {
		if _, ok := linux.LookupNS(string(ns.Type)); !ok {
			v.fail("linux.namespaces[%d].type: unknown namespace type %q", i, ns.Type)
			continue
		}
		if seen[ns.Type] {
			v.fail("linux.namespaces[%d].type: %s namespace given twice", i, ns.Type)
		}
		seen[ns.Type] = true
		if ns.Path != "" {
			if !filepath.IsAbs(ns.Path) {
				v.fail("linux.namespaces[%d].path %q: must be an absolute path", i, ns.Path)
			} else if _, err := os.Stat(ns.Path); err != nil {
				v.fail("linux.namespaces[%d].path %q: %v", i, ns.Path, unwrapPathErr(err))
			}
		}
	}
	l := v.s.Linux
	if HasNewNamespace(v.s, specs.UserNamespace) && (len(l.UIDMappings) == 0 || len(l.GIDMappings) == 0) {
		v.fail("linux.uidMappings, linux.gidMappings: required with a new user namespace")
	}
	if !seen[specs.UserNamespace] && (len(l.UIDMappings) > 0 || len(l.GIDMappings) > 0) {
		v.fail("linux.uidMappings: given without a user namespace")
	}
	if v.s.Hostname != "" && !HasNamespace(v.s, specs.UTSNamespace) {
		v.fail("hostname: cannot be set without a uts namespace of the container's own")
	}
	if v.s.Domainname != "" && !HasNamespace(v.s, specs.UTSNamespace) {
		v.fail("domainname: cannot be set without a uts namespace of the container's own")
	}
	if len(l.TimeOffsets) > 0 && !HasNewNamespace(v.s, specs.TimeNamespace) {
		v.fail("linux.timeOffsets: given without a new time namespace")
	}
	for clock := range l.TimeOffsets {
		if clock != "monotonic" && clock != "boottime" {
			v.fail("linux.timeOffsets: unknown clock %q (monotonic or boottime)", clock)
		}
	}
}

// HasNewNamespace reports whether the configuration creates (rather than
// joins or lacks) a namespace of type t.
func HasNewNamespace(s *specs.Spec, t specs.LinuxNamespaceType) bool {
	if s.Linux == nil {
		return false
	}
	for _, ns := range s.Linux.Namespaces {
		if ns.Type == t {
			return ns.Path == ""
		}
	}
	return false
}

// HasNamespace reports whether the configuration creates or joins a
// namespace of type t.
func HasNamespace(s *specs.Spec, t specs.LinuxNamespaceType) bool {
	if s.Linux == nil {
		return false
	}
	for _, ns := range s.Linux.Namespaces {
		if ns.Type == t {
			return true
		}
	}
	return false
}

func (v *validator) mounts() {
	for i, m := range v.s.Mounts {
		if m.Destination == "" {
			v.fail("mounts[%d].destination: missing", i)
			continue
		}
		if !filepath.IsAbs(m.Destination) {
			v.fail("mounts[%d].destination %q: must be an absolute path", i, m.Destination)
		}
		if (len(m.UIDMappings) > 0) != (len(m.GIDMappings) > 0) {
			v.fail("mounts[%d]: uidMappings and gidMappings must be given together", i)
		}
	}
}

func (v *validator) hooks() {
	h := v.s.Hooks
	if h == nil {
		return
	}
	for _, kind := range []struct {
		name  string
		hooks []specs.Hook
	}{
		{"prestart", h.Prestart}, {"createRuntime", h.CreateRuntime}, {"createContainer", h.CreateContainer},
		{"startContainer", h.StartContainer}, {"poststart", h.Poststart}, {"poststop", h.Poststop},
	} {
		for i, hk := range kind.hooks {
			if !filepath.IsAbs(hk.Path) {
				v.fail("hooks.%s[%d].path %q: must be an absolute path", kind.name, i, hk.Path)
			}
			if hk.Timeout != nil && *hk.Timeout <= 0 {
				v.fail("hooks.%s[%d].timeout: must be positive", kind.name, i)
			}
		}
	}
}

func (v *validator) linux() {
	l := v.s.Linux
	if l == nil {
		return
	}
	switch l.RootfsPropagation {
	case "", "shared", "slave", "private", "unbindable", "rshared", "rslave", "rprivate", "runbindable":
	default:
		v.fail("linux.rootfsPropagation %q: must be shared, slave, private or unbindable", l.RootfsPropagation)
	}
	for i, d := range l.Devices {
		if !filepath.IsAbs(d.Path) {
			v.fail("linux.devices[%d].path %q: must be an absolute path", i, d.Path)
		}
		switch d.Type {
		case "c", "b", "u":
		case "p":
		default:
			v.fail("linux.devices[%d].type %q: must be c, b, u or p", i, d.Type)
		}
	}
	for i, p := range l.MaskedPaths {
		if !filepath.IsAbs(p) {
			v.fail("linux.maskedPaths[%d] %q: must be an absolute path", i, p)
		}
	}
	for i, p := range l.ReadonlyPaths {
		if !filepath.IsAbs(p) {
			v.fail("linux.readonlyPaths[%d] %q: must be an absolute path", i, p)
		}
	}
	for key := range l.Sysctl {
		if err := checkSysctl(v.s, key); err != nil {
			v.fail("linux.sysctl %q: %v", key, err)
		}
	}
	if p := l.Personality; p != nil {
		switch p.Domain {
		case specs.PerLinux, specs.PerLinux32:
		default:
			v.fail("linux.personality.domain %q: must be LINUX or LINUX32", p.Domain)
		}
	}
	if l.MemoryPolicy != nil {
		if _, err := linux.ParseMemPolicy(l.MemoryPolicy); err != nil {
			v.fail("%v", err)
		}
	}
	if l.IntelRdt != nil {
		v.err = fmt.Errorf("linux.intelRdt: Intel RDT is not supported by hako: %w", errdefs.ErrNotImplemented)
	}
	if len(l.NetDevices) > 0 {
		v.err = fmt.Errorf("linux.netDevices: moving network devices is not supported by hako yet: %w", errdefs.ErrNotImplemented)
	}
	if r := l.Resources; r != nil {
		for i, d := range r.Devices {
			switch d.Type {
			case "", "a", "c", "b":
			default:
				v.fail("linux.resources.devices[%d].type %q: must be a, c or b", i, d.Type)
			}
			for _, c := range d.Access {
				if c != 'r' && c != 'w' && c != 'm' {
					v.fail("linux.resources.devices[%d].access %q: only r, w and m are allowed", i, d.Access)
					break
				}
			}
		}
	}
}

// checkSysctl accepts only sysctls that are isolated by a namespace the
// container has its own of; anything else would change the host.
func checkSysctl(s *specs.Spec, key string) error {
	if strings.Contains(key, "/") || strings.Contains(key, "..") {
		return errors.New("not a sysctl name")
	}
	switch {
	case strings.HasPrefix(key, "net."):
		if !HasNamespace(s, specs.NetworkNamespace) {
			return errors.New("needs a network namespace")
		}
		return nil
	case strings.HasPrefix(key, "fs.mqueue."), isIPCSysctl(key):
		if !HasNamespace(s, specs.IPCNamespace) {
			return errors.New("needs an ipc namespace")
		}
		return nil
	case key == "kernel.hostname", key == "kernel.domainname":
		if !HasNamespace(s, specs.UTSNamespace) {
			return errors.New("needs a uts namespace")
		}
		return nil
	}
	return errors.New("not isolated by a namespace; setting it would change the host")
}

func isIPCSysctl(key string) bool {
	switch key {
	case "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
		"kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced":
		return true
	}
	return false
}

func unwrapPathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
