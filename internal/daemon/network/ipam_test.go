package network

import (
	"errors"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hako-dev/hako/internal/errdefs"
)

func TestNextSubnet(t *testing.T) {
	p := netip.MustParsePrefix
	cases := []struct {
		used []netip.Prefix
		want string
	}{
		{nil, "172.17.0.0/16"},
		{[]netip.Prefix{p("0.0.0.0/0"), p("192.0.2.0/24")}, "172.17.0.0/16"}, // the default route does not count
		{[]netip.Prefix{p("172.17.0.0/16")}, "172.18.0.0/16"},
		{[]netip.Prefix{p("172.17.5.0/24"), p("172.18.0.0/15")}, "172.20.0.0/16"}, // partial overlaps count
		{[]netip.Prefix{p("172.16.0.0/12")}, "192.168.0.0/20"},
		{[]netip.Prefix{p("172.16.0.0/12"), p("192.168.0.0/20"), p("192.168.17.0/24")}, "192.168.32.0/20"},
	}
	for _, c := range cases {
		got, err := NextSubnet(DefaultPools, c.used)
		if err != nil || got.String() != c.want {
			t.Errorf("NextSubnet(%v) = %v, %v; want %s", c.used, got, err, c.want)
		}
	}
	if _, err := NextSubnet(DefaultPools, []netip.Prefix{p("172.16.0.0/12"), p("192.168.0.0/16")}); !errors.Is(err, ErrPoolsExhausted) {
		t.Errorf("every pool used: %v", err)
	}
}

func TestAllocator(t *testing.T) {
	a, err := NewAllocator(netip.MustParsePrefix("10.213.0.0/29"), netip.MustParseAddr("10.213.0.1"), netip.Prefix{})
	if err != nil {
		t.Fatal(err)
	}
	// .0 is the network, .1 the gateway, .7 the broadcast: .2 to .6.
	var got []string
	for i := range 5 {
		ip, err := a.Allocate("ep" + string(rune('a'+i)))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ip.String())
	}
	if want := "10.213.0.2 10.213.0.3 10.213.0.4 10.213.0.5 10.213.0.6"; strings.Join(got, " ") != want {
		t.Fatalf("allocated %v, want %s", got, want)
	}
	if _, err := a.Allocate("full"); !errors.Is(err, ErrNoAddress) {
		t.Fatalf("exhausted subnet: %v", err)
	}
	a.Release(netip.MustParseAddr("10.213.0.4"), "someone-else") // not the owner: kept
	if _, err := a.Allocate("x"); err == nil {
		t.Fatal("a release by another owner freed the address")
	}
	a.Release(netip.MustParseAddr("10.213.0.4"), "epc")
	if ip, err := a.Allocate("epf"); err != nil || ip.String() != "10.213.0.4" {
		t.Fatalf("after release: %v %v, want the lowest free 10.213.0.4", ip, err)
	}
	if a.InUse() != 5 {
		t.Fatalf("in use: %d", a.InUse())
	}
}

// An IPv6 subnet has no broadcast address; its first address (the
// subnet-router anycast) and the gateway are not handed out.
func TestAllocatorIPv6(t *testing.T) {
	a, err := NewAllocator(netip.MustParsePrefix("fd6b:6861:6b6f::/125"), netip.MustParseAddr("fd6b:6861:6b6f::1"), netip.Prefix{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i := range 6 {
		ip, err := a.Allocate("ep" + string(rune('a'+i)))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ip.String())
	}
	if want := "fd6b:6861:6b6f::2 fd6b:6861:6b6f::3 fd6b:6861:6b6f::4 fd6b:6861:6b6f::5 fd6b:6861:6b6f::6 fd6b:6861:6b6f::7"; strings.Join(got, " ") != want {
		t.Fatalf("allocated %v, want %s", got, want)
	}
	if _, err := a.Allocate("full"); !errors.Is(err, ErrNoAddress6) {
		t.Fatalf("exhausted subnet: %v", err)
	}
	if err := a.Reserve(netip.MustParseAddr("fd6b:6861:6b6f::"), "x"); err == nil {
		t.Fatal("reserved the subnet-router anycast address")
	}
	// A /64 hands out its lowest addresses at once.
	b, err := NewAllocator(netip.MustParsePrefix("fd6b:6861:6b6f:1::/64"), netip.MustParseAddr("fd6b:6861:6b6f:1::1"), netip.Prefix{})
	if err != nil {
		t.Fatal(err)
	}
	if ip, err := b.Allocate("x"); err != nil || ip.String() != "fd6b:6861:6b6f:1::2" {
		t.Fatalf("/64: %v %v", ip, err)
	}
	for _, bad := range []string{"fd6b:6861:6b6f::/127", "::ffff:10.0.0.0/120"} {
		if _, err := NewAllocator(netip.MustParsePrefix(bad), netip.Addr{}, netip.Prefix{}); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("NewAllocator(%s): %v", bad, err)
		}
	}
	if _, err := NewAllocator(netip.MustParsePrefix("fd6b:6861:6b6f::/64"), netip.Addr{}, netip.MustParsePrefix("10.0.0.0/24")); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("an IPv4 ip-range in an IPv6 subnet: %v", err)
	}
}

// ULASubnet picks a unique local /64 off the used prefixes.
func TestULASubnet(t *testing.T) {
	seen := map[netip.Prefix]bool{}
	for range 20 {
		p, err := ULASubnet([]netip.Prefix{netip.MustParsePrefix("fd00::/64")})
		if err != nil {
			t.Fatal(err)
		}
		if p.Bits() != 64 || p.Addr().As16()[0] != 0xfd || p.Masked() != p {
			t.Fatalf("not a unique local /64: %s", p)
		}
		seen[p] = true
	}
	if len(seen) < 19 {
		t.Fatalf("the subnets repeat: %v", seen)
	}
	if _, err := ULASubnet([]netip.Prefix{netip.MustParsePrefix("fd00::/8")}); err == nil {
		t.Fatal("a used fd00::/8 left room")
	}
}

func TestAllocatorReserve(t *testing.T) {
	a, _ := NewAllocator(netip.MustParsePrefix("10.213.1.0/24"), netip.MustParseAddr("10.213.1.254"), netip.Prefix{})
	ip := netip.MustParseAddr("10.213.1.10")
	if err := a.Reserve(ip, "a"); err != nil {
		t.Fatal(err)
	}
	if err := a.Reserve(ip, "a"); err != nil {
		t.Fatalf("reserving twice for the same owner: %v", err)
	}
	if err := a.Reserve(ip, "b"); !errors.Is(err, errdefs.ErrConflict) {
		t.Fatalf("taken address: %v", err)
	}
	for _, bad := range []string{"10.213.1.0", "10.213.1.255", "10.213.2.1"} {
		if err := a.Reserve(netip.MustParseAddr(bad), "c"); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("Reserve(%s): %v", bad, err)
		}
	}
	if err := a.Reserve(netip.MustParseAddr("10.213.1.254"), "c"); !errors.Is(err, errdefs.ErrConflict) {
		t.Errorf("the gateway: %v", err)
	}
	// The first allocation skips the gateway and the reserved address.
	if ip, _ := a.Allocate("d"); ip.String() != "10.213.1.1" {
		t.Fatalf("allocated %s", ip)
	}
	if _, err := NewAllocator(netip.MustParsePrefix("10.213.1.0/24"), netip.MustParseAddr("10.213.9.1"), netip.Prefix{}); err == nil {
		t.Fatal("a gateway outside the subnet was accepted")
	}
	if _, err := NewAllocator(netip.MustParsePrefix("10.213.1.0/31"), netip.Addr{}, netip.Prefix{}); err == nil {
		t.Fatal("a /31 was accepted")
	}
}

// An ip-range limits what Allocate hands out, not what Reserve (--ip)
// takes; a range outside the subnet is refused.
func TestAllocatorIPRange(t *testing.T) {
	a, err := NewAllocator(netip.MustParsePrefix("10.213.2.0/24"), netip.MustParseAddr("10.213.2.1"), netip.MustParsePrefix("10.213.2.128/30"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i := range 5 {
		ip, err := a.Allocate(string(rune('a' + i)))
		if err != nil {
			got = append(got, "full")
			break
		}
		got = append(got, ip.String())
	}
	if want := []string{"10.213.2.128", "10.213.2.129", "10.213.2.130", "10.213.2.131", "full"}; !slices.Equal(got, want) {
		t.Errorf("allocated %v, want %v", got, want)
	}
	if err := a.Reserve(netip.MustParseAddr("10.213.2.9"), "x"); err != nil {
		t.Errorf("--ip outside the range but in the subnet: %v", err)
	}
	// A range at the subnet's end keeps its broadcast address out.
	b, _ := NewAllocator(netip.MustParsePrefix("10.213.3.0/24"), netip.MustParseAddr("10.213.3.1"), netip.MustParsePrefix("10.213.3.254/31"))
	if ip, _ := b.Allocate("a"); ip.String() != "10.213.3.254" {
		t.Errorf("first of 10.213.3.254/31: %s", ip)
	}
	if _, err := b.Allocate("b"); err == nil {
		t.Error("the broadcast address was handed out")
	}
	for _, r := range []string{"10.213.9.0/28", "10.213.0.0/16"} {
		if _, err := NewAllocator(netip.MustParsePrefix("10.213.2.0/24"), netip.Addr{}, netip.MustParsePrefix(r)); err == nil {
			t.Errorf("ip-range %s accepted in 10.213.2.0/24", r)
		}
	}
}

func TestOverlaps(t *testing.T) {
	used := []netip.Prefix{netip.MustParsePrefix("10.213.0.0/24"), netip.MustParsePrefix("0.0.0.0/0")}
	if _, over := Overlaps(netip.MustParsePrefix("10.213.0.128/25"), used); !over {
		t.Error("a subnet inside another does not overlap")
	}
	if _, over := Overlaps(netip.MustParsePrefix("10.0.0.0/8"), used); !over {
		t.Error("a subnet around another does not overlap")
	}
	if u, over := Overlaps(netip.MustParsePrefix("10.213.1.0/24"), used); over {
		t.Errorf("disjoint subnets overlap (%s)", u)
	}
}

func TestMACFor(t *testing.T) {
	if got := net.HardwareAddr(MACFor(netip.MustParseAddr("172.17.0.2"))).String(); got != "02:42:ac:11:00:02" {
		t.Fatal(got)
	}
}

func TestStore(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "networks")
	s, err := OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	a := &Network{ID: "abc123" + NewID()[6:], Name: "front", Driver: DriverBridge, Subnet: netip.MustParsePrefix("10.213.0.0/24")}
	b := &Network{ID: "abd456" + NewID()[6:], Name: "back", Driver: DriverBridge}
	for _, n := range []*Network{a, b} {
		if err := s.Put(n); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Put(&Network{ID: NewID(), Name: "front"}); !errors.Is(err, errdefs.ErrConflict) {
		t.Fatalf("duplicate name: %v", err)
	}
	s2, err := OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	for ref, want := range map[string]string{"front": a.ID, a.ID: a.ID, "abd": b.ID, "back": b.ID} {
		n, err := s2.Get(ref)
		if err != nil || n.ID != want {
			t.Errorf("Get(%s) = %v, %v", ref, n, err)
		}
	}
	if n, _ := s2.Get("front"); n.Subnet != a.Subnet {
		t.Errorf("subnet not kept: %v", n.Subnet)
	}
	if _, err := s2.Get("ab"); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("ambiguous prefix: %v", err)
	}
	if _, err := s2.Get("nope"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("missing: %v", err)
	}
	if err := s2.Delete(a); err != nil {
		t.Fatal(err)
	}
	if s3, _ := OpenStore(dir); len(s3.List()) != 1 {
		t.Fatalf("after delete: %v", s3.List())
	}
}
