package network

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Proxy is one published port's userland proxy, docker's docker-proxy
// in-process: it holds hostIP:hostPort (so the port is the container's
// and no one else's) and relays what arrives there, which is what DNAT
// cannot reach: connections to 127.0.0.1 (without route_localnet) and
// from the container's own bridge.
type Proxy struct {
	tcp  net.Listener
	udp  net.PacketConn
	to   netip.AddrPort
	wg   sync.WaitGroup
	done chan struct{}

	mu    sync.Mutex
	conns map[io.Closer]struct{}
}

// ListenProxy binds proto ("tcp" or "udp") on host (port 0: any free
// port) and relays to target; Start begins relaying.
func ListenProxy(proto string, host netip.AddrPort, target netip.AddrPort) (*Proxy, error) {
	p := &Proxy{to: target, done: make(chan struct{}), conns: map[io.Closer]struct{}{}}
	var err error
	family := "4"
	if host.Addr().Is6() {
		family = "6" // IPv6 only ([::] does not take 0.0.0.0's port)
	}
	switch proto {
	case "udp":
		p.udp, err = net.ListenPacket("udp"+family, host.String())
	default:
		p.tcp, err = net.Listen("tcp"+family, host.String())
	}
	if err != nil {
		return nil, err
	}
	return p, nil
}

// family is proto for the target's address family ("tcp4", "udp6").
func (p *Proxy) family(proto string) string {
	if p.to.Addr().Is6() {
		return proto + "6"
	}
	return proto + "4"
}

// Addr is the bound address (with the port chosen when 0 was asked).
func (p *Proxy) Addr() netip.AddrPort {
	var a net.Addr
	if p.tcp != nil {
		a = p.tcp.Addr()
	} else {
		a = p.udp.LocalAddr()
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}

// Start relays in the background until Close.
func (p *Proxy) Start() {
	p.wg.Add(1)
	if p.tcp != nil {
		go p.serveTCP()
	} else {
		go p.serveUDP()
	}
}

// Close stops the proxy and its connections.
func (p *Proxy) Close() {
	select {
	case <-p.done:
		return
	default:
	}
	close(p.done)
	if p.tcp != nil {
		p.tcp.Close()
	} else {
		p.udp.Close()
	}
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *Proxy) track(c io.Closer, on bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if on {
		select {
		case <-p.done:
			return false
		default:
		}
		p.conns[c] = struct{}{}
	} else {
		delete(p.conns, c)
	}
	return true
}

func (p *Proxy) serveTCP() {
	defer p.wg.Done()
	for {
		c, err := p.tcp.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			select {
			case <-p.done:
				return
			default:
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		p.wg.Add(1)
		go p.relayTCP(c)
	}
}

func (p *Proxy) relayTCP(in net.Conn) {
	defer p.wg.Done()
	defer in.Close()
	if !p.track(in, true) {
		return
	}
	defer p.track(in, false)
	out, err := net.DialTimeout(p.family("tcp"), p.to.String(), 10*time.Second)
	if err != nil {
		return
	}
	defer out.Close()
	if !p.track(out, true) {
		return
	}
	defer p.track(out, false)
	var wg sync.WaitGroup
	wg.Add(2)
	pipe := func(dst, src net.Conn) {
		defer wg.Done()
		io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
	}
	go pipe(out, in)
	go pipe(in, out)
	wg.Wait()
}

// udpIdle is how long a UDP flow without traffic is kept (docker's
// proxy: 90s).
const udpIdle = 90 * time.Second

func (p *Proxy) serveUDP() {
	defer p.wg.Done()
	var mu sync.Mutex
	flows := map[string]*net.UDPConn{}
	buf := make([]byte, 65535)
	for {
		n, from, err := p.udp.ReadFrom(buf)
		if err != nil {
			select {
			case <-p.done:
				return
			default:
			}
			continue
		}
		key := from.String()
		mu.Lock()
		out := flows[key]
		if out == nil {
			out, err = net.DialUDP(p.family("udp"), nil, net.UDPAddrFromAddrPort(p.to))
			if err != nil {
				mu.Unlock()
				continue
			}
			if !p.track(out, true) {
				mu.Unlock()
				out.Close()
				return
			}
			flows[key] = out
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				defer func() {
					mu.Lock()
					delete(flows, key)
					mu.Unlock()
					p.track(out, false)
					out.Close()
				}()
				rb := make([]byte, 65535)
				for {
					out.SetReadDeadline(time.Now().Add(udpIdle))
					n, err := out.Read(rb)
					if err != nil {
						return
					}
					if _, err := p.udp.WriteTo(rb[:n], from); err != nil {
						return
					}
				}
			}()
		}
		mu.Unlock()
		out.Write(buf[:n])
	}
}
