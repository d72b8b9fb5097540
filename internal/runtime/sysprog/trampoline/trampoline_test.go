package trampoline

import (
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// run executes the trampoline with argv, its wait descriptor fed with go
// (unless nil) and its error descriptor read back.
func run(t *testing.T, argv []string, goAhead []byte, wait bool) (code int, rec []byte) {
	t.Helper()
	if !Available() {
		t.Skip("no trampoline for this architecture")
	}
	waitR, waitW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	fd, err := Memfd()
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	waitFD := 3
	if !wait {
		waitFD = -1
	}
	// ExtraFiles land at 3 (wait) and 4 (errors) in the child.
	if err := Fill(fd, waitFD, 4); err != nil {
		t.Fatal(err)
	}
	cmd := &exec.Cmd{
		Path:       "/proc/self/fd/" + strconv.Itoa(fd),
		Args:       argv,
		Env:        []string{"A=b"},
		ExtraFiles: []*os.File{waitR, errW},
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitR.Close()
	errW.Close()
	if goAhead != nil {
		waitW.Write(goAhead)
	}
	waitW.Close()
	err = cmd.Wait()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, _ := errR.Read(buf)
	errR.Close()
	return code, buf[:n]
}

func TestTrampolineSearchesCandidates(t *testing.T) {
	code, rec := run(t, []string{"/nonexistent/sh", "/bin/sh", "", "sh", "-c", `[ "$A" = b ] && exit 7`}, []byte{1}, true)
	if code != 7 || len(rec) != 0 {
		t.Fatalf("exit %d, record %x; want 7 and none", code, rec)
	}
}

func TestTrampolineWithoutWait(t *testing.T) {
	code, _ := run(t, []string{"/bin/sh", "", "sh", "-c", "exit 3"}, nil, false)
	if code != 3 {
		t.Fatalf("exit %d, want 3", code)
	}
}

func TestTrampolineReportsFailure(t *testing.T) {
	for _, tc := range []struct {
		argv  []string
		code  int
		errno unix.Errno
	}{
		{[]string{"/nonexistent/a", "/nonexistent/b", "", "a"}, 127, unix.ENOENT},
		// A directory: EACCES, reported over the ENOENT of the others.
		{[]string{"/nonexistent/a", "/", "", "a"}, 126, unix.EACCES},
	} {
		code, rec := run(t, tc.argv, []byte{1}, true)
		if code != tc.code || len(rec) != 16 {
			t.Fatalf("%q: exit %d, record %x", tc.argv, code, rec)
		}
		if m := binary.LittleEndian.Uint32(rec); m != 0x45584543 {
			t.Fatalf("%q: record magic %#x", tc.argv, m)
		}
		if e := unix.Errno(binary.LittleEndian.Uint32(rec[8:])); e != tc.errno {
			t.Fatalf("%q: errno %v, want %v", tc.argv, e, tc.errno)
		}
	}
}

func TestTrampolineQuitsWithoutGoAhead(t *testing.T) {
	// The runtime went away (EOF) instead of saying "start".
	code, rec := run(t, []string{"/bin/sh", "", "sh", "-c", "exit 0"}, nil, true)
	if code != 1 || len(rec) != 0 {
		t.Fatalf("exit %d, record %x; want 1 and none", code, rec)
	}
}

func TestTrampolineIsSealed(t *testing.T) {
	fd, err := Memfd()
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := Fill(fd, -1, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := unix.Pwrite(fd, []byte("x"), 0); err != unix.EPERM {
		t.Fatalf("write to the sealed trampoline: %v, want EPERM", err)
	}
}
