package linux

import (
	"bytes"
	"os"
	"testing"
	"time"
)

func TestOpenPty(t *testing.T) {
	if _, err := os.Stat("/dev/ptmx"); err != nil {
		t.Skip("no /dev/ptmx")
	}
	master, peer, err := OpenPty("/dev/ptmx")
	if err != nil {
		t.Fatal(err)
	}
	defer master.Close()
	defer peer.Close()
	if err := SetWinsize(peer.Fd(), 24, 80); err != nil {
		t.Fatal(err)
	}
	if r, c, err := GetWinsize(master.Fd()); err != nil || r != 24 || c != 80 {
		t.Fatalf("winsize %dx%d %v", r, c, err)
	}
	// The peer must be writable: it becomes the container's stdout.
	if _, err := peer.Write([]byte("hello\n")); err != nil {
		t.Fatalf("write to peer: %v", err)
	}
	buf := make([]byte, 64)
	master.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, err := master.Read(buf)
	if err != nil || !bytes.Contains(buf[:n], []byte("hello")) {
		t.Fatalf("read from master: %q %v", buf[:n], err)
	}
}
