package daemon

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hako-dev/hako/internal/daemon/container"
	"github.com/hako-dev/hako/internal/daemon/network"
	"github.com/hako-dev/hako/internal/errdefs"
	ctypes "github.com/moby/moby/api/types/container"
	nettypes "github.com/moby/moby/api/types/network"
	"github.com/vishvananda/netns"
)

// A container's endpoints live in its record's NetworkSettings.Networks,
// keyed by network name, as docker keeps them: configured at create (the
// network mode's network and NetworkingConfig's others) and at connect;
// while the container runs they also hold the endpoint's ID, address,
// gateway and MAC. A start allocates them (before the etc files are
// written, so /etc/hosts has the address), plumbs them once the monitor
// has made the container's network namespace, and an exit releases them.
// openNetworks opens the network manager: records, the default bridge,
// every network's bridge, DNS server and nftables chains.
func (d *Daemon) openNetworks() error {
	bridge := d.cfg.Bridge
	if bridge == "" {
		bridge = "hako0"
	}
	m, err := network.Open(network.Config{
		Dir:           filepath.Join(d.cfg.Root, "networks"),
		DefaultBridge: bridge,
		Log:           d.log(),
		NetNS:         netns.None(),
		LockPath:      "/run/lock/hako-network.lock",
	})
	if err != nil {
		return fmt.Errorf("networks: %w", err)
	}
	d.networks = m
	return nil
}

// closeNetworks stops the DNS servers and port proxies. With no container
// running it also removes the bridges and nftables chains (the next
// daemon makes them again from the records); running containers keep
// theirs (live-restore).
func (d *Daemon) closeNetworks() error {
	if d.networks == nil {
		return nil
	}
	teardown := true
	if d.containers != nil {
		for _, c := range d.containers.List() {
			c.Lock()
			if c.Running() || c.State.Status == container.StatusRestarting {
				teardown = false
			}
			c.Unlock()
		}
	}
	err := d.networks.Close(teardown)
	d.networks = nil
	return err
}

// netMode is the container's network mode, "default" read as "bridge".
func netMode(hc *ctypes.HostConfig) ctypes.NetworkMode {
	if hc.NetworkMode == "" || hc.NetworkMode.IsDefault() {
		return nettypes.NetworkBridge
	}
	return hc.NetworkMode
}

// ownNetns reports whether the container has a network namespace of its
// own (not the host's, not another container's).
func ownNetns(hc *ctypes.HostConfig) bool {
	m := netMode(hc)
	_, joined := netnsPath(hc)
	return !m.IsHost() && !m.IsContainer() && !joined
}

// netnsPath is the network namespace a container joins by path
// (NetworkMode "ns:/path", as podman's --network ns:PATH): one the caller
// made and configures itself, as the CRI does with CNI.
func netnsPath(hc *ctypes.HostConfig) (string, bool) {
	return strings.CutPrefix(string(hc.NetworkMode), "ns:")
}

// initNetworking checks a new container's networks and records their
// configuration, as docker does at create.
func (d *Daemon) initNetworking(c *container.Container) error {
	hc := c.HostConfig
	if c.Config.NetworkDisabled && (hc.NetworkMode == "" || hc.NetworkMode.IsDefault() || hc.NetworkMode.IsBridge()) {
		// Config.NetworkDisabled (docker-py's network_disabled): a network
		// namespace with loopback alone, as docker gives.
		hc.NetworkMode = nettypes.NetworkNone
	}
	if hc.NetworkMode == "" || hc.NetworkMode.IsDefault() {
		hc.NetworkMode = nettypes.NetworkBridge
	}
	mode := hc.NetworkMode
	eps := map[string]*nettypes.EndpointSettings{}
	if c.Networking != nil {
		for k, v := range c.Networking.EndpointsConfig {
			if k == nettypes.NetworkDefault { // the CLI's name for the default network
				k = nettypes.NetworkBridge
			}
			if eps[k] == nil {
				eps[k] = v
			}
		}
	}
	ns := &ctypes.NetworkSettings{Networks: map[string]*nettypes.EndpointSettings{}, Ports: nettypes.PortMap{}}
	if p, ok := netnsPath(hc); ok {
		if !filepath.IsAbs(p) || len(eps) > 0 || len(hc.PortBindings) > 0 || hc.PublishAllPorts {
			return fmt.Errorf("network mode ns:PATH takes an absolute path to a network namespace and no networks or published ports: %w", errdefs.ErrInvalidArgument)
		}
		c.NetworkSettings = ns
		return nil
	}
	if mode.IsContainer() {
		if len(eps) > 0 {
			return fmt.Errorf("conflicting options: container type network can't be used with other networks: %w", errdefs.ErrInvalidArgument)
		}
		c.NetworkSettings = ns
		return nil
	}
	refs := []string{string(mode)}
	for k := range eps {
		if k != string(mode) {
			refs = append(refs, k)
		}
	}
	slices.Sort(refs[1:])
	var nets []*network.Network
	cfgs := map[string]*nettypes.EndpointSettings{}
	for _, ref := range refs {
		n, err := d.networks.Get(ref)
		if err != nil {
			return err
		}
		if _, dup := cfgs[n.ID]; !dup {
			nets = append(nets, n)
		}
		if cfg := eps[ref]; cfg != nil || cfgs[n.ID] == nil {
			cfgs[n.ID] = cfg
		}
	}
	for _, n := range nets {
		if n.Driver != network.DriverBridge && len(nets) > 1 {
			var names []string
			for _, o := range nets {
				names = append(names, o.Name)
			}
			return fmt.Errorf("container cannot be connected to network endpoints: %s: %w", strings.Join(names, ", "), errdefs.ErrInvalidArgument)
		}
		es := cfgs[n.ID].Copy()
		if es == nil {
			es = &nettypes.EndpointSettings{}
		}
		if err := checkEndpointConfig(n, es); err != nil {
			return err
		}
		es.NetworkID = n.ID
		ns.Networks[n.Name] = es
	}
	c.NetworkSettings = ns
	return nil
}

// checkEndpointConfig refuses what docker refuses on a network.
func checkEndpointConfig(n *network.Network, es *nettypes.EndpointSettings) error {
	if len(es.Aliases) > 0 && !n.UserDefined() {
		return fmt.Errorf("network-scoped alias is supported only for containers in user defined networks: %w", errdefs.ErrInvalidArgument)
	}
	if es.IPAMConfig != nil && es.IPAMConfig.IPv4Address.IsValid() {
		if !n.UserSubnet {
			return fmt.Errorf("user specified IP address is supported only when connecting to networks with user configured subnets: %w", errdefs.ErrInvalidArgument)
		}
		if !n.Subnet.Contains(es.IPAMConfig.IPv4Address) {
			return fmt.Errorf("no configured subnet or ip-range contain the IP address %s: %w", es.IPAMConfig.IPv4Address, errdefs.ErrInvalidArgument)
		}
	}
	if es.IPAMConfig != nil && es.IPAMConfig.IPv6Address.IsValid() {
		if !n.EnableIPv6 {
			return fmt.Errorf("an IPv6 address (%s) on network %s, which has no IPv6 (network create --ipv6): %w", es.IPAMConfig.IPv6Address, n.Name, errdefs.ErrInvalidArgument)
		}
		if !n.UserSubnet6 {
			return fmt.Errorf("user specified IP address is supported only when connecting to networks with user configured subnets: %w", errdefs.ErrInvalidArgument)
		}
		if !n.Subnet6.Contains(es.IPAMConfig.IPv6Address) {
			return fmt.Errorf("no configured subnet or ip-range contain the IP address %s: %w", es.IPAMConfig.IPv6Address, errdefs.ErrInvalidArgument)
		}
	}
	return nil
}

// netSettings returns c's network settings, made from its network mode
// for a record older than networking.
func (d *Daemon) netSettings(c *container.Container) *ctypes.NetworkSettings {
	if c.NetworkSettings == nil {
		if err := d.initNetworking(c); err != nil {
			c.NetworkSettings = &ctypes.NetworkSettings{Networks: map[string]*nettypes.EndpointSettings{}}
		}
	}
	return c.NetworkSettings
}

// endpointNames are c's networks in attachment order: the network mode's
// first (it gives the default route), then the others by name.
func (d *Daemon) endpointNames(c *container.Container) []string {
	ns := c.NetworkSettings
	if ns == nil {
		return nil
	}
	mode := string(netMode(c.HostConfig))
	if n, err := d.networks.Get(mode); err == nil {
		mode = n.Name
	}
	var names []string
	for name := range ns.Networks {
		if name != mode {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	if _, ok := ns.Networks[mode]; ok {
		names = append([]string{mode}, names...)
	}
	return names
}

// endpointOf is the network package's view of an endpoint in a record.
func endpointOf(c *container.Container, n *network.Network, es *nettypes.EndpointSettings) *network.Endpoint {
	ep := &network.Endpoint{ID: es.EndpointID, NetworkID: n.ID, ContainerID: c.ID, IP: es.IPAddress, Prefix: es.IPPrefixLen, Gateway: es.Gateway, MAC: []byte(es.MacAddress),
		IP6: es.GlobalIPv6Address, Prefix6: es.GlobalIPv6PrefixLen, Gateway6: es.IPv6Gateway}
	if n.UserDefined() {
		ep.Names = network.DNSNames(strings.TrimPrefix(c.Name, "/"), es.Aliases, c.ID)
	}
	for _, a := range c.HostConfig.DNS {
		ep.DNS = append(ep.DNS, netip.AddrPortFrom(a, 53).String())
	}
	return ep
}

// allocateNetworks gives c an endpoint on each of its bridge networks
// and binds its published ports; the caller holds c's lock. On failure
// nothing stays allocated.
func (d *Daemon) allocateNetworks(c *container.Container) (retErr error) {
	ns := d.netSettings(c)
	if !ownNetns(c.HostConfig) {
		return nil
	}
	defer func() {
		if retErr != nil {
			d.disconnectNetworks(c)
		}
	}()
	var primary *network.Endpoint
	for _, name := range d.endpointNames(c) {
		es := ns.Networks[name]
		n, err := d.networks.Get(es.NetworkID)
		if err != nil {
			if n, err = d.networks.Get(name); err != nil {
				return fmt.Errorf("network %s not found: %w", name, errdefs.ErrNotFound)
			}
		}
		if n.Driver != network.DriverBridge {
			continue
		}
		if err := d.allocateEndpoint(c, n, es); err != nil {
			return err
		}
		if primary == nil {
			primary = endpointOf(c, n, es)
		}
	}
	if primary == nil {
		return nil
	}
	return d.publishPorts(c, primary, nil)
}

// allocateEndpoint fills es with a new endpoint of c on n.
func (d *Daemon) allocateEndpoint(c *container.Container, n *network.Network, es *nettypes.EndpointSettings) error {
	req := network.EndpointRequest{ContainerID: c.ID, Name: strings.TrimPrefix(c.Name, "/"), Aliases: es.Aliases, MAC: []byte(es.MacAddress), DNS: c.HostConfig.DNS}
	if es.IPAMConfig != nil {
		req.IP, req.IP6 = es.IPAMConfig.IPv4Address, es.IPAMConfig.IPv6Address
	}
	ep, err := d.networks.Allocate(n, req)
	if err != nil {
		return err
	}
	es.NetworkID, es.EndpointID = n.ID, ep.ID
	es.IPAddress, es.IPPrefixLen, es.Gateway = ep.IP, ep.Prefix, ep.Gateway
	es.GlobalIPv6Address, es.GlobalIPv6PrefixLen, es.IPv6Gateway = ep.IP6, ep.Prefix6, ep.Gateway6
	es.MacAddress = nettypes.HardwareAddr(ep.MAC)
	es.DNSNames = ep.Names
	return nil
}

// connectNetworks plumbs c's allocated endpoints into the network
// namespace of its init (pid): a veth pair per network, the first one
// with the default route; loopback up in any namespace of its own. The
// caller holds c's lock; on failure the caller undoes the start.
func (d *Daemon) connectNetworks(c *container.Container, pid int) error {
	if !ownNetns(c.HostConfig) {
		return nil
	}
	nsPath := fmt.Sprintf("/proc/%d/ns/net", pid)
	ns := d.netSettings(c)
	if err := network.LoopbackUp(nsPath); err != nil {
		return err
	}
	first := true
	for _, name := range d.endpointNames(c) {
		es := ns.Networks[name]
		if es.EndpointID == "" {
			continue
		}
		n, err := d.networks.Get(es.NetworkID)
		if err != nil {
			return err
		}
		if _, err := d.networks.Plumb(endpointOf(c, n, es), nsPath, first); err != nil {
			return fmt.Errorf("connect to network %s: %w", name, err)
		}
		first = false
	}
	ns.SandboxKey = nsPath
	ns.SandboxID = c.ID
	return nil
}

// disconnectNetworks releases c's endpoints (addresses, names, veth
// pairs) and published ports and forgets their runtime data; the caller
// holds c's lock, and c's processes have ended (the veth pairs go in the
// background). The configuration (networks, aliases) stays.
func (d *Daemon) disconnectNetworks(c *container.Container) {
	ns := c.NetworkSettings
	if ns == nil || d.networks == nil {
		return
	}
	if err := d.networks.Unpublish(c.ID); err != nil {
		d.log().Warn("unpublish ports", "id", c.ID, "error", err)
	}
	for _, es := range ns.Networks {
		if es == nil || es.EndpointID == "" {
			continue
		}
		if n, err := d.networks.Get(es.NetworkID); err == nil {
			d.networks.ReleaseGone(endpointOf(c, n, es))
		}
		clearEndpoint(es)
	}
	if len(ns.Ports) > 0 {
		ns.Ports = nettypes.PortMap{}
	}
	ns.SandboxKey, ns.SandboxID = "", ""
}

// clearEndpoint drops an endpoint's runtime data; a MAC the user asked
// for (not docker's 02:42 one of the address) stays.
func clearEndpoint(es *nettypes.EndpointSettings) {
	if es.IPAddress.IsValid() && slices.Equal([]byte(es.MacAddress), network.MACFor(es.IPAddress)) {
		es.MacAddress = nil
	}
	es.EndpointID = ""
	es.IPAddress, es.Gateway = netip.Addr{}, netip.Addr{}
	es.IPPrefixLen = 0
	es.GlobalIPv6Address, es.IPv6Gateway = netip.Addr{}, netip.Addr{}
	es.GlobalIPv6PrefixLen = 0
	es.DNSNames = nil
}

// restoreNetworks takes back, at daemon start, the endpoints and ports of
// the containers that ran on, forgets those of the others, and removes
// endpoints left by containers that no longer run.
func (d *Daemon) restoreNetworks(list []*container.Container) {
	running := map[string]map[string]bool{}
	for _, c := range list {
		c.Lock()
		ns := c.NetworkSettings
		if ns == nil || d.isRemoved(c) {
			c.Unlock()
			continue
		}
		if !c.Running() {
			changed := ns.SandboxKey != ""
			for _, es := range ns.Networks {
				if es != nil && es.EndpointID != "" {
					changed = true
				}
			}
			if changed {
				d.disconnectNetworks(c)
				c.Save()
			}
			c.Unlock()
			continue
		}
		eps := map[string]bool{}
		var primary *network.Endpoint
		for _, name := range d.endpointNames(c) {
			es := ns.Networks[name]
			if es.EndpointID == "" {
				continue
			}
			n, err := d.networks.Get(es.NetworkID)
			if err != nil {
				d.log().Warn("a running container's network is gone", "id", c.ID, "network", name)
				continue
			}
			ep := endpointOf(c, n, es)
			if err := d.networks.Reserve(ep); err != nil {
				d.log().Warn("restore endpoint", "id", c.ID, "network", name, "error", err)
				continue
			}
			eps[es.EndpointID] = true
			if primary == nil {
				primary = ep
			}
		}
		if primary != nil && len(ns.Ports) > 0 {
			exact := nettypes.PortMap{}
			for p, bs := range ns.Ports {
				if len(bs) > 0 {
					exact[p] = bs
				}
			}
			if len(exact) > 0 {
				if err := d.publishPorts(c, primary, exact); err != nil {
					d.log().Warn("publish the ports of a running container again", "id", c.ID, "error", err)
				}
			}
		}
		running[c.ID] = eps
		c.Unlock()
	}
	d.networks.RemoveStrayVeths(func(cid, epid string) bool { return running[cid][epid] })
}

// containerAddress is c's address on its primary bridge network, and
// its IPv6 one there if the network has IPv6, for /etc/hosts.
func (d *Daemon) containerAddress(c *container.Container) (netip.Addr, netip.Addr) {
	if c.NetworkSettings == nil {
		return netip.Addr{}, netip.Addr{}
	}
	for _, name := range d.endpointNames(c) {
		if es := c.NetworkSettings.Networks[name]; es != nil && es.IPAddress.IsValid() {
			return es.IPAddress, es.GlobalIPv6Address
		}
	}
	return netip.Addr{}, netip.Addr{}
}

// embeddedDNS is the name server for c's resolv.conf when its primary
// network is user-defined: that network's gateway, where its embedded
// DNS server listens.
func (d *Daemon) embeddedDNS(c *container.Container) netip.Addr {
	if c.NetworkSettings == nil || !ownNetns(c.HostConfig) {
		return netip.Addr{}
	}
	names := d.endpointNames(c)
	if len(names) == 0 {
		return netip.Addr{}
	}
	es := c.NetworkSettings.Networks[names[0]]
	n, err := d.networks.Get(es.NetworkID)
	if err != nil || !n.UserDefined() || !d.networks.HasDNS(n.ID) {
		return netip.Addr{} // the host's servers, as on the default network
	}
	return n.Gateway
}

// hostGateway is --add-host's "host-gateway": the default bridge's
// gateway, the host's address as containers see it.
func (d *Daemon) hostGateway() netip.Addr {
	if n, err := d.networks.Get(nettypes.NetworkBridge); err == nil {
		return n.Gateway
	}
	return netip.IPv4Unspecified()
}

// renameEndpoints gives a renamed container's endpoints its new name in
// DNS; the caller holds c's lock.
func (d *Daemon) renameEndpoints(c *container.Container) {
	if c.NetworkSettings == nil {
		return
	}
	for _, es := range c.NetworkSettings.Networks {
		if es == nil || es.EndpointID == "" {
			continue
		}
		n, err := d.networks.Get(es.NetworkID)
		if err != nil || !n.UserDefined() {
			continue
		}
		es.DNSNames = network.DNSNames(strings.TrimPrefix(c.Name, "/"), es.Aliases, c.ID)
		d.networks.SetNames(n.ID, es.EndpointID, es.DNSNames)
	}
}
