package daemon

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/hako-dev/hako/internal/daemon/network"
	"github.com/hako-dev/hako/internal/errdefs"
	eventtypes "github.com/moby/moby/api/types/events"
	nettypes "github.com/moby/moby/api/types/network"
)

// NetworkCreate is POST /networks/create.
func (d *Daemon) NetworkCreate(ctx context.Context, req nettypes.CreateRequest) (nettypes.CreateResponse, error) {
	var resp nettypes.CreateResponse
	if req.EnableIPv4 != nil && !*req.EnableIPv4 {
		return resp, fmt.Errorf("networks without IPv4 are not supported: %w", errdefs.ErrNotImplemented)
	}
	if req.Scope != "" && req.Scope != "local" {
		return resp, fmt.Errorf("scope %q: only local networks are supported: %w", req.Scope, errdefs.ErrNotImplemented)
	}
	if req.Ingress || req.ConfigOnly || req.ConfigFrom != nil {
		return resp, fmt.Errorf("swarm and config-only networks are not supported: %w", errdefs.ErrNotImplemented)
	}
	cr := network.CreateRequest{Name: req.Name, Driver: req.Driver, Internal: req.Internal, Attachable: req.Attachable, Labels: req.Labels, Options: req.Options,
		EnableIPv6: req.EnableIPv6 != nil && *req.EnableIPv6}
	if ipam := req.IPAM; ipam != nil {
		if ipam.Driver != "" && ipam.Driver != "default" {
			return resp, fmt.Errorf("IPAM driver %q is not supported (only default): %w", ipam.Driver, errdefs.ErrNotImplemented)
		}
		for _, c := range ipam.Config {
			if (c.IPRange.IsValid() || len(c.AuxAddress) > 0 || c.Gateway.IsValid()) && !c.Subnet.IsValid() {
				return resp, fmt.Errorf("an ip-range, gateway or aux-address needs its subnet: %w", errdefs.ErrInvalidArgument)
			}
			if c.Subnet.Addr().Is6() {
				if cr.Subnet6.IsValid() {
					return resp, fmt.Errorf("one IPv6 subnet per network: %w", errdefs.ErrNotImplemented)
				}
				cr.Subnet6, cr.Gateway6, cr.IPRange6 = c.Subnet, c.Gateway, c.IPRange
			} else {
				if cr.Subnet.IsValid() {
					return resp, fmt.Errorf("one IPv4 subnet per network: %w", errdefs.ErrNotImplemented)
				}
				cr.Subnet, cr.Gateway, cr.IPRange = c.Subnet, c.Gateway, c.IPRange
			}
			for k, ip := range c.AuxAddress {
				if ip.Is6() != c.Subnet.Addr().Is6() || !c.Subnet.Contains(ip) {
					return resp, fmt.Errorf("aux-address %s=%s is not in subnet %s: %w", k, ip, c.Subnet, errdefs.ErrInvalidArgument)
				}
				if cr.AuxAddresses == nil {
					cr.AuxAddresses = map[string]netip.Addr{}
				}
				cr.AuxAddresses[k] = ip
			}
		}
	}
	n, err := d.networks.Create(cr)
	if err != nil {
		return resp, err
	}
	d.networkEvent(n, eventtypes.ActionCreate, nil)
	return nettypes.CreateResponse{ID: n.ID}, nil
}

var networkFilters = map[string]bool{"name": true, "id": true, "driver": true, "type": true, "label": true, "dangling": true, "scope": true}

// NetworkList is GET /networks.
func (d *Daemon) NetworkList(ctx context.Context, filters map[string][]string) ([]nettypes.Summary, error) {
	for k, vs := range filters {
		if !networkFilters[k] {
			return nil, fmt.Errorf("invalid filter '%s': %w", k, errdefs.ErrInvalidArgument)
		}
		for _, v := range vs {
			switch {
			case k == "type" && v != "custom" && v != "builtin":
				return nil, fmt.Errorf("invalid filter: 'type'='%s': %w", v, errdefs.ErrInvalidArgument)
			case k == "dangling" && v != "true" && v != "false" && v != "1" && v != "0":
				return nil, fmt.Errorf("invalid filter 'dangling=%s': %w", v, errdefs.ErrInvalidArgument)
			}
		}
	}
	out := []nettypes.Summary{}
	for _, n := range d.networks.List() {
		if d.networkMatches(n, filters) {
			out = append(out, nettypes.Summary{Network: apiNetwork(n)})
		}
	}
	return out, nil
}

func (d *Daemon) networkMatches(n *network.Network, f map[string][]string) bool {
	any := func(key string, fn func(string) bool) bool {
		vs := f[key]
		if len(vs) == 0 {
			return true
		}
		for _, v := range vs {
			if fn(v) {
				return true
			}
		}
		return false
	}
	typ := "custom"
	if n.Predefined() {
		typ = "builtin"
	}
	ok := any("name", func(v string) bool { return strings.Contains(n.Name, v) }) &&
		any("id", func(v string) bool { return strings.HasPrefix(n.ID, v) }) &&
		any("driver", func(v string) bool { return v == n.Driver }) &&
		any("type", func(v string) bool { return v == typ }) &&
		any("scope", func(v string) bool { return v == "local" }) &&
		any("dangling", func(v string) bool {
			dangling := !n.Predefined() && len(d.networks.Endpoints(n.ID)) == 0
			return dangling == (v == "true" || v == "1")
		})
	for _, v := range f["label"] { // every label filter must match
		k, val, has := strings.Cut(v, "=")
		lv, found := n.Labels[k]
		if !found || (has && lv != val) {
			return false
		}
	}
	return ok
}

// apiNetwork is a record in the API's form.
func apiNetwork(n *network.Network) nettypes.Network {
	out := nettypes.Network{Name: n.Name, ID: n.ID, Created: n.Created, Scope: "local", Driver: n.Driver, EnableIPv4: true, EnableIPv6: n.EnableIPv6,
		IPAM:     nettypes.IPAM{Driver: "default", Options: map[string]string{}, Config: []nettypes.IPAMConfig{}},
		Internal: n.Internal, Attachable: n.Attachable, Options: map[string]string{}, Labels: map[string]string{}}
	aux := func(v6 bool) map[string]netip.Addr {
		var m map[string]netip.Addr
		for k, ip := range n.AuxAddresses {
			if ip.Is6() == v6 {
				if m == nil {
					m = map[string]netip.Addr{}
				}
				m[k] = ip
			}
		}
		return m
	}
	if n.Subnet.IsValid() {
		out.IPAM.Config = append(out.IPAM.Config, nettypes.IPAMConfig{Subnet: n.Subnet, Gateway: n.Gateway, IPRange: n.IPRange, AuxAddress: aux(false)})
	}
	if n.Subnet6.IsValid() {
		out.IPAM.Config = append(out.IPAM.Config, nettypes.IPAMConfig{Subnet: n.Subnet6, Gateway: n.Gateway6, IPRange: n.IPRange6, AuxAddress: aux(true)})
	}
	for k, v := range n.Options {
		out.Options[k] = v
	}
	for k, v := range n.Labels {
		out.Labels[k] = v
	}
	return out
}

// NetworkInspect is GET /networks/{id}: the network and the endpoints of
// its running containers.
func (d *Daemon) NetworkInspect(ctx context.Context, ref string) (nettypes.Inspect, error) {
	n, err := d.networks.Get(ref)
	if err != nil {
		return nettypes.Inspect{}, err
	}
	out := nettypes.Inspect{Network: apiNetwork(n), Containers: map[string]nettypes.EndpointResource{}}
	for _, ep := range d.networks.Endpoints(n.ID) {
		c, err := d.containers.Get(ep.ContainerID)
		if err != nil || c.ID != ep.ContainerID {
			continue
		}
		r := nettypes.EndpointResource{Name: strings.TrimPrefix(c.Name, "/"), EndpointID: ep.ID,
			MacAddress: nettypes.HardwareAddr(ep.MAC), IPv4Address: netip.PrefixFrom(ep.IP, ep.Prefix)}
		if ep.IP6.IsValid() {
			r.IPv6Address = netip.PrefixFrom(ep.IP6, ep.Prefix6)
		}
		out.Containers[c.ID] = r
	}
	return out, nil
}

// NetworkRemove is DELETE /networks/{id}.
func (d *Daemon) NetworkRemove(ctx context.Context, ref string) error {
	n, err := d.networks.Get(ref)
	if err != nil {
		return err
	}
	if err := d.networks.Remove(n); err != nil {
		return err
	}
	d.networkEvent(n, eventtypes.ActionDestroy, nil)
	return nil
}

// NetworkConnect is POST /networks/{id}/connect: a stopped container gets
// the network at its next start, a running one a new interface now.
func (d *Daemon) NetworkConnect(ctx context.Context, ref string, req nettypes.ConnectRequest) (retErr error) {
	n, err := d.networks.Get(ref)
	if err != nil {
		return err
	}
	c, err := d.containers.Get(req.Container)
	if err != nil {
		return err
	}
	c.Lock()
	defer c.Unlock()
	mode := netMode(c.HostConfig)
	switch {
	case mode.IsHost() || n.Driver == network.DriverHost:
		return fmt.Errorf("container cannot be disconnected from host network or connected to host network: %w", errdefs.ErrPermissionDenied)
	case mode.IsContainer() || !ownNetns(c.HostConfig) && !mode.IsNone():
		return fmt.Errorf("container sharing network namespace with another container or host cannot be connected to any other network: %w", errdefs.ErrPermissionDenied)
	case mode.IsNone() || n.Driver == network.DriverNull:
		return fmt.Errorf("container cannot be connected to multiple networks with one of the networks in private (none) mode: %w", errdefs.ErrPermissionDenied)
	}
	ns := d.netSettings(c)
	if _, ok := ns.Networks[n.Name]; ok {
		return fmt.Errorf("endpoint with name %s already exists in network %s: %w", strings.TrimPrefix(c.Name, "/"), n.Name, errdefs.ErrPermissionDenied)
	}
	es := req.EndpointConfig.Copy()
	if es == nil {
		es = &nettypes.EndpointSettings{}
	}
	if err := checkEndpointConfig(n, es); err != nil {
		return err
	}
	es.NetworkID = n.ID
	if c.Running() {
		if err := d.allocateEndpoint(c, n, es); err != nil {
			return err
		}
		if _, err := d.networks.Plumb(endpointOf(c, n, es), fmt.Sprintf("/proc/%d/ns/net", c.State.Pid), false); err != nil {
			d.networks.Release(endpointOf(c, n, es))
			return fmt.Errorf("connect %s to network %s: %w", strings.TrimPrefix(c.Name, "/"), n.Name, err)
		}
	}
	ns.Networks[n.Name] = es
	if err := c.Save(); err != nil {
		return err
	}
	d.networkEvent(n, eventtypes.ActionConnect, map[string]string{"container": c.ID})
	return nil
}

// NetworkDisconnect is POST /networks/{id}/disconnect.
func (d *Daemon) NetworkDisconnect(ctx context.Context, ref string, req nettypes.DisconnectRequest) error {
	n, err := d.networks.Get(ref)
	if err != nil {
		return err
	}
	c, err := d.containers.Get(req.Container)
	if err != nil {
		return err
	}
	c.Lock()
	defer c.Unlock()
	ns := d.netSettings(c)
	es, ok := ns.Networks[n.Name]
	if !ok {
		return fmt.Errorf("container %s is not connected to network %s: %w", c.ID, n.Name, errdefs.ErrPermissionDenied)
	}
	if n.Driver != network.DriverBridge {
		return fmt.Errorf("container cannot be disconnected from host network or connected to host network: %w", errdefs.ErrPermissionDenied)
	}
	if es.EndpointID != "" {
		if names := d.endpointNames(c); len(names) > 0 && names[0] == n.Name {
			d.networks.Unpublish(c.ID) // the published ports went to this address
			ns.Ports = nettypes.PortMap{}
		}
		if err := d.networks.Release(endpointOf(c, n, es)); err != nil {
			return err
		}
	}
	delete(ns.Networks, n.Name)
	if err := c.Save(); err != nil {
		return err
	}
	d.networkEvent(n, eventtypes.ActionDisconnect, map[string]string{"container": c.ID})
	return nil
}

// NetworksPrune is POST /networks/prune: user-defined networks without
// endpoints go.
func (d *Daemon) NetworksPrune(ctx context.Context, filters map[string][]string) (nettypes.PruneReport, error) {
	rep := nettypes.PruneReport{NetworksDeleted: []string{}}
	var until time.Time
	for k, vs := range filters {
		switch k {
		case "label", "label!":
		case "until":
			for _, v := range vs {
				t, err := parseTimeFilter(v)
				if err != nil {
					return rep, err
				}
				until = t
			}
		default:
			return rep, fmt.Errorf("invalid filter '%s': %w", k, errdefs.ErrInvalidArgument)
		}
	}
	for _, n := range d.networks.List() {
		if n.Predefined() || len(d.networks.Endpoints(n.ID)) > 0 {
			continue
		}
		if !until.IsZero() && !n.Created.Before(until) {
			continue
		}
		if !labelsMatch(n.Labels, filters["label"], filters["label!"]) {
			continue
		}
		if err := d.networks.Remove(n); err != nil {
			d.log().Warn("prune network", "network", n.Name, "error", err)
			continue
		}
		d.networkEvent(n, eventtypes.ActionDestroy, nil)
		rep.NetworksDeleted = append(rep.NetworksDeleted, n.Name)
	}
	return rep, nil
}

// networkEvent publishes a network event.
func (d *Daemon) networkEvent(n *network.Network, action eventtypes.Action, extra map[string]string) {
	attrs := map[string]string{"name": n.Name, "type": n.Driver}
	for k, v := range extra {
		attrs[k] = v
	}
	now := time.Now()
	d.events.Publish(eventtypes.Message{Type: eventtypes.NetworkEventType, Action: action, Actor: eventtypes.Actor{ID: n.ID, Attributes: attrs},
		Scope: "local", Time: now.Unix(), TimeNano: now.UnixNano()})
}
