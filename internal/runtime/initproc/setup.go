package initproc

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/hako-dev/hako/internal/runtime/linux"
	"github.com/hako-dev/hako/internal/runtime/process"
	"github.com/hako-dev/hako/internal/runtime/spec"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func setPersonality(p *specs.LinuxPersonality) error {
	if p == nil {
		return nil
	}
	var persona uintptr
	switch p.Domain {
	case specs.PerLinux:
		persona = 0x0000
	case specs.PerLinux32:
		persona = 0x0008
	}
	if _, _, e := unix.RawSyscall(unix.SYS_PERSONALITY, persona, 0, 0); e != 0 {
		return fmt.Errorf("linux.personality %s: %w", p.Domain, e)
	}
	return nil
}

func setScheduling(p *specs.Process) error {
	if io := p.IOPriority; io != nil {
		class := map[specs.IOPriorityClass]uintptr{specs.IOPRIO_CLASS_RT: 1, specs.IOPRIO_CLASS_BE: 2, specs.IOPRIO_CLASS_IDLE: 3}[io.Class]
		prio := class<<13 | uintptr(io.Priority)
		if _, _, e := unix.RawSyscall(unix.SYS_IOPRIO_SET, 1 /* IOPRIO_WHO_PROCESS */, 0, prio); e != 0 {
			return fmt.Errorf("process.ioPriority: %w", e)
		}
	}
	if sc := p.Scheduler; sc != nil {
		policy, _ := spec.SchedPolicy(sc.Policy)
		var flags uint64
		for _, f := range sc.Flags {
			b, _ := spec.SchedFlag(f)
			flags |= b
		}
		attr := unix.SchedAttr{
			Size:     unix.SizeofSchedAttr,
			Policy:   policy,
			Flags:    flags,
			Nice:     sc.Nice,
			Priority: uint32(sc.Priority),
			Runtime:  sc.Runtime,
			Deadline: sc.Deadline,
			Period:   sc.Period,
		}
		if err := unix.SchedSetAttr(0, &attr, 0); err != nil {
			return fmt.Errorf("process.scheduler: %w", err)
		}
	}
	if a := p.ExecCPUAffinity; a != nil {
		cpus := a.Final
		if cpus == "" {
			cpus = a.Initial
		}
		if cpus != "" {
			set, err := parseCPUList(cpus)
			if err != nil {
				return fmt.Errorf("process.execCPUAffinity %q: %w", cpus, err)
			}
			if err := unix.SchedSetaffinity(0, set); err != nil {
				return fmt.Errorf("process.execCPUAffinity %q: %w", cpus, err)
			}
		}
	}
	return nil
}

func parseCPUList(s string) (*unix.CPUSet, error) {
	var set unix.CPUSet
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return nil, fmt.Errorf("bad cpu %q", part)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return nil, fmt.Errorf("bad cpu range %q", part)
			}
		}
		for c := a; c <= b; c++ {
			set.Set(c)
		}
	}
	return &set, nil
}

// setLabels applies the AppArmor profile and SELinux label for the next
// execve, where those security modules are enabled.
func setLabels(p *specs.Process) error {
	if p.ApparmorProfile != "" && apparmorEnabled() {
		attr := "/proc/thread-self/attr/apparmor/exec"
		if _, err := os.Stat(attr); err != nil {
			attr = "/proc/thread-self/attr/exec"
		}
		if err := os.WriteFile(attr, []byte("exec "+p.ApparmorProfile), 0); err != nil {
			return fmt.Errorf("process.apparmorProfile %q: %w", p.ApparmorProfile, err)
		}
	}
	if p.SelinuxLabel != "" {
		if _, err := os.Stat("/sys/fs/selinux/enforce"); err == nil {
			if err := os.WriteFile("/proc/thread-self/attr/exec", []byte(p.SelinuxLabel), 0); err != nil {
				return fmt.Errorf("process.selinuxLabel %q: %w", p.SelinuxLabel, err)
			}
		}
	}
	return nil
}

func apparmorEnabled() bool {
	b, err := os.ReadFile("/sys/module/apparmor/parameters/enabled")
	return err == nil && len(b) > 0 && b[0] == 'Y'
}

// listener is the connection to a seccomp agent (linux.seccomp.listenerPath),
// dialled while the host's filesystem is still in view; -1 when none.
var listener = -1

func dialListener(s *specs.Spec) error {
	sc := s.Linux.Seccomp
	if sc == nil || sc.ListenerPath == "" {
		return nil
	}
	c, err := linux.DialUnix(sc.ListenerPath)
	if err != nil {
		return fmt.Errorf("linux.seccomp.listenerPath %s: %w", sc.ListenerPath, err)
	}
	listener = c
	return nil
}

// sendListener hands the seccomp notification descriptor to the agent with
// the container's state, as runc's seccomp agent protocol does.
func sendListener(cfg *process.InitConfig, fd int) error {
	defer unix.Close(fd)
	if listener < 0 {
		return fmt.Errorf("a notify action needs linux.seccomp.listenerPath")
	}
	st := specs.State{}
	if cfg.State != nil {
		st = *cfg.State
	}
	st.Status = specs.StateRunning
	msg := specs.ContainerProcessState{
		Version:  specs.Version,
		Fds:      []string{specs.SeccompFdName},
		Pid:      st.Pid,
		Metadata: cfg.Spec.Linux.Seccomp.ListenerMetadata,
		State:    st,
	}
	b, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	err = linux.SendFDs(listener, b, fd)
	unix.Close(listener)
	listener = -1
	return err
}
