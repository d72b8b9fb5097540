// Package cri serves the Kubernetes Container Runtime Interface (CRI v1:
// RuntimeService and ImageService over gRPC) on the engine, so that
// kubelet and crictl run pods on hako.
//
// It is an adapter, as the Engine API is, and sees the engine only
// through Backend. The mapping follows dockershim's:
//
//   - a pod sandbox is an infra container running hako as its pause
//     process (see package pause) in an image made locally; it holds the
//     pod's network, IPC and UTS namespaces (and its PID namespace when
//     the pod shares one). Its network namespace is pinned by a bind
//     mount and configured by CNI plugins (network.go).
//   - a CRI container is an engine container that joins its sandbox's
//     namespaces with the engine's container:ID modes and logs in the CRI
//     format where kubelet says.
//   - what the CRI knows that the engine does not (configs, labels,
//     annotations, the pod's IP) is kept in one JSON file per sandbox and
//     container under the state directory, so that kubelet's IDs survive
//     a daemon restart.
//
// Errors are mapped to gRPC codes in one place, errors.go.
package cri

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/cri-streaming/pkg/streaming"
)

// Config is how the service is set up.
type Config struct {
	// StateDir keeps the CRI's records (ROOT/cri).
	StateDir string
	// NetNSDir holds the pinned network namespaces of pods (RUNROOT/cri/netns).
	NetNSDir string
	// ShmDir holds the pods' /dev/shm tmpfs mounts (RUNROOT/cri/shm).
	ShmDir string
	// CNIConfDir and CNIBinDir are where CNI network configurations and
	// plugins are (default /etc/cni/net.d and /opt/cni/bin:/usr/lib/cni).
	CNIConfDir string
	CNIBinDirs []string
	// StreamAddress is the host:port of the streaming server for exec,
	// attach and port-forward (default 127.0.0.1:0, any free port).
	StreamAddress string
	// Version is hako's version.
	Version string
	// SandboxImage is reported as pinned; "" for none. Sandboxes run no
	// image of their own (see PauseImage).
	SandboxImage string
	Log          *slog.Logger
}

// Service is the CRI runtime and image service.
type Service struct {
	runtimeapi.UnimplementedRuntimeServiceServer
	runtimeapi.UnimplementedImageServiceServer

	b      Backend
	cfg    Config
	log    *slog.Logger
	store  *store
	net    *cniNetwork
	stream streaming.Server
	events *eventHub

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	fsInfoMu sync.Mutex
	fsInfo   *runtimeapi.ImageFsInfoResponse
	fsInfoAt time.Time

	// locks serialize operations on one sandbox or container.
	mu    sync.Mutex
	locks map[string]*idLock
}

// New opens the CRI's state and starts its streaming server.
func New(b Backend, cfg Config) (*Service, error) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.CNIConfDir == "" {
		cfg.CNIConfDir = "/etc/cni/net.d"
	}
	if len(cfg.CNIBinDirs) == 0 {
		cfg.CNIBinDirs = []string{"/opt/cni/bin", "/usr/lib/cni"}
	}
	if cfg.StreamAddress == "" {
		cfg.StreamAddress = "127.0.0.1:0"
	}
	for _, d := range []string{cfg.StateDir, cfg.NetNSDir, cfg.ShmDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("cri state: %w", err)
		}
	}
	st, err := openStore(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	s := &Service{b: b, cfg: cfg, log: cfg.Log, store: st, locks: map[string]*idLock{}}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.net = newCNINetwork(cfg.CNIConfDir, cfg.CNIBinDirs, filepath.Join(cfg.StateDir, "cni-cache"))
	s.events = newEventHub()
	if err := s.startStreaming(); err != nil {
		return nil, err
	}
	s.reconcile()
	s.wg.Add(1)
	go func() { defer s.wg.Done(); s.watchEvents() }()
	return s, nil
}

// Register adds the runtime and image services to g.
func (s *Service) Register(g *grpc.Server) {
	runtimeapi.RegisterRuntimeServiceServer(g, s)
	runtimeapi.RegisterImageServiceServer(g, s)
}

// NewGRPCServer returns a gRPC server with the service registered and
// its errors mapped to gRPC codes.
func (s *Service) NewGRPCServer() *grpc.Server {
	g := grpc.NewServer(
		grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			resp, err := h(ctx, req)
			if err != nil {
				s.log.Debug("cri", "method", info.FullMethod, "error", err)
				return resp, toGRPC(err)
			}
			return resp, nil
		}),
		grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			return toGRPC(h(srv, ss))
		}),
	)
	s.Register(g)
	return g
}

// Listen opens the CRI's unix socket, replacing a stale one.
func Listen(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o711); err != nil {
		return nil, err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	os.Chmod(path, 0o660)
	return l, nil
}

// Close stops the streaming server and background work.
func (s *Service) Close() error {
	s.cancel()
	var err error
	if s.stream != nil {
		err = s.stream.Stop()
	}
	s.wg.Wait()
	return err
}

// lock serializes work on one object ID; the entry goes once nobody
// holds or waits for it.
func (s *Service) lock(id string) func() {
	s.mu.Lock()
	l := s.locks[id]
	if l == nil {
		l = &idLock{}
		s.locks[id] = l
	}
	l.refs++
	s.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		s.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(s.locks, id)
		}
		s.mu.Unlock()
	}
}

type idLock struct {
	mu   sync.Mutex
	refs int // holders and waiters, guarded by Service.mu
}
