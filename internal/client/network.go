package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"github.com/moby/moby/api/types/network"
)

// The network endpoints of the Engine API.

// NetworkCreate makes a network.
func (c *Client) NetworkCreate(ctx context.Context, req network.CreateRequest) (network.CreateResponse, error) {
	var r network.CreateResponse
	return r, c.do(ctx, http.MethodPost, "/networks/create", nil, req, &r)
}

// NetworkList lists networks matching filters (name, id, driver, type,
// label, dangling: key → values).
func (c *Client) NetworkList(ctx context.Context, filters map[string][]string) ([]network.Summary, error) {
	q := url.Values{}
	setFilters(q, filters)
	var r []network.Summary
	return r, c.do(ctx, http.MethodGet, "/networks", q, nil, &r)
}

// NetworkInspect returns a network's description, decoded and raw.
func (c *Client) NetworkInspect(ctx context.Context, ref string) (network.Inspect, json.RawMessage, error) {
	var raw json.RawMessage
	var n network.Inspect
	if err := c.do(ctx, http.MethodGet, "/networks/"+url.PathEscape(ref), nil, nil, &raw); err != nil {
		return n, nil, err
	}
	if err := json.Unmarshal(raw, &n); err != nil {
		return n, nil, fmt.Errorf("network %s: decode reply: %w", ref, err)
	}
	return n, raw, nil
}

// NetworkRemove removes a network without active endpoints.
func (c *Client) NetworkRemove(ctx context.Context, ref string) error {
	return c.do(ctx, http.MethodDelete, "/networks/"+url.PathEscape(ref), nil, nil, nil)
}

// NetworkConnect connects a container to a network.
func (c *Client) NetworkConnect(ctx context.Context, ref string, req network.ConnectRequest) error {
	return c.do(ctx, http.MethodPost, "/networks/"+url.PathEscape(ref)+"/connect", nil, req, nil)
}

// NetworkDisconnect disconnects a container from a network.
func (c *Client) NetworkDisconnect(ctx context.Context, ref string, req network.DisconnectRequest) error {
	return c.do(ctx, http.MethodPost, "/networks/"+url.PathEscape(ref)+"/disconnect", nil, req, nil)
}

// NetworksPrune removes the networks no running container uses.
func (c *Client) NetworksPrune(ctx context.Context, filters map[string][]string) (network.PruneReport, error) {
	q := url.Values{}
	setFilters(q, filters)
	var r network.PruneReport
	return r, c.do(ctx, http.MethodPost, "/networks/prune", q, nil, &r)
}
