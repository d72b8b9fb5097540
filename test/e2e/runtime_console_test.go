package e2e

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hako-dev/hako/internal/testutil"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// recvConsole accepts one connection on a console socket and returns the
// terminal master it carries (runc's --console-socket protocol).
func recvConsole(t *testing.T, l *net.UnixListener) *os.File {
	t.Helper()
	l.SetDeadline(time.Now().Add(20 * time.Second))
	c, err := l.AcceptUnix()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf, oob := make([]byte, 256), make([]byte, unix.CmsgSpace(4))
	_, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		t.Fatalf("no descriptor on the console socket: %v", err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		t.Fatalf("no descriptor on the console socket: %v", err)
	}
	return os.NewFile(uintptr(fds[0]), "console")
}

// Both inits (see TestRuntimeForkedAndReexecutedInitsAgree) give the
// container a terminal.
func TestRuntimeConsoleSocket(t *testing.T) {
	t.Run("forked init", func(t *testing.T) { testConsoleSocket(t, false) })
	t.Run("re-executed init", func(t *testing.T) { testConsoleSocket(t, true) })
}

func testConsoleSocket(t *testing.T, reexec bool) {
	r := newRT(t)
	sock := filepath.Join(t.TempDir(), "console.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	s := testutil.Spec(t, "sh")
	s.Process.Terminal = true
	s.Process.ConsoleSize = &specs.Box{Height: 33, Width: 101}
	if reexec {
		s.Linux.Personality = &specs.LinuxPersonality{Domain: specs.PerLinux}
	}
	b := testutil.Bundle(t, s)
	cid := id(t)
	errc := make(chan string, 1)
	go func() {
		_, errOut, code := r.run("create", "--bundle", b, "--console-socket", sock, cid)
		if code != 0 {
			errc <- errOut
		}
		close(errc)
	}()
	master := recvConsole(t, l)
	defer master.Close()
	if msg := <-errc; msg != "" {
		t.Fatalf("create: %s", msg)
	}
	r.must("start", cid)
	master.Write([]byte("tty; stty size; echo $((6*7)); exit\n"))
	var out bytes.Buffer
	buf := make([]byte, 4096)
	master.SetReadDeadline(time.Now().Add(10 * time.Second))
	for !strings.Contains(out.String(), "42\r\n") {
		n, err := master.Read(buf)
		out.Write(buf[:n])
		if err != nil {
			break
		}
	}
	got := out.String()
	if !strings.Contains(got, "/dev/pts/0") || !strings.Contains(got, "33 101") || !strings.Contains(got, "42") {
		t.Errorf("terminal session:\n%s", got)
	}
	r.waitStatus(cid, "stopped")
	r.must("delete", cid)
	r.assertGone(cid)
}
