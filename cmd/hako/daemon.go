//go:build !runtime_only

package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/hako-dev/hako/internal/api/server"
	buildrouter "github.com/hako-dev/hako/internal/api/server/router/build"
	containerrouter "github.com/hako-dev/hako/internal/api/server/router/container"
	imagerouter "github.com/hako-dev/hako/internal/api/server/router/image"
	networkrouter "github.com/hako-dev/hako/internal/api/server/router/network"
	"github.com/hako-dev/hako/internal/api/server/router/system"
	volumerouter "github.com/hako-dev/hako/internal/api/server/router/volume"
	"github.com/hako-dev/hako/internal/daemon"
	"github.com/spf13/cobra"
)

// newDaemonCommand is "hako daemon": the engine serving the Engine API.
func newDaemonCommand() *cobra.Command {
	var hosts []string
	var root, runRoot string
	var allowRemote, debug bool
	var storageDriver, bridge string
	var insecure []string
	var hostsDir string
	var pidsLimit int64
	var usernsRemap string
	var criOpts criOptions
	cmd := &cobra.Command{
		Use:   "daemon",
		Short: "run the engine: the Docker Engine API on a unix socket (started by the CLI when needed)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			keepMainThread()
			level := slog.LevelInfo
			if debug {
				level = slog.LevelDebug
			}
			log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
			if !cmd.Flags().Changed("cri-socket") {
				criOpts.socket = "default"
			}
			return runDaemon(log, daemon.Config{Root: root, RunRoot: runRoot, Version: version, Log: log, StorageDriver: storageDriver, InsecureRegistries: insecure, RegistryHostsDir: hostsDir, Bridge: bridge, DefaultPidsLimit: pidsLimit, UsernsRemap: usernsRemap}, hosts, allowRemote, criOpts)
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&hosts, "host", "H", nil, "address to serve on, repeatable: unix:///path or tcp://127.0.0.1:PORT (default unix://<runroot>/hako.sock)")
	f.StringVar(&root, "root", envOr("HAKO_ROOT", daemon.DefaultRoot), "persistent state (images, containers, volumes) (env HAKO_ROOT)")
	f.StringVar(&runRoot, "runroot", envOr("HAKO_RUNROOT", daemon.DefaultRunRoot), "runtime state and the default socket (env HAKO_RUNROOT)")
	f.BoolVar(&allowRemote, "allow-remote-tcp", false, "allow tcp:// on non-loopback addresses (the API gives root on this host)")
	f.BoolVarP(&debug, "debug", "D", false, "log debug messages")
	f.StringVar(&hostsDir, "registry-hosts-dir", envOr("HAKO_REGISTRY_HOSTS_DIR", "/etc/hako/certs.d"), "registry mirrors and TLS settings in containerd's hosts.toml layout, DIR/<registry host>/hosts.toml (env HAKO_REGISTRY_HOSTS_DIR)")
	f.StringArrayVar(&insecure, "insecure-registry", nil, "registry (host[:port] or CIDR) to reach over plain HTTP; loopback and private addresses always may (repeatable)")
	f.StringVarP(&bridge, "bridge", "b", envOr("HAKO_BRIDGE", "hako0"), "the default network's bridge; it also names the daemon's nftables chains, so daemons side by side need their own (env HAKO_BRIDGE)")
	f.StringVarP(&storageDriver, "storage-driver", "s", os.Getenv("HAKO_STORAGE_DRIVER"), "overlay or vfs (default: overlay where the kernel and --root's filesystem support it) (env HAKO_STORAGE_DRIVER)")
	f.StringVar(&usernsRemap, "userns-remap", os.Getenv("HAKO_USERNS_REMAP"), "give containers a user namespace: \"default\" (the subordinate IDs of user hako, made if missing), USER[:GROUP] (theirs in /etc/subuid and /etc/subgid) or UID:GID:SIZE; --userns=host opts a container out (env HAKO_USERNS_REMAP)")
	f.Int64Var(&pidsLimit, "default-pids-limit", envInt("HAKO_DEFAULT_PIDS_LIMIT", daemon.DefaultPidsLimit), "pids limit of containers created without --pids-limit (which -1 lifts); 0: none (env HAKO_DEFAULT_PIDS_LIMIT)")
	f.StringVar(&criOpts.socket, "cri-socket", "", "serve the Kubernetes CRI on this unix socket; \"\" turns it off (default <runroot>/cri.sock)")
	f.StringVar(&criOpts.cniConfDir, "cni-conf-dir", "/etc/cni/net.d", "CNI network configuration for pods (CRI)")
	f.StringSliceVar(&criOpts.cniBinDirs, "cni-bin-dir", []string{"/opt/cni/bin", "/usr/lib/cni"}, "where CNI plugins are (CRI; repeatable)")
	f.StringVar(&criOpts.streamAddress, "cri-stream-address", "127.0.0.1:0", "host:port of the CRI streaming server (exec, attach, port-forward)")
	f.StringVar(&criOpts.sandboxImage, "sandbox-image", "", "image kubelet calls the pod sandbox image, reported as pinned (hako needs none)")
	return cmd
}

func runDaemon(log *slog.Logger, cfg daemon.Config, hosts []string, allowRemote bool, criOpts criOptions) (retErr error) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	d, err := daemon.New(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() {
		if err := d.Close(); err != nil && retErr == nil {
			retErr = err
		}
	}()
	cfg = d.Config()
	if len(hosts) == 0 {
		hosts = []string{"unix://" + filepath.Join(cfg.RunRoot, "hako.sock")}
	}
	handler := server.New(log, system.New(d, server.MinAPIVersion, server.MaxAPIVersion), imagerouter.New(d), containerrouter.New(d), volumerouter.New(d), networkrouter.New(d), buildrouter.New(d))
	var listeners []net.Listener
	for _, h := range hosts {
		l, err := server.Listen(h, allowRemote)
		if err != nil {
			for _, l := range listeners {
				l.Close()
			}
			return fmt.Errorf("listen on %s: %w", h, err)
		}
		listeners = append(listeners, l)
	}
	// Requests see a context that ends when the daemon stops, so that long
	// polls and streams (wait, events, logs -f, stats) return at once.
	reqCtx, endRequests := context.WithCancel(context.Background())
	defer endRequests()
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 30 * time.Second,
		BaseContext: func(net.Listener) context.Context { return reqCtx }}
	var wg sync.WaitGroup
	errc := make(chan error, len(listeners))
	for _, l := range listeners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}()
	}
	stopCRI, err := startCRI(log, d, criOpts)
	if err != nil {
		srv.Close()
		wg.Wait()
		return err
	}
	defer stopCRI()
	log.Info("hako daemon started", "version", version, "root", cfg.Root, "runroot", cfg.RunRoot, "hosts", hosts, "pid", os.Getpid())
	select {
	case <-ctx.Done():
	case err := <-errc:
		retErr = err
	}
	log.Info("hako daemon stopping")
	endRequests()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Streams such as /events never end by themselves: close them after
	// the grace period.
	if err := srv.Shutdown(shutdownCtx); err != nil {
		srv.Close()
	}
	wg.Wait()
	for _, h := range hosts {
		if p, ok := unixPath(h); ok {
			os.Remove(p)
		}
	}
	return retErr
}

func unixPath(h string) (string, bool) {
	if len(h) > 7 && h[:7] == "unix://" {
		return h[7:], true
	}
	if len(h) > 0 && h[0] == '/' {
		return h, true
	}
	return "", false
}

// envInt is the integer in the environment variable k, or def.
func envInt(k string, def int64) int64 {
	if v, err := strconv.ParseInt(os.Getenv(k), 10, 64); err == nil {
		return v
	}
	return def
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
