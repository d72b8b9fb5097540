package cli

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/moby/moby/api/types/network"
	"github.com/spf13/cobra"
)

func newNetworkConnect(c *CLI) *cobra.Command {
	var aliases []string
	var ip, ip6, mac string
	cmd := &cobra.Command{
		Use:   "connect [OPTIONS] NETWORK CONTAINER",
		Short: "connect a container to a network",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := ctxOf(cmd)
			es := &network.EndpointSettings{Aliases: aliases}
			for _, f := range []struct {
				flag, v string
				dst     func(netip.Addr)
			}{{"ip", ip, func(a netip.Addr) { es.IPAMConfig.IPv4Address = a }}, {"ip6", ip6, func(a netip.Addr) { es.IPAMConfig.IPv6Address = a }}} {
				if f.v == "" {
					continue
				}
				a, err := netip.ParseAddr(f.v)
				if err != nil || a.Is4() != (f.flag == "ip") {
					return &StatusError{Status: 1, Err: fmt.Errorf("invalid argument %q for \"--%s\" flag: invalid IP address", f.v, f.flag)}
				}
				if es.IPAMConfig == nil {
					es.IPAMConfig = &network.EndpointIPAMConfig{}
				}
				f.dst(a)
			}
			if mac != "" {
				hw, err := net.ParseMAC(mac)
				if err != nil {
					return &StatusError{Status: 1, Err: fmt.Errorf("%s is not a valid mac address", mac)}
				}
				es.MacAddress = network.HardwareAddr(hw)
			}
			cl, err := c.client(ctx)
			if err != nil {
				return err
			}
			if err := cl.NetworkConnect(ctx, args[0], network.ConnectRequest{Container: args[1], EndpointConfig: es}); err != nil {
				return daemonError(c, err)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&aliases, "alias", nil, "add network-scoped alias for the container")
	f.StringVar(&ip, "ip", "", "IPv4 address (e.g., 172.30.100.104)")
	f.StringVar(&ip6, "ip6", "", "IPv6 address (e.g., 2001:db8::33)")
	f.StringVar(&mac, "mac-address", "", "MAC address of the container on this network")
	return cmd
}
