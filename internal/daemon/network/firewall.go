package network

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"
)

// TableName is the nftables table (family ip) that holds every hako
// rule. Each daemon owns the chains named after its tag (its default
// bridge's name, unique on the host) and never touches the others', so
// test daemons can run side by side:
//
//	table ip hako {
//	  chain TAG-post { type nat hook postrouting priority srcnat   # masquerade per non-internal subnet
//	  chain TAG-pre  { type nat hook prerouting priority dstnat    # fib daddr type local → TAG-dnat
//	  chain TAG-out  { type nat hook output priority -100          # same, but not for 127.0.0.0/8
//	  chain TAG-dnat                                               # one DNAT rule per published port
//	  chain TAG-fwd  { type filter hook forward priority filter    # established, isolation, internal
//	}
//
// Every change rebuilds all of a daemon's chains in one netlink batch, so
// the kernel sees the old rule set or the new one, never a mix.
const TableName = "hako"

// FirewallNetwork is what the rules need of a bridge network.
type FirewallNetwork struct {
	Bridge   string
	Subnet   netip.Prefix
	Subnet6  netip.Prefix // zero: IPv4 only
	Internal bool
}

// PortRule is one published port's DNAT.
type PortRule struct {
	Owner    string // container ID, in the rule's comment
	Proto    string // tcp or udp
	HostIP   netip.Addr
	HostPort uint16
	IP       netip.Addr // the container's
	Port     uint16
	Bridge   string // traffic from this bridge goes through the proxy instead
}

// Rules is the whole state of a daemon's chains.
type Rules struct {
	Networks []FirewallNetwork
	Ports    []PortRule
}

// Firewall writes a daemon's chains.
type Firewall struct {
	tag   string
	netns int // 0: the daemon's own network namespace
}

// NewFirewall returns the firewall of the daemon tagged tag; netnsFd,
// when not 0, is the network namespace to write into (tests).
func NewFirewall(tag string, netnsFd int) *Firewall {
	return &Firewall{tag: tag, netns: netnsFd}
}

func (f *Firewall) conn() (*nftables.Conn, error) {
	var opts []nftables.ConnOption
	if f.netns != 0 {
		opts = append(opts, nftables.WithNetNSFd(f.netns))
	}
	return nftables.New(opts...)
}

var table = &nftables.Table{Name: TableName, Family: nftables.TableFamilyIPv4}

// table6 holds the IPv6 rules of networks with IPv6, the same way:
//
//	table ip6 hako {
//	  chain TAG-post { type nat hook postrouting priority srcnat   # masquerade per non-internal IPv6 subnet
//	  chain TAG-fwd  { type filter hook forward priority filter    # established, isolation, internal
//	}
//
// Published ports are IPv4's (the proxy listens on IPv4), as docker's
// are on a host without ip6tables.
var table6 = &nftables.Table{Name: TableName, Family: nftables.TableFamilyIPv6}

func (f *Firewall) chains6() (post, fwd *nftables.Chain) {
	accept := nftables.ChainPolicyAccept
	post = &nftables.Chain{Name: f.tag + "-post", Table: table6, Type: nftables.ChainTypeNAT, Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource}
	fwd = &nftables.Chain{Name: f.tag + "-fwd", Table: table6, Type: nftables.ChainTypeFilter, Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter, Policy: &accept}
	return
}

func (f *Firewall) chains() (pre, out, post, dnat, fwd *nftables.Chain) {
	accept := nftables.ChainPolicyAccept
	pre = &nftables.Chain{Name: f.tag + "-pre", Table: table, Type: nftables.ChainTypeNAT, Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityNATDest}
	out = &nftables.Chain{Name: f.tag + "-out", Table: table, Type: nftables.ChainTypeNAT, Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityNATDest}
	post = &nftables.Chain{Name: f.tag + "-post", Table: table, Type: nftables.ChainTypeNAT, Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource}
	dnat = &nftables.Chain{Name: f.tag + "-dnat", Table: table}
	fwd = &nftables.Chain{Name: f.tag + "-fwd", Table: table, Type: nftables.ChainTypeFilter, Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter, Policy: &accept}
	return
}

// Apply replaces the daemon's chains with r.
func (f *Firewall) Apply(r Rules) error {
	c, err := f.conn()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	c.AddTable(table)
	pre, out, post, dnat, fwd := f.chains()
	for _, ch := range []*nftables.Chain{dnat, pre, out, post, fwd} {
		c.AddChain(ch)
		c.FlushChain(ch)
	}
	add := func(ch *nftables.Chain, comment string, es ...expr.Any) {
		c.AddRule(&nftables.Rule{Table: table, Chain: ch, Exprs: es, UserData: userdata.AppendString(nil, userdata.TypeComment, comment)})
	}
	// Published ports: to any local address (or the one given), from
	// anywhere but the container's own bridge (that goes through the
	// proxy, so that the answer comes back the same way).
	add(pre, "published ports", append(fibLocal(), jump(dnat.Name))...)
	add(out, "published ports", append(append(daddrNotLoopback(), fibLocal()...), jump(dnat.Name))...)
	for _, p := range r.Ports {
		var es []expr.Any
		if p.HostIP.IsValid() && !p.HostIP.IsUnspecified() {
			es = append(es, matchAddr(16, netip.PrefixFrom(p.HostIP, 32))...)
		}
		if p.Bridge != "" {
			es = append(es, matchIf(expr.MetaKeyIIFNAME, expr.CmpOpNeq, p.Bridge)...)
		}
		es = append(es, matchProto(p.Proto)...)
		es = append(es, matchDport(p.HostPort)...)
		es = append(es,
			&expr.Immediate{Register: 1, Data: p.IP.AsSlice()},
			&expr.Immediate{Register: 2, Data: binaryutil.BigEndian.PutUint16(p.Port)},
			&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 2, Specified: true},
		)
		add(dnat, "container "+p.Owner, es...)
	}
	// Outbound NAT: a non-internal network's traffic leaving through
	// anything but its own bridge takes the host's address.
	for _, n := range r.Networks {
		if n.Internal {
			continue
		}
		es := append(matchAddr(12, n.Subnet), matchIf(expr.MetaKeyOIFNAME, expr.CmpOpNeq, n.Bridge)...)
		add(post, "masquerade "+n.Bridge, append(es, &expr.Masq{})...)
	}
	forwarding(add, fwd, r.Networks)
	var v6 []FirewallNetwork
	for _, n := range r.Networks {
		if n.Subnet6.IsValid() {
			v6 = append(v6, n)
		}
	}
	if len(v6) > 0 {
		c.AddTable(table6)
		post6, fwd6 := f.chains6()
		for _, ch := range []*nftables.Chain{post6, fwd6} {
			c.AddChain(ch)
			c.FlushChain(ch)
		}
		add6 := func(ch *nftables.Chain, comment string, es ...expr.Any) {
			c.AddRule(&nftables.Rule{Table: table6, Chain: ch, Exprs: es, UserData: userdata.AppendString(nil, userdata.TypeComment, comment)})
		}
		for _, n := range v6 {
			if !n.Internal {
				es := append(matchAddr6(8, n.Subnet6), matchIf(expr.MetaKeyOIFNAME, expr.CmpOpNeq, n.Bridge)...)
				add6(post6, "masquerade "+n.Bridge, append(es, &expr.Masq{})...)
			}
		}
		forwarding(add6, fwd6, v6)
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: write table %s: %w", TableName, err)
	}
	if len(v6) == 0 {
		return f.remove(table6)
	}
	return nil
}

// forwarding writes the forward chain's rules: answers pass; networks
// are isolated from each other; internal networks reach nothing beyond
// their bridge; the others' traffic passes.
func forwarding(add func(*nftables.Chain, string, ...expr.Any), fwd *nftables.Chain, nets []FirewallNetwork) {
	add(fwd, "established", established()...)
	for _, n := range nets {
		if n.Internal {
			add(fwd, "internal "+n.Bridge, append(matchIf(expr.MetaKeyIIFNAME, expr.CmpOpEq, n.Bridge), append(matchIf(expr.MetaKeyOIFNAME, expr.CmpOpNeq, n.Bridge), verdict(expr.VerdictDrop))...)...)
			add(fwd, "internal "+n.Bridge, append(matchIf(expr.MetaKeyOIFNAME, expr.CmpOpEq, n.Bridge), append(matchIf(expr.MetaKeyIIFNAME, expr.CmpOpNeq, n.Bridge), verdict(expr.VerdictDrop))...)...)
		}
		for _, o := range nets {
			if o.Bridge == n.Bridge {
				continue
			}
			add(fwd, "isolate "+n.Bridge+" "+o.Bridge, append(matchIf(expr.MetaKeyIIFNAME, expr.CmpOpEq, n.Bridge), append(matchIf(expr.MetaKeyOIFNAME, expr.CmpOpEq, o.Bridge), verdict(expr.VerdictDrop))...)...)
		}
	}
	for _, n := range nets {
		if !n.Internal {
			add(fwd, "accept "+n.Bridge, append(matchIf(expr.MetaKeyIIFNAME, expr.CmpOpEq, n.Bridge), verdict(expr.VerdictAccept))...)
			add(fwd, "accept "+n.Bridge, append(matchIf(expr.MetaKeyOIFNAME, expr.CmpOpEq, n.Bridge), verdict(expr.VerdictAccept))...)
		}
	}
}

// Remove deletes the daemon's chains, and the tables once no daemon has
// chains left in them.
func (f *Firewall) Remove() error {
	return errors.Join(f.remove(table), f.remove(table6))
}

// remove deletes the daemon's chains of t (base chains first: they jump
// to dnat), and t once no other daemon's chains are in it.
func (f *Firewall) remove(t *nftables.Table) error {
	c, err := f.conn()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	chains, err := c.ListChainsOfTableFamily(t.Family)
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	var mine []*nftables.Chain
	if t == table6 {
		post, fwd := f.chains6()
		mine = []*nftables.Chain{post, fwd}
	} else {
		pre, out, post, dnat, fwd := f.chains()
		mine = []*nftables.Chain{pre, out, post, fwd, dnat}
	}
	names := map[string]bool{}
	for _, ch := range mine {
		names[ch.Name] = true
	}
	others, found := 0, false
	for _, ch := range chains {
		if ch.Table.Name != TableName {
			continue
		}
		if names[ch.Name] {
			found = true
		} else {
			others++
		}
	}
	if !found {
		return nil
	}
	if others == 0 {
		c.DelTable(t)
	} else {
		for _, ch := range mine {
			c.FlushChain(ch)
			c.DelChain(ch)
		}
	}
	if err := c.Flush(); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("nftables: remove chains %s-*: %w", f.tag, err)
	}
	return nil
}

func ifname(n string) []byte {
	b := make([]byte, 16)
	copy(b, n)
	return b
}

func matchIf(key expr.MetaKey, op expr.CmpOp, name string) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: key, Register: 1},
		&expr.Cmp{Op: op, Register: 1, Data: ifname(name)},
	}
}

// matchAddr matches the IPv4 source (offset 12) or destination (16).
func matchAddr(offset uint32, p netip.Prefix) []expr.Any {
	p = p.Masked()
	mask := make([]byte, 4)
	for i := 0; i < p.Bits(); i++ {
		mask[i/8] |= 0x80 >> (i % 8)
	}
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: 4},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: mask, Xor: []byte{0, 0, 0, 0}},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: p.Addr().AsSlice()},
	}
}

// matchAddr6 matches the IPv6 source (offset 8) or destination (24).
func matchAddr6(offset uint32, p netip.Prefix) []expr.Any {
	p = p.Masked()
	mask := make([]byte, 16)
	for i := 0; i < p.Bits(); i++ {
		mask[i/8] |= 0x80 >> (i % 8)
	}
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: 16},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 16, Mask: mask, Xor: make([]byte, 16)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: p.Addr().AsSlice()},
	}
}

func daddrNotLoopback() []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 1},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte{127}},
	}
}

func fibLocal() []expr.Any {
	return []expr.Any{
		&expr.Fib{Register: 1, FlagDADDR: true, ResultADDRTYPE: true},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(unix.RTN_LOCAL)},
	}
}

func matchProto(proto string) []expr.Any {
	p := byte(unix.IPPROTO_TCP)
	if proto == "udp" {
		p = unix.IPPROTO_UDP
	}
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{p}},
	}
}

func matchDport(port uint16) []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(port)},
	}
}

func established() []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitESTABLISHED | expr.CtStateBitRELATED),
			Xor:  binaryutil.NativeEndian.PutUint32(0)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(0)},
		&expr.Verdict{Kind: expr.VerdictAccept},
	}
}

func verdict(k expr.VerdictKind) expr.Any { return &expr.Verdict{Kind: k} }

func jump(chain string) expr.Any { return &expr.Verdict{Kind: expr.VerdictJump, Chain: chain} }

// ipForwardPath is the sysctl the bridge driver needs on.
const ipForwardPath = "/proc/sys/net/ipv4/ip_forward"

// ipv6ForwardPath is IPv6's, for networks with IPv6.
const ipv6ForwardPath = "/proc/sys/net/ipv6/conf/all/forwarding"

// enableForwarding turns IPv4 forwarding on at p; it reports whether it
// was off.
func enableForwarding(p string) (bool, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return false, err
	}
	if strings.TrimSpace(string(b)) == "1" {
		return false, nil
	}
	if err := os.WriteFile(p, []byte("1\n"), 0o644); err != nil {
		return false, fmt.Errorf("enable forwarding: %w", err)
	}
	return true, nil
}
