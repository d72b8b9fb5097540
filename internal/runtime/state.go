package runtime

import (
	"encoding/json"
	"fmt"
	"github.com/hako-dev/hako/internal/runtime/spec"
	"os"
	"path/filepath"
	"time"

	"github.com/hako-dev/hako/internal/runtime/linux"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

const (
	stateFile = "state.json"
	fifoName  = "exec.fifo"
)

// Status values beyond the runtime spec's four: "paused", as runc reports.
const (
	StatusCreating = specs.StateCreating
	StatusCreated  = specs.StateCreated
	StatusRunning  = specs.StateRunning
	StatusStopped  = specs.StateStopped
	StatusPaused   = specs.ContainerState("paused")
)

// savedState is ROOT/ID/state.json. It is replaced atomically (write to a
// temporary file, rename), so readers never see a partial file.
type savedState struct {
	ID          string            `json:"id"`
	Bundle      string            `json:"bundle"`
	Rootfs      string            `json:"rootfs"`
	Pid         int               `json:"pid"`
	PidStart    uint64            `json:"pidStartTime"`
	Created     time.Time         `json:"created"`
	Owner       string            `json:"owner,omitempty"`
	CgroupPaths map[string]string `json:"cgroupPaths,omitempty"`
	// OwnPIDNS is true when the container has a pid namespace of its own:
	// killing its init then kills everything in it.
	OwnPIDNS bool `json:"ownPidNamespace"`
	// Config is the container's configuration as created (updated by
	// "update"); exec takes its defaults from it. It stays JSON until a
	// verb needs it: a cold decode of a whole spec costs more than most
	// verbs' own work, and most need a few fields of it or none (see
	// spec, meta).
	Config json.RawMessage `json:"config"`

	decoded *specs.Spec // Config, decoded by spec
	part    *configPart // the fields of Config that part decodes
}

// configPart is the part of a configuration that state, start, delete
// and exec read: decoding it skips mounts, resources, namespaces, devices
// and the rest, which only the init and update need.
type configPart struct {
	Version     string            `json:"ociVersion"`
	Process     *specs.Process    `json:"process,omitempty"`
	Hostname    string            `json:"hostname,omitempty"`
	Hooks       *specs.Hooks      `json:"hooks,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Linux       *struct {
		Seccomp      *specs.LinuxSeccomp      `json:"seccomp,omitempty"`
		Personality  *specs.LinuxPersonality  `json:"personality,omitempty"`
		MemoryPolicy *specs.LinuxMemoryPolicy `json:"memoryPolicy,omitempty"`
	} `json:"linux,omitempty"`
}

// hasConfig reports whether the configuration was saved (it is not while
// a container is being created).
func (s *savedState) hasConfig() bool {
	return len(s.Config) > 0 && string(s.Config) != "null"
}

// setSpecRaw saves sp as the configuration, raw being the JSON it was
// decoded from (re-encoding costs the cold encoder's type analysis).
func (s *savedState) setSpecRaw(sp *specs.Spec, raw []byte) {
	s.Config, s.decoded, s.part = raw, sp, nil
}

// setSpec saves sp as the configuration.
func (s *savedState) setSpec(sp *specs.Spec) error {
	b, err := json.Marshal(sp)
	if err != nil {
		return fmt.Errorf("encode configuration: %w", err)
	}
	s.Config, s.decoded, s.part = b, sp, nil
	return nil
}

// spec decodes the whole configuration (once); nil if none was saved.
func (s *savedState) spec() (*specs.Spec, error) {
	if s.decoded == nil && s.hasConfig() {
		var sp specs.Spec
		if err := json.Unmarshal(s.Config, &sp); err != nil {
			return nil, fmt.Errorf("corrupt state file: configuration: %w", err)
		}
		s.decoded = &sp
	}
	return s.decoded, nil
}

// meta decodes the configPart (once); an empty one if none was saved.
func (s *savedState) meta() *configPart {
	if s.part != nil {
		return s.part
	}
	p := &configPart{}
	if s.decoded == nil && s.hasConfig() {
		// The whole configuration, when the fast decoder takes it, costs
		// less than encoding/json's part of it.
		if d, ok := spec.DecodeFast(s.Config); ok {
			s.decoded = d
		}
	}
	switch {
	case s.decoded != nil:
		d := s.decoded
		p.Version, p.Process, p.Hostname, p.Hooks, p.Annotations = d.Version, d.Process, d.Hostname, d.Hooks, d.Annotations
		if d.Linux != nil {
			p.Linux = &struct {
				Seccomp      *specs.LinuxSeccomp      `json:"seccomp,omitempty"`
				Personality  *specs.LinuxPersonality  `json:"personality,omitempty"`
				MemoryPolicy *specs.LinuxMemoryPolicy `json:"memoryPolicy,omitempty"`
			}{d.Linux.Seccomp, d.Linux.Personality, d.Linux.MemoryPolicy}
		}
	case s.hasConfig():
		// A state file that decoded whole decodes in part too.
		json.Unmarshal(s.Config, p)
	}
	s.part = p
	return p
}

func readState(dir string) (*savedState, error) {
	b, err := linux.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return nil, err
	}
	if s, ok := decodeState(b); ok {
		return s, nil
	}
	var s savedState
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("corrupt state file: %w", err)
	}
	return &s, nil
}

func writeState(dir string, s *savedState) error {
	b, err := encodeState(s)
	if err != nil {
		return err
	}
	if err := linux.ReplaceFile(filepath.Join(dir, stateFile), b, 0o600); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	return nil
}

// State is the container state as `state` prints it: the runtime spec's
// fields plus runc's rootfs, created and owner.
type State struct {
	specs.State
	Rootfs  string    `json:"rootfs"`
	Created time.Time `json:"created"`
	Owner   string    `json:"owner"`
}

// lock takes an exclusive lock on the container directory for the
// duration of an operation that changes it.
func lock(dir string) (func(), error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	for {
		err = unix.Flock(fd, unix.LOCK_EX)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	return func() { unix.Close(fd) }, nil
}

// status computes the container's status from the living world: its init
// process, exec.fifo and the freezer.
func (c *Container) status() specs.ContainerState {
	s := c.st
	if s.Pid == 0 {
		if !s.hasConfig() {
			return StatusCreating
		}
		return StatusStopped
	}
	if !linux.ProcessAlive(s.Pid, s.PidStart) {
		return StatusStopped
	}
	if _, err := os.Lstat(filepath.Join(c.dir, fifoName)); err == nil {
		return StatusCreated
	}
	if mgr, err := c.cgroup(); err == nil {
		if frozen, err := mgr.Frozen(); err == nil && frozen {
			return StatusPaused
		}
	}
	return StatusRunning
}
