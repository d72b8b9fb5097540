package server

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/hako-dev/hako/internal/errdefs"
)

// Listen opens the listener for a -H address: "unix:///path" (or a bare
// path), or "tcp://HOST:PORT". A unix socket gets mode 0660, and a stale
// socket file left by a crashed daemon is replaced. The API gives root
// over the host, so TCP is refused on anything but a loopback address
// unless allowRemote is set.
func Listen(addr string, allowRemote bool) (net.Listener, error) {
	proto, rest, ok := strings.Cut(addr, "://")
	if !ok {
		proto, rest = "unix", addr
	}
	switch proto {
	case "unix":
		if rest == "" {
			return nil, fmt.Errorf("host %q: empty socket path: %w", addr, errdefs.ErrInvalidArgument)
		}
		if err := os.MkdirAll(filepath.Dir(rest), 0o711); err != nil {
			return nil, err
		}
		// A socket no one answers on is a leftover.
		if c, err := net.Dial("unix", rest); err == nil {
			c.Close()
			return nil, fmt.Errorf("a daemon already listens on %s: %w", rest, errdefs.ErrConflict)
		}
		os.Remove(rest)
		l, err := net.Listen("unix", rest)
		if err != nil {
			return nil, err
		}
		if err := os.Chmod(rest, 0o660); err != nil {
			l.Close()
			return nil, err
		}
		return l, nil
	case "tcp":
		host, _, err := net.SplitHostPort(rest)
		if err != nil {
			return nil, fmt.Errorf("host %q: %v: %w", addr, err, errdefs.ErrInvalidArgument)
		}
		if !allowRemote {
			ip, err := netip.ParseAddr(host)
			if host != "localhost" && (err != nil || !ip.IsLoopback()) {
				return nil, fmt.Errorf("host %q: the Engine API gives root on this machine; listening on a non-loopback address needs --allow-remote-tcp: %w", addr, errdefs.ErrPermissionDenied)
			}
		}
		return net.Listen("tcp", rest)
	}
	return nil, fmt.Errorf("host %q: unsupported protocol %q (use unix:// or tcp://): %w", addr, proto, errdefs.ErrInvalidArgument)
}
