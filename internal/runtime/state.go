package runtime

import (
	"encoding/json"
	"fmt"
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
	// "update"); exec takes its defaults from it.
	Config *specs.Spec `json:"config"`
}

func readState(dir string) (*savedState, error) {
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return nil, err
	}
	var s savedState
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("corrupt state file: %w", err)
	}
	return &s, nil
}

func writeState(dir string, s *savedState) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, "."+stateFile)
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, stateFile)); err != nil {
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
		if s.Config == nil {
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
