package snapshot_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/hako-dev/hako/internal/snapshot"
	"github.com/hako-dev/hako/internal/snapshot/testsuite"
)

func TestOverlay(t *testing.T) {
	probe, err := os.MkdirTemp("/var/tmp", "hako-overlay-check-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(probe)
	if err := snapshot.OverlaySupported(probe); err != nil {
		t.Skipf("no overlay here: %v", err)
	}
	testsuite.Run(t, snapshot.NewOverlay)
}

func TestVFS(t *testing.T) {
	testsuite.Run(t, snapshot.NewVFS)
}

// 20 container rootfs on one image add only their own (empty) upper and
// work dirs to the disk: the image's layers are shared, not copied.
func TestOverlayRootfsShareLayers(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	root, err := os.MkdirTemp("/var/tmp", "hako-share-test-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(root)
	if err := snapshot.OverlaySupported(root); err != nil {
		t.Skipf("no overlay: %v", err)
	}
	s, err := snapshot.NewOverlay(filepath.Join(root, "store"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if _, err := s.Prepare(ctx, "layer-active", ""); err != nil {
		t.Fatal(err)
	}
	dir, _ := s.Dir(ctx, "layer-active")
	if err := os.WriteFile(filepath.Join(dir, "big"), make([]byte, 8<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, "layer", "layer-active"); err != nil {
		t.Fatal(err)
	}
	before := du(t, filepath.Join(root, "store"))
	for i := range 20 {
		if _, err := s.Prepare(ctx, fmt.Sprintf("ctr-%d", i), "layer"); err != nil {
			t.Fatal(err)
		}
	}
	grew := du(t, filepath.Join(root, "store")) - before
	// Each rootfs: a snapshot dir with empty fs/ and work/ (3 dirs, 4 KiB
	// blocks each on ext4), against 8 MiB for a copy.
	if grew > 20*4*4096 {
		t.Errorf("20 rootfs added %d bytes", grew)
	}
	t.Logf("20 rootfs on an 8 MiB layer added %d KiB", grew/1024)
}

// du is the allocated size of the files under dir.
func du(t *testing.T, dir string) int64 {
	var n int64
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil {
			n += fi.Sys().(*syscall.Stat_t).Blocks * 512
		}
		return nil
	})
	return n
}
