package linux

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

func TestDialUnixSendFDs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sock")
	l, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(l)
	if err := unix.Bind(l, &unix.SockaddrUnix{Name: path}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(l, 1); err != nil {
		t.Fatal(err)
	}
	c, err := DialUnix(path)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(c)
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := SendFDs(c, []byte("hello"), int(f.Fd())); err != nil {
		t.Fatal(err)
	}
	a, _, err := unix.Accept4(l, unix.SOCK_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(a)
	buf, oob := make([]byte, 16), make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := unix.Recvmsg(a, buf, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("received %q, %v", buf[:n], err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		t.Fatalf("control messages: %v, %v", msgs, err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		t.Fatalf("rights: %v, %v", fds, err)
	}
	defer unix.Close(fds[0])
	var st1, st2 unix.Stat_t
	unix.Fstat(fds[0], &st1)
	unix.Fstat(int(f.Fd()), &st2)
	if st1.Ino != st2.Ino || st1.Rdev != st2.Rdev {
		t.Errorf("the descriptor received is not the one sent")
	}
	if _, err := DialUnix(filepath.Join(t.TempDir(), "none")); err != unix.ENOENT {
		t.Errorf("dial of a missing socket: %v", err)
	}
}
