package network

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

type fakeNames struct {
	names    map[string][]netip.Addr
	mu       sync.Mutex
	upstream []string
}

func (f *fakeNames) Lookup(name string) []netip.Addr { return f.names[name] }
func (f *fakeNames) LookupAddr(ip netip.Addr) []string {
	for n, ips := range f.names {
		if slices.Contains(ips, ip) {
			return []string{n}
		}
	}
	return nil
}
func (f *fakeNames) Upstream(netip.Addr) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.upstream
}

// fakeUpstream is a name server on loopback that knows one name.
func fakeUpstream(t *testing.T) string {
	t.Helper()
	mux := dns.NewServeMux()
	mux.HandleFunc(".", func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		if q.Question[0].Name == "outside.test." {
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: "outside.test.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 5}, A: netip.MustParseAddr("10.213.77.7").AsSlice()})
		} else {
			m.Rcode = dns.RcodeNameError
		}
		w.WriteMsg(m)
	})
	srv := &dns.Server{Addr: "127.0.0.1:0", Net: "udp", Handler: mux}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go srv.ListenAndServe()
	<-started
	t.Cleanup(func() { srv.Shutdown() })
	return srv.PacketConn.LocalAddr().String()
}

func query(t *testing.T, server, proto, name string, qtype uint16) *dns.Msg {
	t.Helper()
	c := &dns.Client{Net: proto}
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	r, _, err := c.Exchange(m, server)
	if err != nil {
		t.Fatalf("%s %s: %v", proto, name, err)
	}
	return r
}

func answers(r *dns.Msg) string {
	var out []string
	for _, rr := range r.Answer {
		switch rr := rr.(type) {
		case *dns.A:
			out = append(out, rr.A.String())
		case *dns.AAAA:
			out = append(out, rr.AAAA.String())
		case *dns.PTR:
			out = append(out, rr.Ptr)
		}
	}
	return strings.Join(out, " ")
}

func TestResolver(t *testing.T) {
	names := &fakeNames{names: map[string][]netip.Addr{
		"web":   {netip.MustParseAddr("10.213.0.2")},
		"cache": {netip.MustParseAddr("10.213.0.3"), netip.MustParseAddr("10.213.0.4")},
	}, upstream: []string{fakeUpstream(t)}}
	r, err := StartResolver(netip.MustParseAddrPort("127.0.0.1:0"), netip.MustParsePrefix("127.0.0.0/8"), names)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	srv := r.Addr().String()
	for _, proto := range []string{"udp", "tcp"} {
		if got := answers(query(t, srv, proto, "web", dns.TypeA)); got != "10.213.0.2" {
			t.Errorf("%s web: %q", proto, got)
		}
		if got := answers(query(t, srv, proto, "WEB.", dns.TypeA)); got != "10.213.0.2" {
			t.Errorf("%s names are case-insensitive: %q", proto, got)
		}
	}
	if got := answers(query(t, srv, "udp", "cache", dns.TypeA)); got != "10.213.0.3 10.213.0.4" {
		t.Errorf("a name on two containers: %q", got)
	}
	if m := query(t, srv, "udp", "web", dns.TypeAAAA); m.Rcode != dns.RcodeSuccess || len(m.Answer) != 0 {
		t.Errorf("AAAA of a known name: %v", m)
	}
	if got := answers(query(t, srv, "udp", "2.0.213.10.in-addr.arpa", dns.TypePTR)); got != "web." {
		t.Errorf("PTR: %q", got)
	}
	// Other names go upstream.
	if got := answers(query(t, srv, "udp", "outside.test", dns.TypeA)); got != "10.213.77.7" {
		t.Errorf("forwarded: %q", got)
	}
	if m := query(t, srv, "udp", "missing.test", dns.TypeA); m.Rcode != dns.RcodeNameError {
		t.Errorf("unknown name: rcode %d", m.Rcode)
	}
	names.mu.Lock()
	names.upstream = nil
	names.mu.Unlock()
	if m := query(t, srv, "udp", "outside.test", dns.TypeA); m.Rcode != dns.RcodeServerFailure {
		t.Errorf("no upstream: rcode %d", m.Rcode)
	}
}

// On a network with IPv6 a name has an A and an AAAA record, and the
// IPv6 address a PTR in ip6.arpa.
func TestResolverIPv6(t *testing.T) {
	names := &fakeNames{names: map[string][]netip.Addr{
		"web": {netip.MustParseAddr("10.213.0.2"), netip.MustParseAddr("fd6b:6861:6b6f::2")},
	}}
	r, err := StartResolver(netip.MustParseAddrPort("127.0.0.1:0"), netip.MustParsePrefix("127.0.0.0/8"), names)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	srv := r.Addr().String()
	if got := answers(query(t, srv, "udp", "web", dns.TypeA)); got != "10.213.0.2" {
		t.Errorf("A: %q", got)
	}
	if got := answers(query(t, srv, "udp", "web", dns.TypeAAAA)); got != "fd6b:6861:6b6f::2" {
		t.Errorf("AAAA: %q", got)
	}
	rev, _ := dns.ReverseAddr("fd6b:6861:6b6f::2")
	if got := answers(query(t, srv, "udp", rev, dns.TypePTR)); got != "web." {
		t.Errorf("PTR %s: %q", rev, got)
	}
	for _, bad := range []string{"2.0.ip6.arpa", "x.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.f.6.b.6.1.6.8.6.b.6.d.f.ip6.arpa"} {
		if _, ok := fromReverse(bad); ok {
			t.Errorf("fromReverse(%q) accepted", bad)
		}
	}
}

// Names are answered only to clients of the network's subnet.
func TestResolverRefusesOtherNetworks(t *testing.T) {
	names := &fakeNames{names: map[string][]netip.Addr{"web": {netip.MustParseAddr("10.213.0.2")}}}
	r, err := StartResolver(netip.MustParseAddrPort("127.0.0.1:0"), netip.MustParsePrefix("10.213.0.0/24"), names)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if m := query(t, r.Addr().String(), "udp", "web", dns.TypeA); m.Rcode != dns.RcodeRefused || len(m.Answer) != 0 {
		t.Fatalf("a client outside the subnet got %v", m)
	}
}

func TestHostResolvers(t *testing.T) {
	p := filepath.Join(t.TempDir(), "resolv.conf")
	os.WriteFile(p, []byte("# c\nnameserver 127.0.0.53\nsearch x.test\nnameserver 10.213.0.9\nnameserver bogus\n"), 0o644)
	if got := HostResolvers(p); strings.Join(got, ",") != "127.0.0.53:53,10.213.0.9:53" {
		t.Fatal(got)
	}
}
