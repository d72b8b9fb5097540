package network

import (
	"bufio"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"
)

func TestProxyTCP(t *testing.T) {
	back, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer back.Close()
	go func() {
		for {
			c, err := back.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	p, err := ListenProxy("tcp", netip.MustParseAddrPort("127.0.0.1:0"), netip.MustParseAddrPort(back.Addr().String()))
	if err != nil {
		t.Fatal(err)
	}
	p.Start()
	addr := p.Addr().String()
	if p.Addr().Port() == 0 {
		t.Fatal("no port chosen")
	}
	// The port is held: another bind fails.
	if l, err := net.Listen("tcp4", addr); err == nil {
		l.Close()
		t.Fatal("the proxy's port could be bound again")
	}
	for range 3 {
		c, err := net.Dial("tcp4", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte("hello\n"))
		c.(*net.TCPConn).CloseWrite()
		line, _ := bufio.NewReader(c).ReadString('\n')
		c.Close()
		if line != "hello\n" {
			t.Fatalf("echo through the proxy: %q", line)
		}
	}
	// A connection open at Close is cut.
	c, err := net.Dial("tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	p.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("a connection outlived the proxy")
	}
	if _, err := net.Dial("tcp4", addr); err == nil {
		t.Fatal("the proxy still accepts after Close")
	}
}

func TestProxyUDP(t *testing.T) {
	back, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer back.Close()
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := back.ReadFrom(buf)
			if err != nil {
				return
			}
			back.WriteTo(append([]byte("re:"), buf[:n]...), from)
		}
	}()
	p, err := ListenProxy("udp", netip.MustParseAddrPort("127.0.0.1:0"), netip.MustParseAddrPort(back.LocalAddr().String()))
	if err != nil {
		t.Fatal(err)
	}
	p.Start()
	defer p.Close()
	c, err := net.Dial("udp4", p.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 100)
	for _, msg := range []string{"one", "two"} {
		c.Write([]byte(msg))
		n, err := c.Read(buf)
		if err != nil || string(buf[:n]) != "re:"+msg {
			t.Fatalf("udp through the proxy: %q %v", buf[:n], err)
		}
	}
}

// An IPv6 listener relays to an IPv6 target, and to an IPv4 one.
func TestProxyTCPIPv6(t *testing.T) {
	for _, backAddr := range []string{"[::1]:0", "127.0.0.1:0"} {
		back, err := net.Listen("tcp", backAddr)
		if err != nil {
			t.Skipf("no %s here: %v", backAddr, err)
		}
		go func() {
			for {
				c, err := back.Accept()
				if err != nil {
					return
				}
				go func() { io.Copy(c, c); c.Close() }()
			}
		}()
		p, err := ListenProxy("tcp", netip.MustParseAddrPort("[::1]:0"), netip.MustParseAddrPort(back.Addr().String()))
		if err != nil {
			back.Close()
			t.Fatal(err)
		}
		p.Start()
		c, err := net.Dial("tcp6", p.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte("six\n"))
		c.(*net.TCPConn).CloseWrite()
		line, _ := bufio.NewReader(c).ReadString('\n')
		c.Close()
		p.Close()
		back.Close()
		if line != "six\n" {
			t.Fatalf("via [::1] to %s: %q", backAddr, line)
		}
	}
}
