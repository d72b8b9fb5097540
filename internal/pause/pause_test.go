package pause

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
)

func TestMain(m *testing.M) {
	if os.Getenv("HAKO_PAUSE_TEST") == "1" {
		os.Exit(wait(func() { os.Stdout.WriteString("ready\n") }))
	}
	os.Exit(m.Run())
}

// The pause process sleeps until SIGTERM and then exits 0; children it
// inherits are reaped meanwhile.
func TestPauseExitsOnTerm(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "HAKO_PAUSE_TEST=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 6)
	if _, err := out.Read(buf); err != nil || string(buf) != "ready\n" {
		t.Fatalf("no ready line: %q %v", buf, err)
	}
	cmd.Process.Signal(syscall.SIGCHLD) // nothing to reap: goes on
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("pause after SIGTERM: %v", err)
	}
}
