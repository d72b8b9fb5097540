package cli

import (
	"strings"
	"testing"
)

// --gateway, --ip-range and --aux-address go with the subnet that holds
// them, whatever the order of the flags (an IPv4 and an IPv6 subnet).
func TestIPAMConfig(t *testing.T) {
	ipam, err := ipamConfig([]string{"10.213.50.0/24", "fd6b:6861:6b6f::/64"}, []string{"fd6b:6861:6b6f::fe", "10.213.50.254"}, []string{"fd6b:6861:6b6f::100/120"}, []string{"a=10.213.50.9", "b=fd6b:6861:6b6f::9"})
	if err != nil {
		t.Fatal(err)
	}
	if len(ipam.Config) != 2 {
		t.Fatalf("configs: %+v", ipam.Config)
	}
	v4, v6 := ipam.Config[0], ipam.Config[1]
	if v4.Gateway.String() != "10.213.50.254" || v4.IPRange.IsValid() || v4.AuxAddress["a"].String() != "10.213.50.9" {
		t.Errorf("IPv4 config: %+v", v4)
	}
	if v6.Gateway.String() != "fd6b:6861:6b6f::fe" || v6.IPRange.String() != "fd6b:6861:6b6f::100/120" || v6.AuxAddress["b"].String() != "fd6b:6861:6b6f::9" {
		t.Errorf("IPv6 config: %+v", v6)
	}
	for _, c := range []struct {
		subnets, gateways []string
		want              string
	}{
		{[]string{"10.213.50.0/24"}, []string{"10.213.51.1"}, "no matching subnet for gateway 10.213.51.1"},
		{[]string{"10.213.50.0/24"}, []string{"10.213.50.1", "10.213.50.2"}, "cannot configure multiple gateways"},
		{nil, []string{"10.213.50.1"}, "must have a corresponding subnet"},
		{[]string{"10.213.50.0/24"}, []string{"nope"}, `invalid argument "nope" for "--gateway"`},
	} {
		if _, err := ipamConfig(c.subnets, c.gateways, nil, nil); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ipamConfig(%v, %v): %v, want %q", c.subnets, c.gateways, err, c.want)
		}
	}
}
