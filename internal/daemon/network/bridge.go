package network

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// VethPrefix starts the host side of every endpoint's veth pair.
const VethPrefix = "veth"

// aliasPrefix starts the alias (ifalias) of an endpoint's host veth:
// "hako:<container ID>:<endpoint ID>", so that a restarted daemon can tell
// its leftovers from other interfaces.
const aliasPrefix = "hako:"

// Links does the bridge driver's netlink work in one network namespace
// (the host's, or a test's).
type Links struct {
	h *netlink.Handle
}

// NewLinks returns the driver for the network namespace ns (netns.None():
// the daemon's own).
func NewLinks(ns netns.NsHandle) (*Links, error) {
	var h *netlink.Handle
	var err error
	if ns == netns.None() {
		h, err = netlink.NewHandle()
	} else {
		h, err = netlink.NewHandleAt(ns)
	}
	if err != nil {
		return nil, fmt.Errorf("netlink: %w", err)
	}
	return &Links{h: h}, nil
}

// Close releases the netlink sockets.
func (l *Links) Close() { l.h.Close() }

func notFound(err error) bool {
	var lnf netlink.LinkNotFoundError
	return errors.As(err, &lnf) || errors.Is(err, unix.ENODEV) || errors.Is(err, unix.ENOENT)
}

// retry runs a netlink dump again when the kernel interrupted it.
func retry[T any](f func() (T, error)) (T, error) {
	var v T
	var err error
	for range 5 {
		if v, err = f(); !errors.Is(err, netlink.ErrDumpInterrupted) {
			return v, err
		}
	}
	return v, err
}

// EnsureBridge creates (or repairs) a bridge with the gateway address of
// subnet, up.
func (l *Links) EnsureBridge(name string, subnet netip.Prefix, gateway netip.Addr, mtu int) error {
	link, err := l.h.LinkByName(name)
	if err != nil && !notFound(err) {
		return fmt.Errorf("bridge %s: %w", name, err)
	}
	if err != nil {
		attrs := netlink.NewLinkAttrs()
		attrs.Name = name
		if mtu > 0 {
			attrs.MTU = mtu
		}
		if err := l.h.LinkAdd(&netlink.Bridge{LinkAttrs: attrs}); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("create bridge %s: %w", name, err)
		}
		if link, err = l.h.LinkByName(name); err != nil {
			return fmt.Errorf("bridge %s: %w", name, err)
		}
	} else if link.Type() != "bridge" {
		return fmt.Errorf("interface %s exists and is not a bridge (%s)", name, link.Type())
	}
	want := &netlink.Addr{IPNet: &net.IPNet{IP: gateway.AsSlice(), Mask: net.CIDRMask(subnet.Bits(), 32)}}
	addrs, err := retry(func() ([]netlink.Addr, error) { return l.h.AddrList(link, netlink.FAMILY_V4) })
	if err != nil {
		return fmt.Errorf("bridge %s: %w", name, err)
	}
	have := false
	for _, a := range addrs {
		if a.IPNet.String() == want.IPNet.String() {
			have = true
			continue
		}
		l.h.AddrDel(link, &a) // a stale address from an earlier configuration
	}
	if !have {
		if err := l.h.AddrAdd(link, want); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("address %s on bridge %s: %w", want.IPNet, name, err)
		}
	}
	if err := l.h.LinkSetUp(link); err != nil {
		return fmt.Errorf("bridge %s up: %w", name, err)
	}
	return nil
}

// EnsureBridge6 gives the bridge the IPv6 gateway address of subnet
// (without duplicate address detection, which would hold it back for a
// second) and removes other global IPv6 addresses; a zero subnet leaves
// only link-local ones.
func (l *Links) EnsureBridge6(name string, subnet netip.Prefix, gateway netip.Addr) error {
	link, err := l.h.LinkByName(name)
	if err != nil {
		return fmt.Errorf("bridge %s: %w", name, err)
	}
	addrs, err := retry(func() ([]netlink.Addr, error) { return l.h.AddrList(link, netlink.FAMILY_V6) })
	if err != nil {
		return fmt.Errorf("bridge %s: %w", name, err)
	}
	var want *netlink.Addr
	if subnet.IsValid() {
		want = &netlink.Addr{IPNet: &net.IPNet{IP: gateway.AsSlice(), Mask: net.CIDRMask(subnet.Bits(), 128)}, Flags: unix.IFA_F_NODAD}
	}
	have := false
	for _, a := range addrs {
		if a.IP.IsLinkLocalUnicast() {
			continue
		}
		if want != nil && a.IPNet.String() == want.IPNet.String() {
			have = true
			continue
		}
		l.h.AddrDel(link, &a)
	}
	if want != nil && !have {
		if err := l.h.AddrAdd(link, want); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("address %s on bridge %s: %w", want.IPNet, name, err)
		}
	}
	return nil
}

// DeleteBridge removes a bridge (its ports go with it).
func (l *Links) DeleteBridge(name string) error {
	link, err := l.h.LinkByName(name)
	if err != nil {
		if notFound(err) {
			return nil
		}
		return err
	}
	if link.Type() != "bridge" {
		return nil
	}
	if err := l.h.LinkDel(link); err != nil && !notFound(err) {
		return fmt.Errorf("delete bridge %s: %w", name, err)
	}
	return nil
}

// BridgeExists reports whether name is a bridge.
func (l *Links) BridgeExists(name string) bool {
	link, err := l.h.LinkByName(name)
	return err == nil && link.Type() == "bridge"
}

// Attachment is one endpoint to plumb: a veth pair from Bridge into the
// network namespace at NsPath.
type Attachment struct {
	HostIf       string // host side name
	Bridge       string
	NsPath       string // /proc/PID/ns/net
	Address      netip.Prefix
	Gateway      netip.Addr
	Address6     netip.Prefix // zero: no IPv6
	Gateway6     netip.Addr
	MAC          net.HardwareAddr
	DefaultRoute bool
	MTU          int
	Alias        string
}

// Attach creates the veth pair: the host side on the bridge (hairpin on,
// up), the other in the namespace as the first free ethN with the
// address, MAC and (when asked) the default route, loopback up. It
// returns the interface's name in the namespace.
func (l *Links) Attach(a Attachment) (_ string, retErr error) {
	ns, err := netns.GetFromPath(a.NsPath)
	if err != nil {
		return "", fmt.Errorf("network namespace %s: %w", a.NsPath, err)
	}
	defer ns.Close()
	inner, err := netlink.NewHandleAt(ns)
	if err != nil {
		return "", fmt.Errorf("network namespace %s: %w", a.NsPath, err)
	}
	defer inner.Close()
	br, err := l.h.LinkByName(a.Bridge)
	if err != nil {
		return "", fmt.Errorf("bridge %s: %w", a.Bridge, err)
	}
	ifName, err := freeEth(inner)
	if err != nil {
		return "", err
	}
	attrs := netlink.NewLinkAttrs()
	attrs.Name = a.HostIf
	attrs.MTU = a.MTU
	if attrs.MTU <= 0 {
		attrs.MTU = br.Attrs().MTU
	}
	veth := &netlink.Veth{LinkAttrs: attrs, PeerName: ifName, PeerHardwareAddr: a.MAC, PeerNamespace: netlink.NsFd(int(ns))}
	if err := l.h.LinkAdd(veth); err != nil {
		return "", fmt.Errorf("create veth pair %s: %w", a.HostIf, err)
	}
	defer func() {
		if retErr != nil {
			l.Detach(a.HostIf)
		}
	}()
	host, err := l.h.LinkByName(a.HostIf)
	if err != nil {
		return "", fmt.Errorf("veth %s: %w", a.HostIf, err)
	}
	if a.Alias != "" {
		l.h.LinkSetAlias(host, a.Alias)
	}
	if err := l.h.LinkSetMaster(host, br); err != nil {
		return "", fmt.Errorf("attach %s to %s: %w", a.HostIf, a.Bridge, err)
	}
	if err := l.h.LinkSetHairpin(host, true); err != nil {
		return "", fmt.Errorf("hairpin mode on %s: %w", a.HostIf, err)
	}
	if err := l.h.LinkSetUp(host); err != nil {
		return "", fmt.Errorf("veth %s up: %w", a.HostIf, err)
	}
	peer, err := inner.LinkByName(ifName)
	if err != nil {
		return "", fmt.Errorf("%s in the container: %w", ifName, err)
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: a.Address.Addr().AsSlice(), Mask: net.CIDRMask(a.Address.Bits(), 32)}}
	if err := inner.AddrAdd(peer, addr); err != nil {
		return "", fmt.Errorf("address %s on %s: %w", a.Address, ifName, err)
	}
	if a.Address6.IsValid() {
		addr6 := &netlink.Addr{IPNet: &net.IPNet{IP: a.Address6.Addr().AsSlice(), Mask: net.CIDRMask(a.Address6.Bits(), 128)}, Flags: unix.IFA_F_NODAD}
		if err := inner.AddrAdd(peer, addr6); err != nil {
			return "", fmt.Errorf("address %s on %s: %w", a.Address6, ifName, err)
		}
	}
	if err := inner.LinkSetUp(peer); err != nil {
		return "", fmt.Errorf("%s up: %w", ifName, err)
	}
	if err := loopbackUp(inner); err != nil {
		return "", err
	}
	if a.DefaultRoute && a.Gateway.IsValid() {
		r := &netlink.Route{LinkIndex: peer.Attrs().Index, Gw: a.Gateway.AsSlice(), Scope: netlink.SCOPE_UNIVERSE}
		if err := inner.RouteAdd(r); err != nil && !errors.Is(err, unix.EEXIST) {
			return "", fmt.Errorf("default route via %s: %w", a.Gateway, err)
		}
	}
	if a.DefaultRoute && a.Address6.IsValid() && a.Gateway6.IsValid() {
		r := &netlink.Route{LinkIndex: peer.Attrs().Index, Gw: a.Gateway6.AsSlice(), Scope: netlink.SCOPE_UNIVERSE, Family: netlink.FAMILY_V6}
		if err := inner.RouteAdd(r); err != nil && !errors.Is(err, unix.EEXIST) {
			return "", fmt.Errorf("default route via %s: %w", a.Gateway6, err)
		}
	}
	return ifName, nil
}

// LoopbackUp brings lo up in the network namespace at nsPath.
func LoopbackUp(nsPath string) error {
	ns, err := netns.GetFromPath(nsPath)
	if err != nil {
		return fmt.Errorf("network namespace %s: %w", nsPath, err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return err
	}
	defer h.Close()
	return loopbackUp(h)
}

func loopbackUp(h *netlink.Handle) error {
	lo, err := h.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("loopback: %w", err)
	}
	if err := h.LinkSetUp(lo); err != nil {
		return fmt.Errorf("loopback up: %w", err)
	}
	return nil
}

// freeEth is the first ethN not present in the namespace.
func freeEth(h *netlink.Handle) (string, error) {
	links, err := retry(h.LinkList)
	if err != nil {
		return "", fmt.Errorf("list interfaces in the container: %w", err)
	}
	taken := map[string]bool{}
	for _, l := range links {
		taken[l.Attrs().Name] = true
	}
	for i := 0; ; i++ {
		if n := fmt.Sprintf("eth%d", i); !taken[n] {
			return n, nil
		}
	}
}

// Detach deletes the host side of an endpoint's veth pair (the peer goes
// with it); a missing one is not an error.
func (l *Links) Detach(hostIf string) error {
	link, err := l.h.LinkByName(hostIf)
	if err != nil {
		if notFound(err) {
			return nil
		}
		return err
	}
	if err := l.h.LinkDel(link); err != nil && !notFound(err) {
		return fmt.Errorf("delete %s: %w", hostIf, err)
	}
	return nil
}

// Veth is a host-side endpoint interface found by Veths.
type Veth struct {
	Name        string
	ContainerID string
	EndpointID  string
	Master      string
}

// Veths lists the host sides of hako's endpoints (those with hako's
// alias) attached to one of bridges.
func (l *Links) Veths(bridges map[string]bool) ([]Veth, error) {
	links, err := retry(l.h.LinkList)
	if err != nil {
		return nil, err
	}
	byIndex := map[int]string{}
	for _, lk := range links {
		byIndex[lk.Attrs().Index] = lk.Attrs().Name
	}
	var out []Veth
	for _, lk := range links {
		a := lk.Attrs()
		if lk.Type() != "veth" || !strings.HasPrefix(a.Alias, aliasPrefix) {
			continue
		}
		master := byIndex[a.MasterIndex]
		if !bridges[master] {
			continue
		}
		cid, epid, _ := strings.Cut(strings.TrimPrefix(a.Alias, aliasPrefix), ":")
		out = append(out, Veth{Name: a.Name, ContainerID: cid, EndpointID: epid, Master: master})
	}
	return out, nil
}

// HostRoutes lists the IPv4 destinations routed on the host (all tables'
// main routes and the addresses of interfaces), to keep new subnets off
// them; skip names interfaces whose routes don't count (the daemon's own
// bridges).
func (l *Links) HostRoutes(skip map[string]bool) ([]netip.Prefix, error) {
	links, err := retry(l.h.LinkList)
	if err != nil {
		return nil, err
	}
	names := map[int]string{}
	for _, lk := range links {
		names[lk.Attrs().Index] = lk.Attrs().Name
	}
	routes, err := retry(func() ([]netlink.Route, error) { return l.h.RouteList(nil, netlink.FAMILY_V4) })
	if err != nil {
		return nil, err
	}
	var out []netip.Prefix
	for _, r := range routes {
		if r.Dst == nil || skip[names[r.LinkIndex]] {
			continue
		}
		if p, ok := prefixOf(r.Dst); ok && p.Bits() > 0 {
			out = append(out, p)
		}
	}
	addrs, err := retry(func() ([]netlink.Addr, error) { return l.h.AddrList(nil, netlink.FAMILY_V4) })
	if err != nil {
		return nil, err
	}
	for _, a := range addrs {
		if skip[names[a.LinkIndex]] {
			continue
		}
		if p, ok := prefixOf(a.IPNet); ok {
			out = append(out, p.Masked())
		}
	}
	return out, nil
}

// HostRoutes6 lists the host's IPv6 route destinations and addresses
// (not link-local), to keep a generated IPv6 subnet off them.
func (l *Links) HostRoutes6() ([]netip.Prefix, error) {
	routes, err := retry(func() ([]netlink.Route, error) { return l.h.RouteList(nil, netlink.FAMILY_V6) })
	if err != nil {
		return nil, err
	}
	var out []netip.Prefix
	add := func(n *net.IPNet) {
		if n == nil || n.IP.IsLinkLocalUnicast() {
			return
		}
		a, ok := netip.AddrFromSlice(n.IP)
		ones, bits := n.Mask.Size()
		if ok && bits == 128 && ones > 0 {
			out = append(out, netip.PrefixFrom(a, ones).Masked())
		}
	}
	for _, r := range routes {
		add(r.Dst)
	}
	addrs, err := retry(func() ([]netlink.Addr, error) { return l.h.AddrList(nil, netlink.FAMILY_V6) })
	if err != nil {
		return nil, err
	}
	for _, a := range addrs {
		add(a.IPNet)
	}
	return out, nil
}

func prefixOf(n *net.IPNet) (netip.Prefix, bool) {
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(a.Unmap(), ones).Masked(), a.Unmap().Is4()
}

// vethName is the host side's name for an endpoint: docker's "veth" and
// seven hex digits, from the endpoint ID.
func vethName(endpointID string) string { return VethPrefix + endpointID[:7] }

// procNetns is a process's network namespace path.
func procNetns(pid int) string { return fmt.Sprintf("/proc/%d/ns/net", pid) }

// bridgeAddr is the first IPv4 address of an existing bridge.
func (l *Links) bridgeAddr(name string) (netip.Prefix, netip.Addr, bool) {
	link, err := l.h.LinkByName(name)
	if err != nil || link.Type() != "bridge" {
		return netip.Prefix{}, netip.Addr{}, false
	}
	addrs, err := retry(func() ([]netlink.Addr, error) { return l.h.AddrList(link, netlink.FAMILY_V4) })
	if err != nil || len(addrs) == 0 {
		return netip.Prefix{}, netip.Addr{}, false
	}
	p, ok := prefixOf(addrs[0].IPNet)
	if !ok {
		return netip.Prefix{}, netip.Addr{}, false
	}
	gw, _ := netip.AddrFromSlice(addrs[0].IP.To4())
	return p, gw, true
}
