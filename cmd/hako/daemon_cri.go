//go:build !runtime_only

package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/hako-dev/hako/internal/cri"
	"github.com/hako-dev/hako/internal/daemon"
	"google.golang.org/grpc"
)

// criOptions are the daemon's CRI flags.
type criOptions struct {
	socket        string // "" off, "default" RUNROOT/cri.sock
	cniConfDir    string
	cniBinDirs    []string
	streamAddress string
	sandboxImage  string
}

// startCRI serves the CRI beside the Engine API; the returned function
// stops it.
func startCRI(log *slog.Logger, d *daemon.Daemon, o criOptions) (func(), error) {
	if o.socket == "" {
		return func() {}, nil
	}
	cfg := d.Config()
	if o.socket == "default" {
		o.socket = filepath.Join(cfg.RunRoot, "cri.sock")
	}
	svc, err := cri.New(d, cri.Config{
		StateDir:      filepath.Join(cfg.Root, "cri"),
		NetNSDir:      filepath.Join(cfg.RunRoot, "cri", "netns"),
		ShmDir:        filepath.Join(cfg.RunRoot, "cri", "shm"),
		CNIConfDir:    o.cniConfDir,
		CNIBinDirs:    o.cniBinDirs,
		StreamAddress: o.streamAddress,
		Version:       version,
		SandboxImage:  o.sandboxImage,
		Log:           log,
	})
	if err != nil {
		return nil, fmt.Errorf("cri: %w", err)
	}
	l, err := cri.Listen(o.socket)
	if err != nil {
		svc.Close()
		return nil, fmt.Errorf("cri: listen on %s: %w", o.socket, err)
	}
	g := svc.NewGRPCServer()
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := g.Serve(l); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			log.Error("cri server", "error", err)
		}
	}()
	log.Info("cri serving", "socket", o.socket)
	return func() {
		g.Stop()
		<-done
		svc.Close()
		os.Remove(o.socket)
	}, nil
}
