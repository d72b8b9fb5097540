package e2e

import (
	"os"
	"strings"
	"testing"

	"github.com/google/nftables"
	"github.com/hako-dev/hako/internal/daemon/network"
)

// IPv6 tests use fd6b:6861:6b6f::/48 (unique local: "hako" in its bytes)
// for the networks they make, and fd6b:6861:6b6f:99::/64 between the host
// and a namespace of their own.

// A dual-stack network: containers get an IPv6 address (asked for or the
// lowest free), a default route through the bridge's IPv6 gateway, AAAA
// records and an /etc/hosts line; networks are isolated over IPv6 too;
// outbound IPv6 is masqueraded; removing the network removes the rules.
func TestNetworkIPv6(t *testing.T) {
	const fwd6 = "/proc/sys/net/ipv6/conf/all/forwarding"
	if _, err := os.Stat(fwd6); err != nil {
		t.Skip("no IPv6 on this host")
	}
	if b, _ := os.ReadFile(fwd6); strings.TrimSpace(string(b)) == "0" {
		// The daemon turns IPv6 forwarding on for its IPv6 networks (as
		// docker does); the host gets its setting back.
		t.Cleanup(func() { os.WriteFile(fwd6, []byte("0\n"), 0o644) })
	}
	e := newHakoEnv(t)
	e.busybox()
	newOutsideAt(t, "hkx6", "fd6b:6861:6b6f:99::1/64", "fd6b:6861:6b6f:99::2/64")
	// The gateway goes with the subnet that holds it, in any flag order.
	e.must("network", "create", "--ipv6", "--subnet", "10.213.49.0/24", "--subnet", "fd6b:6861:6b6f:49::/64", "--gateway", "fd6b:6861:6b6f:49::fe", "n6")
	if got := e.must("network", "inspect", "-f", "{{.EnableIPv6}} {{range .IPAM.Config}}{{.Subnet}} {{.Gateway}} {{end}}", "n6"); got != "true 10.213.49.0/24 10.213.49.1 fd6b:6861:6b6f:49::/64 fd6b:6861:6b6f:49::fe \n" {
		t.Fatalf("network inspect: %q", got)
	}
	e.must(append([]string{"run", "-d", "--name", "web6", "--network", "n6", "--ip6", "fd6b:6861:6b6f:49::10", "-p", "8080", "busybox"}, webCmd("web6")...)...)
	if got := e.format("web6", "{{with .NetworkSettings.Networks.n6}}{{.GlobalIPv6Address}}/{{.GlobalIPv6PrefixLen}} {{.IPv6Gateway}} {{.IPAddress}}{{end}}"); got != "fd6b:6861:6b6f:49::10/64 fd6b:6861:6b6f:49::fe 10.213.49.2" {
		t.Fatalf("inspect: %q", got)
	}
	if got := e.must("network", "inspect", "-f", "{{range .Containers}}{{.Name}} {{.IPv6Address}}{{end}}", "n6"); got != "web6 fd6b:6861:6b6f:49::10/64\n" {
		t.Fatalf("network inspect's containers: %q", got)
	}
	run := func(args ...string) (string, int) {
		t.Helper()
		out, _, code := e.hako(append(append([]string{"run", "--rm"}, localDNS...), args...)...)
		return out, code
	}
	// Over IPv6, by address and by name; the lowest free address (::1:
	// the gateway is ::fe).
	script := `ip -6 addr show eth0 scope global | grep -o 'fd6b[^ ]*'; ip -6 route show default | cut -d' ' -f1-3
grep fd6b /etc/hosts | cut -f1
for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- 'http://[fd6b:6861:6b6f:49::10]:8080/' && break; sleep 0.2; done
nslookup -type=AAAA web6 | grep -o 'fd6b:.*'
ping6 -c1 -W2 web6 >/dev/null && echo ping6 ok`
	if out, code := run("--network", "n6", "busybox", "sh", "-c", script); code != 0 || out != "fd6b:6861:6b6f:49::1/64\ndefault via fd6b:6861:6b6f:49::fe\nfd6b:6861:6b6f:49::1\nhello web6\nfd6b:6861:6b6f:49::10\nping6 ok\n" {
		t.Fatalf("IPv6 in a container: exit %d:\n%s\n%s", code, out, e.daemonLog())
	}
	// A port published on every address is on IPv6's too ([::], as
	// docker binds it), relayed to the container's IPv6 address.
	ports := strings.Fields(e.must("port", "web6", "8080"))
	if len(ports) != 2 || !strings.HasPrefix(ports[0], "0.0.0.0:") || !strings.HasPrefix(ports[1], "[::]:") {
		t.Fatalf("port: %q", ports)
	}
	if body := httpGet(t, "http://[::1]:"+strings.TrimPrefix(ports[1], "[::]:")+"/"); body != "hello web6\n" {
		t.Fatalf("GET [::1]: %q", body)
	}
	// Outbound: masqueraded to the host's address on the way out.
	if out, code := run("--network", "n6", "busybox", "sh", "-c", "timeout 3 wget -qO- 'http://[fd6b:6861:6b6f:99::2]:8099/'; exit $?"); code != 0 || out != "from fd6b:6861:6b6f:99::1" {
		t.Fatalf("outbound IPv6: exit %d: %q", code, out)
	}
	// A second IPv6 network gets a unique local /64 of its own and
	// cannot reach the first.
	e.must("network", "create", "--ipv6", "n6b")
	sub := strings.TrimSpace(e.must("network", "inspect", "-f", "{{range .IPAM.Config}}{{if .Subnet.Addr.Is6}}{{.Subnet}}{{end}}{{end}}", "n6b"))
	if !strings.HasPrefix(sub, "fd") || !strings.HasSuffix(sub, "::/64") {
		t.Fatalf("a generated IPv6 subnet: %q", sub)
	}
	if out, code := run("--network", "n6b", "busybox", "sh", "-c", "ping6 -c1 -W1 fd6b:6861:6b6f:49::10 >/dev/null && echo reached"); code == 0 || strings.Contains(out, "reached") {
		t.Fatalf("another network reached web6 over IPv6: %q", out)
	}
	// Bad requests change nothing.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"network", "create", "--subnet", "fd6b:6861:6b6f:50::/64", "nov6"}, "needs IPv6 enabled"},
		{[]string{"network", "create", "--ipv6", "--subnet", "fd6b:6861:6b6f:49::/80", "overlap"}, "overlaps"},
		{[]string{"run", "--rm", "--network", "n6b", "--ip6", "fd6b::5", "busybox", "true"}, "user configured subnets"},
		{[]string{"run", "--rm", "--network", "n6", "--ip6", "fd6b:6861:6b6f:49::10", "busybox", "true"}, "in use"},
	} {
		if _, errOut, code := e.hako(c.args...); code == 0 || !strings.Contains(errOut, c.want) {
			t.Errorf("hako %v: exit %d: %q, want %q", c.args, code, errOut, c.want)
		}
	}
	e.must("rm", "-f", "web6")
	e.must("network", "rm", "n6", "n6b")
	if chains := ip6Chains(t, e.bridge); len(chains) != 0 {
		t.Fatalf("ip6 chains left: %v", chains)
	}
}

// ip6Chains are the daemon's chains in nftables' ip6 hako table.
func ip6Chains(t *testing.T, tag string) []string {
	t.Helper()
	c, err := nftables.New()
	if err != nil {
		t.Fatal(err)
	}
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyIPv6)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, ch := range chains {
		if ch.Table.Name == network.TableName && strings.HasPrefix(ch.Name, tag+"-") {
			out = append(out, ch.Name)
		}
	}
	return out
}
