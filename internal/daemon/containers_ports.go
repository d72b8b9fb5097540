package daemon

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/hako-dev/hako/internal/daemon/container"
	"github.com/hako-dev/hako/internal/daemon/network"
	"github.com/hako-dev/hako/internal/errdefs"
	ctypes "github.com/moby/moby/api/types/container"
	nettypes "github.com/moby/moby/api/types/network"
)

// Published ports, and a container's networking as inspect and ps show it.

// publishPorts binds c's published ports (PortBindings, and with -P
// every exposed port) to its address on the primary network; exact, when
// given, are the host ports to take again (a restart of the daemon).
func (d *Daemon) publishPorts(c *container.Container, ep *network.Endpoint, exact nettypes.PortMap) error {
	hc := c.HostConfig
	bindings := nettypes.PortMap{}
	for p, bs := range hc.PortBindings {
		bindings[p] = append(bindings[p], bs...)
	}
	if hc.PublishAllPorts {
		for p := range c.Config.ExposedPorts {
			if _, ok := bindings[p]; !ok {
				bindings[p] = []nettypes.PortBinding{{}}
			}
		}
	}
	if exact != nil {
		bindings = exact
	}
	ports := nettypes.PortMap{}
	for p := range c.Config.ExposedPorts {
		ports[p] = nil
	}
	var reqs []network.PortRequest
	for p, bs := range bindings {
		if p.Proto() != nettypes.TCP && p.Proto() != nettypes.UDP {
			continue
		}
		if len(bs) == 0 {
			bs = []nettypes.PortBinding{{}}
		}
		for _, b := range bs {
			r := network.PortRequest{Proto: string(p.Proto()), HostIP: b.HostIP, Port: p.Num()}
			if b.HostPort != "" {
				lo, hi, err := parsePortRange(b.HostPort)
				if err != nil {
					return fmt.Errorf("invalid host port %q for %s: %w", b.HostPort, p, errdefs.ErrInvalidArgument)
				}
				r.HostPort, r.HostPortEnd = lo, hi
			}
			reqs = append(reqs, r)
		}
	}
	if len(reqs) > 0 {
		ms, err := d.networks.Publish(c.ID, ep, reqs)
		if err != nil {
			return fmt.Errorf("driver failed programming external connectivity on endpoint %s (%s): %w", strings.TrimPrefix(c.Name, "/"), ep.ID, err)
		}
		for _, m := range ms {
			p, _ := nettypes.PortFrom(m.Port, nettypes.IPProtocol(m.Proto))
			ports[p] = append(ports[p], nettypes.PortBinding{HostIP: m.HostIP, HostPort: strconv.Itoa(int(m.HostPort))})
		}
	}
	c.NetworkSettings.Ports = ports
	return nil
}

func parsePortRange(s string) (uint16, uint16, error) {
	lo, hi, ok := strings.Cut(s, "-")
	a, err := strconv.ParseUint(lo, 10, 16)
	if err != nil {
		return 0, 0, err
	}
	b := a
	if ok {
		if b, err = strconv.ParseUint(hi, 10, 16); err != nil || b < a {
			return 0, 0, errors.New("bad range")
		}
	}
	return uint16(a), uint16(b), nil
}

// inspectNetworkSettings is a copy of c's network settings for inspect.
func inspectNetworkSettings(c *container.Container) *ctypes.NetworkSettings {
	out := &ctypes.NetworkSettings{Ports: nettypes.PortMap{}, Networks: map[string]*nettypes.EndpointSettings{}}
	ns := c.NetworkSettings
	if ns == nil {
		return out
	}
	out.SandboxID, out.SandboxKey = ns.SandboxID, ns.SandboxKey
	for p, bs := range ns.Ports {
		out.Ports[p] = slices.Clone(bs)
	}
	for name, es := range ns.Networks {
		out.Networks[name] = es.Copy()
	}
	return out
}

// networkSummary is c's networks for `ps`.
func networkSummary(c *container.Container) *ctypes.NetworkSettingsSummary {
	return &ctypes.NetworkSettingsSummary{Networks: inspectNetworkSettings(c).Networks}
}

// portSummary is c's ports for `ps`: the published ones with their host
// address and port, the exposed ones alone.
func portSummary(c *container.Container) []ctypes.PortSummary {
	out := []ctypes.PortSummary{}
	if c.NetworkSettings == nil {
		return out
	}
	for p, bs := range c.NetworkSettings.Ports {
		if len(bs) == 0 {
			out = append(out, ctypes.PortSummary{PrivatePort: p.Num(), Type: string(p.Proto())})
			continue
		}
		for _, b := range bs {
			n, _ := strconv.Atoi(b.HostPort)
			out = append(out, ctypes.PortSummary{IP: b.HostIP, PrivatePort: p.Num(), PublicPort: uint16(n), Type: string(p.Proto())})
		}
	}
	slices.SortFunc(out, func(a, b ctypes.PortSummary) int {
		if a.PrivatePort != b.PrivatePort {
			return int(a.PrivatePort) - int(b.PrivatePort)
		}
		return strings.Compare(a.Type, b.Type)
	})
	return out
}

// onNetwork reports whether c is configured on the network named, or
// with the ID (prefix), ref: ps's network filter.
func onNetwork(c *container.Container, ref string) bool {
	if c.NetworkSettings == nil {
		return false
	}
	for name, es := range c.NetworkSettings.Networks {
		if name == ref || (es != nil && es.NetworkID != "" && strings.HasPrefix(es.NetworkID, ref)) {
			return true
		}
	}
	return false
}
