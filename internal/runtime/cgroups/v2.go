package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hako-dev/hako/internal/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// v2 is the cgroup v2 Manager: one directory in the unified hierarchy.
type v2 struct {
	dir  string
	root string // the hierarchy's mount point; "" after Load
}

func (m *v2) Create(r *specs.LinuxResources) error {
	plan, err := planV2(r)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(m.dir, 0o755); err != nil {
		return fmt.Errorf("create cgroup %s: %w", m.dir, unwrapPath(err))
	}
	var enableErr error
	if m.root != "" {
		enableErr = enableControllers(m.root, m.dir, nil)
	}
	return m.apply(r, plan, false, enableErr)
}

func (m *v2) Set(r *specs.LinuxResources) error {
	plan, err := planV2(r)
	if err != nil {
		return err
	}
	return m.apply(r, plan, true, nil)
}

// enableControllers makes controllers available in dir by enabling them in
// cgroup.subtree_control of every ancestor from root down to dir's parent;
// nil means every controller root offers. At each level only the
// controllers the level offers are enabled; the caller checks that what
// it needs arrived. All are tried, the first error is returned.
func enableControllers(root, dir string, want []string) error {
	rel, err := filepath.Rel(root, dir)
	if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
		return fmt.Errorf("enable controllers: %s is not below %s", dir, root)
	}
	var first error
	level := root
	for _, name := range strings.Split(rel, "/") {
		avail, err := readFile(level, "cgroup.controllers")
		if err != nil {
			return err
		}
		on, err := readFile(level, "cgroup.subtree_control")
		if err != nil {
			return err
		}
		var add []string
		for _, c := range strings.Fields(avail) {
			if (want == nil || contains(want, c)) && !contains(strings.Fields(on), c) {
				add = append(add, "+"+c)
			}
		}
		if len(add) > 0 {
			if err := writeFile(level, "cgroup.subtree_control", strings.Join(add, " ")); err != nil {
				// One controller can fail alone (cpu with a real-time
				// task below): enable the others one by one.
				for _, c := range add {
					if err := writeFile(level, "cgroup.subtree_control", c); err != nil && first == nil {
						first = err
					}
				}
			}
		}
		level += "/" + name
	}
	return first
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func (m *v2) Join(pid int) error {
	if err := writeFile(m.dir, "cgroup.procs", strconv.Itoa(pid)); err != nil {
		return fmt.Errorf("join pid %d to cgroup: %w", pid, err)
	}
	return nil
}

func (m *v2) Entry() (*Entry, error) {
	fd, err := unix.Open(m.dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open cgroup %s: %w", m.dir, err)
	}
	return &Entry{CloneInto: fd}, nil
}

func (m *v2) Paths() map[string]string { return map[string]string{"": m.dir} }

func (m *v2) Freeze() error { return m.freeze("1") }
func (m *v2) Thaw() error   { return m.freeze("0") }

// freeze writes cgroup.freeze and waits until cgroup.events says the
// cgroup got there ("frozen 1" or "frozen 0").
func (m *v2) freeze(v string) error {
	if err := writeFile(m.dir, "cgroup.freeze", v); err != nil {
		if errors.Is(err, unix.ENOENT) && fileExists(m.dir, ".") {
			return fmt.Errorf("freeze %s: the kernel has no cgroup.freeze (it needs Linux 5.2): %w", m.dir, errdefs.ErrNotImplemented)
		}
		return err
	}
	for i := 0; i < 500; i++ {
		ev, err := readKV(m.dir, "cgroup.events")
		if err != nil {
			return err
		}
		if strconv.FormatUint(ev["frozen"], 10) == v {
			return nil
		}
		time.Sleep(backoff(i))
	}
	if v == "1" {
		thawErr := writeFile(m.dir, "cgroup.freeze", "0")
		return errors.Join(fmt.Errorf("freeze %s: its processes did not stop in time: %w", m.dir, errdefs.ErrUnavailable), thawErr)
	}
	return fmt.Errorf("thaw %s: its processes did not resume in time: %w", m.dir, errdefs.ErrUnavailable)
}

func (m *v2) Frozen() (bool, error) {
	v, err := readFile(m.dir, "cgroup.freeze")
	if errors.Is(err, unix.ENOENT) && fileExists(m.dir, ".") {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return v == "1", nil
}

func (m *v2) Pids() ([]int, error) {
	pids, err := procs(m.dir, nil)
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	return pids, nil
}

func (m *v2) Kill(sig unix.Signal) error {
	if sig == unix.SIGKILL {
		// cgroup.kill (Linux 5.14) kills the whole subtree at once, frozen
		// or not, with no race against forks.
		err := writeFile(m.dir, "cgroup.kill", "1")
		if !errors.Is(err, unix.ENOENT) || !fileExists(m.dir, ".") {
			return err
		}
	}
	if !fileExists(m.dir, "cgroup.freeze") {
		return signalAll(m.Pids, sig)
	}
	was, err := m.Frozen()
	if err != nil {
		return err
	}
	if !was {
		// As on v1, freezing only keeps forks from escaping the signal.
		_ = m.Freeze()
	}
	err = signalAll(m.Pids, sig)
	if !was || sig == unix.SIGKILL {
		err = errors.Join(err, m.Thaw())
	}
	return err
}

func (m *v2) Destroy() error { return removeTree(m.dir) }
