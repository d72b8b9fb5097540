package tini

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The test binary is also the init under test (HAKO_TINI_TEST=tini) and a
// child that reports on its process group and terminal (=child).
const testEnv = "HAKO_TINI_TEST"

func TestMain(m *testing.M) {
	switch os.Getenv(testEnv) {
	case "tini":
		os.Setenv(testEnv, "child")
		os.Exit(Main(os.Args[1:]))
	case "child":
		os.Exit(probe(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// probe writes "pid pgrp tpgid" to the file args[0] (tpgid -1 without a
// controlling terminal on stdin).
func probe(args []string) int {
	tpgid, err := unix.IoctlGetInt(0, unix.TIOCGPGRP)
	if err != nil {
		tpgid = -1
	}
	out := fmt.Sprintf("%d %d %d", os.Getpid(), unix.Getpgrp(), tpgid)
	if err := os.WriteFile(args[0], []byte(out), 0o644); err != nil {
		return 1
	}
	return 0
}

type initProc struct {
	cmd    *exec.Cmd
	stderr syncBuffer
}

// syncBuffer is a bytes.Buffer written by os/exec's copying goroutine and
// read by the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// start starts the init with args.
func start(t *testing.T, args ...string) *initProc {
	t.Helper()
	return startWith(t, nil, args...)
}

func startWith(t *testing.T, setup func(*exec.Cmd), args ...string) *initProc {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p := &initProc{cmd: exec.Command(exe, args...)}
	p.cmd.Env = append(os.Environ(), testEnv+"=tini")
	p.cmd.Stderr = &p.stderr
	if setup != nil {
		setup(p.cmd)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			p.cmd.Wait()
		}
	})
	return p
}

// wait returns the init's exit status, failing after a timeout.
func (p *initProc) wait(t *testing.T) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		p.cmd.Process.Kill()
		<-done
		t.Fatalf("the init did not exit; stderr: %s", p.stderr.String())
	}
	ws := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ws.Signaled() {
		t.Fatalf("the init was killed by %v; stderr: %s", ws.Signal(), p.stderr.String())
	}
	return ws.ExitStatus()
}

func runInit(t *testing.T, args ...string) (int, string) {
	t.Helper()
	p := start(t, args...)
	code := p.wait(t)
	return code, p.stderr.String()
}

func needSh(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
}

// waitFile waits for a file to exist, and returns its content.
func waitFile(t *testing.T, path string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(path)
		if err == nil {
			return strings.TrimSpace(string(b))
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not appear", path)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// procStat returns the state and parent of pid, ok false when it is gone.
func procStat(pid int) (state byte, ppid int, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, false
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 2 {
		return 0, 0, false
	}
	ppid, _ = strconv.Atoi(f[1])
	return f[0][0], ppid, true
}

func TestExitCode(t *testing.T) {
	needSh(t)
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"--", "sh", "-c", "exit 3"}, 3},
		{[]string{"sh", "-c", "exit 0"}, 0},
		{[]string{"-e", "3", "--", "sh", "-c", "exit 3"}, 0},
		{[]string{"-e4", "-e", "3", "sh", "-c", "exit 5"}, 5},
		{[]string{"--", "sh", "-c", "kill -KILL $$"}, 128 + 9},
	} {
		if code, stderr := runInit(t, tc.args...); code != tc.want {
			t.Errorf("%q: exit status %d, want %d; stderr: %s", tc.args, code, tc.want, stderr)
		}
	}
}

func TestExecFailure(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	noexec := filepath.Join(dir, "noexec")
	if err := os.WriteFile(noexec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		argv0 string
		want  int
		msg   string
	}{
		{"/nonexistent/foo", 127, "hako-init: exec /nonexistent/foo: not found"},
		{"no-such-command-for-hako-init", 127, "hako-init: exec no-such-command-for-hako-init: not found"},
		{noexec, 126, "hako-init: exec " + noexec + ": permission denied"},
		{dir, 126, "hako-init: exec " + dir + ": permission denied"},
	} {
		code, stderr := runInit(t, "--", tc.argv0, "arg")
		if code != tc.want || !strings.Contains(stderr, tc.msg) {
			t.Errorf("%s: exit status %d, stderr %q; want %d, %q", tc.argv0, code, stderr, tc.want, tc.msg)
		}
	}
}

func TestUsage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{nil, {"--"}, {"-v", "--"}, {"-x", "true"}, {"-e"}, {"-e", "256", "true"}, {"-p", "SIGNOPE", "true"}} {
		code, stderr := runInit(t, args...)
		if code != 1 || stderr == "" {
			t.Errorf("%q: exit status %d, stderr %q; want 1 and a message", args, code, stderr)
		}
	}
	var out, errb bytes.Buffer
	if _, code, ok := parse([]string{"-h"}, &out, &errb); ok || code != 0 || !strings.Contains(out.String(), "Usage:") {
		t.Errorf("-h: ok %v, code %d, stdout %q", ok, code, out.String())
	}
}

func TestParse(t *testing.T) {
	o, _, ok := parse([]string{"-gvvw", "-pKILL", "-e", "143", "cmd", "-g", "--", "x"}, &bytes.Buffer{}, &bytes.Buffer{})
	if !ok {
		t.Fatal("not ok")
	}
	if !o.pgroup || !o.warnReap || o.verbosity != levelWarn+2 || o.pdeathsig != syscall.SIGKILL || !o.remap[143] {
		t.Errorf("options %+v", o)
	}
	if want := []string{"cmd", "-g", "--", "x"}; strings.Join(o.argv, " ") != strings.Join(want, " ") {
		t.Errorf("argv %q, want %q", o.argv, want)
	}
}

// TestSignalForwarding sends signals to the init: a child that traps them
// exits with the status its trap chose.
func TestSignalForwarding(t *testing.T) {
	needSh(t)
	t.Parallel()
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT,
		syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH, syscall.SIGCONT, syscall.SIGALRM} {
		t.Run(unix.SignalName(sig), func(t *testing.T) {
			t.Parallel()
			if signal.Ignored(sig) {
				t.Skipf("%v is ignored here: a shell cannot trap it", sig)
			}
			ready := filepath.Join(t.TempDir(), "ready")
			want := 10 + int(sig)
			script := fmt.Sprintf(`trap 'kill $p; exit %d' %d; sleep 30 & p=$!; echo > %s; wait`, want, int(sig), ready)
			p := start(t, "--", "sh", "-c", script)
			waitFile(t, ready)
			p.cmd.Process.Signal(sig)
			if code := p.wait(t); code != want {
				t.Errorf("exit status %d, want %d; stderr: %s", code, want, p.stderr.String())
			}
		})
	}
}

// TestKilledBySignal: a child killed by a forwarded signal makes the init
// exit with 128+signal.
func TestKilledBySignal(t *testing.T) {
	t.Parallel()
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep")
	}
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGUSR1} {
		p := start(t, "-v", "--", sleep, "30")
		// -v logs the spawn: the child exists.
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(p.stderr.String(), "spawned child process") {
			if time.Now().After(deadline) {
				t.Fatalf("no child: %s", p.stderr.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
		p.cmd.Process.Signal(sig)
		if code, want := p.wait(t), 128+int(sig); code != want {
			t.Errorf("%v: exit status %d, want %d; stderr: %s", sig, code, want, p.stderr.String())
		}
	}
}

// TestProcessGroup: with -g, signals go to the child's whole process group.
func TestProcessGroup(t *testing.T) {
	needSh(t)
	t.Parallel()
	dir := t.TempDir()
	script := `sleep 30 & echo $! > "$1/g.tmp"; mv "$1/g.tmp" "$1/g"; exec sleep 30`
	p := start(t, "-g", "--", "sh", "-c", script, "sh", dir)
	gpid, _ := strconv.Atoi(waitFile(t, filepath.Join(dir, "g")))
	t.Cleanup(func() { syscall.Kill(gpid, syscall.SIGKILL) })
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t); code != 128+int(syscall.SIGTERM) {
		t.Errorf("exit status %d, want 143; stderr: %s", code, p.stderr.String())
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		state, _, ok := procStat(gpid)
		if !ok || state == 'Z' {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the background process of the child survived SIGTERM to its group (state %c)", state)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestReap: an orphaned grandchild is re-parented to the init (a child
// subreaper when not PID 1) and reaped when it exits, while the child runs.
func TestReap(t *testing.T) {
	needSh(t)
	t.Parallel()
	dir := t.TempDir()
	script := `(sleep 1 & echo $! > "$1/g.tmp"; mv "$1/g.tmp" "$1/g"); echo $$ > "$1/c.tmp"; mv "$1/c.tmp" "$1/c"; exec sleep 30`
	p := start(t, "-w", "--", "sh", "-c", script, "sh", dir)
	tpid := p.cmd.Process.Pid
	gpid, _ := strconv.Atoi(waitFile(t, filepath.Join(dir, "g")))
	cpid, _ := strconv.Atoi(waitFile(t, filepath.Join(dir, "c")))

	reparented := false
	deadline := time.Now().Add(10 * time.Second)
	for {
		state, ppid, ok := procStat(gpid)
		if !ok {
			break
		}
		if ppid == tpid {
			reparented = true
		}
		if time.Now().After(deadline) {
			t.Fatalf("grandchild %d not reaped: state %c, parent %d (init %d)", gpid, state, ppid, tpid)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !reparented {
		t.Errorf("grandchild %d was never re-parented to the init %d", gpid, tpid)
	}
	if state, ppid, ok := procStat(cpid); !ok || state == 'Z' || ppid != tpid {
		t.Fatalf("the child %d should still run under the init: ok %v, state %c, parent %d", cpid, ok, state, ppid)
	}
	// No zombie left among the init's children.
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if state, ppid, ok := procStat(pid); ok && ppid == tpid && state == 'Z' {
			t.Errorf("zombie %d left under the init", pid)
		}
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t); code != 143 {
		t.Errorf("exit status %d, want 143; stderr: %s", code, p.stderr.String())
	}
	if want := fmt.Sprintf("reaped zombie process with pid %d", gpid); !strings.Contains(p.stderr.String(), want) {
		t.Errorf("stderr %q lacks %q", p.stderr.String(), want)
	}
}

// TestNewProcessGroup: the child runs in a process group of its own.
func TestNewProcessGroup(t *testing.T) {
	t.Parallel()
	exe, _ := os.Executable()
	out := filepath.Join(t.TempDir(), "out")
	p := start(t, "--", exe, out)
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit status %d; stderr: %s", code, p.stderr.String())
	}
	var pid, pgrp, tpgid int
	fmt.Sscan(waitFile(t, out), &pid, &pgrp, &tpgid)
	if pgrp != pid || tpgid != -1 {
		t.Errorf("child %d: process group %d, terminal's foreground group %d; want %d, -1", pid, pgrp, tpgid, pid)
	}
}

// TestTerminalForeground: when stdin is the init's controlling terminal,
// the child's process group becomes its foreground group.
func TestTerminalForeground(t *testing.T) {
	t.Parallel()
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	defer ptmx.Close()
	if err := unix.IoctlSetPointerInt(int(ptmx.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Skipf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetUint32(int(ptmx.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Skipf("ptsname: %v", err)
	}
	pts, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("open the terminal: %v", err)
	}
	defer pts.Close()
	go func() { // drain the terminal's output
		buf := make([]byte, 4096)
		for {
			if _, err := ptmx.Read(buf); err != nil {
				return
			}
		}
	}()

	exe, _ := os.Executable()
	out := filepath.Join(t.TempDir(), "out")
	p := startWith(t, func(c *exec.Cmd) {
		c.Stdin = pts
		c.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	}, "--", exe, out)
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit status %d; stderr: %s", code, p.stderr.String())
	}
	var pid, pgrp, tpgid int
	fmt.Sscan(waitFile(t, out), &pid, &pgrp, &tpgid)
	if pgrp != pid || tpgid != pgrp {
		t.Errorf("child %d: process group %d, terminal's foreground group %d; want both %d", pid, pgrp, tpgid, pid)
	}
}
