package sigfwd

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func startSleep(t *testing.T) (*exec.Cmd, int) {
	t.Helper()
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	fd, err := unix.PidfdOpen(cmd.Process.Pid, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return cmd, fd
}

func waitSignaled(t *testing.T, cmd *exec.Cmd, want syscall.Signal) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("the target did not end (want %v)", want)
	}
	ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ws.Signaled() || ws.Signal() != want {
		t.Fatalf("target ended with %v, want killed by %v", cmd.ProcessState, want)
	}
}

func handlerOf(t *testing.T, s unix.Signal) uintptr {
	t.Helper()
	var old sigaction
	if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(s), 0, uintptr(unsafe.Pointer(&old)), 8, 0, 0); e != 0 {
		t.Fatal(e)
	}
	return old.handler
}

func TestForwardHeldThenLive(t *testing.T) {
	if !Available() {
		t.Skip(ErrUnavailable)
	}
	before := handlerOf(t, unix.SIGUSR1)
	f, err := Start([]unix.Signal{unix.SIGUSR1, unix.SIGTERM})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Stop()
	if _, err := Start([]unix.Signal{unix.SIGUSR2}); err == nil {
		t.Fatal("a second forwarder started while one is active")
	}

	// Sent before there is a target: held, this process survives it.
	first, fd1 := startSleep(t)
	if err := unix.Kill(os.Getpid(), unix.SIGTERM); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for pending.Load()&(1<<unix.SIGTERM) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("SIGTERM was not held")
		}
		time.Sleep(time.Millisecond)
	}
	if err := f.Target(fd1, first.Process.Pid); err != nil {
		t.Fatal(err)
	}
	waitSignaled(t, first, unix.SIGTERM)

	// With a target: sent on at once.
	f.Stop()
	f, err = Start([]unix.Signal{unix.SIGUSR1})
	if err != nil {
		t.Fatal(err)
	}
	second, fd2 := startSleep(t)
	if err := f.Target(fd2, second.Process.Pid); err != nil {
		t.Fatal(err)
	}
	if err := unix.Kill(os.Getpid(), unix.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	waitSignaled(t, second, unix.SIGUSR1)
	f.Stop()
	if got := handlerOf(t, unix.SIGUSR1); got != before {
		t.Fatalf("Stop left handler %#x for SIGUSR1, want Go's %#x back", got, before)
	}
}

func TestForwardByPid(t *testing.T) {
	if !Available() {
		t.Skip(ErrUnavailable)
	}
	f, err := Start([]unix.Signal{unix.SIGHUP})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Stop()
	cmd, _ := startSleep(t)
	if err := f.Target(-1, cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	if err := unix.Kill(os.Getpid(), unix.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitSignaled(t, cmd, unix.SIGHUP)
}
