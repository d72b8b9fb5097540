package types

import (
	"net/netip"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
)

// NetworkSettings is a container's NetworkSettings as API versions up to
// 1.51 show it: moby's type plus the fields docker fills from the default
// bridge network's endpoint (IPAddress, Gateway, MacAddress, …), which
// scripts still read with `inspect -f '{{.NetworkSettings.IPAddress}}'`.
type NetworkSettings struct {
	Bridge                 string
	SandboxID              string
	SandboxKey             string
	Ports                  network.PortMap
	HairpinMode            bool
	LinkLocalIPv6Address   string
	LinkLocalIPv6PrefixLen int
	SecondaryIPAddresses   []string
	SecondaryIPv6Addresses []string
	EndpointID             string
	Gateway                string
	GlobalIPv6Address      string
	GlobalIPv6PrefixLen    int
	IPAddress              string
	IPPrefixLen            int
	IPv6Gateway            string
	MacAddress             string
	Networks               map[string]*network.EndpointSettings
}

// LegacyNetworkSettings adds the default bridge's fields to ns.
func LegacyNetworkSettings(ns *container.NetworkSettings) *NetworkSettings {
	if ns == nil {
		return nil
	}
	out := &NetworkSettings{SandboxID: ns.SandboxID, SandboxKey: ns.SandboxKey, Ports: ns.Ports, Networks: ns.Networks}
	if es := ns.Networks[network.NetworkBridge]; es != nil && es.IPAddress.IsValid() {
		out.EndpointID = es.EndpointID
		out.Gateway = addr(es.Gateway)
		out.IPAddress = addr(es.IPAddress)
		out.IPPrefixLen = es.IPPrefixLen
		out.MacAddress = es.MacAddress.String()
	}
	return out
}

func addr(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}
