package cri

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"

	"k8s.io/cri-streaming/pkg/streaming"
)

// startStreaming starts the HTTP server that kubelet (or crictl)
// connects to for exec, attach and port-forward, on StreamAddress.
func (s *Service) startStreaming() error {
	l, err := net.Listen("tcp", s.cfg.StreamAddress)
	if err != nil {
		return fmt.Errorf("streaming server: listen on %s: %w", s.cfg.StreamAddress, err)
	}
	cfg := streaming.DefaultConfig
	cfg.Addr = l.Addr().String()
	cfg.BaseURL = &url.URL{Scheme: "http", Host: l.Addr().String()}
	srv, err := streaming.NewServer(cfg, streamRuntime{s})
	if err != nil {
		l.Close()
		return fmt.Errorf("streaming server: %w", err)
	}
	hs := &http.Server{Handler: srv}
	s.stream = &streamServer{Server: srv, hs: hs}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := hs.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("cri streaming server", "error", err)
		}
	}()
	s.log.Info("cri streaming server", "address", l.Addr().String())
	return nil
}

// streamServer is the streaming server on our own listener.
type streamServer struct {
	streaming.Server
	hs *http.Server
}

func (s *streamServer) Stop() error { return s.hs.Close() }
