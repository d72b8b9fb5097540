package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/userdata"
	"github.com/hako-dev/hako/internal/client"
	"github.com/hako-dev/hako/internal/daemon/network"
	ctypes "github.com/moby/moby/api/types/container"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Network tests use 127.0.0.0/8, the subnets hako picks for the bridges
// it makes, and 10.213.99.0/30 between the host and a namespace the test
// makes; containers that look names up get --dns 127.0.0.1 and no search
// domains, so a question the embedded DNS server cannot answer goes to
// the host's loopback, never to a real resolver.
var localDNS = []string{"--dns", "127.0.0.1", "--dns-search", "."}

// cleanNetworks removes what the test's daemon may have left on the host
// when it was killed and not restarted: its bridges, their endpoints and
// its nftables chains.
func (e *hakoEnv) cleanNetworks() {
	if err := network.Teardown(filepath.Join(e.root, "networks"), e.bridge); err != nil {
		e.t.Logf("network teardown: %v", err)
	}
}

// webCmd is a busybox web server on port 8080 answering "hello NAME".
func webCmd(name string) []string {
	return []string{"sh", "-c", "mkdir -p /www && echo hello " + name + " > /www/index.html && exec httpd -f -p 8080 -h /www"}
}

// fetch runs busybox wget in a new container with args (network flags)
// and returns its output and exit status.
func (e *hakoEnv) fetch(url string, args ...string) (string, int) {
	e.t.Helper()
	// Not timeout as PID 1 (sh would exec it): its SIGTERM to wget, PID 1
	// after its exec, would be ignored.
	cmd := append(append(append([]string{"run", "--rm"}, localDNS...), args...), "busybox", "sh", "-c", "timeout 3 wget -qO- "+url+"; exit $?")
	out, _, code := e.hako(cmd...)
	return out, code
}

// fetchEventually retries fetch until the server answers.
func (e *hakoEnv) fetchEventually(url string, args ...string) string {
	e.t.Helper()
	var out string
	var code int
	for range 20 {
		if out, code = e.fetch(url, args...); code == 0 {
			return out
		}
		time.Sleep(200 * time.Millisecond)
	}
	e.t.Fatalf("wget %s %v: exit %d: %q\n%s", url, args, code, out, e.daemonLog())
	return ""
}

// hakoVeths are the host sides of the endpoints of the containers ids.
func hakoVeths(t *testing.T, ids ...string) []string {
	t.Helper()
	links, err := netlink.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range links {
		alias := l.Attrs().Alias
		for _, id := range ids {
			if strings.HasPrefix(alias, "hako:"+id) {
				out = append(out, l.Attrs().Name+" ("+alias+")")
			}
		}
	}
	return out
}

// bridgePorts are the interfaces attached to bridge.
func bridgePorts(t *testing.T, bridge string) []string {
	t.Helper()
	br, err := netlink.LinkByName(bridge)
	if err != nil {
		return nil
	}
	links, _ := netlink.LinkList()
	var out []string
	for _, l := range links {
		if l.Attrs().MasterIndex == br.Attrs().Index {
			out = append(out, l.Attrs().Name)
		}
	}
	return out
}

// nftComments are the comments of the rules in the daemon's chains.
func (e *hakoEnv) nftComments() []string {
	e.t.Helper()
	c, err := nftables.New()
	if err != nil {
		e.t.Fatal(err)
	}
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, ch := range chains {
		if ch.Table.Name != network.TableName || !strings.HasPrefix(ch.Name, e.bridge+"-") {
			continue
		}
		rules, _ := c.GetRules(ch.Table, ch)
		for _, r := range rules {
			s, _ := userdata.GetString(r.UserData, userdata.TypeComment)
			out = append(out, ch.Name+": "+s)
		}
	}
	return out
}

// assertNoNetworkLeft checks that nothing of the containers ids is left
// on the host: no veth, no port on the daemon's bridges, no nftables
// rule, no process (so no network namespace), no mount.
func (e *hakoEnv) assertNoNetworkLeft(bridges []string, pids []int, ids ...string) {
	e.t.Helper()
	// A container's veth pair goes with its network namespace, which the
	// kernel cleans up in the background (and the daemon deletes what is
	// left in the background too): wait for that, within reason.
	left := func() (veths []string, ports map[string][]string) {
		ports = map[string][]string{}
		for _, b := range bridges {
			if p := bridgePorts(e.t, b); len(p) > 0 {
				ports[b] = p
			}
		}
		return hakoVeths(e.t, ids...), ports
	}
	veths, ports := left()
	for deadline := time.Now().Add(10 * time.Second); (len(veths) > 0 || len(ports) > 0) && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		veths, ports = left()
	}
	if len(veths) > 0 {
		e.t.Errorf("veths left: %v", veths)
	}
	for b, p := range ports {
		e.t.Errorf("ports left on %s: %v", b, p)
	}
	for _, c := range e.nftComments() {
		for _, id := range ids {
			if strings.Contains(c, id) {
				e.t.Errorf("nftables rule left: %s", c)
			}
		}
	}
	for _, pid := range pids {
		if pid > 0 && alive(pid) {
			e.t.Errorf("container process %d (and its network namespace) left", pid)
		}
	}
	e.assertClean(ids...)
}

// Two containers on a user-defined network reach each other by name and
// alias through the embedded DNS server; a container on another network
// reaches neither the name nor the address, until it is connected.
func TestNetworkUserDefined(t *testing.T) {
	e := newHakoEnv(t)
	e.busybox()
	if out := e.must("network", "ls", "--format", "{{.Name}} {{.Driver}} {{.Scope}}"); out != "bridge bridge local\nhost host local\nnone null local\n" {
		t.Fatalf("predefined networks: %q", out)
	}
	e.must("network", "create", "front")
	e.must("network", "create", "--subnet", "10.213.40.0/24", "--gateway", "10.213.40.254", "--label", "tier=back", "back")
	if out := e.must("network", "ls", "-q", "--filter", "label=tier=back", "--no-trunc"); len(strings.TrimSpace(out)) != 64 {
		t.Fatalf("ls --filter label: %q", out)
	}
	if got := e.must("network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}} {{.Internal}}", "back"); got != "10.213.40.0/24 10.213.40.254 false\n" {
		t.Fatalf("inspect back: %q", got)
	}
	id := strings.TrimSpace(e.must(append(append([]string{"run", "-d", "--name", "web", "--network", "front", "--network-alias", "www"}, "busybox"), webCmd("web")...)...))
	if got := e.fetchEventually("http://web:8080", "--network", "front"); got != "hello web\n" {
		t.Fatalf("by name: %q", got)
	}
	if got, _ := e.fetch("http://www:8080", "--network", "front"); got != "hello web\n" {
		t.Fatalf("by alias: %q", got)
	}
	if got, _ := e.fetch("http://"+id[:12]+":8080", "--network", "front"); got != "hello web\n" {
		t.Fatalf("by short ID: %q", got)
	}
	if out := e.must("ps", "-q", "--no-trunc", "--filter", "network=front"); out != id+"\n" {
		t.Fatalf("ps --filter network: %q", out)
	}
	ip := e.format("web", "{{.NetworkSettings.Networks.front.IPAddress}}")
	if got := e.format("web", "{{.NetworkSettings.Networks.front.Gateway}} {{.NetworkSettings.Networks.front.IPPrefixLen}} {{.NetworkSettings.Networks.front.MacAddress}} {{.NetworkSettings.Networks.front.Aliases}} {{.NetworkSettings.Networks.front.DNSNames}}"); !strings.HasSuffix(got, " [www] [web www "+id[:12]+"]") || !strings.Contains(got, " 02:42:") {
		t.Fatalf("endpoint settings: %q (address %s)", got, ip)
	}
	if got := e.must("network", "inspect", "-f", "{{range $id, $c := .Containers}}{{$c.Name}} {{$c.IPv4Address}}{{end}}", "front"); got != "web "+ip+"/16\n" {
		t.Fatalf("network inspect containers: %q", got)
	}
	// A renamed container answers to its new name.
	e.must("rename", "web", "web2")
	if got, _ := e.fetch("http://web2:8080", "--network", "front"); got != "hello web\n" {
		t.Fatalf("after rename: %q", got)
	}
	e.must("rename", "web2", "web")
	if got := e.must("inspect", "-f", "{{.Driver}} {{.Name}}", "front"); got != "bridge front\n" {
		t.Fatalf("inspect of a network: %q", got)
	}
	// The container's /etc/hosts has its address.
	if out := e.must("exec", "web", "cat", "/etc/hosts"); !strings.Contains(out, ip+"\t"+id[:12]) {
		t.Fatalf("/etc/hosts: %q", out)
	}
	// Another network: neither the name nor the address.
	if out, code := e.fetch("http://"+ip+":8080", "--network", "back"); code == 0 {
		t.Fatalf("network back reached %s on front: %q", ip, out)
	}
	if out, _, code := e.hako(append(append([]string{"run", "--rm"}, localDNS...), "--network", "back", "busybox", "nslookup", "web")...); code == 0 && strings.Contains(out, ip) {
		t.Fatalf("network back resolved web: %q", out)
	}
	// A network with endpoints cannot be removed.
	if _, errOut, code := e.hako("network", "rm", "front"); code != 1 || !strings.Contains(errOut, "error while removing network: network front has active endpoints") {
		t.Fatalf("rm a network in use: %d %q", code, errOut)
	}
	// Connected to back as well (a new interface in the running
	// container), web answers there by name; disconnected, it does not.
	e.must("network", "connect", "--alias", "api", "back", "web")
	if got := e.fetchEventually("http://api:8080", "--network", "back"); got != "hello web\n" {
		t.Fatalf("after connect: %q", got)
	}
	if out := e.must("exec", "web", "ip", "-o", "-4", "addr"); !strings.Contains(out, "eth1") || !strings.Contains(out, "10.213.40.") {
		t.Fatalf("interfaces after connect: %q", out)
	}
	e.must("network", "disconnect", "back", "web")
	if out, code := e.fetch("http://"+ip+":8080", "--network", "back"); code == 0 {
		t.Fatalf("after disconnect: %q", out)
	}
	if out := e.must("exec", "web", "ip", "-o", "link"); strings.Contains(out, "eth1") {
		t.Fatalf("eth1 outlived the disconnect: %q", out)
	}
	bridges := []string{e.bridge, "br-" + e.format("web", "{{.NetworkSettings.Networks.front.NetworkID}}")[:12]}
	pid, _ := strconv.Atoi(e.format("web", "{{.State.Pid}}"))
	e.must("rm", "-f", "web")
	e.assertNoNetworkLeft(bridges, []int{pid}, id)
	e.must("network", "rm", "front", "back")
	if _, err := netlink.LinkByName(bridges[1]); err == nil {
		t.Fatalf("bridge %s outlived its network", bridges[1])
	}
	if out := e.must("network", "ls", "-q"); strings.Count(out, "\n") != 3 {
		t.Fatalf("left: %q", out)
	}
}

// --network none has loopback only, up; --network host the host's
// interfaces; an internal network no way out.
func TestNetworkModes(t *testing.T) {
	e := newHakoEnv(t)
	e.busybox()
	if out := e.must("run", "--rm", "--network", "none", "busybox", "ip", "-o", "link"); strings.Count(out, "\n") != 1 || !strings.Contains(out, "lo:") || !strings.Contains(out, "UP") {
		t.Fatalf("--network none: %q", out)
	}
	// docker-py's network_disabled (Config.NetworkDisabled): loopback
	// alone, as --network none.
	cl, err := client.New("unix://" + e.sock())
	if err != nil {
		t.Fatal(err)
	}
	nd, err := cl.ContainerCreate(context.Background(), "nonet", &ctypes.Config{Image: "busybox", Cmd: []string{"ip", "-o", "link"}, NetworkDisabled: true}, &ctypes.HostConfig{}, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	e.must("start", "-a", nd.ID)
	if out := e.must("logs", nd.ID); strings.Count(out, "\n") != 1 || !strings.Contains(out, "lo:") {
		t.Fatalf("NetworkDisabled: %q", out)
	}
	e.must("rm", nd.ID)
	host, _ := exec.Command("ip", "-o", "link").Output()
	if out := e.must("run", "--rm", "--network", "host", "busybox", "ip", "-o", "link"); strings.Count(out, "\n") != strings.Count(string(host), "\n") {
		t.Fatalf("--network host: %q", out)
	}
	hostID := strings.TrimSpace(e.must("create", "--network", "host", "busybox"))
	if got := e.format(hostID, "{{.HostConfig.NetworkMode}} {{len .NetworkSettings.Networks}}"); got != "host 1" {
		t.Fatalf("host mode: %q", got)
	}
	e.must("rm", hostID)
	e.must("network", "create", "--internal", "sealed")
	if out := e.must("run", "--rm", "--network", "sealed", "busybox", "ip", "route"); strings.Contains(out, "default") {
		t.Fatalf("an internal network gave a default route: %q", out)
	}
	if _, errOut, code := e.hako("run", "--rm", "--network", "nosuch", "busybox", "true"); code != 125 || !strings.Contains(errOut, "network nosuch not found") {
		t.Fatalf("unknown network: %d %q", code, errOut)
	}
	// The default bridge: docker's address, MAC and /etc/hosts line, and
	// the legacy top-level fields of inspect.
	id := strings.TrimSpace(e.must("run", "-d", "busybox", "sleep", "100"))
	got := e.format(id, "{{.NetworkSettings.IPAddress}} {{.NetworkSettings.Gateway}} {{.NetworkSettings.MacAddress}} {{.NetworkSettings.Networks.bridge.IPAddress}}")
	f := strings.Fields(got)
	if len(f) != 4 || f[0] != f[3] || !strings.HasPrefix(f[2], "02:42:") || !strings.HasSuffix(f[1], ".1") {
		t.Fatalf("inspect on the default bridge: %q", got)
	}
	if out := e.must("exec", id, "cat", "/etc/hosts"); !strings.Contains(out, f[0]+"\t"+id[:12]) {
		t.Fatalf("/etc/hosts: %q", out)
	}
	e.must("rm", "-f", id)
	e.assertNoNetworkLeft([]string{e.bridge}, nil, id)
}

// -p 127.0.0.1:18080:80 answers on the host through the userland proxy,
// -P publishes exposed ports on free ports, a taken port is refused with
// docker's message, and the rules go with the container.
func TestNetworkPublishedPorts(t *testing.T) {
	e := newHakoEnv(t)
	e.busybox()
	web := []string{"sh", "-c", "mkdir -p /www && echo published > /www/index.html && exec httpd -f -p 80 -h /www"}
	id := strings.TrimSpace(e.must(append([]string{"run", "-d", "--name", "pub", "-p", "127.0.0.1:18080:80", "-p", "127.0.0.1::80/udp", "--expose", "81", "-P", "busybox"}, web...)...))
	body := httpGet(t, "http://127.0.0.1:18080/")
	if body != "published\n" {
		t.Fatalf("GET 127.0.0.1:18080: %q", body)
	}
	if out := e.must("port", "pub", "80/tcp"); out != "127.0.0.1:18080\n" {
		t.Fatalf("port: %q", out)
	}
	out := e.must("port", "pub", "81")
	if !strings.HasPrefix(out, "0.0.0.0:") {
		t.Fatalf("-P: %q", out)
	}
	if got := e.format("pub", "{{json .HostConfig.PortBindings}}"); !strings.Contains(got, `"80/tcp":[{"HostIp":"127.0.0.1","HostPort":"18080"}]`) {
		t.Fatalf("PortBindings: %s", got)
	}
	if got := e.must("ps", "--format", "{{.Ports}}"); !strings.Contains(got, "127.0.0.1:18080->80/tcp") {
		t.Fatalf("ps: %q", got)
	}
	// The DNAT rule of the -P port (every address) is in the daemon's
	// chain, tagged with the container.
	found := false
	for _, c := range e.nftComments() {
		if strings.Contains(c, "container "+id) {
			found = true
		}
	}
	if !found {
		t.Fatalf("no DNAT rule for the -P port: %v", e.nftComments())
	}
	// The port is the container's: another one cannot take it.
	_, errOut, code := e.hako(append([]string{"run", "-d", "--name", "pub2", "-p", "127.0.0.1:18080:80", "busybox"}, web...)...)
	if code == 0 || !strings.Contains(errOut, "Bind for 127.0.0.1:18080 failed: port is already allocated") {
		t.Fatalf("a taken port: %d %q", code, errOut)
	}
	e.hako("rm", "-f", "pub2")
	// A daemon restart brings the proxy back.
	syscall.Kill(e.daemonPid(), syscall.SIGKILL)
	time.Sleep(300 * time.Millisecond)
	e.must("ps")
	if body := httpGet(t, "http://127.0.0.1:18080/"); body != "published\n" {
		t.Fatalf("after a daemon restart: %q", body)
	}
	pid, _ := strconv.Atoi(e.format("pub", "{{.State.Pid}}"))
	e.must("rm", "-f", "pub")
	if c, err := net.DialTimeout("tcp", "127.0.0.1:18080", time.Second); err == nil {
		c.Close()
		t.Fatal("the port still answers after rm")
	}
	e.assertNoNetworkLeft([]string{e.bridge}, []int{pid}, id)
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	var err error
	for range 30 {
		var resp *http.Response
		if resp, err = c.Get(url); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return string(b)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("GET %s: %v", url, err)
	return ""
}

// A container on the default bridge reaches a server beyond the host
// through the outbound NAT: the server, in a namespace the test makes
// behind a veth (10.213.99.0/30), sees the host's address.
func TestNetworkOutboundNAT(t *testing.T) {
	e := newHakoEnv(t)
	e.busybox()
	outside := newOutside(t)
	if got := e.fetchEventually("http://10.213.99.2:8099/"); got != "from 10.213.99.1" {
		t.Fatalf("outbound: %q (want the masqueraded host address)", got)
	}
	if e.must("network", "create", "--internal", "sealed") == "" {
		t.Fatal("no network ID")
	}
	if out, code := e.fetch("http://10.213.99.2:8099/", "--network", "sealed"); code == 0 {
		t.Fatalf("an internal network reached the outside: %q", out)
	}
	_ = outside
}

// newOutside makes a network namespace with 10.213.99.2/30, linked to the
// host's 10.213.99.1/30 by a veth pair, and an HTTP server in it on port
// 8099 that answers "from <client address>". All of it goes at cleanup.
func newOutside(t *testing.T) netns.NsHandle {
	return newOutsideAt(t, "hkx", "10.213.99.1/30", "10.213.99.2/30")
}

// newOutsideAt is newOutside with the host's and the namespace's
// addresses (IPv4 or IPv6, set without duplicate address detection) and
// a prefix for the host side's name.
func newOutsideAt(t *testing.T, prefix, hostAddr, insideAddr string) netns.NsHandle {
	t.Helper()
	var ns netns.NsHandle
	var err error
	inThread(func() { ns, err = netns.New() })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close() })
	host := fmt.Sprintf("%s%08x", prefix, time.Now().UnixNano()&0xffffffff)
	if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: host}, PeerName: "eth0", PeerNamespace: netlink.NsFd(int(ns))}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if l, err := netlink.LinkByName(host); err == nil {
			netlink.LinkDel(l)
		}
	})
	hl, _ := netlink.LinkByName(host)
	a, _ := netlink.ParseAddr(hostAddr)
	a.Flags = unix.IFA_F_NODAD
	if err := netlink.AddrAdd(hl, a); err != nil {
		t.Fatal(err)
	}
	netlink.LinkSetUp(hl)
	inside, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer inside.Close()
	il, _ := inside.LinkByName("eth0")
	b, _ := netlink.ParseAddr(insideAddr)
	b.Flags = unix.IFA_F_NODAD
	if err := inside.AddrAdd(il, b); err != nil {
		t.Fatal(err)
	}
	inside.LinkSetUp(il)
	var l net.Listener
	inThread(func() {
		if err = netns.Set(ns); err == nil {
			l, err = net.Listen("tcp", net.JoinHostPort(b.IP.String(), "8099"))
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, _, _ := net.SplitHostPort(r.RemoteAddr)
		io.WriteString(w, "from "+h)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return ns
}

// inThread runs f on a thread of its own that dies with it, so that a
// thread moved into another namespace runs nothing else.
func inThread(f func()) {
	done := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		defer close(done)
		f()
	}()
	<-done
}

// rm -f of 20 networked containers, and a kill -9 of the daemon with 5
// running then their removal, leave nothing of their networking.
func TestNetworkCleanup(t *testing.T) {
	e := newHakoEnv(t)
	e.busybox()
	netID := strings.TrimSpace(e.must("network", "create", "many"))
	bridges := []string{e.bridge, "br-" + netID[:12]}
	var mu sync.Mutex
	var ids []string
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			args := []string{"run", "-d"}
			if i%2 == 0 {
				args = append(args, "--network", "many")
			}
			if i%5 == 0 {
				args = append(args, "-p", "127.0.0.1::80")
			}
			out, errOut, code := e.hako(append(args, "busybox", "sleep", "1000")...)
			if code != 0 {
				t.Errorf("run %d: %s", i, errOut)
				return
			}
			mu.Lock()
			ids = append(ids, strings.TrimSpace(out))
			mu.Unlock()
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	if n := len(bridgePorts(t, bridges[0])) + len(bridgePorts(t, bridges[1])); n != 20 {
		t.Fatalf("%d endpoints on the bridges, want 20", n)
	}
	pids := e.pids(ids)
	e.must(append([]string{"rm", "-f"}, ids...)...)
	e.assertNoNetworkLeft(bridges, pids, ids...)

	ids = nil
	for i := range 5 {
		args := []string{"run", "-d", "--network", "many"}
		if i == 0 {
			args = []string{"run", "-d", "-p", "127.0.0.1::80"}
		}
		ids = append(ids, strings.TrimSpace(e.must(append(args, "busybox", "sleep", "1000")...)))
	}
	pids = e.pids(ids)
	syscall.Kill(e.daemonPid(), syscall.SIGKILL)
	time.Sleep(300 * time.Millisecond)
	// The next daemon keeps the running containers' endpoints.
	if got := e.format(ids[1], "{{.NetworkSettings.Networks.many.IPAddress}}"); got == "" {
		t.Fatal("the address was lost over a daemon restart")
	}
	if n := len(hakoVeths(t, ids...)); n != 5 {
		t.Fatalf("%d endpoints after the restart, want 5", n)
	}
	e.must(append([]string{"rm", "-f"}, ids...)...)
	e.assertNoNetworkLeft(bridges, pids, ids...)
	e.must("network", "rm", "many")
	// A daemon stopped with nothing running takes its bridge and chains
	// away; the next one makes them again.
	e.stopDaemon()
	if _, err := netlink.LinkByName(e.bridge); err == nil {
		t.Fatal("the default bridge outlived the daemon")
	}
	if c := e.nftComments(); len(c) > 0 {
		t.Fatalf("chains outlived the daemon: %v", c)
	}
	if out := e.must("run", "--rm", "busybox", "ip", "-o", "-4", "addr", "show", "eth0"); !strings.Contains(out, "inet ") {
		t.Fatalf("after a daemon restart: %q", out)
	}
}

func (e *hakoEnv) pids(ids []string) []int {
	var out []int
	for _, id := range ids {
		pid, _ := strconv.Atoi(e.format(id, "{{.State.Pid}}"))
		out = append(out, pid)
	}
	return out
}

// The docker CLI manages hako's networks and runs containers on them
// that find each other by name.
func TestNetworkDockerCLI(t *testing.T) {
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("docker CLI not installed")
	}
	e := newHakoEnv(t)
	e.busybox()
	docker := func(args ...string) (string, int) {
		out, errOut, code := e.docker(args...)
		return out + errOut, code
	}
	if _, code := docker("network", "create", "--subnet", "10.213.41.0/24", "dnet"); code != 0 {
		t.Fatal("docker network create failed")
	}
	if out, _ := docker("network", "ls", "--format", "{{.Name}}"); out != "bridge\ndnet\nhost\nnone\n" {
		t.Fatalf("docker network ls: %q", out)
	}
	if out, _ := docker("network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}}{{end}} {{.Driver}}", "dnet"); out != "10.213.41.0/24 bridge\n" {
		t.Fatalf("docker network inspect: %q", out)
	}
	if _, code := docker(append([]string{"run", "-d", "--name", "dweb", "--network", "dnet", "busybox"}, webCmd("dweb")...)...); code != 0 {
		t.Fatal("docker run -d --network failed")
	}
	var out string
	for range 20 {
		var code int
		if out, code = docker(append(append([]string{"run", "--rm", "--network", "dnet"}, localDNS...), "busybox", "wget", "-qO-", "http://dweb:8080")...); code == 0 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.HasPrefix(out, "hello dweb\n") {
		t.Fatalf("docker run --network: %q", out)
	}
	if out, _ := docker("inspect", "-f", "{{.NetworkSettings.Networks.dnet.IPAddress}}", "dweb"); !strings.HasPrefix(out, "10.213.41.") {
		t.Fatalf("docker inspect: %q", out)
	}
	if out, code := docker("network", "rm", "dnet"); code == 0 || !strings.Contains(out, "has active endpoints") {
		t.Fatalf("docker network rm of a network in use: %d %q", code, out)
	}
	docker("rm", "-f", "dweb")
	if _, code := docker("network", "rm", "dnet"); code != 0 {
		t.Fatal("docker network rm failed")
	}
	if out, _ := docker("network", "ls", "-q"); strings.Count(out, "\n") != 3 {
		t.Fatalf("left: %q", out)
	}
}

// --link on the default bridge: the linked container's name and alias in
// /etc/hosts, its ports and environment as docker's legacy variables; on
// a user-defined network the names alone. A link to a missing or stopped
// container is an error at start.
func TestNetworkLinks(t *testing.T) {
	e := newHakoEnv(t)
	e.busybox()
	defer e.cleanNetworks()
	e.must("run", "-d", "--name", "db", "-e", "DB_USER=app", "--expose", "5432", "--expose", "6000/udp", "busybox", "sleep", "60")
	defer e.hako("rm", "-f", "db")
	ip := strings.TrimSpace(e.format("db", "{{.NetworkSettings.Networks.bridge.IPAddress}}"))
	id := strings.TrimSpace(e.format("db", "{{.Id}}"))[:12]
	out := e.must("run", "--rm", "--name", "web", "--link", "db:database", "busybox", "sh", "-c", "grep database /etc/hosts; env | grep ^DATABASE_ | sort; ping -c1 -W2 database >/dev/null && echo reached")
	want := ip + "\tdatabase " + id + " db\n" +
		"DATABASE_ENV_DB_USER=app\n" +
		"DATABASE_NAME=/web/database\n" +
		"DATABASE_PORT=tcp://" + ip + ":5432\n" +
		"DATABASE_PORT_5432_TCP=tcp://" + ip + ":5432\n" +
		"DATABASE_PORT_5432_TCP_ADDR=" + ip + "\n" +
		"DATABASE_PORT_5432_TCP_PORT=5432\n" +
		"DATABASE_PORT_5432_TCP_PROTO=tcp\n" +
		"DATABASE_PORT_6000_UDP=udp://" + ip + ":6000\n" +
		"DATABASE_PORT_6000_UDP_ADDR=" + ip + "\n" +
		"DATABASE_PORT_6000_UDP_PORT=6000\n" +
		"DATABASE_PORT_6000_UDP_PROTO=udp\n" +
		"reached\n"
	if out != want {
		t.Errorf("--link db:database:\n%s\nwant:\n%s", out, want)
	}
	if _, err := exec.LookPath("docker"); err == nil {
		if got, _, _ := e.docker("run", "--rm", "--link", "db:database", "busybox", "sh", "-c", "grep database /etc/hosts; echo $DATABASE_PORT"); got != ip+"\tdatabase "+id+" db\ntcp://"+ip+":5432\n" {
			t.Errorf("docker run --link: %q", got)
		}
	}
	// The container's own variables win over the link's.
	if got := e.must("run", "--rm", "--link", "db", "-e", "DB_NAME=mine", "busybox", "sh", "-c", "echo $DB_NAME; grep -c -w db /etc/hosts"); got != "mine\n1\n" {
		t.Errorf("--link db with -e DB_NAME: %q", got)
	}
	// A user-defined network: names, no variables.
	e.must("network", "create", "linknet")
	e.must("run", "-d", "--name", "db2", "--network", "linknet", "-e", "X=1", "busybox", "sleep", "60")
	defer e.hako("rm", "-f", "db2")
	if got := e.must("run", "--rm", "--network", "linknet", "--link", "db2:store", "busybox", "sh", "-c", "grep -c -w store /etc/hosts; env | grep -c ^STORE_; ping -c1 -W2 store >/dev/null && echo reached"); got != "1\n0\nreached\n" {
		t.Errorf("--link on a user-defined network: %q", got)
	}
	// Errors: no such container, a stopped one, one on another network.
	e.must("create", "--name", "stopped", "busybox", "true")
	defer e.hako("rm", "-f", "stopped")
	for link, msg := range map[string]string{"nosuch:x": "could not get container for nosuch", "stopped:s": "cannot link to a non running container", "db2:d": "it is on none of"} {
		if _, errOut, code := e.hako("run", "--rm", "--link", link, "busybox", "true"); code == 0 || !strings.Contains(errOut, msg) {
			t.Errorf("--link %s: exit %d: %s", link, code, errOut)
		}
	}
	if ps := e.must("ps", "-aq", "--filter", "status=created"); strings.Count(ps, "\n") != 1 {
		t.Errorf("containers left by failed links: %q", ps)
	}
	// A link to no container is refused at create, as docker does.
	if _, errOut, code := e.hako("create", "--link", "nosuch", "busybox", "true"); code != 125 || !strings.Contains(errOut, "could not get container for nosuch") {
		t.Errorf("create --link nosuch: exit %d: %s", code, errOut)
	}
	if ps := e.must("ps", "-aq"); strings.Count(ps, "\n") != 3 {
		t.Errorf("containers after a refused create: %q", ps)
	}
}

// --ip-range: containers get addresses of the range, --ip any of the
// subnet; inspect shows the range.
func TestNetworkIPRange(t *testing.T) {
	e := newHakoEnv(t)
	e.busybox()
	defer e.cleanNetworks()
	e.must("network", "create", "--subnet", "10.213.50.0/24", "--ip-range", "10.213.50.128/25", "ranged")
	if got := e.must("network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}} {{.IPRange}} {{.Gateway}}{{end}}", "ranged"); got != "10.213.50.0/24 10.213.50.128/25 10.213.50.1\n" {
		t.Errorf("inspect: %q", got)
	}
	if got := e.must("run", "--rm", "--network", "ranged", "busybox", "sh", "-c", "ip -4 -o addr show eth0 | awk '{print $4}'"); got != "10.213.50.128/24\n" {
		t.Errorf("first address of the range: %q", got)
	}
	if got := e.must("run", "--rm", "--network", "ranged", "--ip", "10.213.50.7", "busybox", "sh", "-c", "ip -4 -o addr show eth0 | awk '{print $4}'"); got != "10.213.50.7/24\n" {
		t.Errorf("--ip outside the range: %q", got)
	}
	// --aux-address: an address no container gets.
	e.must("network", "create", "--subnet", "10.213.53.0/24", "--aux-address", "router=10.213.53.2", "aux")
	if got := e.must("network", "inspect", "-f", "{{range .IPAM.Config}}{{.AuxiliaryAddresses}}{{end}}", "aux"); got != "map[router:10.213.53.2]\n" {
		t.Errorf("inspect aux: %q", got)
	}
	if got := e.must("run", "--rm", "--network", "aux", "busybox", "sh", "-c", "ip -4 -o addr show eth0 | awk '{print $4}'"); got != "10.213.53.3/24\n" {
		t.Errorf("first address past the aux-address: %q", got)
	}
	if _, errOut, code := e.hako("run", "--rm", "--network", "aux", "--ip", "10.213.53.2", "busybox", "true"); code == 0 || !strings.Contains(errOut, "already in use") {
		t.Errorf("--ip of the aux-address: exit %d: %s", code, errOut)
	}
	if _, errOut, code := e.hako("network", "create", "--subnet", "10.213.51.0/24", "--ip-range", "10.213.60.0/25", "bad"); code == 0 || !strings.Contains(errOut, "no matching subnet for range 10.213.60.0/25") {
		t.Errorf("a range outside the subnet: exit %d: %s", code, errOut)
	}
	if _, err := exec.LookPath("docker"); err == nil {
		if _, _, code := e.docker("network", "create", "--subnet", "10.213.52.0/24", "--ip-range", "10.213.52.64/26", "dranged"); code != 0 {
			t.Errorf("docker network create --ip-range: exit %d", code)
		} else if got, _, _ := e.docker("run", "--rm", "--network", "dranged", "busybox", "sh", "-c", "ip -4 -o addr show eth0 | awk '{print $4}'"); got != "10.213.52.64/24\n" {
			t.Errorf("docker: first address of the range: %q", got)
		}
	}
}
