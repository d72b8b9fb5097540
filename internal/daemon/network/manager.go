// Package network is the engine's bridge networking, docker's model:
// network records with their IPAM (a subnet and gateway per network,
// addresses per endpoint), a Linux bridge per network with a veth pair
// per endpoint, nftables rules for outbound NAT, isolation and published
// ports, an embedded DNS server per user-defined network and a userland
// proxy per published port.
//
// # On disk and on the host
//
//	<Root>/networks/<id>.json     a network's record (written atomically)
//	bridge hako0 (--bridge)       the default "bridge" network; br-<id12> for the others
//	vethXXXXXXX                   an endpoint's host side, alias "hako:<container>:<endpoint>"
//	nft table ip hako             chains <bridge>-pre/out/post/dnat/fwd (see firewall.go)
//	nft table ip6 hako            chains <bridge>-post/fwd, while a network has IPv6
//
// Endpoint addresses live in the container records (NetworkSettings);
// the daemon hands the running containers' endpoints back at start
// (Reserve), which rebuilds the allocations.
package network

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hako-dev/hako/internal/errdefs"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Options of bridge networks, docker's names.
const (
	OptBridgeName = "com.docker.network.bridge.name"
	OptMTU        = "com.docker.network.driver.mtu"
)

// DefaultMTU is docker's.
const DefaultMTU = 1500

// Config is what the manager is opened with.
type Config struct {
	// Dir holds the records (ROOT/networks).
	Dir string
	// DefaultBridge is the default network's bridge ("hako0"); it also
	// tags the daemon's nftables chains.
	DefaultBridge string
	// DefaultSubnet is the default network's subnet when it is first
	// made; zero: 172.17.0.0/16 unless a host route overlaps it.
	DefaultSubnet netip.Prefix
	Log           *slog.Logger
	// NetNS is where bridges and rules go: netns.None() for the daemon's
	// own namespace (tests pass one they made).
	NetNS netns.NsHandle
	// IPForward is the sysctl to turn on (default ipForwardPath).
	IPForward string
	// IPv6Forward is IPv6's (default ipv6ForwardPath; "-": leave it),
	// turned on once a non-internal network has IPv6.
	IPv6Forward string
	// ResolvConf lists the upstream name servers (default /etc/resolv.conf).
	ResolvConf string
	// Pools are where subnets come from (default DefaultPools).
	Pools []Pool
	// LockPath serializes subnet choices between the daemons of a host.
	LockPath string
	// NoDNS skips the embedded DNS servers (tests of other parts).
	NoDNS bool
}

// Manager owns the networks, their addresses, bridges, rules, DNS
// servers and port proxies.
type Manager struct {
	cfg   Config
	store *Store
	links *Links
	fw    *Firewall

	// changeMu serializes creates and removes; fwMu the rule writes (each
	// writes the state it read, so they must not interleave); mu guards
	// the maps.
	changeMu sync.Mutex
	fwMu     sync.Mutex
	mu       sync.RWMutex
	nets     map[string]*netState // by network ID
	ports    map[string][]*published
	// pending counts the veth deletions ReleaseGone left running.
	pending sync.WaitGroup
}

type netState struct {
	m      *Manager
	n      *Network
	alloc  *Allocator
	alloc6 *Allocator // nil: IPv4 only
	eps    map[string]*Endpoint
	dns    *Resolver
}

// Open loads the records, makes sure the predefined networks exist and
// sets up every bridge network's bridge, DNS server and rules.
func Open(cfg Config) (_ *Manager, retErr error) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.DefaultBridge == "" {
		cfg.DefaultBridge = "hako0"
	}
	if cfg.IPForward == "" {
		cfg.IPForward = ipForwardPath
	}
	if cfg.ResolvConf == "" {
		cfg.ResolvConf = "/etc/resolv.conf"
	}
	if cfg.Pools == nil {
		cfg.Pools = DefaultPools
	}
	if err := validBridgeName(cfg.DefaultBridge); err != nil {
		return nil, err
	}
	store, err := OpenStore(cfg.Dir)
	if err != nil {
		return nil, err
	}
	links, err := NewLinks(cfg.NetNS)
	if err != nil {
		return nil, err
	}
	fd := 0
	if cfg.NetNS != netns.None() {
		fd = int(cfg.NetNS)
	}
	m := &Manager{cfg: cfg, store: store, links: links, fw: NewFirewall(cfg.DefaultBridge, fd), nets: map[string]*netState{}, ports: map[string][]*published{}}
	defer func() {
		if retErr != nil {
			m.Close(false)
		}
	}()
	if err := m.ensurePredefined(); err != nil {
		return nil, err
	}
	for _, n := range store.List() {
		if n.Driver != DriverBridge {
			continue
		}
		if err := m.up(n); err != nil {
			return nil, err
		}
	}
	if err := m.applyFirewall(); err != nil {
		return nil, err
	}
	return m, nil
}

// ensurePredefined creates the records of bridge, host and none the
// first time, and points the default network at the configured bridge.
func (m *Manager) ensurePredefined() error {
	if n, err := m.store.Get("bridge"); err == nil && n.Default {
		if n.Bridge != m.cfg.DefaultBridge {
			n.Bridge = m.cfg.DefaultBridge
			if n.Options == nil {
				n.Options = map[string]string{}
			}
			n.Options[OptBridgeName] = n.Bridge
			return m.store.Put(n)
		}
	} else {
		unlock := m.hostLock()
		defer unlock()
		subnet, gw, err := m.defaultSubnet()
		if err != nil {
			return err
		}
		n := &Network{ID: NewID(), Name: "bridge", Driver: DriverBridge, Created: time.Now().UTC(), Default: true,
			Subnet: subnet, Gateway: gw, Bridge: m.cfg.DefaultBridge,
			Options: map[string]string{
				"com.docker.network.bridge.default_bridge":       "true",
				"com.docker.network.bridge.enable_icc":           "true",
				"com.docker.network.bridge.enable_ip_masquerade": "true",
				"com.docker.network.bridge.host_binding_ipv4":    "0.0.0.0",
				OptBridgeName: m.cfg.DefaultBridge,
				OptMTU:        strconv.Itoa(DefaultMTU),
			}}
		if err := m.links.EnsureBridge(n.Bridge, n.Subnet, n.Gateway, DefaultMTU); err != nil {
			return err
		}
		if err := m.store.Put(n); err != nil {
			return err
		}
	}
	for _, p := range []struct{ name, driver string }{{"host", DriverHost}, {"none", DriverNull}} {
		if _, err := m.store.Get(p.name); err == nil {
			continue
		}
		n := &Network{ID: NewID(), Name: p.name, Driver: p.driver, Created: time.Now().UTC(), Options: map[string]string{}}
		if err := m.store.Put(n); err != nil {
			return err
		}
	}
	return nil
}

// defaultSubnet is the default bridge's: the address the bridge already
// has, else the configured one, else 172.17.0.0/16 or the first free
// pool when a host route overlaps it.
func (m *Manager) defaultSubnet() (netip.Prefix, netip.Addr, error) {
	if p, gw, ok := m.links.bridgeAddr(m.cfg.DefaultBridge); ok {
		return p, gw, nil
	}
	if m.cfg.DefaultSubnet.IsValid() {
		p := m.cfg.DefaultSubnet.Masked()
		return p, FirstHost(p), nil
	}
	used, err := m.usedPrefixes()
	if err != nil {
		return netip.Prefix{}, netip.Addr{}, err
	}
	p, err := NextSubnet(m.cfg.Pools, used)
	if err != nil {
		return netip.Prefix{}, netip.Addr{}, err
	}
	if p != netip.MustParsePrefix("172.17.0.0/16") {
		m.cfg.Log.Info("a host route overlaps 172.17.0.0/16: the default bridge network uses another subnet", "subnet", p)
	}
	return p, FirstHost(p), nil
}

// usedPrefixes are the host's routes and addresses (other than those of
// this daemon's bridges) and this daemon's subnets.
func (m *Manager) usedPrefixes() ([]netip.Prefix, error) {
	mine := map[string]bool{m.cfg.DefaultBridge: true}
	var used []netip.Prefix
	for _, n := range m.store.List() {
		if n.Driver == DriverBridge {
			mine[n.Bridge] = true
			used = append(used, n.Subnet)
		}
	}
	routes, err := m.links.HostRoutes(mine)
	if err != nil {
		return nil, fmt.Errorf("list host routes: %w", err)
	}
	return append(used, routes...), nil
}

// hostLock takes the host-wide lock on subnet choices, if configured.
func (m *Manager) hostLock() func() {
	if m.cfg.LockPath == "" {
		return func() {}
	}
	os.MkdirAll(filepath.Dir(m.cfg.LockPath), 0o755)
	f, err := os.OpenFile(m.cfg.LockPath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		m.cfg.Log.Warn("network lock", "path", m.cfg.LockPath, "error", err)
		return func() {}
	}
	unix.Flock(int(f.Fd()), unix.LOCK_EX)
	return func() { f.Close() }
}

// up sets a bridge network up: its allocator, bridge and DNS server.
func (m *Manager) up(n *Network) error {
	alloc, alloc6, err := n.allocators()
	if err != nil {
		return fmt.Errorf("network %s: %w", n.Name, err)
	}
	if err := m.links.EnsureBridge(n.Bridge, n.Subnet, n.Gateway, mtuOf(n)); err != nil {
		return fmt.Errorf("network %s: %w", n.Name, err)
	}
	if err := m.links.EnsureBridge6(n.Bridge, n.Subnet6, n.Gateway6); err != nil {
		return fmt.Errorf("network %s: %w", n.Name, err)
	}
	st := &netState{m: m, n: n, alloc: alloc, alloc6: alloc6, eps: map[string]*Endpoint{}}
	if n.UserDefined() && !m.cfg.NoDNS {
		if st.dns, err = StartResolver(netip.AddrPortFrom(n.Gateway, 53), n.Subnet, st); err != nil {
			m.cfg.Log.Warn("no embedded DNS server for network: containers on it resolve only through the host's servers", "network", n.Name, "error", err)
		}
	}
	m.mu.Lock()
	m.nets[n.ID] = st
	m.mu.Unlock()
	return nil
}

// allocators are n's address allocators (the IPv6 one nil unless IPv6
// is on), its auxiliary addresses taken.
func (n *Network) allocators() (a4, a6 *Allocator, err error) {
	if a4, err = NewAllocator(n.Subnet, n.Gateway, n.IPRange); err != nil {
		return nil, nil, err
	}
	if n.EnableIPv6 {
		if a6, err = NewAllocator(n.Subnet6, n.Gateway6, n.IPRange6); err != nil {
			return nil, nil, err
		}
	}
	for name, ip := range n.AuxAddresses {
		a := a4
		if ip.Is6() {
			a = a6
		}
		if a == nil {
			return nil, nil, fmt.Errorf("aux-address %s=%s: no IPv6 subnet on the network: %w", name, ip, errdefs.ErrInvalidArgument)
		}
		if err := a.Reserve(ip, "aux:"+name); err != nil {
			return nil, nil, fmt.Errorf("aux-address %s=%s: %w", name, ip, err)
		}
	}
	return a4, a6, nil
}

func mtuOf(n *Network) int {
	if v, err := strconv.Atoi(n.Options[OptMTU]); err == nil && v > 0 {
		return v
	}
	return DefaultMTU
}

// applyFirewall writes the rules for the current networks and ports and
// turns forwarding on when a network needs it.
func (m *Manager) applyFirewall() error {
	m.fwMu.Lock()
	defer m.fwMu.Unlock()
	m.mu.RLock()
	var r Rules
	forward := false
	forward6 := false
	for _, st := range m.nets {
		r.Networks = append(r.Networks, FirewallNetwork{Bridge: st.n.Bridge, Subnet: st.n.Subnet, Subnet6: st.n.Subnet6, Internal: st.n.Internal})
		if !st.n.Internal {
			forward = true
			forward6 = forward6 || st.n.EnableIPv6
		}
	}
	for _, ps := range m.ports {
		for _, p := range ps {
			if p.HostIP.IsLoopback() || p.HostIP.Is6() {
				continue // DNAT cannot reach 127/8, and IPv6 has no DNAT: the proxy serves them
			}
			r.Ports = append(r.Ports, PortRule{Owner: p.owner, Proto: p.Proto, HostIP: p.HostIP, HostPort: p.HostPort, IP: p.target.Addr(), Port: p.target.Port(), Bridge: p.bridge})
		}
	}
	m.mu.RUnlock()
	slices.SortFunc(r.Networks, func(a, b FirewallNetwork) int { return strings.Compare(a.Bridge, b.Bridge) })
	if err := m.fw.Apply(r); err != nil {
		return err
	}
	if forward {
		on, err := enableForwarding(m.cfg.IPForward)
		if err != nil {
			m.cfg.Log.Warn("IPv4 forwarding is off and could not be enabled: containers cannot reach beyond the host", "error", err)
		} else if on {
			m.cfg.Log.Info("enabled IPv4 forwarding (net.ipv4.ip_forward=1) for the bridge networks' outbound NAT")
		}
	}
	if forward6 && m.cfg.IPv6Forward != "-" {
		p := m.cfg.IPv6Forward
		if p == "" {
			p = ipv6ForwardPath
		}
		on, err := enableForwarding(p)
		if err != nil {
			m.cfg.Log.Warn("IPv6 forwarding is off and could not be enabled: containers cannot reach beyond the host over IPv6", "error", err)
		} else if on {
			m.cfg.Log.Info("enabled IPv6 forwarding (net.ipv6.conf.all.forwarding=1) for an IPv6 network's outbound NAT")
		}
	}
	return nil
}

// Close stops the DNS servers and port proxies; with teardown it also
// removes the bridges and the daemon's nftables chains (the daemon does
// so when it stops with no container running: the next start rebuilds
// them from the records).
func (m *Manager) Close(teardown bool) error {
	m.Settle()
	if teardown {
		m.RemoveStrayVeths(func(string, string) bool { return false })
	}
	m.mu.Lock()
	nets := m.nets
	ports := m.ports
	m.nets, m.ports = map[string]*netState{}, map[string][]*published{}
	m.mu.Unlock()
	for _, ps := range ports {
		for _, p := range ps {
			p.proxy.Close()
		}
	}
	var errs []error
	for _, st := range nets {
		if st.dns != nil {
			st.dns.Close()
		}
		if teardown {
			errs = append(errs, m.links.DeleteBridge(st.n.Bridge))
		}
	}
	if teardown {
		errs = append(errs, m.fw.Remove())
	}
	m.links.Close()
	return errors.Join(errs...)
}

// CreateRequest is a new network.
type CreateRequest struct {
	Name       string
	Driver     string
	Internal   bool
	Attachable bool
	Labels     map[string]string
	Options    map[string]string
	Subnet     netip.Prefix // zero: the next free one
	Gateway    netip.Addr   // zero: the subnet's first address
	// IPRange is where containers' addresses are allocated (--ip-range;
	// zero: the whole subnet); Subnet must be given with it.
	IPRange netip.Prefix
	// AuxAddresses are addresses of the subnet no container gets
	// (--aux-address name=ip).
	AuxAddresses map[string]netip.Addr
	// EnableIPv6 makes the network dual-stack: Subnet6 (zero: a random
	// unique local /64), Gateway6 (zero: its first address), IPRange6.
	EnableIPv6 bool
	Subnet6    netip.Prefix
	Gateway6   netip.Addr
	IPRange6   netip.Prefix
}

var validNetworkName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

func validBridgeName(n string) error {
	if n == "" || len(n) > 15 || strings.ContainsAny(n, "/ :") {
		return fmt.Errorf("invalid bridge name %q: at most 15 characters, no '/', ':' or space: %w", n, errdefs.ErrInvalidArgument)
	}
	return nil
}

// Create makes a bridge network: its record, subnet, bridge, DNS server
// and rules.
func (m *Manager) Create(req CreateRequest) (_ *Network, retErr error) {
	if req.Name == "" {
		return nil, fmt.Errorf("network name cannot be empty: %w", errdefs.ErrInvalidArgument)
	}
	if !validNetworkName.MatchString(req.Name) {
		return nil, fmt.Errorf("invalid network name %q, only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed: %w", req.Name, errdefs.ErrInvalidArgument)
	}
	switch req.Driver {
	case "", DriverBridge:
	case DriverHost, DriverNull:
		return nil, fmt.Errorf("only one instance of %q network is allowed: %w", req.Driver, errdefs.ErrPermissionDenied)
	default:
		return nil, fmt.Errorf("could not find plugin %s in v1 plugin registry: plugin not found: %w", req.Driver, errdefs.ErrNotFound)
	}
	for _, o := range m.store.List() {
		if o.Name == req.Name {
			return nil, fmt.Errorf("network with name %s already exists: %w", req.Name, errdefs.ErrConflict)
		}
	}
	if req.Gateway.IsValid() && !req.Subnet.IsValid() {
		return nil, fmt.Errorf("a gateway needs a subnet (--subnet): %w", errdefs.ErrInvalidArgument)
	}
	if req.Subnet.IsValid() {
		if !req.Subnet.Addr().Is4() {
			return nil, fmt.Errorf("subnet %s is not an IPv4 subnet: %w", req.Subnet, errdefs.ErrInvalidArgument)
		}
		if req.Gateway.IsValid() && !req.Subnet.Contains(req.Gateway) {
			return nil, fmt.Errorf("no matching subnet for gateway %s: %w", req.Gateway, errdefs.ErrInvalidArgument)
		}
	}
	if (req.Subnet6.IsValid() || req.Gateway6.IsValid() || req.IPRange6.IsValid()) && !req.EnableIPv6 {
		return nil, fmt.Errorf("an IPv6 subnet, gateway or ip-range needs IPv6 enabled on the network (--ipv6): %w", errdefs.ErrInvalidArgument)
	}
	if req.Gateway6.IsValid() && !req.Subnet6.IsValid() {
		return nil, fmt.Errorf("an IPv6 gateway needs an IPv6 subnet: %w", errdefs.ErrInvalidArgument)
	}
	if req.Subnet6.IsValid() {
		if !req.Subnet6.Addr().Is6() || req.Subnet6.Addr().Is4In6() {
			return nil, fmt.Errorf("subnet %s is not an IPv6 subnet: %w", req.Subnet6, errdefs.ErrInvalidArgument)
		}
		if req.Gateway6.IsValid() && !req.Subnet6.Contains(req.Gateway6) {
			return nil, fmt.Errorf("no matching subnet for gateway %s: %w", req.Gateway6, errdefs.ErrInvalidArgument)
		}
	}
	opts := map[string]string{}
	for k, v := range req.Options {
		opts[k] = v
	}
	if v, ok := opts[OptMTU]; ok {
		if n, err := strconv.Atoi(v); err != nil || n < 68 || n > 65535 {
			return nil, fmt.Errorf("invalid MTU %q: %w", v, errdefs.ErrInvalidArgument)
		}
	}
	id := NewID()
	n := &Network{ID: id, Name: req.Name, Driver: DriverBridge, Created: time.Now().UTC(), Internal: req.Internal,
		Attachable: req.Attachable, Labels: req.Labels, Options: opts, Bridge: "br-" + id[:12]}
	if b := opts[OptBridgeName]; b != "" {
		if err := validBridgeName(b); err != nil {
			return nil, err
		}
		n.Bridge = b
	}
	for _, o := range m.store.List() {
		if o.Driver == DriverBridge && o.Bridge == n.Bridge {
			return nil, fmt.Errorf("bridge name %s is already used by network %s: %w", n.Bridge, o.Name, errdefs.ErrConflict)
		}
	}
	// One change of the set of subnets at a time, here and on the host.
	m.changeMu.Lock()
	defer m.changeMu.Unlock()
	unlock := m.hostLock()
	defer unlock()
	var mine []netip.Prefix
	for _, o := range m.store.List() {
		if o.Driver == DriverBridge {
			mine = append(mine, o.Subnet)
			if o.Subnet6.IsValid() {
				mine = append(mine, o.Subnet6)
			}
		}
	}
	if req.EnableIPv6 {
		n.EnableIPv6 = true
		if req.Subnet6.IsValid() {
			if _, over := Overlaps(req.Subnet6.Masked(), mine); over {
				return nil, fmt.Errorf("invalid pool request: Pool overlaps with other one on this address space: %w", errdefs.ErrConflict)
			}
			n.Subnet6, n.UserSubnet6 = req.Subnet6.Masked(), true
		} else {
			routes, err := m.links.HostRoutes6()
			if err != nil {
				return nil, fmt.Errorf("list host routes: %w", err)
			}
			if n.Subnet6, err = ULASubnet(append(routes, mine...)); err != nil {
				return nil, err
			}
		}
		n.Gateway6 = req.Gateway6
		if !n.Gateway6.IsValid() {
			n.Gateway6 = FirstHost(n.Subnet6)
		}
		n.IPRange6 = req.IPRange6
	}
	if req.Subnet.IsValid() {
		if _, over := Overlaps(req.Subnet.Masked(), mine); over {
			return nil, fmt.Errorf("invalid pool request: Pool overlaps with other one on this address space: %w", errdefs.ErrConflict)
		}
		n.Subnet, n.UserSubnet = req.Subnet.Masked(), true
	} else {
		used, err := m.usedPrefixes()
		if err != nil {
			return nil, err
		}
		if n.Subnet, err = NextSubnet(m.cfg.Pools, used); err != nil {
			return nil, err
		}
	}
	n.Gateway = req.Gateway
	if !n.Gateway.IsValid() {
		n.Gateway = FirstHost(n.Subnet)
	}
	n.IPRange, n.AuxAddresses = req.IPRange, req.AuxAddresses
	if _, _, err := n.allocators(); err != nil {
		return nil, err
	}
	if err := m.store.Put(n); err != nil {
		return nil, err
	}
	defer func() {
		if retErr != nil {
			m.links.DeleteBridge(n.Bridge)
			m.mu.Lock()
			if st := m.nets[n.ID]; st != nil && st.dns != nil {
				st.dns.Close()
			}
			delete(m.nets, n.ID)
			m.mu.Unlock()
			m.store.Delete(n)
			m.applyFirewall()
		}
	}()
	if err := m.up(n); err != nil {
		return nil, err
	}
	if err := m.applyFirewall(); err != nil {
		return nil, err
	}
	return n, nil
}

// Remove deletes a network that has no endpoints.
func (m *Manager) Remove(n *Network) error {
	if n.Predefined() {
		return fmt.Errorf("%s is a pre-defined network and cannot be removed: %w", n.Name, errdefs.ErrPermissionDenied)
	}
	m.changeMu.Lock()
	defer m.changeMu.Unlock()
	m.mu.Lock()
	st := m.nets[n.ID]
	if st != nil && len(st.eps) > 0 {
		m.mu.Unlock()
		return fmt.Errorf("error while removing network: network %s has active endpoints: %w", n.Name, errdefs.ErrConflict)
	}
	delete(m.nets, n.ID)
	m.mu.Unlock()
	if st != nil && st.dns != nil {
		st.dns.Close()
	}
	var errs []error
	if n.Driver == DriverBridge {
		errs = append(errs, m.links.DeleteBridge(n.Bridge))
	}
	errs = append(errs, m.store.Delete(n), m.applyFirewall())
	return errors.Join(errs...)
}

// Get finds a network by ID, name or ID prefix.
func (m *Manager) Get(ref string) (*Network, error) { return m.store.Get(ref) }

// List returns every network.
func (m *Manager) List() []*Network { return m.store.List() }

// Teardown removes what the daemon with records in dir and default bridge
// defaultBridge put on the host: the endpoints on its bridges, the
// bridges, its nftables chains. It is for a daemon that is gone (tests,
// uninstall); a running one does the same when it stops with nothing
// running.
func Teardown(dir, defaultBridge string) error {
	links, err := NewLinks(netns.None())
	if err != nil {
		return err
	}
	defer links.Close()
	bridges := map[string]bool{defaultBridge: true}
	if _, err := os.Stat(dir); err == nil {
		if s, err := OpenStore(dir); err == nil {
			for _, n := range s.List() {
				if n.Driver == DriverBridge && n.Bridge != "" {
					bridges[n.Bridge] = true
				}
			}
		}
	}
	var errs []error
	vs, err := links.Veths(bridges)
	errs = append(errs, err)
	for _, v := range vs {
		errs = append(errs, links.Detach(v.Name))
	}
	for b := range bridges {
		errs = append(errs, links.DeleteBridge(b))
	}
	errs = append(errs, NewFirewall(defaultBridge, 0).Remove())
	return errors.Join(errs...)
}
