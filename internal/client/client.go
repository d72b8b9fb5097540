// Package client is a Docker Engine API client, the one the hako CLI and
// the black-box tests use. It speaks to hako daemon or to dockerd over a
// unix socket or TCP, negotiating the API version with /_ping.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/hako-dev/hako/internal/errdefs"
	eventtypes "github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/system"
)

// APIVersion is the newest Engine API version this client speaks.
const APIVersion = "1.51"

// Client talks to one daemon.
type Client struct {
	host    string
	http    *http.Client
	base    string
	version string
}

// New returns a client for host: "unix:///run/hako/hako.sock" (or a bare
// socket path) or "tcp://127.0.0.1:2375". It does not connect yet.
func New(host string) (*Client, error) {
	proto, addr, ok := strings.Cut(host, "://")
	if !ok {
		proto, addr = "unix", host
	}
	tr := &http.Transport{DisableCompression: true}
	c := &Client{host: host, http: &http.Client{Transport: tr}, version: APIVersion}
	switch proto {
	case "unix":
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", addr)
		}
		c.base = "http://hako"
	case "tcp", "http":
		c.base = "http://" + addr
	default:
		return nil, fmt.Errorf("host %q: unsupported protocol %q (use unix:// or tcp://): %w", host, proto, errdefs.ErrInvalidArgument)
	}
	return c, nil
}

// Host is the address the client was made for.
func (c *Client) Host() string { return c.host }

// Ping checks that the daemon answers and adopts its API version when it
// is older than the client's.
func (c *Client) Ping(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/_ping", nil)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return c.connErr(err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("ping %s: %s", c.host, resp.Status)
	}
	if v := resp.Header.Get("Api-Version"); v != "" && compareVersions(v, c.version) < 0 {
		c.version = v
	}
	return nil
}

// ErrNoDaemon says that nothing answers at the client's host.
var ErrNoDaemon = errors.New("no daemon answers")

// ErrDaemonGone says the daemon closed the connection without an answer:
// it is probably exiting.
var ErrDaemonGone = errors.New("the daemon closed the connection")

func (c *Client) connErr(err error) error {
	var ne *net.OpError
	if errors.As(err, &ne) && ne.Op == "dial" {
		return fmt.Errorf("cannot connect to the hako daemon at %s (is it running?): %w", c.host, ErrNoDaemon)
	}
	if errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%s: %w: %w", c.host, ErrDaemonGone, err)
	}
	return fmt.Errorf("%s: %w", c.host, err)
}

// do sends a request to /vX.Y/path and decodes a JSON reply into out (when
// not nil). An API error becomes an error of the matching errdefs category.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, body any, out any) error {
	resp, err := c.stream(ctx, method, path, q, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decode reply: %w", method, path, err)
	}
	return nil
}

// stream sends a request and returns the open response for the caller to
// read; non-2xx replies are turned into errors.
func (c *Client) stream(ctx context.Context, method, path string, q url.Values, body any) (*http.Response, error) {
	return c.send(ctx, method, path, q, body, nil)
}

// streamWithHeader is stream without a body, with extra headers.
func (c *Client) streamWithHeader(ctx context.Context, method, path string, q url.Values, h map[string]string) (*http.Response, error) {
	return c.send(ctx, method, path, q, nil, h)
}

func (c *Client) send(ctx context.Context, method, path string, q url.Values, body any, h map[string]string) (*http.Response, error) {
	u := c.base + "/v" + c.version + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var rd io.Reader
	ctype := ""
	switch b := body.(type) {
	case nil:
	case io.Reader:
		rd, ctype = b, "application/x-tar"
	default:
		data, err := json.Marshal(b)
		if err != nil {
			return nil, err
		}
		rd, ctype = bytes.NewReader(data), "application/json"
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for k, v := range h {
		if v != "" {
			req.Header.Set(k, v)
		}
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.connErr(err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		return nil, apiError(resp)
	}
	return resp, nil
}

// apiError turns an error reply into an error of the matching category.
func apiError(resp *http.Response) error {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var m struct {
		Message string `json:"message"`
	}
	msg := strings.TrimSpace(string(data))
	if json.Unmarshal(data, &m) == nil && m.Message != "" {
		msg = m.Message
	}
	if msg == "" {
		msg = resp.Status
	}
	var cat error
	switch resp.StatusCode {
	case http.StatusNotFound:
		cat = errdefs.ErrNotFound
	case http.StatusBadRequest:
		cat = errdefs.ErrInvalidArgument
	case http.StatusConflict:
		cat = errdefs.ErrConflict
	case http.StatusNotImplemented:
		cat = errdefs.ErrNotImplemented
	case http.StatusForbidden, http.StatusUnauthorized:
		cat = errdefs.ErrPermissionDenied
	case http.StatusServiceUnavailable:
		cat = errdefs.ErrUnavailable
	default:
		return errors.New(msg)
	}
	return &Error{Msg: msg, cat: cat}
}

// Error is an error reply of the daemon. Its message is the daemon's, as
// is; errors.Is matches its errdefs category.
type Error struct {
	Msg string
	cat error
}

func (e *Error) Error() string        { return e.Msg }
func (e *Error) Is(target error) bool { return target == e.cat }

// Version returns the daemon's version.
func (c *Client) Version(ctx context.Context) (*system.VersionResponse, error) {
	var v system.VersionResponse
	return &v, c.do(ctx, http.MethodGet, "/version", nil, nil, &v)
}

// Info returns the daemon's system information.
func (c *Client) Info(ctx context.Context) (*system.Info, error) {
	var v system.Info
	return &v, c.do(ctx, http.MethodGet, "/info", nil, nil, &v)
}

// EventsOptions selects events.
type EventsOptions struct {
	Since, Until time.Time
	// Filters as docker's --filter: key → values.
	Filters map[string][]string
}

// Events streams events until ctx ends (or Until passes). The error
// channel receives one value when the stream ends (nil at Until).
func (c *Client) Events(ctx context.Context, o EventsOptions) (<-chan eventtypes.Message, <-chan error) {
	msgs, errc := make(chan eventtypes.Message), make(chan error, 1)
	q := url.Values{}
	if !o.Since.IsZero() {
		q.Set("since", fmt.Sprintf("%d.%09d", o.Since.Unix(), o.Since.Nanosecond()))
	}
	if !o.Until.IsZero() {
		q.Set("until", fmt.Sprintf("%d.%09d", o.Until.Unix(), o.Until.Nanosecond()))
	}
	if len(o.Filters) > 0 {
		f := map[string]map[string]bool{}
		for k, vs := range o.Filters {
			f[k] = map[string]bool{}
			for _, v := range vs {
				f[k][v] = true
			}
		}
		b, _ := json.Marshal(f)
		q.Set("filters", string(b))
	}
	go func() {
		defer close(msgs)
		resp, err := c.stream(ctx, http.MethodGet, "/events", q, nil)
		if err != nil {
			errc <- err
			return
		}
		defer resp.Body.Close()
		dec := json.NewDecoder(resp.Body)
		for {
			var m eventtypes.Message
			if err := dec.Decode(&m); err != nil {
				if errors.Is(err, io.EOF) || ctx.Err() != nil {
					err = nil
				}
				errc <- err
				return
			}
			select {
			case msgs <- m:
			case <-ctx.Done():
				errc <- nil
				return
			}
		}
	}()
	return msgs, errc
}

func compareVersions(a, b string) int {
	var a1, a2, b1, b2 int
	fmt.Sscanf(a, "%d.%d", &a1, &a2)
	fmt.Sscanf(b, "%d.%d", &b1, &b2)
	switch {
	case a1 != b1:
		return map[bool]int{true: -1, false: 1}[a1 < b1]
	case a2 != b2:
		return map[bool]int{true: -1, false: 1}[a2 < b2]
	}
	return 0
}
