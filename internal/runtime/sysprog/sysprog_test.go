package sysprog

import (
	"errors"
	"os"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

func wait(t *testing.T, pid int) syscall.WaitStatus {
	t.Helper()
	var ws syscall.WaitStatus
	if _, err := syscall.Wait4(pid, &ws, 0, nil); err != nil {
		t.Fatal(err)
	}
	return ws
}

// Both ways to start a child: sharing the runtime's memory, and a fork.
func eachMode(t *testing.T, f func(t *testing.T, noShare bool)) {
	t.Run("shared", func(t *testing.T) { f(t, false) })
	t.Run("fork", func(t *testing.T) { f(t, true) })
}

func TestProgramRuns(t *testing.T) { eachMode(t, testProgramRuns) }

func testProgramRuns(t *testing.T, noShare bool) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	p := Prog{NoShare: noShare}
	p.Report = int(w.Fd())
	wfd := Imm(w.Fd())
	p.Sys("write a", unix.SYS_WRITE, wfd, Str("a"), Imm(1))
	// A tolerated failure skips the next call.
	p.Sys("open missing", unix.SYS_OPENAT, Imm(unix.AT_FDCWD), Str("/nonexistent/x"), Imm(unix.O_RDONLY)).Tolerate(1, unix.ENOENT)
	p.Sys("exit early", unix.SYS_EXIT_GROUP, Imm(3))
	// A result kept in a slot, used as a descriptor and as a path.
	s := p.Sys("open /", unix.SYS_OPENAT, Imm(unix.AT_FDCWD), Str("/"), Imm(unix.O_PATH|unix.O_DIRECTORY)).Out()
	p.Sys("stat fd path", unix.SYS_FACCESSAT, Imm(unix.AT_FDCWD), FdPath(s), Imm(unix.F_OK))
	p.Sys("close", unix.SYS_CLOSE, Fd(s))
	// Success skips.
	p.Sys("getpid", unix.SYS_GETPID).SkipOnSuccess(1)
	p.Sys("exit early", unix.SYS_EXIT_GROUP, Imm(4))
	p.Sys("write b", unix.SYS_WRITE, wfd, Str("b"), Imm(1))
	pid, pidfd, err := p.Start(0, -1)
	if err != nil {
		t.Fatal(err)
	}
	if pidfd >= 0 {
		unix.Close(pidfd)
	}
	ws := wait(t, pid)
	if !ws.Exited() || ws.ExitStatus() != 0 {
		t.Fatalf("child status %v", ws)
	}
	w.Close()
	buf := make([]byte, 16)
	n, _ := r.Read(buf)
	if string(buf[:n]) != "ab" {
		t.Fatalf("child wrote %q, want \"ab\"", buf[:n])
	}
}

func TestProgramReportsFailure(t *testing.T) { eachMode(t, testProgramReportsFailure) }

func testProgramReportsFailure(t *testing.T, noShare bool) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	p := Prog{NoShare: noShare}
	p.Report = fds[1]
	p.Sys("getpid", unix.SYS_GETPID)
	p.Sys("mkdir /nonexistent/x", unix.SYS_MKDIRAT, Imm(unix.AT_FDCWD), Str("/nonexistent/x"), Imm(0o755))
	pid, _, err := p.Start(0, -1)
	unix.Close(fds[1])
	if err != nil {
		t.Fatal(err)
	}
	ws := wait(t, pid)
	if ws.ExitStatus() != 1 {
		t.Fatalf("child status %v, want exit 1", ws)
	}
	var rec Record
	b := unsafe.Slice((*byte)(unsafe.Pointer(&rec)), unsafe.Sizeof(rec))
	if n, err := unix.Read(fds[0], b); err != nil || n != len(b) {
		t.Fatalf("read record: %d %v", n, err)
	}
	if rec.Magic != RecordMagic || rec.Index != 1 {
		t.Fatalf("record %+v", rec)
	}
	err = p.Decode(rec)
	if !errors.Is(err, unix.ENOENT) || err.Error() != "mkdir /nonexistent/x: no such file or directory" {
		t.Fatalf("decoded %v", err)
	}
}
