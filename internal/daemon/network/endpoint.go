package network

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/hako-dev/hako/internal/errdefs"
)

// Endpoint is one container's attachment to one network.
type Endpoint struct {
	ID          string
	NetworkID   string
	ContainerID string
	// Names answer DNS queries on user-defined networks: the
	// container's name, its aliases, its short ID.
	Names   []string
	IP      netip.Addr
	Prefix  int
	Gateway netip.Addr
	// IP6, Prefix6 and Gateway6: the IPv6 address of a network with IPv6.
	IP6      netip.Addr
	Prefix6  int
	Gateway6 netip.Addr
	MAC      net.HardwareAddr
	// DNS are the container's own servers (--dns, "ip:53"), where its
	// other questions are forwarded.
	DNS []string
}

// HostIf is the endpoint's host-side interface.
func (e *Endpoint) HostIf() string { return vethName(e.ID) }

// Endpoints are a network's endpoints.
func (m *Manager) Endpoints(networkID string) []*Endpoint {
	m.mu.RLock()
	defer m.mu.RUnlock()
	st := m.nets[networkID]
	if st == nil {
		return nil
	}
	out := make([]*Endpoint, 0, len(st.eps))
	for _, e := range st.eps {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b *Endpoint) int { return strings.Compare(a.ContainerID, b.ContainerID) })
	return out
}

// EndpointRequest asks for an endpoint.
type EndpointRequest struct {
	ContainerID string
	Name        string // the container's, without "/"
	Aliases     []string
	IP          netip.Addr       // asked for (--ip); zero: any
	IP6         netip.Addr       // asked for (--ip6); zero: any
	MAC         net.HardwareAddr // asked for; nil: docker's from the address
	DNS         []netip.Addr     // the container's --dns
}

// Allocate makes an endpoint on n: its ID, address, MAC and DNS names.
// Nothing is plumbed yet (see Plumb).
func (m *Manager) Allocate(n *Network, req EndpointRequest) (*Endpoint, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.nets[n.ID]
	if st == nil || n.Driver != DriverBridge {
		return nil, fmt.Errorf("network %s has no bridge: %w", n.Name, errdefs.ErrInvalidArgument)
	}
	ep := &Endpoint{ID: NewID(), NetworkID: n.ID, ContainerID: req.ContainerID, Prefix: n.Subnet.Bits(), Gateway: n.Gateway, MAC: req.MAC}
	if req.IP6.IsValid() && st.alloc6 == nil {
		return nil, fmt.Errorf("an IPv6 address (%s) on network %s, which has no IPv6: %w", req.IP6, n.Name, errdefs.ErrInvalidArgument)
	}
	if req.IP6.IsValid() && !n.UserSubnet6 {
		return nil, fmt.Errorf("user specified IP address is supported only when connecting to networks with user configured subnets: %w", errdefs.ErrInvalidArgument)
	}
	if req.IP.IsValid() {
		if !n.UserSubnet {
			return nil, fmt.Errorf("user specified IP address is supported only when connecting to networks with user configured subnets: %w", errdefs.ErrInvalidArgument)
		}
		if err := st.alloc.Reserve(req.IP, ep.ID); err != nil {
			return nil, err
		}
		ep.IP = req.IP
	} else {
		ip, err := st.alloc.Allocate(ep.ID)
		if err != nil {
			return nil, fmt.Errorf("%w: %s (%s)", err, n.Name, n.ID[:12])
		}
		ep.IP = ip
	}
	if st.alloc6 != nil {
		ep.Prefix6, ep.Gateway6 = n.Subnet6.Bits(), n.Gateway6
		var err error
		if req.IP6.IsValid() {
			err = st.alloc6.Reserve(req.IP6, ep.ID)
			ep.IP6 = req.IP6
		} else if ep.IP6, err = st.alloc6.Allocate(ep.ID); err != nil {
			err = fmt.Errorf("%w: %s (%s)", err, n.Name, n.ID[:12])
		}
		if err != nil {
			st.alloc.Release(ep.IP, ep.ID)
			return nil, err
		}
	}
	if ep.MAC == nil {
		ep.MAC = MACFor(ep.IP)
	}
	if n.UserDefined() {
		ep.Names = DNSNames(req.Name, req.Aliases, req.ContainerID)
	}
	for _, d := range req.DNS {
		ep.DNS = append(ep.DNS, netip.AddrPortFrom(d, 53).String())
	}
	st.eps[ep.ID] = ep
	return ep, nil
}

// DNSNames are docker's DNSNames: the name, the aliases, the short ID.
func DNSNames(name string, aliases []string, id string) []string {
	out := []string{}
	for _, n := range append(append([]string{name}, aliases...), id[:min(12, len(id))]) {
		if n != "" && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// Reserve takes back an endpoint found in a record (a container that
// ran while the daemon was down).
func (m *Manager) Reserve(ep *Endpoint) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.nets[ep.NetworkID]
	if st == nil {
		return fmt.Errorf("network %s not found: %w", ep.NetworkID, errdefs.ErrNotFound)
	}
	if err := st.alloc.Reserve(ep.IP, ep.ID); err != nil {
		return err
	}
	if ep.IP6.IsValid() && st.alloc6 != nil {
		if err := st.alloc6.Reserve(ep.IP6, ep.ID); err != nil {
			st.alloc.Release(ep.IP, ep.ID)
			return err
		}
	}
	st.eps[ep.ID] = ep
	return nil
}

// Release frees an endpoint's address and names and deletes its veth
// pair if it is still there.
func (m *Manager) Release(ep *Endpoint) error {
	m.free(ep)
	return m.links.Detach(ep.HostIf())
}

// ReleaseGone is Release for an endpoint whose network namespace is gone
// or going (the container's processes have ended): its address and names
// are free at once, and its veth pair, which the kernel deletes with the
// namespace anyway, is deleted in the background. Deleting it waits for
// the kernel's clean-up of the namespace, tens of milliseconds when the
// container has only just ended: too long for the container's exit to
// wait. Settle waits for these deletions.
func (m *Manager) ReleaseGone(ep *Endpoint) {
	m.free(ep)
	m.pending.Add(1)
	go func() {
		defer m.pending.Done()
		if err := m.links.Detach(ep.HostIf()); err != nil {
			m.cfg.Log.Warn("delete an endpoint's veth", "endpoint", ep.ID, "error", err)
		}
	}()
}

// Settle waits for the veth deletions ReleaseGone started.
func (m *Manager) Settle() { m.pending.Wait() }

func (m *Manager) free(ep *Endpoint) {
	m.mu.Lock()
	if st := m.nets[ep.NetworkID]; st != nil {
		st.alloc.Release(ep.IP, ep.ID)
		if st.alloc6 != nil && ep.IP6.IsValid() {
			st.alloc6.Release(ep.IP6, ep.ID)
		}
		delete(st.eps, ep.ID)
	}
	m.mu.Unlock()
}

// Plumb connects the endpoint to the network namespace at nsPath (a
// veth pair); defaultRoute asks for the default route through it
// (internal networks never give one). It returns the interface's name in
// the container.
func (m *Manager) Plumb(ep *Endpoint, nsPath string, defaultRoute bool) (string, error) {
	m.mu.RLock()
	st := m.nets[ep.NetworkID]
	m.mu.RUnlock()
	if st == nil {
		return "", fmt.Errorf("network %s not found: %w", ep.NetworkID, errdefs.ErrNotFound)
	}
	var addr6 netip.Prefix
	if ep.IP6.IsValid() {
		addr6 = netip.PrefixFrom(ep.IP6, ep.Prefix6)
	}
	return m.links.Attach(Attachment{
		HostIf: ep.HostIf(), Bridge: st.n.Bridge, NsPath: nsPath,
		Address: netip.PrefixFrom(ep.IP, ep.Prefix), Gateway: ep.Gateway, MAC: ep.MAC,
		Address6: addr6, Gateway6: ep.Gateway6,
		DefaultRoute: defaultRoute && !st.n.Internal, MTU: mtuOf(st.n),
		Alias: aliasPrefix + ep.ContainerID + ":" + ep.ID,
	})
}

// RemoveStrayVeths deletes the host sides of endpoints on this daemon's
// bridges that keep does not claim (leftovers of a crash).
func (m *Manager) RemoveStrayVeths(keep func(containerID, endpointID string) bool) {
	bridges := map[string]bool{}
	m.mu.RLock()
	for _, st := range m.nets {
		bridges[st.n.Bridge] = true
	}
	m.mu.RUnlock()
	vs, err := m.links.Veths(bridges)
	if err != nil {
		m.cfg.Log.Warn("list veths", "error", err)
		return
	}
	for _, v := range vs {
		if !keep(v.ContainerID, v.EndpointID) {
			m.cfg.Log.Info("removing a leftover endpoint", "interface", v.Name, "container", v.ContainerID)
			m.links.Detach(v.Name)
		}
	}
}

// Lookup implements Names.
func (st *netState) Lookup(name string) []netip.Addr {
	st.m.mu.RLock()
	defer st.m.mu.RUnlock()
	var out []netip.Addr
	for _, e := range st.eps {
		for _, n := range e.Names {
			if strings.EqualFold(n, name) {
				out = append(out, e.IP)
				if e.IP6.IsValid() {
					out = append(out, e.IP6)
				}
				break
			}
		}
	}
	slices.SortFunc(out, func(a, b netip.Addr) int { return a.Compare(b) })
	return out
}

// LookupAddr implements Names.
func (st *netState) LookupAddr(ip netip.Addr) []string {
	st.m.mu.RLock()
	defer st.m.mu.RUnlock()
	for _, e := range st.eps {
		if (e.IP == ip || e.IP6 == ip) && len(e.Names) > 0 {
			return []string{e.Names[0]}
		}
	}
	return nil
}

// Upstream implements Names.
func (st *netState) Upstream(client netip.Addr) []string {
	st.m.mu.RLock()
	for _, e := range st.eps {
		if e.IP == client && len(e.DNS) > 0 {
			defer st.m.mu.RUnlock()
			return e.DNS
		}
	}
	st.m.mu.RUnlock()
	var out []string
	for _, s := range HostResolvers(st.m.cfg.ResolvConf) {
		if ap, err := netip.ParseAddrPort(s); err == nil && st.n.Subnet.Contains(ap.Addr()) {
			continue // never ourselves
		}
		out = append(out, s)
	}
	return out
}

// SetNames replaces the DNS names of an endpoint (a renamed container).
func (m *Manager) SetNames(networkID, endpointID string, names []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if st := m.nets[networkID]; st != nil {
		if ep := st.eps[endpointID]; ep != nil {
			ep.Names = names
		}
	}
}

// HasDNS reports whether the network's embedded DNS server runs.
func (m *Manager) HasDNS(networkID string) bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	st := m.nets[networkID]
	return st != nil && st.dns != nil
}
