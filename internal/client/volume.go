package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"github.com/moby/moby/api/types/volume"
)

// The volume endpoints of the Engine API.

// VolumeCreate makes a volume (or returns the existing one of that name);
// an empty name makes an anonymous volume.
func (c *Client) VolumeCreate(ctx context.Context, req volume.CreateRequest) (volume.Volume, error) {
	var v volume.Volume
	return v, c.do(ctx, http.MethodPost, "/volumes/create", nil, req, &v)
}

// VolumeList lists volumes matching filters (name, label, driver,
// dangling: key → values).
func (c *Client) VolumeList(ctx context.Context, filters map[string][]string) (volume.ListResponse, error) {
	q := url.Values{}
	setFilters(q, filters)
	var r volume.ListResponse
	return r, c.do(ctx, http.MethodGet, "/volumes", q, nil, &r)
}

// VolumeInspect returns a volume's description, decoded and raw.
func (c *Client) VolumeInspect(ctx context.Context, name string) (volume.Volume, json.RawMessage, error) {
	var raw json.RawMessage
	var v volume.Volume
	if err := c.do(ctx, http.MethodGet, "/volumes/"+url.PathEscape(name), nil, nil, &raw); err != nil {
		return v, nil, err
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return v, nil, fmt.Errorf("volume %s: decode reply: %w", name, err)
	}
	return v, raw, nil
}

// VolumeRemove removes a volume that no container uses; force makes a
// missing volume no error.
func (c *Client) VolumeRemove(ctx context.Context, name string, force bool) error {
	q := url.Values{}
	if force {
		q.Set("force", "1")
	}
	return c.do(ctx, http.MethodDelete, "/volumes/"+url.PathEscape(name), q, nil, nil)
}

// VolumesPrune removes the unused volumes matching filters: anonymous
// ones, or all with all=true; label=, label!=.
func (c *Client) VolumesPrune(ctx context.Context, filters map[string][]string) (volume.PruneReport, error) {
	q := url.Values{}
	setFilters(q, filters)
	var r volume.PruneReport
	return r, c.do(ctx, http.MethodPost, "/volumes/prune", q, nil, &r)
}
