// Package e2e drives the built hako binary as users and other tools do:
// the runc-compatible runtime face first, then the daemon and CLI.
package e2e

import (
	"os"
	"testing"

	"github.com/hako-dev/hako/internal/testutil"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testutil.Cleanup()
	os.Exit(code)
}
