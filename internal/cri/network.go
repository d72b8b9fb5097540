package cri

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/containernetworking/cni/libcni"
	types100 "github.com/containernetworking/cni/pkg/types/100"
	"github.com/hako-dev/hako/internal/errdefs"
	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// cniNetwork attaches pods to the network that the first configuration
// in the CNI configuration directory describes (as containerd and
// cri-o do), and brings their loopback up with the loopback plugin.
type cniNetwork struct {
	confDir string
	cni     *libcni.CNIConfig
	binDirs []string
	mu      sync.Mutex
}

func newCNINetwork(confDir string, binDirs []string, cacheDir string) *cniNetwork {
	return &cniNetwork{confDir: confDir, binDirs: binDirs, cni: libcni.NewCNIConfigWithCacheDir(binDirs, cacheDir, nil)}
}

// config loads the network configuration (the first file, by name).
func (n *cniNetwork) config() (*libcni.NetworkConfigList, error) {
	files, err := libcni.ConfFiles(n.confDir, []string{".conf", ".conflist", ".json"})
	if err != nil {
		return nil, fmt.Errorf("read CNI configuration %s: %w", n.confDir, err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no CNI network configuration in %s (see docs/cri.md): %w", n.confDir, errdefs.ErrUnavailable)
	}
	var errs []error
	for _, f := range files { // ConfFiles sorts them
		var list *libcni.NetworkConfigList
		if strings.HasSuffix(f, ".conflist") {
			list, err = libcni.NetworkConfFromFile(f)
		} else {
			var c *libcni.PluginConfig
			if c, err = libcni.ConfFromFile(f); err == nil {
				list, err = libcni.ConfListFromConf(c)
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("CNI configuration %s: %w", f, err))
			continue
		}
		if len(list.Plugins) == 0 {
			continue
		}
		return list, nil
	}
	return nil, fmt.Errorf("no usable CNI network configuration in %s: %w", n.confDir, errors.Join(errs...))
}

// ready reports whether pods can be networked; the error says why not.
func (n *cniNetwork) ready() error {
	_, err := n.config()
	return err
}

func (n *cniNetwork) loopback() (*libcni.NetworkConfigList, bool) {
	for _, d := range n.binDirs {
		if _, err := os.Stat(filepath.Join(d, "loopback")); err == nil {
			list, err := libcni.NetworkConfFromBytes([]byte(`{"cniVersion":"1.0.0","name":"cni-loopback","plugins":[{"type":"loopback"}]}`))
			return list, err == nil
		}
	}
	return nil, false
}

// portMapping is the portmap plugin's "portMappings" capability entry.
type portMapping struct {
	HostPort      int32  `json:"hostPort"`
	ContainerPort int32  `json:"containerPort"`
	Protocol      string `json:"protocol"`
	HostIP        string `json:"hostIP,omitempty"`
}

func runtimeConf(id, netns string, cfg *runtimeapi.PodSandboxConfig) *libcni.RuntimeConf {
	md := cfg.GetMetadata()
	rt := &libcni.RuntimeConf{
		ContainerID: id,
		NetNS:       netns,
		IfName:      "eth0",
		Args: [][2]string{
			{"IgnoreUnknown", "1"},
			{"K8S_POD_NAMESPACE", md.GetNamespace()},
			{"K8S_POD_NAME", md.GetName()},
			{"K8S_POD_INFRA_CONTAINER_ID", id},
			{"K8S_POD_UID", md.GetUid()},
		},
	}
	var pms []portMapping
	for _, p := range cfg.GetPortMappings() {
		if p.HostPort <= 0 {
			continue
		}
		proto := strings.ToLower(p.Protocol.String())
		pms = append(pms, portMapping{HostPort: p.HostPort, ContainerPort: p.ContainerPort, Protocol: proto, HostIP: p.HostIp})
	}
	rt.CapabilityArgs = map[string]any{"portMappings": pms}
	if cidr := cfg.GetDnsConfig(); cidr != nil {
		rt.CapabilityArgs["dns"] = map[string]any{"servers": cidr.Servers, "searches": cidr.Searches, "options": cidr.Options}
	}
	return rt
}

// setUp attaches the pod in netns and returns its addresses (IPv4
// first).
func (n *cniNetwork) setUp(ctx context.Context, id, netns string, cfg *runtimeapi.PodSandboxConfig) (ips []string, retErr error) {
	list, err := n.config()
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	rt := runtimeConf(id, netns, cfg)
	if lo, ok := n.loopback(); ok {
		if _, err := n.cni.AddNetworkList(ctx, lo, rt); err != nil {
			return nil, fmt.Errorf("set up the pod's loopback: %w", err)
		}
	}
	res, err := n.cni.AddNetworkList(ctx, list, rt)
	if err != nil {
		return nil, fmt.Errorf("set up the pod network %s: %w", list.Name, err)
	}
	defer func() {
		if retErr != nil {
			n.cni.DelNetworkList(context.WithoutCancel(ctx), list, rt)
		}
	}()
	r, err := types100.NewResultFromResult(res)
	if err != nil {
		return nil, fmt.Errorf("pod network %s: result: %w", list.Name, err)
	}
	var v4, v6 []string
	for _, ip := range r.IPs {
		if ip.Interface != nil && (*ip.Interface < 0 || *ip.Interface >= len(r.Interfaces) || r.Interfaces[*ip.Interface].Name != rt.IfName) {
			continue
		}
		if ip.Address.IP.To4() != nil {
			v4 = append(v4, ip.Address.IP.String())
		} else {
			v6 = append(v6, ip.Address.IP.String())
		}
	}
	ips = append(v4, v6...)
	if len(ips) == 0 {
		return nil, fmt.Errorf("pod network %s gave the pod no address", list.Name)
	}
	return ips, nil
}

// tearDown detaches the pod; netns may be gone already ("").
func (n *cniNetwork) tearDown(ctx context.Context, id, netns string, cfg *runtimeapi.PodSandboxConfig) error {
	list, err := n.config()
	if err != nil {
		return err
	}
	if netns != "" {
		if _, err := os.Stat(netns); err != nil {
			netns = "" // gone with a reboot: the plugins release what is outside it
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	rt := runtimeConf(id, netns, cfg)
	if err := n.cni.DelNetworkList(ctx, list, rt); err != nil {
		return fmt.Errorf("tear down the pod network %s: %w", list.Name, err)
	}
	if lo, ok := n.loopback(); ok && netns != "" {
		n.cni.DelNetworkList(ctx, lo, rt)
	}
	return nil
}

// pinNetNS bind-mounts the network namespace of pid at dir/id, so that
// it outlives the process and can be torn down by path.
func pinNetNS(dir, id string, pid int) (string, error) {
	p := filepath.Join(dir, id)
	f, err := os.OpenFile(p, os.O_CREATE|os.O_RDONLY, 0o444)
	if err != nil {
		return "", fmt.Errorf("pin the pod's network namespace: %w", err)
	}
	f.Close()
	if err := unix.Mount(fmt.Sprintf("/proc/%d/ns/net", pid), p, "", unix.MS_BIND, ""); err != nil {
		os.Remove(p)
		return "", fmt.Errorf("pin the pod's network namespace: %w", err)
	}
	return p, nil
}

// unpinNetNS undoes pinNetNS.
func unpinNetNS(p string) error {
	if p == "" {
		return nil
	}
	if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unpin the pod's network namespace: %w", err)
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// dialInNetNS connects to addr from inside the network namespace at
// path (port-forward). setns(2) on a network namespace is allowed in a
// multi-threaded process; the thread is locked and switched back.
func dialInNetNS(path, addr string) (net.Conn, error) {
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			ch <- result{nil, err}
			return
		}
		defer orig.Close()
		target, err := os.Open(path)
		if err != nil {
			ch <- result{nil, err}
			runtime.UnlockOSThread()
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- result{nil, fmt.Errorf("enter the pod's network namespace: %w", err)}
			runtime.UnlockOSThread()
			return
		}
		c, err := net.Dial("tcp", addr)
		ch <- result{c, err}
		if unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		} // else the thread dies with the goroutine (locked)
	}()
	r := <-ch
	return r.c, r.err
}
