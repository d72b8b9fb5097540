package snapshot_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hako-dev/hako/internal/mount"
	"github.com/hako-dev/hako/internal/snapshot"
	"github.com/hako-dev/hako/internal/snapshot/testsuite"
	"golang.org/x/sys/unix"
)

// sized gives every writable snapshot a size limit.
type sized struct {
	snapshot.Snapshotter
	root string
}

func (s sized) Prepare(ctx context.Context, key, parent string, opts ...snapshot.Opt) ([]mount.Mount, error) {
	ms, err := s.Snapshotter.Prepare(ctx, key, parent, append(opts, snapshot.WithSize(snapshot.MinSize))...)
	if err == nil {
		if i, serr := s.Stat(ctx, key); serr != nil || i.Size != snapshot.MinSize {
			return nil, fmt.Errorf("prepared %q without its size: %+v %v", key, i, serr)
		}
	}
	return ms, err
}

// Close also unmounts the loop filesystems of the snapshots the suite
// leaves, so that its cleanup can remove the root.
func (s sized) Close() error {
	err := s.Snapshotter.Close()
	releaseUnder(s.root)
	return err
}

// releaseUnder unmounts what is mounted under root and detaches the loop
// devices backed by files under it.
func releaseUnder(root string) {
	if b, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		lines := strings.Split(string(b), "\n")
		for i := len(lines) - 1; i >= 0; i-- { // newest (deepest) first
			if f := strings.Fields(lines[i]); len(f) > 4 && strings.HasPrefix(f[4], root+"/") {
				unix.Unmount(f[4], unix.MNT_DETACH)
			}
		}
	}
	files, _ := filepath.Glob("/sys/block/loop*/loop/backing_file")
	for _, bf := range files {
		if b, err := os.ReadFile(bf); err == nil && strings.HasPrefix(string(b), root+"/") {
			if f, err := os.OpenFile("/dev/"+strings.Split(bf, "/")[3], os.O_RDWR, 0); err == nil {
				unix.IoctlSetInt(int(f.Fd()), unix.LOOP_CLR_FD, 0)
				f.Close()
			}
		}
	}
}

// The conformance suite, with a size limit on every writable snapshot
// (committing copies out of the loop filesystem).
func TestSizedOverlay(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	if _, err := exec.LookPath("mkfs.ext4"); err != nil {
		t.Skipf("no mkfs.ext4 (e2fsprogs): %v", err)
	}
	probe, err := os.MkdirTemp("/var/tmp", "hako-overlay-check-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(probe)
	if err := snapshot.OverlaySupported(probe); err != nil {
		t.Skipf("no overlay here: %v", err)
	}
	testsuite.Run(t, func(root string) (snapshot.Snapshotter, error) {
		s, err := snapshot.NewOverlay(root)
		return sized{s, root}, err
	})
}

func TestSizedVFS(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	if _, err := exec.LookPath("mkfs.ext4"); err != nil {
		t.Skipf("no mkfs.ext4 (e2fsprogs): %v", err)
	}
	testsuite.Run(t, func(root string) (snapshot.Snapshotter, error) {
		s, err := snapshot.NewVFS(root)
		return sized{s, root}, err
	})
}
