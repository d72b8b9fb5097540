package registry

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/hako-dev/hako/internal/errdefs"
)

// Endpoint is one place where a registry's distribution API is served:
// a mirror from hosts.toml, or the registry itself.
type Endpoint struct {
	// URL is the API root, e.g. http://127.0.0.1:5000/v2.
	URL *url.URL
	// What the endpoint may be used for, as containerd's capabilities:
	// Pull fetches blobs and manifests by digest, Resolve fetches
	// manifests by tag, Push uploads.
	Pull, Resolve, Push bool
	// Header is added to every request.
	Header http.Header
	// TLS is the client configuration for an https endpoint (nil: the
	// system's defaults).
	TLS *tls.Config
}

// HostsDir is a directory of registry host configurations in
// containerd's layout: DIR/<host[:port]>/hosts.toml, with
// DIR/_default/hosts.toml for registries that have none. Files are read
// on every lookup, so changes apply without a restart.
type HostsDir string

// hostConfig is one endpoint's table in hosts.toml (the top level holds
// the same keys for the server).
type hostConfig struct {
	Capabilities []string       `toml:"capabilities"`
	CA           any            `toml:"ca"`
	Client       any            `toml:"client"`
	SkipVerify   *bool          `toml:"skip_verify"`
	Header       map[string]any `toml:"header"`
	OverridePath bool           `toml:"override_path"`
}

type hostsFile struct {
	Server string `toml:"server"`
	hostConfig
	Host map[string]hostConfig `toml:"host"`
}

// Endpoints returns the endpoints to try for registry (a host[:port] as
// in an image reference, "docker.io" for Docker Hub), mirrors first in
// the order the file lists them and the server last. It returns nil
// when the directory has no configuration for registry: the registry
// itself is then used as usual.
func (d HostsDir) Endpoints(registry string) ([]Endpoint, error) {
	if d == "" {
		return nil, nil
	}
	dir := filepath.Join(string(d), registry)
	b, err := os.ReadFile(filepath.Join(dir, "hosts.toml"))
	if errors.Is(err, fs.ErrNotExist) {
		dir = filepath.Join(string(d), "_default")
		b, err = os.ReadFile(filepath.Join(dir, "hosts.toml"))
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("registry hosts for %s: %w", registry, err)
	}
	eps, err := parseHosts(b, dir, registry)
	if err != nil {
		return nil, fmt.Errorf("registry hosts %s: %w: %w", filepath.Join(dir, "hosts.toml"), err, errdefs.ErrInvalidArgument)
	}
	return eps, nil
}

func parseHosts(b []byte, dir, registry string) ([]Endpoint, error) {
	var f hostsFile
	md, err := toml.Decode(string(b), &f)
	if err != nil {
		return nil, err
	}
	if un := md.Undecoded(); len(un) > 0 {
		return nil, fmt.Errorf("unknown key %q", un[0].String())
	}
	var eps []Endpoint
	seen := map[string]bool{}
	// The host tables in the order the file lists them: the order the
	// mirrors are tried in.
	for _, k := range md.Keys() {
		if len(k) != 2 || k[0] != "host" || seen[k[1]] {
			continue
		}
		seen[k[1]] = true
		ep, err := endpoint(k[1], f.Host[k[1]], dir)
		if err != nil {
			return nil, err
		}
		eps = append(eps, ep)
	}
	server := f.Server
	if server == "" {
		server = "https://" + registry
		if registry == "docker.io" {
			server = "https://registry-1.docker.io"
		}
	}
	ep, err := endpoint(server, f.hostConfig, dir)
	if err != nil {
		return nil, err
	}
	return append(eps, ep), nil
}

func endpoint(host string, c hostConfig, dir string) (Endpoint, error) {
	raw := host
	if !strings.Contains(raw, "://") {
		raw = "https://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return Endpoint{}, fmt.Errorf("host %q: want [http[s]://]host[:port][/path]", host)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	if !c.OverridePath && !strings.HasSuffix(u.Path, "/v2") {
		u.Path += "/v2"
	}
	u.RawQuery, u.Fragment = "", ""
	ep := Endpoint{URL: u}
	if len(c.Capabilities) == 0 {
		ep.Pull, ep.Resolve, ep.Push = true, true, true
	}
	for _, cp := range c.Capabilities {
		switch cp {
		case "pull":
			ep.Pull = true
		case "resolve":
			ep.Resolve = true
		case "push":
			ep.Push = true
		default:
			return Endpoint{}, fmt.Errorf("host %q: unknown capability %q (want pull, resolve or push)", host, cp)
		}
	}
	if len(c.Header) > 0 {
		ep.Header = http.Header{}
		for k, v := range c.Header {
			vals, err := strings1(v)
			if err != nil {
				return Endpoint{}, fmt.Errorf("host %q: header %s: %w", host, k, err)
			}
			for _, s := range vals {
				ep.Header.Add(k, s)
			}
		}
	}
	if ep.TLS, err = tlsConfig(c, dir); err != nil {
		return Endpoint{}, fmt.Errorf("host %q: %w", host, err)
	}
	return ep, nil
}

// tlsConfig builds the client TLS configuration from ca, client and
// skip_verify; nil when none is set. Relative paths are relative to
// the registry's directory.
func tlsConfig(c hostConfig, dir string) (*tls.Config, error) {
	if c.CA == nil && c.Client == nil && c.SkipVerify == nil {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.SkipVerify != nil {
		cfg.InsecureSkipVerify = *c.SkipVerify
	}
	abs := func(p string) string {
		if filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	if c.CA != nil {
		cas, err := strings1(c.CA)
		if err != nil {
			return nil, fmt.Errorf("ca: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		for _, p := range cas {
			b, err := os.ReadFile(abs(p))
			if err != nil {
				return nil, fmt.Errorf("ca: %w", err)
			}
			if !pool.AppendCertsFromPEM(b) {
				return nil, fmt.Errorf("ca %s: no PEM certificate in it", p)
			}
		}
		cfg.RootCAs = pool
	}
	if c.Client != nil {
		pairs, err := clientPairs(c.Client)
		if err != nil {
			return nil, fmt.Errorf("client: %w", err)
		}
		for _, pr := range pairs {
			cert, err := tls.LoadX509KeyPair(abs(pr[0]), abs(pr[1]))
			if err != nil {
				return nil, fmt.Errorf("client certificate %s: %w", pr[0], err)
			}
			cfg.Certificates = append(cfg.Certificates, cert)
		}
	}
	return cfg, nil
}

// strings1 reads a TOML value that is a string or an array of strings.
func strings1(v any) ([]string, error) {
	switch v := v.(type) {
	case string:
		return []string{v}, nil
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("want a string or an array of strings")
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, fmt.Errorf("want a string or an array of strings")
}

// clientPairs reads client = "pem" (certificate and key in one file),
// ["cert", "key"] or [["cert", "key"], …]; an empty key means the key is
// in the certificate's file.
func clientPairs(v any) ([][2]string, error) {
	switch v := v.(type) {
	case string:
		return [][2]string{{v, v}}, nil
	case []any:
		if len(v) == 0 {
			return nil, nil
		}
		if _, ok := v[0].(string); ok {
			s, err := strings1(v)
			if err != nil {
				return nil, err
			}
			switch len(s) {
			case 1:
				return [][2]string{{s[0], s[0]}}, nil
			case 2:
				if s[1] == "" {
					s[1] = s[0]
				}
				return [][2]string{{s[0], s[1]}}, nil
			}
			return nil, fmt.Errorf("want [cert, key]")
		}
		var out [][2]string
		for _, e := range v {
			p, err := clientPairs(e)
			if err != nil {
				return nil, err
			}
			out = append(out, p...)
		}
		return out, nil
	}
	return nil, fmt.Errorf("want a path, [cert, key] or a list of pairs")
}

// endpointTransport sends the requests meant for a registry (upstream,
// as go-containerregistry names it) to an endpoint instead, mapping the
// API root; requests to other hosts (token services, blob redirects)
// pass unchanged.
type endpointTransport struct {
	upstream string
	ep       Endpoint
	base     http.RoundTripper
	direct   http.RoundTripper
}

func newEndpointTransport(upstream string, ep Endpoint) *endpointTransport {
	t := &endpointTransport{upstream: upstream, ep: ep, base: http.DefaultTransport, direct: http.DefaultTransport}
	if ep.TLS != nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = ep.TLS
		t.base = tr
	}
	return t
}

func (t *endpointTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host != t.upstream {
		return t.direct.RoundTrip(req)
	}
	r := req.Clone(req.Context())
	u := *req.URL
	u.Scheme, u.Host = t.ep.URL.Scheme, t.ep.URL.Host
	rest, ok := strings.CutPrefix(u.Path, "/v2")
	if ok {
		u.Path = t.ep.URL.Path + rest
		u.RawPath = ""
	}
	r.URL, r.Host = &u, u.Host
	for k, vs := range t.ep.Header {
		for _, v := range vs {
			r.Header.Add(k, v)
		}
	}
	return t.base.RoundTrip(r)
}
