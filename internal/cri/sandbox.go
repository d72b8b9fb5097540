package cri

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hako-dev/hako/internal/api/types"
	"github.com/hako-dev/hako/internal/errdefs"
	ctypes "github.com/moby/moby/api/types/container"
	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Labels on engine containers made by the CRI.
const (
	labelKind    = "io.hako.cri.kind" // "sandbox" or "container"
	labelSandbox = "io.hako.cri.sandbox-id"
	pauseTarget  = "/pause"
)

// engineName is the engine's name for a CRI object, unique as kubelet
// makes metadata unique (dockershim's k8s_NAME_POD_NAMESPACE_UID_ATTEMPT).
func engineName(kind string, name string, pod *runtimeapi.PodSandboxMetadata, attempt uint32) string {
	clean := func(s string) string {
		return strings.Map(func(r rune) rune {
			switch {
			case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-':
				return r
			}
			return '-'
		}, s)
	}
	return fmt.Sprintf("k8s_%s_%s_%s_%s_%d", clean(name), clean(pod.GetName()), clean(pod.GetNamespace()), clean(pod.GetUid()), attempt)
}

// RunPodSandbox creates and starts a pod's infra container and sets up
// its network.
func (s *Service) RunPodSandbox(ctx context.Context, req *runtimeapi.RunPodSandboxRequest) (_ *runtimeapi.RunPodSandboxResponse, retErr error) {
	cfg := req.GetConfig()
	md := cfg.GetMetadata()
	if md == nil || md.Name == "" {
		return nil, fmt.Errorf("pod sandbox config: metadata with a name is required: %w", errdefs.ErrInvalidArgument)
	}
	pauseImage, err := s.b.PauseImage(ctx)
	if err != nil {
		return nil, err
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	lx := cfg.GetLinux()
	nsOpts := lx.GetSecurityContext().GetNamespaceOptions()
	hostNet := nsOpts.GetNetwork() == runtimeapi.NamespaceMode_NODE
	hc := &ctypes.HostConfig{
		Binds:       []string{exe + ":" + pauseTarget + ":ro"},
		NetworkMode: "none",
		IpcMode:     "shareable",
		Sysctls:     lx.GetSysctls(),
	}
	hc.CgroupParent = lx.GetCgroupParent()
	if hostNet {
		hc.NetworkMode = "host"
		hc.UTSMode = "host"
	}
	if nsOpts.GetIpc() == runtimeapi.NamespaceMode_NODE {
		hc.IpcMode = "host"
	}
	if nsOpts.GetPid() == runtimeapi.NamespaceMode_NODE {
		hc.PidMode = "host"
	}
	sc := lx.GetSecurityContext()
	hc.Privileged = sc.GetPrivileged()
	hc.ReadonlyRootfs = sc.GetReadonlyRootfs()
	if err := dnsConfig(hc, cfg.GetDnsConfig()); err != nil {
		return nil, err
	}
	if secOpt, err := seccompOpt(sc.GetSeccomp(), sc.GetSeccompProfilePath(), hc.Privileged); err != nil {
		return nil, err
	} else if secOpt != "" {
		hc.SecurityOpt = append(hc.SecurityOpt, secOpt)
	}
	if v := clampOOMScoreAdj(-998); v != 0 {
		hc.OomScoreAdj = v
	}
	if r := lx.GetResources(); r != nil {
		setResources(&hc.Resources, r)
	}
	shm := ""
	if hc.IpcMode != "host" {
		if shm, err = mountShm(s.cfg.ShmDir); err != nil {
			return nil, err
		}
		defer func() {
			if retErr != nil {
				unmountShm(shm)
			}
		}()
		hc.Binds = append(hc.Binds, shm+":/dev/shm:rw")
	}
	user := ""
	if u := sc.GetRunAsUser(); u != nil {
		user = fmt.Sprint(u.Value)
		if g := sc.GetRunAsGroup(); g != nil {
			user += fmt.Sprintf(":%d", g.Value)
		}
	}
	config := &ctypes.Config{
		Image:    pauseImage,
		Hostname: cfg.GetHostname(),
		User:     user,
		Labels:   map[string]string{labelKind: "sandbox"},
	}
	if hostNet {
		config.Hostname = ""
	}
	id, err := s.b.ContainerCreateCRI(ctx, types.CreateRequest{Name: engineName("POD", md.Name, md, md.Attempt), Config: config, HostConfig: hc}, types.CRIOptions{})
	if err != nil {
		if errdefs.IsConflict(err) {
			return nil, fmt.Errorf("pod sandbox %s/%s (attempt %d) exists already: %v: %w", md.Namespace, md.Name, md.Attempt, err, errdefs.ErrAlreadyExists)
		}
		return nil, fmt.Errorf("create the pod sandbox: %w", err)
	}
	unlock := s.lock(id)
	defer unlock()
	sb := &sandbox{ID: id, Config: cfg, RuntimeHandler: req.RuntimeHandler, CreatedAt: time.Now().UnixNano(), Shm: shm}
	defer func() {
		if retErr != nil {
			cctx := context.WithoutCancel(ctx)
			if sb.NetNS != "" {
				s.net.tearDown(cctx, id, sb.NetNS, cfg)
				unpinNetNS(sb.NetNS)
			}
			s.b.ContainerRemove(cctx, id, true, true)
			s.store.delete(id)
		}
	}()
	if err := s.store.putSandbox(sb); err != nil {
		return nil, err
	}
	if err := s.b.ContainerStart(ctx, id); err != nil {
		return nil, fmt.Errorf("start the pod sandbox: %w", err)
	}
	if !hostNet {
		in, err := s.b.ContainerInspect(ctx, id, false)
		if err != nil {
			return nil, err
		}
		if in.State == nil || in.State.Pid == 0 {
			return nil, fmt.Errorf("the pod sandbox's process ended at once")
		}
		if sb.NetNS, err = pinNetNS(s.cfg.NetNSDir, id, in.State.Pid); err != nil {
			return nil, err
		}
		if err := s.store.putSandbox(sb); err != nil {
			return nil, err
		}
		if sb.IPs, err = s.net.setUp(ctx, id, sb.NetNS, cfg); err != nil {
			return nil, err
		}
		if err := s.store.putSandbox(sb); err != nil {
			return nil, err
		}
	}
	s.events.sandboxEvent(s, sb.ID, runtimeapi.ContainerEventType_CONTAINER_CREATED_EVENT)
	s.events.sandboxEvent(s, sb.ID, runtimeapi.ContainerEventType_CONTAINER_STARTED_EVENT)
	return &runtimeapi.RunPodSandboxResponse{PodSandboxId: id}, nil
}

// mountShm mounts a new tmpfs for a pod's /dev/shm under dir (the
// size and flags of the engine's default /dev/shm).
func mountShm(dir string) (string, error) {
	var b [12]byte
	rand.Read(b[:])
	p := filepath.Join(dir, hex.EncodeToString(b[:]))
	if err := os.Mkdir(p, 0o755); err != nil {
		return "", fmt.Errorf("the pod's /dev/shm: %w", err)
	}
	if err := unix.Mount("shm", p, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=1777,size=67108864"); err != nil {
		os.Remove(p)
		return "", fmt.Errorf("the pod's /dev/shm: %w", err)
	}
	return p, nil
}

func unmountShm(p string) error {
	if p == "" {
		return nil
	}
	if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount the pod's /dev/shm: %w", err)
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// dnsConfig applies a pod's DNS configuration to the engine's.
func dnsConfig(hc *ctypes.HostConfig, d *runtimeapi.DNSConfig) error {
	if d == nil {
		return nil
	}
	for _, s := range d.Servers {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return fmt.Errorf("pod DNS server %q: %v: %w", s, err, errdefs.ErrInvalidArgument)
		}
		hc.DNS = append(hc.DNS, a)
	}
	hc.DNSSearch = d.Searches
	hc.DNSOptions = d.Options
	return nil
}

// StopPodSandbox stops a pod's containers and infra container and tears
// its network down; an unknown or stopped sandbox is not an error.
func (s *Service) StopPodSandbox(ctx context.Context, req *runtimeapi.StopPodSandboxRequest) (*runtimeapi.StopPodSandboxResponse, error) {
	sb, err := s.store.sandbox(req.PodSandboxId)
	if errdefs.IsNotFound(err) {
		return &runtimeapi.StopPodSandboxResponse{}, nil
	} else if err != nil {
		return nil, err
	}
	unlock := s.lock(sb.ID)
	defer unlock()
	if sb, err = s.store.sandbox(sb.ID); err != nil {
		return &runtimeapi.StopPodSandboxResponse{}, nil
	}
	var errs []error
	for _, c := range s.store.listContainers() {
		if c.SandboxID == sb.ID {
			if err := s.stopContainer(ctx, c.ID, 0); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if sb.NetNS != "" {
		if err := s.net.tearDown(ctx, sb.ID, sb.NetNS, sb.Config); err != nil {
			return nil, err
		}
		if err := unpinNetNS(sb.NetNS); err != nil {
			return nil, err
		}
		sb.NetNS = ""
	}
	timeout := 0
	if err := s.b.ContainerStop(ctx, sb.ID, &timeout, ""); err != nil && !errdefs.IsNotFound(err) && !errors.Is(err, errdefs.ErrNotModified) {
		return nil, fmt.Errorf("stop the pod sandbox: %w", err)
	}
	wasStopped := sb.Stopped
	sb.Stopped = true
	if err := s.store.putSandbox(sb); err != nil {
		return nil, err
	}
	if !wasStopped {
		s.events.sandboxEvent(s, sb.ID, runtimeapi.ContainerEventType_CONTAINER_STOPPED_EVENT)
	}
	return &runtimeapi.StopPodSandboxResponse{}, nil
}

// RemovePodSandbox removes a pod's containers and sandbox; it stops them
// first. An unknown sandbox is not an error.
func (s *Service) RemovePodSandbox(ctx context.Context, req *runtimeapi.RemovePodSandboxRequest) (*runtimeapi.RemovePodSandboxResponse, error) {
	sb, err := s.store.sandbox(req.PodSandboxId)
	if errdefs.IsNotFound(err) {
		return &runtimeapi.RemovePodSandboxResponse{}, nil
	} else if err != nil {
		return nil, err
	}
	if _, err := s.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: sb.ID}); err != nil {
		return nil, err
	}
	unlock := s.lock(sb.ID)
	defer unlock()
	for _, c := range s.store.listContainers() {
		if c.SandboxID == sb.ID {
			if _, err := s.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: c.ID}); err != nil {
				return nil, err
			}
		}
	}
	if err := s.b.ContainerRemove(ctx, sb.ID, true, true); err != nil && !errdefs.IsNotFound(err) {
		return nil, fmt.Errorf("remove the pod sandbox: %w", err)
	}
	if err := unmountShm(sb.Shm); err != nil {
		return nil, err
	}
	if err := s.store.delete(sb.ID); err != nil {
		return nil, err
	}
	s.events.publish(&runtimeapi.ContainerEventResponse{ContainerId: sb.ID, ContainerEventType: runtimeapi.ContainerEventType_CONTAINER_DELETED_EVENT, CreatedAt: time.Now().UnixNano(),
		PodSandboxStatus: &runtimeapi.PodSandboxStatus{Id: sb.ID, Metadata: sb.Config.GetMetadata(), State: runtimeapi.PodSandboxState_SANDBOX_NOTREADY, CreatedAt: sb.CreatedAt, Labels: sb.Config.GetLabels(), Annotations: sb.Config.GetAnnotations()}})
	return &runtimeapi.RemovePodSandboxResponse{}, nil
}

// sandboxState is READY while the infra container runs and nobody
// stopped the sandbox.
func (s *Service) sandboxState(ctx context.Context, sb *sandbox) runtimeapi.PodSandboxState {
	if sb.Stopped {
		return runtimeapi.PodSandboxState_SANDBOX_NOTREADY
	}
	in, err := s.b.ContainerInspect(ctx, sb.ID, false)
	if err != nil || in.State == nil || !in.State.Running {
		return runtimeapi.PodSandboxState_SANDBOX_NOTREADY
	}
	return runtimeapi.PodSandboxState_SANDBOX_READY
}

func (s *Service) sandboxStatus(ctx context.Context, sb *sandbox) *runtimeapi.PodSandboxStatus {
	cfg := sb.Config
	ns := cfg.GetLinux().GetSecurityContext().GetNamespaceOptions()
	st := &runtimeapi.PodSandboxStatus{
		Id:             sb.ID,
		Metadata:       cfg.GetMetadata(),
		State:          s.sandboxState(ctx, sb),
		CreatedAt:      sb.CreatedAt,
		Labels:         cfg.GetLabels(),
		Annotations:    cfg.GetAnnotations(),
		RuntimeHandler: sb.RuntimeHandler,
		Linux: &runtimeapi.LinuxPodSandboxStatus{Namespaces: &runtimeapi.Namespace{Options: &runtimeapi.NamespaceOption{
			Network: ns.GetNetwork(), Pid: ns.GetPid(), Ipc: ns.GetIpc(), TargetId: ns.GetTargetId(),
		}}},
	}
	if len(sb.IPs) > 0 && st.State == runtimeapi.PodSandboxState_SANDBOX_READY {
		st.Network = &runtimeapi.PodSandboxNetworkStatus{Ip: sb.IPs[0]}
		for _, ip := range sb.IPs[1:] {
			st.Network.AdditionalIps = append(st.Network.AdditionalIps, &runtimeapi.PodIP{Ip: ip})
		}
	}
	return st
}

// PodSandboxStatus reports a sandbox's state and network.
func (s *Service) PodSandboxStatus(ctx context.Context, req *runtimeapi.PodSandboxStatusRequest) (*runtimeapi.PodSandboxStatusResponse, error) {
	sb, err := s.store.sandbox(req.PodSandboxId)
	if err != nil {
		return nil, err
	}
	resp := &runtimeapi.PodSandboxStatusResponse{Status: s.sandboxStatus(ctx, sb)}
	if req.Verbose {
		resp.Info = map[string]string{"info": fmt.Sprintf(`{"pid":%d,"netns":%q}`, s.infraPid(ctx, sb.ID), sb.NetNS)}
	}
	for _, c := range s.store.listContainers() {
		if c.SandboxID == sb.ID {
			if st, err := s.containerStatus(ctx, c); err == nil {
				resp.ContainersStatuses = append(resp.ContainersStatuses, st)
			}
		}
	}
	resp.Timestamp = time.Now().UnixNano()
	return resp, nil
}

func (s *Service) infraPid(ctx context.Context, id string) int {
	in, err := s.b.ContainerInspect(ctx, id, false)
	if err != nil || in.State == nil {
		return 0
	}
	return in.State.Pid
}

// ListPodSandbox lists sandboxes, filtered.
func (s *Service) ListPodSandbox(ctx context.Context, req *runtimeapi.ListPodSandboxRequest) (*runtimeapi.ListPodSandboxResponse, error) {
	f := req.GetFilter()
	var out []*runtimeapi.PodSandbox
	for _, sb := range s.store.listSandboxes() {
		if f.GetId() != "" && !strings.HasPrefix(sb.ID, f.GetId()) {
			continue
		}
		if !matchLabels(sb.Config.GetLabels(), f.GetLabelSelector()) {
			continue
		}
		state := s.sandboxState(ctx, sb)
		if f.GetState() != nil && f.GetState().State != state {
			continue
		}
		out = append(out, &runtimeapi.PodSandbox{
			Id: sb.ID, Metadata: sb.Config.GetMetadata(), State: state, CreatedAt: sb.CreatedAt,
			Labels: sb.Config.GetLabels(), Annotations: sb.Config.GetAnnotations(), RuntimeHandler: sb.RuntimeHandler,
		})
	}
	return &runtimeapi.ListPodSandboxResponse{Items: out}, nil
}

func matchLabels(labels, selector map[string]string) bool {
	for k, v := range selector {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}
