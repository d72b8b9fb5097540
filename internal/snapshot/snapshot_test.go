package snapshot_test

import (
	"testing"

	"github.com/hako-dev/hako/internal/snapshot"
	"github.com/hako-dev/hako/internal/snapshot/testsuite"
)

func TestOverlay(t *testing.T) {
	if err := snapshot.OverlaySupported("/var/tmp/hako-overlay-check"); err != nil {
		t.Skipf("no overlay here: %v", err)
	}
	testsuite.Run(t, snapshot.NewOverlay)
}

func TestVFS(t *testing.T) {
	testsuite.Run(t, snapshot.NewVFS)
}
