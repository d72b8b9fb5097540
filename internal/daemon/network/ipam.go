package network

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net/netip"
	"sync"

	"github.com/hako-dev/hako/internal/errdefs"
)

// DefaultPools are docker's default address pools: the default bridge
// takes the first free /16 of 172.17-31, user networks the next ones,
// then /20s of 192.168.0.0/16.
var DefaultPools = []Pool{
	{Base: netip.MustParsePrefix("172.17.0.0/16"), Size: 16},
	{Base: netip.MustParsePrefix("172.18.0.0/15"), Size: 16},
	{Base: netip.MustParsePrefix("172.20.0.0/14"), Size: 16},
	{Base: netip.MustParsePrefix("172.24.0.0/13"), Size: 16},
	{Base: netip.MustParsePrefix("192.168.0.0/16"), Size: 20},
}

// Pool is a range of addresses cut into subnets of one size.
type Pool struct {
	Base netip.Prefix
	Size int
}

// ErrPoolsExhausted says no subnet of the pools is free.
var ErrPoolsExhausted = errors.New("all predefined address pools have been fully subnetted")

// NextSubnet returns the first subnet of pools that overlaps none of used.
func NextSubnet(pools []Pool, used []netip.Prefix) (netip.Prefix, error) {
	for _, p := range pools {
		base := p.Base.Masked()
		if p.Size < base.Bits() || p.Size > 30 || !base.Addr().Is4() {
			continue
		}
		n := 1 << (p.Size - base.Bits())
		step := uint32(1) << (32 - p.Size)
		start := u32(base.Addr())
		for i := 0; i < n; i++ {
			cand := netip.PrefixFrom(addr4(start+uint32(i)*step), p.Size)
			if !overlapsAny(cand, used) {
				return cand, nil
			}
		}
	}
	return netip.Prefix{}, fmt.Errorf("could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network: %w: %w", ErrPoolsExhausted, errdefs.ErrUnavailable)
}

func overlapsAny(p netip.Prefix, used []netip.Prefix) bool {
	for _, u := range used {
		if u.Bits() == 0 { // the default route overlaps everything
			continue
		}
		if p.Overlaps(u) {
			return true
		}
	}
	return false
}

// Overlaps reports the first of used that p overlaps.
func Overlaps(p netip.Prefix, used []netip.Prefix) (netip.Prefix, bool) {
	for _, u := range used {
		if u.Bits() > 0 && p.Overlaps(u) {
			return u, true
		}
	}
	return netip.Prefix{}, false
}

// FirstHost is the first usable address of p (the usual gateway).
func FirstHost(p netip.Prefix) netip.Addr {
	return p.Masked().Addr().Next()
}

// Allocator hands out the addresses of one subnet: never the network
// address, the broadcast address or the gateway; the lowest free one
// first, as docker's default IPAM does, from the pool (the subnet, or the
// --ip-range within it).
type Allocator struct {
	mu      sync.Mutex
	subnet  netip.Prefix
	pool    netip.Prefix
	gateway netip.Addr
	used    map[netip.Addr]string // address → owner (endpoint ID)
}

// NewAllocator returns an allocator for subnet (IPv4 /30 or larger, or
// IPv6 /126 or larger) that hands out addresses of ipRange (zero: the
// whole subnet).
func NewAllocator(subnet netip.Prefix, gateway netip.Addr, ipRange netip.Prefix) (*Allocator, error) {
	subnet = subnet.Masked()
	switch {
	case subnet.Addr().Is4() && subnet.Bits() > 30:
		return nil, fmt.Errorf("subnet %s: want an IPv4 subnet of /30 or larger: %w", subnet, errdefs.ErrInvalidArgument)
	case subnet.Addr().Is6() && (subnet.Bits() > 126 || subnet.Addr().Is4In6()):
		return nil, fmt.Errorf("subnet %s: want an IPv6 subnet of /126 or larger: %w", subnet, errdefs.ErrInvalidArgument)
	}
	if gateway.IsValid() && !subnet.Contains(gateway) {
		return nil, fmt.Errorf("gateway %s is not in subnet %s: %w", gateway, subnet, errdefs.ErrInvalidArgument)
	}
	pool := subnet
	if ipRange.IsValid() {
		ipRange = ipRange.Masked()
		if ipRange.Addr().Is4() != subnet.Addr().Is4() || ipRange.Bits() < subnet.Bits() || !subnet.Contains(ipRange.Addr()) {
			return nil, fmt.Errorf("ip-range %s is not within subnet %s: %w", ipRange, subnet, errdefs.ErrInvalidArgument)
		}
		pool = ipRange
	}
	return &Allocator{subnet: subnet, pool: pool, gateway: gateway, used: map[netip.Addr]string{}}, nil
}

// Subnet is the allocator's subnet.
func (a *Allocator) Subnet() netip.Prefix { return a.subnet }

// usable: in the subnet, and neither its first address (the network, or
// IPv6's subnet-router anycast), its IPv4 broadcast nor the gateway.
func (a *Allocator) usable(ip netip.Addr) bool {
	if !a.subnet.Contains(ip) || ip == a.subnet.Addr() || ip == a.gateway {
		return false
	}
	return !ip.Is4() || ip != broadcast(a.subnet)
}

// maxScan bounds the search for a free address (an IPv6 /64 has 2^64):
// past it the subnet counts as full.
const maxScan = 1 << 20

// Allocate returns the lowest free address of the pool for owner.
func (a *Allocator) Allocate(owner string) (netip.Addr, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for ip := a.pool.Addr(); a.pool.Contains(ip) && n < maxScan; ip, n = ip.Next(), n+1 {
		if _, taken := a.used[ip]; !taken && a.usable(ip) {
			a.used[ip] = owner
			return ip, nil
		}
	}
	if a.subnet.Addr().Is6() {
		return netip.Addr{}, ErrNoAddress6
	}
	return netip.Addr{}, ErrNoAddress
}

// ErrNoAddress says the subnet is full.
var ErrNoAddress = fmt.Errorf("no available IPv4 addresses on this network's address pools: %w", errdefs.ErrUnavailable)

// ErrNoAddress6 says the IPv6 subnet is full.
var ErrNoAddress6 = fmt.Errorf("no available IPv6 addresses on this network's address pools: %w", errdefs.ErrUnavailable)

// Reserve takes ip for owner: an address asked for (--ip) or one found in
// a record at restore. Reserving an address owner already holds is a
// no-op.
func (a *Allocator) Reserve(ip netip.Addr, owner string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.usable(ip) {
		if ip == a.gateway {
			return fmt.Errorf("address %s is the gateway of the network: %w", ip, errdefs.ErrConflict)
		}
		return fmt.Errorf("address %s is not a host address of subnet %s: %w", ip, a.subnet, errdefs.ErrInvalidArgument)
	}
	if o, taken := a.used[ip]; taken && o != owner {
		return fmt.Errorf("Address already in use: %s: %w", ip, errdefs.ErrConflict)
	}
	a.used[ip] = owner
	return nil
}

// Release frees ip if owner holds it.
func (a *Allocator) Release(ip netip.Addr, owner string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.used[ip] == owner {
		delete(a.used, ip)
	}
}

// InUse is how many addresses are allocated.
func (a *Allocator) InUse() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.used)
}

func broadcast(p netip.Prefix) netip.Addr {
	v := u32(p.Masked().Addr()) | (1<<(32-p.Bits()) - 1)
	return addr4(v)
}

func u32(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func addr4(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// ULASubnet is a random IPv6 unique local /64 (RFC 4193: fd, a 40-bit
// random global ID, a 16-bit subnet ID of 0) that overlaps none of used:
// the subnet of a network created with IPv6 on and no IPv6 subnet, as
// docker (27 and later) gives one.
func ULASubnet(used []netip.Prefix) (netip.Prefix, error) {
	for range 16 {
		var b [16]byte
		b[0] = 0xfd
		if _, err := rand.Read(b[1:6]); err != nil {
			return netip.Prefix{}, err
		}
		p := netip.PrefixFrom(netip.AddrFrom16(b), 64)
		if !overlapsAny(p, used) {
			return p, nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("could not find a free IPv6 unique local /64: %w", errdefs.ErrUnavailable)
}

// MACFor is docker's MAC address for an IPv4 address: 02:42 then the
// address's four bytes.
func MACFor(ip netip.Addr) []byte {
	b := ip.As4()
	return []byte{0x02, 0x42, b[0], b[1], b[2], b[3]}
}
