package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/hako-dev/hako/internal/errdefs"
	regtypes "github.com/moby/moby/api/types/registry"
)

// SearchOptions tune Search.
type SearchOptions struct {
	// Limit is how many results to ask for (1 to 100; 0: 25).
	Limit int
	// Auth authenticates to the index (basic credentials); nil: none.
	Auth authn.Authenticator
	// Insecure reports whether plain HTTP may be used with host once
	// HTTPS fails (loopback hosts may always).
	Insecure func(host string) bool
	// Client makes the requests (nil: one with a 15 s timeout).
	Client *http.Client
}

// SearchIndex splits a search term as docker does: a first component
// with a dot or a colon, or "localhost", names the index to ask (the
// rest is the query); otherwise the index is Docker Hub's.
func SearchIndex(term string) (host, query string) {
	first, rest, ok := strings.Cut(term, "/")
	if !ok || !strings.ContainsAny(first, ".:") && first != "localhost" {
		return "index.docker.io", term
	}
	return first, rest
}

// Search asks an index's search API (GET /v1/search?q=&n=, the one
// Docker Hub serves; a plain distribution registry has none) for the
// repositories matching term.
func Search(ctx context.Context, term string, o SearchOptions) ([]regtypes.SearchResult, error) {
	if o.Limit == 0 {
		o.Limit = 25
	}
	if o.Limit < 1 || o.Limit > 100 {
		return nil, fmt.Errorf("limit %d is outside the range of [1, 100]: %w", o.Limit, errdefs.ErrInvalidArgument)
	}
	host, query := SearchIndex(term)
	if query == "" {
		return nil, fmt.Errorf("search term %q names no repository: %w", term, errdefs.ErrInvalidArgument)
	}
	client := o.Client
	if client == nil {
		client = &http.Client{Timeout: 15 * time.Second}
	}
	q := url.Values{"q": {query}, "n": {strconv.Itoa(o.Limit)}}
	var last error
	for _, scheme := range []string{"https", "http"} {
		if scheme == "http" && !loopbackHost(host) && (o.Insecure == nil || !o.Insecure(host)) {
			break
		}
		res, err := searchAt(ctx, client, scheme+"://"+host+"/v1/search?"+q.Encode(), o.Auth)
		if err == nil {
			return res, nil
		}
		last = err
		if ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("search %s on %s: %w", query, host, last)
}

func searchAt(ctx context.Context, client *http.Client, u string, auth authn.Authenticator) ([]regtypes.SearchResult, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	if auth != nil {
		if cfg, err := auth.Authorization(); err == nil && cfg.Username != "" {
			req.SetBasicAuth(cfg.Username, cfg.Password)
		}
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		err := fmt.Errorf("GET %s: %s: %s", u, resp.Status, strings.TrimSpace(string(b)))
		switch resp.StatusCode {
		case http.StatusNotFound:
			return nil, fmt.Errorf("%w (the registry has no search API): %w", err, errdefs.ErrNotFound)
		case http.StatusUnauthorized, http.StatusForbidden:
			return nil, fmt.Errorf("%w: %w", err, errdefs.ErrPermissionDenied)
		}
		return nil, fmt.Errorf("%w: %w", err, errdefs.ErrUnavailable)
	}
	var rs regtypes.SearchResults
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&rs); err != nil {
		return nil, fmt.Errorf("GET %s: invalid search results: %v: %w", u, err, errdefs.ErrUnavailable)
	}
	if rs.Results == nil {
		rs.Results = []regtypes.SearchResult{}
	}
	return rs.Results, nil
}

// loopbackHost reports whether host[:port] is localhost or a loopback
// address (docker lets those speak plain HTTP).
func loopbackHost(host string) bool {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
