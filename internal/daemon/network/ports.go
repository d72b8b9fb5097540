package network

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/hako-dev/hako/internal/errdefs"
)

// PortRequest is one port to publish.
type PortRequest struct {
	Proto  string     // tcp or udp
	HostIP netip.Addr // zero: every address (0.0.0.0)
	// HostPort..HostPortEnd is the range to take a port from; 0: any
	// free port.
	HostPort, HostPortEnd uint16
	Port                  uint16 // the container's
}

// PortMapping is a published port.
type PortMapping struct {
	Proto    string
	HostIP   netip.Addr
	HostPort uint16
	Port     uint16
}

type published struct {
	PortMapping
	owner  string
	target netip.AddrPort
	bridge string
	proxy  *Proxy
}

// Publish binds reqs for a container whose address on ep's network is
// the target: a proxy on each host port and, for addresses other than
// loopback, DNAT rules. A port another container or another program
// holds is refused with docker's message.
func (m *Manager) Publish(containerID string, ep *Endpoint, reqs []PortRequest) (_ []PortMapping, retErr error) {
	if len(reqs) == 0 {
		return nil, nil
	}
	m.mu.RLock()
	st := m.nets[ep.NetworkID]
	m.mu.RUnlock()
	if st == nil {
		return nil, fmt.Errorf("network %s not found: %w", ep.NetworkID, errdefs.ErrNotFound)
	}
	var done []*published
	defer func() {
		if retErr != nil {
			for _, p := range done {
				p.proxy.Close()
			}
			m.mu.Lock()
			delete(m.ports, containerID)
			m.mu.Unlock()
		}
	}()
	for _, r := range reqs {
		hostIP := r.HostIP
		if !hostIP.IsValid() {
			hostIP = netip.IPv4Unspecified()
		}
		target := netip.AddrPortFrom(ep.IP, r.Port)
		if hostIP.Is6() && ep.IP6.IsValid() {
			target = netip.AddrPortFrom(ep.IP6, r.Port)
		}
		p, err := m.bindPort(containerID, r, hostIP, target)
		if err != nil {
			return nil, err
		}
		p.bridge = st.n.Bridge
		done = append(done, p)
		m.mu.Lock()
		m.ports[containerID] = append(m.ports[containerID], p)
		m.mu.Unlock()
		if !r.HostIP.IsValid() && hostIPv6() {
			// Every address: IPv6's too, on the same port, as docker
			// binds [::] beside 0.0.0.0 (through the proxy; to the
			// container's IPv6 address when its network has one).
			target := netip.AddrPortFrom(ep.IP, r.Port)
			if ep.IP6.IsValid() {
				target = netip.AddrPortFrom(ep.IP6, r.Port)
			}
			one := r
			one.HostPort, one.HostPortEnd = p.HostPort, p.HostPort
			p6, err := m.bindPort(containerID, one, netip.IPv6Unspecified(), target)
			if err != nil {
				m.cfg.Log.Warn("publish on IPv6 too", "container", containerID, "error", err)
				continue
			}
			p6.bridge = st.n.Bridge
			done = append(done, p6)
			m.mu.Lock()
			m.ports[containerID] = append(m.ports[containerID], p6)
			m.mu.Unlock()
		}
	}
	if err := m.applyFirewall(); err != nil {
		return nil, err
	}
	for _, p := range done {
		p.proxy.Start()
	}
	out := make([]PortMapping, len(done))
	for i, p := range done {
		out[i] = p.PortMapping
	}
	return out, nil
}

// ErrPortAllocated is docker's "port is already allocated".
var ErrPortAllocated = errors.New("port is already allocated")

// bindPort takes one host port of r's range (any when 0).
func (m *Manager) bindPort(owner string, r PortRequest, hostIP netip.Addr, target netip.AddrPort) (*published, error) {
	first, last := r.HostPort, r.HostPortEnd
	if last < first {
		last = first
	}
	var lastErr error
	for port := int(first); port <= int(last); port++ {
		if port != 0 && m.portTaken(r.Proto, hostIP, uint16(port)) {
			lastErr = portErr(hostIP, uint16(port))
			continue
		}
		px, err := ListenProxy(r.Proto, netip.AddrPortFrom(hostIP, uint16(port)), target)
		if err != nil {
			lastErr = portErr(hostIP, uint16(port))
			continue
		}
		return &published{
			PortMapping: PortMapping{Proto: r.Proto, HostIP: hostIP, HostPort: px.Addr().Port(), Port: r.Port},
			owner:       owner, target: target, proxy: px,
		}, nil
	}
	return nil, lastErr
}

// hostIPv6 reports whether the host has IPv6 (docker binds [::] only
// then).
func hostIPv6() bool {
	b, err := os.ReadFile("/proc/sys/net/ipv6/conf/all/disable_ipv6")
	return err == nil && strings.TrimSpace(string(b)) == "0"
}

func portErr(ip netip.Addr, port uint16) error {
	return fmt.Errorf("Bind for %s failed: %w: %w", netip.AddrPortFrom(ip, port), ErrPortAllocated, errdefs.ErrConflict)
}

// portTaken reports whether a container already publishes proto/port on
// ip (or on every address, or ip is every address).
func (m *Manager) portTaken(proto string, ip netip.Addr, port uint16) bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	for _, ps := range m.ports {
		for _, p := range ps {
			if p.Proto == proto && p.HostPort == port && p.HostIP.Is4() == ip.Is4() && (p.HostIP == ip || p.HostIP.IsUnspecified() || ip.IsUnspecified()) {
				return true
			}
		}
	}
	return false
}

// Unpublish closes a container's published ports and removes its rules.
func (m *Manager) Unpublish(containerID string) error {
	m.mu.Lock()
	ps := m.ports[containerID]
	delete(m.ports, containerID)
	m.mu.Unlock()
	if len(ps) == 0 {
		return nil
	}
	for _, p := range ps {
		p.proxy.Close()
	}
	return m.applyFirewall()
}

// String is "0.0.0.0:8080->80/tcp".
func (p PortMapping) String() string {
	return netip.AddrPortFrom(p.HostIP, p.HostPort).String() + "->" + strconv.Itoa(int(p.Port)) + "/" + p.Proto
}
