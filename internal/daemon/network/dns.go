package network

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Names answers a resolver's questions about one network.
type Names interface {
	// Lookup returns the addresses of a container name, alias or short
	// ID on the network (lower case, no trailing dot).
	Lookup(name string) []netip.Addr
	// LookupAddr returns the names of an address on the network.
	LookupAddr(ip netip.Addr) []string
	// Upstream returns the servers ("ip:port") to forward the other
	// questions of client to.
	Upstream(client netip.Addr) []string
}

// Resolver is a user-defined network's embedded DNS server. docker runs
// one per container at 127.0.0.11 behind DNAT rules in the container's
// namespace; hako runs one per network on the host, on the bridge's
// gateway address (UDP and TCP port 53), and puts that address in the
// containers' resolv.conf. It answers only clients of its own subnet, so
// names stay within their network.
type Resolver struct {
	subnet netip.Prefix
	names  Names
	addr   netip.AddrPort
	udp    *dns.Server
	tcp    *dns.Server
}

// ttl is docker's for its embedded DNS answers.
const ttl = 600

// StartResolver serves DNS on addr for clients in subnet.
func StartResolver(addr netip.AddrPort, subnet netip.Prefix, names Names) (*Resolver, error) {
	pc, err := net.ListenPacket("udp4", addr.String())
	if err != nil {
		return nil, fmt.Errorf("embedded DNS on %s: %w", addr, err)
	}
	if addr.Port() == 0 { // tests: the same free port for TCP
		ap, _ := netip.ParseAddrPort(pc.LocalAddr().String())
		addr = ap
	}
	l, err := net.Listen("tcp4", addr.String())
	if err != nil {
		pc.Close()
		return nil, fmt.Errorf("embedded DNS on %s: %w", addr, err)
	}
	r := &Resolver{subnet: subnet, names: names, addr: addr}
	r.udp = &dns.Server{PacketConn: pc, Handler: r, UDPSize: dns.DefaultMsgSize}
	r.tcp = &dns.Server{Listener: l, Handler: r}
	go r.udp.ActivateAndServe()
	go r.tcp.ActivateAndServe()
	return r, nil
}

// Addr is where the server listens.
func (r *Resolver) Addr() netip.AddrPort { return r.addr }

// Close stops the server.
func (r *Resolver) Close() {
	r.udp.Shutdown()
	r.tcp.Shutdown()
}

// ServeDNS implements dns.Handler.
func (r *Resolver) ServeDNS(w dns.ResponseWriter, q *dns.Msg) {
	client := addrOf(w.RemoteAddr())
	if !r.subnet.Contains(client) {
		m := new(dns.Msg)
		m.SetRcode(q, dns.RcodeRefused)
		w.WriteMsg(m)
		return
	}
	if len(q.Question) == 1 {
		if m := r.answer(q); m != nil {
			w.WriteMsg(m)
			return
		}
	}
	w.WriteMsg(r.forward(q, client, w.RemoteAddr().Network()))
}

// answer answers a question about the network's names, or returns nil.
func (r *Resolver) answer(q *dns.Msg) *dns.Msg {
	qs := q.Question[0]
	name := strings.ToLower(strings.TrimSuffix(qs.Name, "."))
	m := new(dns.Msg)
	m.SetReply(q)
	m.Authoritative = true
	m.RecursionAvailable = true
	switch qs.Qtype {
	case dns.TypeA, dns.TypeAAAA, dns.TypeANY:
		ips := r.names.Lookup(name)
		if len(ips) == 0 {
			return nil
		}
		// A name without an address of the asked family is known: no
		// answer, no error (NOERROR, as docker's server gives).
		for _, ip := range ips {
			switch {
			case ip.Is4() && qs.Qtype != dns.TypeAAAA:
				m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: qs.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: ttl}, A: ip.AsSlice()})
			case ip.Is6() && qs.Qtype != dns.TypeA:
				m.Answer = append(m.Answer, &dns.AAAA{Hdr: dns.RR_Header{Name: qs.Name, Rrtype: dns.TypeAAAA, Class: dns.ClassINET, Ttl: ttl}, AAAA: ip.AsSlice()})
			}
		}
		return m
	case dns.TypePTR:
		ip, ok := fromReverse(name)
		if !ok {
			return nil
		}
		ns := r.names.LookupAddr(ip)
		if len(ns) == 0 {
			return nil
		}
		for _, n := range ns {
			m.Answer = append(m.Answer, &dns.PTR{Hdr: dns.RR_Header{Name: qs.Name, Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: ttl}, Ptr: dns.Fqdn(n)})
		}
		return m
	}
	return nil
}

// forward asks the upstream servers, in order.
func (r *Resolver) forward(q *dns.Msg, client netip.Addr, proto string) *dns.Msg {
	c := &dns.Client{Net: "udp", Timeout: 3 * time.Second}
	if strings.HasPrefix(proto, "tcp") {
		c.Net = "tcp"
	}
	for _, up := range r.names.Upstream(client) {
		resp, _, err := c.Exchange(q, up)
		if err == nil && resp != nil {
			if resp.Truncated && c.Net == "udp" {
				tc := &dns.Client{Net: "tcp", Timeout: c.Timeout}
				if full, _, err := tc.Exchange(q, up); err == nil {
					resp = full
				}
			}
			resp.Id = q.Id
			return resp
		}
	}
	m := new(dns.Msg)
	m.SetRcode(q, dns.RcodeServerFailure)
	return m
}

func addrOf(a net.Addr) netip.Addr {
	switch a := a.(type) {
	case *net.UDPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	case *net.TCPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	}
	return netip.Addr{}
}

// fromReverse reads "4.3.2.1.in-addr.arpa" and IPv6's nibble form
// ("b.a.9.8.….ip6.arpa", 32 nibbles).
func fromReverse(name string) (netip.Addr, bool) {
	if rest, ok := strings.CutSuffix(name, ".ip6.arpa"); ok {
		p := strings.Split(rest, ".")
		if len(p) != 32 {
			return netip.Addr{}, false
		}
		var b [16]byte
		for i, nib := range p {
			if len(nib) != 1 {
				return netip.Addr{}, false
			}
			v, err := strconv.ParseUint(nib, 16, 8)
			if err != nil {
				return netip.Addr{}, false
			}
			pos := 31 - i // the last label is the address's first nibble
			b[pos/2] |= byte(v) << (4 * (1 - pos%2))
		}
		return netip.AddrFrom16(b), true
	}
	rest, ok := strings.CutSuffix(name, ".in-addr.arpa")
	if !ok {
		return netip.Addr{}, false
	}
	p := strings.Split(rest, ".")
	if len(p) != 4 {
		return netip.Addr{}, false
	}
	ip, err := netip.ParseAddr(p[3] + "." + p[2] + "." + p[1] + "." + p[0])
	return ip, err == nil
}

// HostResolvers are the host's name servers ("ip:53") from resolv.conf
// at p. The daemon runs in the host's network namespace, so loopback
// resolvers (systemd-resolved's 127.0.0.53) are reachable from it.
func HostResolvers(p string) []string {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 && f[0] == "nameserver" {
			if ip, err := netip.ParseAddr(f[1]); err == nil {
				out = append(out, netip.AddrPortFrom(ip.WithZone(""), 53).String())
			}
		}
	}
	return out
}
