package network

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/userdata"
	"github.com/hako-dev/hako/internal/errdefs"
	"github.com/hako-dev/hako/internal/testutil"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// newNetns makes a network namespace for the test, closed (and so
// destroyed) at its end: everything the test makes lives in it.
func newNetns(t *testing.T) netns.NsHandle {
	t.Helper()
	var ns netns.NsHandle
	var err error
	inThread(func() { ns, err = netns.New() })
	if err != nil {
		t.Fatalf("new network namespace: %v", err)
	}
	t.Cleanup(func() { ns.Close() })
	return ns
}

// inThread runs f on a thread of its own, which dies with it (so a
// thread that entered another namespace never runs other goroutines).
func inThread(f func()) {
	done := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		defer close(done)
		f()
	}()
	<-done
}

// inNS runs f in the network namespace ns.
func inNS(t *testing.T, ns netns.NsHandle, f func()) {
	t.Helper()
	var err error
	inThread(func() {
		if err = netns.Set(ns); err == nil {
			f()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
}

func nsPath(ns netns.NsHandle) string { return fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), int(ns)) }

// whoami serves, in ns on addr, connections that get their peer's
// address back.
func whoami(t *testing.T, ns netns.NsHandle, addr string) {
	t.Helper()
	var l net.Listener
	var err error
	inNS(t, ns, func() { l, err = net.Listen("tcp4", addr) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, c.RemoteAddr().(*net.TCPAddr).IP.String())
			c.Close()
		}
	}()
}

// dial connects from ns to addr and returns what the server said.
func dial(t *testing.T, ns netns.NsHandle, addr string) (string, error) {
	t.Helper()
	var c net.Conn
	var err error
	inNS(t, ns, func() { c, err = net.DialTimeout("tcp4", addr, time.Second) })
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	b, err := io.ReadAll(c)
	return string(b), err
}

func testManager(t *testing.T, host netns.NsHandle, dir string) *Manager {
	t.Helper()
	fwd := filepath.Join(t.TempDir(), "ip_forward")
	os.WriteFile(fwd, []byte("0\n"), 0o644)
	m, err := Open(Config{Dir: dir, DefaultBridge: "hkt0", NetNS: host, IPForward: fwd, NoDNS: true,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(fwd); string(b) != "1\n" {
		t.Errorf("ip_forward: %q", b)
	}
	return m
}

// ruleComments lists the comments of the rules in the daemon's chain.
func ruleComments(t *testing.T, ns netns.NsHandle, chain string) []string {
	t.Helper()
	c, err := nftables.New(nftables.WithNetNSFd(int(ns)))
	if err != nil {
		t.Fatal(err)
	}
	rules, err := c.GetRules(table, &nftables.Chain{Name: chain, Table: table})
	if err != nil {
		return nil
	}
	var out []string
	for _, r := range rules {
		s, _ := userdata.GetString(r.UserData, userdata.TypeComment)
		out = append(out, s)
	}
	return out
}

func countPrefix(l []string, p string) int {
	n := 0
	for _, s := range l {
		if strings.HasPrefix(s, p) {
			n++
		}
	}
	return n
}

// The bridge driver end to end, in namespaces the test makes: a default
// bridge and user networks, veth pairs into "containers", outbound NAT
// to an "outside" namespace, isolation between networks, internal
// networks, DNAT rules for published ports, and nothing left after
// teardown.
func TestManagerBridges(t *testing.T) {
	testutil.RequireRoot(t)
	host, outside := newNetns(t), newNetns(t)
	c1, c2, c3 := newNetns(t), newNetns(t), newNetns(t)
	// The "outside" world: 10.213.99.0/30 behind a veth from the host.
	hl, _ := netlink.NewHandleAt(host)
	defer hl.Close()
	ol, _ := netlink.NewHandleAt(outside)
	defer ol.Close()
	if err := hl.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "ext0"}, PeerName: "ext1", PeerNamespace: netlink.NsFd(int(outside))}); err != nil {
		t.Fatal(err)
	}
	for _, x := range []struct {
		h    *netlink.Handle
		name string
		addr string
	}{{hl, "ext0", "10.213.99.1/30"}, {ol, "ext1", "10.213.99.2/30"}} {
		l, err := x.h.LinkByName(x.name)
		if err != nil {
			t.Fatal(err)
		}
		a, _ := netlink.ParseAddr(x.addr)
		x.h.AddrAdd(l, a)
		x.h.LinkSetUp(l)
	}
	inNS(t, host, func() { os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644) })

	dir := filepath.Join(t.TempDir(), "networks")
	m := testManager(t, host, dir)
	def, err := m.Get("bridge")
	if err != nil || def.Subnet.String() != "172.17.0.0/16" || def.Gateway.String() != "172.17.0.1" || def.Bridge != "hkt0" {
		t.Fatalf("default network: %+v %v", def, err)
	}
	for _, name := range []string{"host", "none"} {
		if _, err := m.Get(name); err != nil {
			t.Errorf("predefined %s: %v", name, err)
		}
	}
	n1, err := m.Create(CreateRequest{Name: "n1"})
	if err != nil || n1.Subnet.String() != "172.18.0.0/16" || n1.Bridge != "br-"+n1.ID[:12] {
		t.Fatalf("n1: %+v %v", n1, err)
	}
	n2, err := m.Create(CreateRequest{Name: "n2", Internal: true, Subnet: netip.MustParsePrefix("10.213.5.0/24"), Gateway: netip.MustParseAddr("10.213.5.254")})
	if err != nil || n2.Gateway.String() != "10.213.5.254" {
		t.Fatalf("n2: %+v %v", n2, err)
	}
	if _, err := m.Create(CreateRequest{Name: "n3", Subnet: netip.MustParsePrefix("10.213.5.128/25")}); !errors.Is(err, errdefs.ErrConflict) {
		t.Fatalf("overlapping subnet: %v", err)
	}
	if _, err := m.Create(CreateRequest{Name: "n1"}); !errors.Is(err, errdefs.ErrConflict) {
		t.Fatalf("duplicate name: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, n1.ID+".json")); err != nil {
		t.Fatalf("record: %v", err)
	}

	ep1, err := m.Allocate(def, EndpointRequest{ContainerID: strings.Repeat("a", 64), Name: "one"})
	if err != nil || ep1.IP.String() != "172.17.0.2" || net.HardwareAddr(ep1.MAC).String() != "02:42:ac:11:00:02" || len(ep1.Names) != 0 {
		t.Fatalf("endpoint on the default bridge: %+v %v", ep1, err)
	}
	ep2, err := m.Allocate(n1, EndpointRequest{ContainerID: strings.Repeat("b", 64), Name: "two", Aliases: []string{"deux"}})
	if err != nil || strings.Join(ep2.Names, ",") != "two,deux,bbbbbbbbbbbb" {
		t.Fatalf("endpoint on n1: %+v %v", ep2, err)
	}
	if _, err := m.Allocate(def, EndpointRequest{ContainerID: "x", IP: netip.MustParseAddr("172.17.0.9")}); err == nil {
		t.Fatal("--ip on the default network was accepted")
	}
	ep3, err := m.Allocate(n2, EndpointRequest{ContainerID: strings.Repeat("c", 64), Name: "three", IP: netip.MustParseAddr("10.213.5.7")})
	if err != nil || ep3.IP.String() != "10.213.5.7" {
		t.Fatalf("endpoint with --ip: %+v %v", ep3, err)
	}
	for _, x := range []struct {
		ep *Endpoint
		ns netns.NsHandle
	}{{ep1, c1}, {ep2, c2}, {ep3, c3}} {
		ifName, err := m.Plumb(x.ep, nsPath(x.ns), true)
		if err != nil || ifName != "eth0" {
			t.Fatalf("plumb %s: %q %v", x.ep.IP, ifName, err)
		}
	}
	// In the container: eth0 with the address and MAC, lo up, the
	// default route through the gateway (none on the internal network).
	cl, _ := netlink.NewHandleAt(c1)
	defer cl.Close()
	eth0, err := cl.LinkByName("eth0")
	if err != nil || eth0.Attrs().HardwareAddr.String() != "02:42:ac:11:00:02" || eth0.Attrs().Flags&net.FlagUp == 0 {
		t.Fatalf("eth0: %+v %v", eth0, err)
	}
	addrs, _ := cl.AddrList(eth0, netlink.FAMILY_V4)
	if len(addrs) != 1 || addrs[0].IPNet.String() != "172.17.0.2/16" {
		t.Fatalf("eth0 addresses: %v", addrs)
	}
	if lo, _ := cl.LinkByName("lo"); lo.Attrs().Flags&net.FlagUp == 0 {
		t.Fatal("lo is down")
	}
	routes, _ := cl.RouteList(nil, netlink.FAMILY_V4)
	if !hasDefaultVia(routes, "172.17.0.1") {
		t.Fatalf("routes: %v", routes)
	}
	c3l, _ := netlink.NewHandleAt(c3)
	defer c3l.Close()
	if routes, _ := c3l.RouteList(nil, netlink.FAMILY_V4); hasDefaultVia(routes, "10.213.5.254") {
		t.Fatal("an internal network gave a default route")
	}
	// The host side: on the bridge, hairpin on, hako's alias.
	veth, err := hl.LinkByName(ep1.HostIf())
	if err != nil || !strings.HasPrefix(veth.Attrs().Name, "veth") || veth.Attrs().Alias != "hako:"+ep1.ContainerID+":"+ep1.ID {
		t.Fatalf("host veth: %+v %v", veth, err)
	}
	if br, _ := hl.LinkByName("hkt0"); veth.Attrs().MasterIndex != br.Attrs().Index {
		t.Fatal("the veth is not on the bridge")
	}
	if pi := veth.Attrs().Protinfo; pi != nil && !pi.Hairpin {
		t.Fatal("hairpin is off")
	}

	// Outbound NAT: c1 reaches the outside, which sees the host's address.
	whoami(t, outside, "10.213.99.2:8080")
	if got, err := dial(t, c1, "10.213.99.2:8080"); err != nil || got != "10.213.99.1" {
		t.Fatalf("c1 → outside: %q %v (want it masqueraded as 10.213.99.1)", got, err)
	}
	// The internal network reaches nothing beyond its bridge.
	if _, err := dial(t, c3, "10.213.99.2:8080"); err == nil {
		t.Fatal("the internal network reached the outside")
	}
	// Isolation: c2 (n1) cannot reach c1 (bridge), though both route.
	whoami(t, c1, "172.17.0.2:8081")
	if got, err := dial(t, host, "172.17.0.2:8081"); err != nil || got != "172.17.0.1" {
		t.Fatalf("host → c1: %q %v", got, err)
	}
	if got, err := dial(t, c2, "172.17.0.2:8081"); err == nil {
		t.Fatalf("n1 reached the default network: %q", got)
	}
	if c := ruleComments(t, host, "hkt0-post"); strings.Join(c, ",") != "masquerade br-"+n1.ID[:12]+",masquerade hkt0" && strings.Join(c, ",") != "masquerade hkt0,masquerade br-"+n1.ID[:12] {
		t.Errorf("postrouting: %v", c)
	}
	if c := ruleComments(t, host, "hkt0-fwd"); countPrefix(c, "isolate ") != 6 || countPrefix(c, "internal ") != 2 {
		t.Errorf("forward: %v", c)
	}

	// A published port's DNAT rule comes and goes with it.
	pm, err := m.Publish(ep1.ContainerID, ep1, []PortRequest{{Proto: "tcp", HostIP: netip.MustParseAddr("127.0.0.1"), Port: 8081}})
	if err != nil || len(pm) != 1 || pm[0].HostPort == 0 {
		t.Fatalf("publish: %v %v", pm, err)
	}
	if c := ruleComments(t, host, "hkt0-dnat"); len(c) != 0 {
		t.Errorf("a loopback binding got DNAT rules: %v", c)
	}
	if _, err := m.Publish("other", ep2, []PortRequest{{Proto: "tcp", HostIP: netip.IPv4Unspecified(), HostPort: pm[0].HostPort, Port: 80}}); !errors.Is(err, ErrPortAllocated) {
		t.Fatalf("a taken port: %v", err)
	}
	m.Unpublish(ep1.ContainerID)
	m.mu.Lock()
	m.ports["fake"] = []*published{{PortMapping: PortMapping{Proto: "tcp", HostIP: netip.IPv4Unspecified(), HostPort: 18080, Port: 80}, owner: "fake", target: netip.MustParseAddrPort("172.17.0.2:80"), bridge: "hkt0", proxy: &Proxy{done: make(chan struct{})}}}
	m.mu.Unlock()
	m.applyFirewall()
	if c := ruleComments(t, host, "hkt0-dnat"); strings.Join(c, ",") != "container fake" {
		t.Errorf("dnat: %v", c)
	}
	m.mu.Lock()
	delete(m.ports, "fake")
	m.mu.Unlock()
	m.applyFirewall()

	// A network with endpoints stays.
	if err := m.Remove(n1); !errors.Is(err, errdefs.ErrConflict) {
		t.Fatalf("remove a network in use: %v", err)
	}
	if err := m.Remove(def); !errors.Is(err, errdefs.ErrPermissionDenied) {
		t.Fatalf("remove the default network: %v", err)
	}
	// Releasing an endpoint deletes its veth pair and frees its address.
	if err := m.Release(ep2); err != nil {
		t.Fatal(err)
	}
	if _, err := hl.LinkByName(ep2.HostIf()); err == nil {
		t.Fatal("the veth outlived its endpoint")
	}
	if err := m.Remove(n1); err != nil {
		t.Fatal(err)
	}
	if _, err := hl.LinkByName(n1.Bridge); err == nil {
		t.Fatal("the bridge outlived its network")
	}
	if c := ruleComments(t, host, "hkt0-fwd"); countPrefix(c, "isolate ") != 2 {
		t.Errorf("forward after remove: %v", c)
	}

	// Reopening (a daemon restart) keeps the records and takes back the
	// endpoints it is given; a stray veth is removed.
	m.Close(false)
	m = testManager(t, host, dir)
	if n, err := m.Get("bridge"); err != nil || n.ID != def.ID {
		t.Fatalf("default network after reopen: %v %v", n, err)
	}
	if err := m.Reserve(ep1); err != nil {
		t.Fatal(err)
	}
	if again, _ := m.Allocate(def, EndpointRequest{ContainerID: "d"}); again.IP.String() != "172.17.0.3" {
		t.Fatalf("after reserve: %s", again.IP)
	} else {
		m.Release(again)
	}
	m.RemoveStrayVeths(func(cid, _ string) bool { return cid == ep1.ContainerID })
	if _, err := hl.LinkByName(ep1.HostIf()); err != nil {
		t.Fatal("a claimed veth was removed")
	}
	if _, err := hl.LinkByName(ep3.HostIf()); err == nil {
		t.Fatal("an unclaimed veth was kept")
	}
	if err := m.Close(true); err != nil {
		t.Fatal(err)
	}
	links, _ := hl.LinkList()
	for _, l := range links {
		if l.Type() == "bridge" || l.Type() == "veth" && l.Attrs().Name != "ext0" {
			t.Errorf("left after teardown: %s (%s)", l.Attrs().Name, l.Type())
		}
	}
	c, _ := nftables.New(nftables.WithNetNSFd(int(host)))
	if tables, _ := c.ListTables(); len(tables) != 0 {
		t.Errorf("tables left: %v", tables[0].Name)
	}
}

func hasDefaultVia(routes []netlink.Route, gw string) bool {
	for _, r := range routes {
		if (r.Dst == nil || r.Dst.String() == "0.0.0.0/0") && r.Gw.String() == gw {
			return true
		}
	}
	return false
}

// The default network keeps off a subnet the host routes elsewhere, and
// user networks off both.
func TestManagerSubnetsAvoidHostRoutes(t *testing.T) {
	testutil.RequireRoot(t)
	host := newNetns(t)
	hl, _ := netlink.NewHandleAt(host)
	defer hl.Close()
	if err := hl.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "taken0"}, PeerName: "taken1"}); err != nil {
		t.Fatal(err)
	}
	l, _ := hl.LinkByName("taken0")
	a, _ := netlink.ParseAddr("172.17.3.1/24")
	hl.AddrAdd(l, a)
	hl.LinkSetUp(l)
	if peer, err := hl.LinkByName("taken1"); err == nil {
		hl.LinkSetUp(peer)
	}
	_, dst, _ := net.ParseCIDR("172.18.0.0/15")
	if err := hl.RouteAdd(&netlink.Route{LinkIndex: l.Attrs().Index, Dst: dst}); err != nil {
		t.Fatal(err)
	}
	m := testManager(t, host, filepath.Join(t.TempDir(), "networks"))
	defer m.Close(true)
	def, _ := m.Get("bridge")
	if def.Subnet.String() != "172.20.0.0/16" {
		t.Fatalf("default network: %s, want 172.20.0.0/16 (172.17-19 are routed)", def.Subnet)
	}
	n, err := m.Create(CreateRequest{Name: "next"})
	if err != nil || n.Subnet.String() != "172.21.0.0/16" {
		t.Fatalf("user network: %v %v", n, err)
	}
	// A subnet given by the user may overlap a host route (docker's
	// rule), not another network.
	if _, err := m.Create(CreateRequest{Name: "mine", Subnet: netip.MustParsePrefix("172.17.3.0/24")}); err != nil {
		t.Fatalf("a given subnet on a host route: %v", err)
	}
}
