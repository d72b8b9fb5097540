package cli

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/moby/moby/api/types/network"
	"github.com/spf13/cobra"
)

func newNetworkCreate(c *CLI) *cobra.Command {
	var driver string
	var subnets, gateways, ranges, auxs, labels, opts []string
	var internal, attachable, ipv6 bool
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] NETWORK",
		Short: "create a network",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := ctxOf(cmd)
			ipam, err := ipamConfig(subnets, gateways, ranges, auxs)
			if err != nil {
				return &StatusError{Status: 1, Err: err}
			}
			req := network.CreateRequest{Name: args[0], Driver: driver, Internal: internal, Attachable: attachable,
				IPAM: ipam, Labels: kvMap(labels), Options: kvMap(opts)}
			if cmd.Flags().Changed("ipv6") {
				req.EnableIPv6 = &ipv6
			}
			cl, err := c.client(ctx)
			if err != nil {
				return err
			}
			r, err := cl.NetworkCreate(ctx, req)
			if err != nil {
				return daemonError(c, err)
			}
			if r.Warning != "" {
				fmt.Fprintln(c.Err, r.Warning)
			}
			fmt.Fprintln(c.Out, r.ID)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&driver, "driver", "d", "bridge", "driver to manage the network (bridge)")
	f.StringArrayVar(&subnets, "subnet", nil, "subnet in CIDR format (172.30.0.0/16; an IPv6 one with --ipv6)")
	f.StringArrayVar(&gateways, "gateway", nil, "IPv4 or IPv6 gateway of the subnet that holds it")
	f.StringArrayVar(&ranges, "ip-range", nil, "allocate container addresses from a sub-range of a subnet (CIDR)")
	f.StringArrayVar(&auxs, "aux-address", nil, "an address of a subnet no container gets (name=IP)")
	f.BoolVar(&internal, "internal", false, "restrict external access to the network (no NAT, no default route)")
	f.BoolVar(&attachable, "attachable", false, "enable manual container attachment")
	f.BoolVar(&ipv6, "ipv6", false, "enable IPv6 networking (with an IPv6 --subnet, or a random unique local /64)")
	f.StringArrayVar(&labels, "label", nil, "set metadata on a network (KEY=VALUE)")
	f.StringArrayVarP(&opts, "opt", "o", nil, "driver specific options (com.docker.network.bridge.name=NAME, com.docker.network.driver.mtu=N)")
	return cmd
}

// ipamConfig pairs --subnet and --gateway flags, and puts each --ip-range
// and --aux-address with the subnet that holds it, as docker does.
func ipamConfig(subnets, gateways, ranges, auxs []string) (*network.IPAM, error) {
	if len(subnets) == 0 {
		if len(gateways) > 0 || len(ranges) > 0 || len(auxs) > 0 {
			return nil, errors.New("every ip-range or gateway must have a corresponding subnet")
		}
		return nil, nil
	}
	ipam := &network.IPAM{Driver: "default"}
	for _, s := range subnets {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("invalid argument %q for \"--subnet\" flag: invalid CIDR address: %s", s, s)
		}
		ipam.Config = append(ipam.Config, network.IPAMConfig{Subnet: p})
	}
	// A gateway goes with the subnet that holds it (an IPv4 and an IPv6
	// subnet take theirs in any order), as docker pairs them.
	for _, g := range gateways {
		gw, err := netip.ParseAddr(g)
		if err != nil {
			return nil, fmt.Errorf("invalid argument %q for \"--gateway\" flag: invalid IP address", g)
		}
		matched := false
		for i := range ipam.Config {
			c := &ipam.Config[i]
			if !c.Subnet.Contains(gw) {
				continue
			}
			if c.Gateway.IsValid() {
				return nil, fmt.Errorf("cannot configure multiple gateways (%s, %s) for the same subnet (%s)", c.Gateway, gw, c.Subnet)
			}
			c.Gateway, matched = gw, true
			break
		}
		if !matched {
			return nil, fmt.Errorf("no matching subnet for gateway %s", gw)
		}
	}
	for _, r := range ranges {
		rp, err := netip.ParsePrefix(r)
		if err != nil {
			return nil, fmt.Errorf("invalid argument %q for \"--ip-range\" flag: invalid CIDR address: %s", r, r)
		}
		matched := false
		for i := range ipam.Config {
			c := &ipam.Config[i]
			if !c.Subnet.Contains(rp.Addr()) || rp.Bits() < c.Subnet.Bits() {
				continue
			}
			if c.IPRange.IsValid() {
				return nil, fmt.Errorf("cannot configure multiple ranges (%s, %s) on the same subnet (%s)", c.IPRange, rp, c.Subnet)
			}
			c.IPRange, matched = rp, true
			break
		}
		if !matched {
			return nil, fmt.Errorf("no matching subnet for range %s", rp)
		}
	}
	for _, a := range auxs {
		name, v, ok := strings.Cut(a, "=")
		ip, err := netip.ParseAddr(v)
		if !ok || name == "" || err != nil {
			return nil, fmt.Errorf("invalid argument %q for \"--aux-address\" flag: want name=IP", a)
		}
		matched := false
		for i := range ipam.Config {
			c := &ipam.Config[i]
			if c.Subnet.Contains(ip) {
				if c.AuxAddress == nil {
					c.AuxAddress = map[string]netip.Addr{}
				}
				c.AuxAddress[name], matched = ip, true
				break
			}
		}
		if !matched {
			return nil, fmt.Errorf("no matching subnet for aux-address %s", ip)
		}
	}
	return ipam, nil
}
