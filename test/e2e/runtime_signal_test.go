package e2e

import (
	"bufio"
	"errors"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/hako-dev/hako/internal/testutil"
)

// trapper is a container process that exits with code when it gets sig,
// once it has said "ready".
func trapper(sig string, code string) []string {
	return []string{"sh", "-c", "trap 'exit " + code + "' " + sig + "; echo ready; while :; do sleep 0.05; done"}
}

// signalForeground starts cmd, waits for its process to say "ready",
// sends sig to the runtime process (not the container's) and returns the
// runtime's exit code.
func signalForeground(t *testing.T, cmd *exec.Cmd, sig syscall.Signal) int {
	t.Helper()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if sc.Text() == "ready" {
				cmd.Process.Signal(sig)
				for sc.Scan() {
				}
				break
			}
		}
		done <- cmd.Wait()
	}()
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("%v: no exit after %v", cmd.Args, sig)
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode()
}

// TestRuntimeForegroundSignals: a foreground run or exec relays the
// signals the runtime gets to the container's process (runc's behaviour),
// which then decides what they do; the runtime returns its status.
func TestRuntimeForegroundSignals(t *testing.T) {
	r := newRT(t)
	for _, tc := range []struct {
		sig  syscall.Signal
		name string
		code int
	}{
		{syscall.SIGTERM, "TERM", 42},
		{syscall.SIGINT, "INT", 43},
		{syscall.SIGUSR1, "USR1", 44},
		{syscall.SIGHUP, "HUP", 45},
	} {
		cid := id(t)
		b := testutil.Bundle(t, testutil.Spec(t, trapper(tc.name, strconv.Itoa(tc.code))...))
		if got := signalForeground(t, r.cmd("run", "--bundle", b, cid), tc.sig); got != tc.code {
			t.Errorf("run, SIG%s to the runtime: exit %d, want %d (the container's)", tc.name, got, tc.code)
		}
		r.assertGone(cid)
	}

	cid := id(t)
	r.must("run", "-d", "--bundle", testutil.Bundle(t, testutil.Spec(t, "sleep", "1000")), cid)
	if got := signalForeground(t, r.cmd(append([]string{"exec", cid}, trapper("TERM", "46")...)...), syscall.SIGTERM); got != 46 {
		t.Errorf("exec, SIGTERM to the runtime: exit %d, want 46", got)
	}
	if st := r.state(cid); st.Status != "running" {
		t.Errorf("the container is %s after its exec'd process got the signal", st.Status)
	}
	r.must("delete", "-f", cid)
}
