package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hako-dev/hako/internal/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// v1 is the cgroup v1 Manager: one directory per hierarchy.
type v1 struct {
	paths map[string]string // controller → the container's directory
	// unified is the container's directory in the cgroup2 hierarchy of a
	// hybrid host, unifiedRoot that hierarchy's mount point ("" after Load).
	unified, unifiedRoot string
	// mounts are the hierarchies; nil after Load until V1Hierarchies.
	mounts []Mount
}

func newV1(cfg *Config, mode Mode, p string, rel bool) (*v1, error) {
	mounts, unified := cfg.Mounts, ""
	if mounts == nil {
		var err error
		if mounts, unified, err = readMounts(cfg.Root); err != nil {
			return nil, err
		}
	}
	switch mode {
	case ModeV1:
		unified = ""
	case ModeHybrid:
		if unified == "" {
			unified = cfg.Root + "/unified"
		}
	}
	if len(mounts) == 0 {
		return nil, fmt.Errorf("no cgroup hierarchy is mounted under %s: %w", cfg.Root, errdefs.ErrUnavailable)
	}
	var own map[string]string
	if rel {
		var err error
		if own, err = ownCgroups(cfg); err != nil {
			return nil, err
		}
	}
	m := &v1{paths: make(map[string]string, len(mounts)+2), mounts: mounts}
	for _, mt := range mounts {
		dir := mt.Dir + p
		if rel {
			dir = mt.Dir + path.Join(underSubtree(own[mt.Controllers[0]], mt.Subtree), p)
		}
		for _, c := range mt.Controllers {
			m.paths[c] = dir
		}
	}
	if unified != "" {
		m.unifiedRoot, m.unified = unified, unified+p
		if rel {
			m.unified = unified + path.Join("/", own[""], p)
		}
	}
	return m, nil
}

// dirs lists the container's directories, each once, in a stable order.
func (m *v1) dirs() []string {
	out := make([]string, 0, len(m.paths)+1)
	for _, d := range m.paths {
		out = append(out, d)
	}
	if m.unified != "" {
		out = append(out, m.unified)
	}
	sort.Strings(out)
	j := 0
	for i, d := range out {
		if i == 0 || d != out[j-1] {
			out[j] = d
			j++
		}
	}
	return out[:j]
}

func (m *v1) Create(r *specs.LinuxResources) error {
	plan, err := m.plan(r)
	if err != nil {
		return err
	}
	for _, d := range m.dirs() {
		if err := mkdirAll(d); err != nil {
			return fmt.Errorf("create cgroup %s: %w", d, unwrapPath(err))
		}
	}
	if d := m.paths["cpuset"]; d != "" {
		if err := fillCpuset(d); err != nil {
			return err
		}
	}
	if m.unified != "" && m.paths["hugetlb"] == "" && m.unifiedRoot != "" {
		// Best effort unless hugepage limits need it: a failure shows up
		// when they are written.
		err := enableControllers(m.unifiedRoot, m.unified, []string{"hugetlb"})
		if err != nil && r != nil && len(r.HugepageLimits) > 0 {
			return err
		}
	}
	return m.apply(r, plan, false)
}

func (m *v1) Set(r *specs.LinuxResources) error {
	plan, err := m.plan(r)
	if err != nil {
		return err
	}
	return m.apply(r, plan, true)
}

// fillCpuset copies cpuset.cpus and cpuset.mems from the parent into dir,
// and into every ancestor up to the first one that has them, when they are
// empty: a task cannot join a cpuset with no CPUs or no memory nodes.
func fillCpuset(dir string) error {
	cpus, err := readFile(dir, "cpuset.cpus")
	if err != nil {
		return err
	}
	mems, err := readFile(dir, "cpuset.mems")
	if err != nil {
		return err
	}
	if cpus != "" && mems != "" {
		return nil
	}
	parent := filepath.Dir(dir)
	if parent == dir {
		return fmt.Errorf("fill cpuset of %s: no ancestor has CPUs and memory nodes", dir)
	}
	if err := fillCpuset(parent); err != nil {
		return err
	}
	for _, f := range []struct{ name, cur string }{{"cpuset.cpus", cpus}, {"cpuset.mems", mems}} {
		if f.cur != "" {
			continue
		}
		v, err := readFile(parent, f.name)
		if err != nil {
			return err
		}
		if err := writeFile(dir, f.name, v); err != nil {
			return err
		}
	}
	return nil
}

func (m *v1) Join(pid int) error {
	s := strconv.Itoa(pid)
	for _, d := range m.dirs() {
		if err := writeFile(d, "cgroup.procs", s); err != nil {
			return fmt.Errorf("join pid %d to cgroup: %w", pid, err)
		}
	}
	return nil
}

func (m *v1) Entry() (_ *Entry, retErr error) {
	e := &Entry{CloneInto: -1}
	defer func() {
		if retErr != nil {
			e.Close()
		}
	}()
	for _, t := range m.tasksFiles() {
		fd, err := unix.Open(t, unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("open cgroup %s: %w", path.Dir(t), err)
		}
		e.Tasks = append(e.Tasks, fd)
	}
	if m.unified != "" {
		fd, err := unix.Open(m.unified, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("open cgroup %s: %w", m.unified, err)
		}
		e.CloneInto = fd
	}
	return e, nil
}

func (m *v1) Paths() map[string]string {
	out := make(map[string]string, len(m.paths)+1)
	for k, v := range m.paths {
		out[k] = v
	}
	if m.unified != "" {
		out[""] = m.unified
	}
	return out
}

// Freezer states, in freezer.state.
const (
	frozen   = "FROZEN"
	freezing = "FREEZING"
	thawed   = "THAWED"
)

func (m *v1) Freeze() error {
	dir := m.paths["freezer"]
	if dir == "" {
		return fmt.Errorf("freeze: the freezer controller is not mounted: %w", errdefs.ErrNotImplemented)
	}
	// A task stuck in the kernel can keep the cgroup FREEZING; writing
	// FROZEN again retries the tasks that were not frozen yet.
	for i := 0; i < 500; i++ {
		if i%50 == 0 {
			if err := writeFile(dir, "freezer.state", frozen); err != nil {
				return err
			}
		}
		st, err := readFile(dir, "freezer.state")
		if err != nil {
			return err
		}
		switch st {
		case frozen:
			return nil
		case freezing:
			time.Sleep(backoff(i))
		default:
			return fmt.Errorf("freeze %s: unexpected freezer state %q", dir, st)
		}
	}
	thawErr := writeFile(dir, "freezer.state", thawed)
	return errors.Join(fmt.Errorf("freeze %s: its processes did not stop in time: %w", dir, errdefs.ErrUnavailable), thawErr)
}

func (m *v1) Thaw() error {
	dir := m.paths["freezer"]
	if dir == "" {
		return fmt.Errorf("thaw: the freezer controller is not mounted: %w", errdefs.ErrNotImplemented)
	}
	for i := 0; i < 500; i++ {
		if i%50 == 0 {
			if err := writeFile(dir, "freezer.state", thawed); err != nil {
				return err
			}
		}
		st, err := readFile(dir, "freezer.state")
		if err != nil {
			return err
		}
		if st == thawed {
			return nil
		}
		time.Sleep(backoff(i))
	}
	return fmt.Errorf("thaw %s: its processes did not resume in time: %w", dir, errdefs.ErrUnavailable)
}

// backoff is the wait before poll number i of a state change: 100µs
// doubling to 10ms, about 5s over 500 polls.
func backoff(i int) time.Duration {
	if i >= 7 {
		return 10 * time.Millisecond
	}
	return 100 * time.Microsecond << i
}

func (m *v1) Frozen() (bool, error) {
	dir := m.paths["freezer"]
	if dir == "" {
		return false, nil
	}
	st, err := readFile(dir, "freezer.state")
	if err != nil {
		return false, err
	}
	return st == frozen, nil
}

// pidsDir is the hierarchy to list processes from: pids and freezer are
// joined by every process of the container, and never skipped.
func (m *v1) pidsDir() string {
	for _, c := range [...]string{"pids", "freezer", "memory", "cpu", "devices"} {
		if d := m.paths[c]; d != "" {
			return d
		}
	}
	if d := m.dirs(); len(d) > 0 {
		return d[0]
	}
	return ""
}

func (m *v1) Pids() ([]int, error) {
	pids, err := procs(m.pidsDir(), nil)
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	return pids, nil
}

func (m *v1) Kill(sig unix.Signal) error {
	if m.paths["freezer"] == "" {
		return signalAll(m.Pids, sig)
	}
	was, err := m.Frozen()
	if err != nil {
		return err
	}
	if !was {
		// Freezing only keeps forks from escaping the signal: if it fails
		// (and it thaws again when it times out), signal anyway.
		_ = m.Freeze()
	}
	err = signalAll(m.Pids, sig)
	if !was || sig == unix.SIGKILL {
		err = errors.Join(err, m.Thaw())
	}
	return err
}

// signalAll sends sig to every pid listed; processes that exited are not
// an error.
func signalAll(list func() ([]int, error), sig unix.Signal) error {
	pids, err := list()
	if err != nil {
		return err
	}
	for _, pid := range pids {
		if err := unix.Kill(pid, sig); err != nil && err != unix.ESRCH {
			return fmt.Errorf("signal pid %d: %w", pid, err)
		}
	}
	return nil
}

func (m *v1) Destroy() error {
	var first error
	for _, d := range m.dirs() {
		if err := removeTree(d); err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (m *v1) hierarchies() []Hierarchy {
	mounts := m.mounts
	if mounts == nil {
		mounts, _, _ = readMounts("")
		m.mounts = mounts
	}
	var out []Hierarchy
	for _, mt := range mounts {
		dir := m.paths[mt.Controllers[0]]
		if dir == "" || dir != mt.Dir && !strings.HasPrefix(dir, mt.Dir+"/") {
			continue
		}
		name := filepath.Base(mt.Dir)
		h := Hierarchy{Name: name, Controllers: mt.Controllers, Source: dir}
		for _, c := range mt.Controllers {
			if c != name && !strings.HasPrefix(c, "name=") {
				h.Links = append(h.Links, c)
			}
		}
		out = append(out, h)
	}
	return out
}

// unwrapPath drops the path os adds to an error, since callers name it.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// tasksFiles lists the "tasks" file of each of the container's v1
// directories, once each.
func (m *v1) tasksFiles() []string {
	seen := map[string]bool{}
	dirs := make([]string, 0, len(m.paths))
	for _, d := range m.paths {
		if !seen[d] {
			seen[d] = true
			dirs = append(dirs, d)
		}
	}
	sort.Strings(dirs)
	for i, d := range dirs {
		dirs[i] = d + "/tasks"
	}
	return dirs
}

// mkdirAll is os.MkdirAll for a cgroup directory whose parent usually
// exists: one mkdir instead of a stat of each ancestor first.
func mkdirAll(d string) error {
	err := unix.Mkdir(d, 0o755)
	if err == nil || err == unix.EEXIST {
		return nil
	}
	return os.MkdirAll(d, 0o755)
}

// SelfJoin is how a process makes and joins a container's cgroup v1
// directories itself, while Create runs in the runtime: the container's
// init does, so that neither waits for the other. The directories are
// made with mkdir (EEXIST is fine: whoever comes second finds them), the
// cpuset gets its final CPUs and memory nodes (a task cannot join an
// empty cpuset, and Create writes the same values), then each "tasks"
// file gets "0".
type SelfJoin struct {
	// Mkdirs are the directories to make, parents before children.
	Mkdirs []string
	// Cpuset is the container's cpuset directory ("" when none), with
	// the values Cpus and Mems it must hold.
	Cpuset, Cpus, Mems string
	// Tasks are the "tasks" files to write "0" to.
	Tasks []string
}

// PrepareSelfJoin returns how to make and join m's directories, or nil
// when the process must wait for Create: cgroup v2 or a hybrid host (the
// process starts inside with CLONE_INTO_CGROUP), or a cpuset whose parent
// has no CPUs or memory nodes of its own to inherit.
func PrepareSelfJoin(m Manager, r *specs.LinuxResources) *SelfJoin {
	v, ok := m.(*v1)
	if !ok || v.unified != "" {
		return nil
	}
	j := &SelfJoin{Tasks: v.tasksFiles()}
	seen := map[string]bool{}
	// The hierarchies' mount points exist: most containers' directories
	// sit right under them and need no stat of their parent.
	exists := make(map[string]bool, len(v.mounts))
	for _, mt := range v.mounts {
		exists[mt.Dir] = true
	}
	var st unix.Stat_t
	// In the reverse of Create's order: the process and Create, running
	// at the same time, each make about half of the directories (the
	// other finds them made).
	dirs := v.dirs()
	slices.Reverse(dirs)
	for _, d := range dirs {
		var missing []string
		for p := d; ; p = filepath.Dir(p) {
			if seen[p] || exists[p] || p == "/" || p == "." {
				break
			}
			if unix.Stat(p, &st) == nil {
				break
			}
			missing = append(missing, p)
		}
		for i := len(missing) - 1; i >= 0; i-- {
			seen[missing[i]] = true
			j.Mkdirs = append(j.Mkdirs, missing[i])
		}
	}
	if d := v.paths["cpuset"]; d != "" {
		parent := filepath.Dir(d)
		if !seen[d] || seen[parent] {
			// An existing cpuset keeps its values; a new parent cpuset
			// would need filling too: Create does both.
			return nil
		}
		cpus, err1 := readFile(parent, "cpuset.cpus")
		mems, err2 := readFile(parent, "cpuset.mems")
		if err1 != nil || err2 != nil || cpus == "" || mems == "" {
			return nil
		}
		if r != nil && r.CPU != nil {
			if r.CPU.Cpus != "" {
				cpus = r.CPU.Cpus
			}
			if r.CPU.Mems != "" {
				mems = r.CPU.Mems
			}
		}
		j.Cpuset, j.Cpus, j.Mems = d, cpus, mems
	}
	return j
}
