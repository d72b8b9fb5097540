package cgroups

import (
	"os"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// entryNames returns what e's descriptors refer to.
func entryNames(t *testing.T, e *Entry) (cloneInto string, tasks []string) {
	t.Helper()
	if e.CloneInto >= 0 {
		cloneInto = fdPath(e.CloneInto)
	}
	for _, fd := range e.Tasks {
		tasks = append(tasks, fdPath(fd))
	}
	return cloneInto, tasks
}

func TestV1Entry(t *testing.T) {
	root, mounts := fakeV1(t, "/hako/c1")
	m, err := New(Config{Root: root, Mode: ModeV1, Mounts: mounts, Path: "/hako/c1"})
	if err != nil {
		t.Fatal(err)
	}
	if StartsInside(m) {
		t.Error("a v1 cgroup needs no CLONE_INTO_CGROUP")
	}
	e, err := m.Entry()
	if err != nil {
		t.Fatal(err)
	}
	cloneInto, tasks := entryNames(t, e)
	// One tasks file per hierarchy: cpu and cpuacct share one.
	var want []string
	for _, mt := range mounts {
		want = append(want, mt.Dir+"/hako/c1/tasks")
	}
	slices.Sort(want)
	if cloneInto != "" || !slices.Equal(tasks, want) {
		t.Errorf("entry: clone into %q, tasks %q; want none and %q", cloneInto, tasks, want)
	}
	if err := JoinTasks(e.Tasks); err != nil {
		t.Fatal(err)
	}
	e.Tasks = nil // closed by JoinTasks
	e.Close()
	for _, f := range want {
		if b, err := os.ReadFile(f); err != nil || string(b) != "0" {
			t.Errorf("%s: %q, %v; want \"0\"", f, b, err)
		}
	}
}

func TestHybridEntry(t *testing.T) {
	root, mounts := fakeV1(t, "/hako/c1")
	if err := os.MkdirAll(root+"/unified/hako/c1", 0o755); err != nil {
		t.Fatal(err)
	}
	m, err := New(Config{Root: root, Mode: ModeHybrid, Mounts: mounts, Path: "/hako/c1"})
	if err != nil {
		t.Fatal(err)
	}
	if !StartsInside(m) {
		t.Error("the unified hierarchy of a hybrid host is entered with CLONE_INTO_CGROUP")
	}
	e, err := m.Entry()
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	cloneInto, tasks := entryNames(t, e)
	if cloneInto != root+"/unified/hako/c1" || len(tasks) != len(mounts) {
		t.Errorf("entry: clone into %q, tasks %q", cloneInto, tasks)
	}
}

func TestV1EntryMissing(t *testing.T) {
	root, mounts := fakeV1(t, "/hako/c1")
	m, err := New(Config{Root: root, Mode: ModeV1, Mounts: mounts, Path: "/hako/other"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Entry(); err == nil || !strings.Contains(err.Error(), "hako/other") {
		t.Errorf("entry of a cgroup never created: %v", err)
	}
}

func TestV2Entry(t *testing.T) {
	root := fakeV2(t, "c")
	m := newV2(t, root, Config{Path: "/c"})
	if !StartsInside(m) {
		t.Error("a v2 cgroup is entered with CLONE_INTO_CGROUP")
	}
	e, err := m.Entry()
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if cloneInto, tasks := entryNames(t, e); cloneInto != root+"/c" || tasks != nil {
		t.Errorf("entry: clone into %q, tasks %q", cloneInto, tasks)
	}
}

func TestJoinTasksError(t *testing.T) {
	fd, err := unix.Open(t.TempDir(), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := JoinTasks([]int{fd}); err == nil || !strings.Contains(err.Error(), "join cgroup") {
		t.Errorf("join through a descriptor that cannot be written: %v", err)
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != unix.EBADF {
		t.Errorf("descriptor left open after JoinTasks: %v", err)
	}
}
