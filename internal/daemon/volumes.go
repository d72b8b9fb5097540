package daemon

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/hako-dev/hako/internal/daemon/volume"
	"github.com/hako-dev/hako/internal/errdefs"
	eventtypes "github.com/moby/moby/api/types/events"
	volumetypes "github.com/moby/moby/api/types/volume"
)

// The Engine API's volume endpoints (create, list, inspect, remove,
// prune) over the volume store.

// VolumeCreate makes a volume (POST /volumes/create); an existing one of
// that name is returned as it is.
func (d *Daemon) VolumeCreate(ctx context.Context, req volumetypes.CreateRequest) (*volumetypes.Volume, error) {
	v, created, err := d.volumes.Create(req.Name, volume.CreateOptions{Driver: req.Driver, Labels: req.Labels, Options: req.DriverOpts})
	if err != nil {
		return nil, err
	}
	if created {
		d.volumeEvent(v.Name, eventtypes.ActionCreate, map[string]string{"driver": v.Driver})
	}
	return apiVolume(v), nil
}

// VolumeInspect describes a volume (GET /volumes/{name}).
func (d *Daemon) VolumeInspect(ctx context.Context, name string) (*volumetypes.Volume, error) {
	v, err := d.volumes.Get(name)
	if err != nil {
		return nil, err
	}
	return apiVolume(v), nil
}

// VolumeRemove removes an unused volume (DELETE /volumes/{name}); force
// makes a missing one no error.
func (d *Daemon) VolumeRemove(ctx context.Context, name string, force bool) error {
	v, getErr := d.volumes.Get(name)
	if err := d.volumes.Remove(name, force); err != nil {
		return err
	}
	if getErr == nil {
		d.volumeEvent(name, eventtypes.ActionDestroy, map[string]string{"driver": v.Driver})
	}
	return nil
}

// VolumeList lists volumes (GET /volumes) that match filters: name
// (substring or regular expression), label (KEY or KEY=VALUE, all must
// match), driver, dangling (true: used by no container).
func (d *Daemon) VolumeList(ctx context.Context, filters map[string][]string) (*volumetypes.ListResponse, error) {
	for k := range filters {
		switch k {
		case "name", "label", "driver", "dangling":
		default:
			return nil, fmt.Errorf("invalid filter '%s': %w", k, errdefs.ErrInvalidArgument)
		}
	}
	var dangling *bool
	for _, v := range filters["dangling"] {
		var b bool
		switch strings.ToLower(v) {
		case "true", "1":
			b = true
		case "false", "0":
		default:
			return nil, fmt.Errorf("invalid filter 'dangling=%s': %w", v, errdefs.ErrInvalidArgument)
		}
		dangling = &b
	}
	out := &volumetypes.ListResponse{Volumes: []volumetypes.Volume{}, Warnings: []string{}}
	for _, v := range d.volumes.List() {
		if dangling != nil && (len(d.volumes.Refs(v.Name)) == 0) != *dangling {
			continue
		}
		if !anyMatch(filters["name"], func(f string) bool { return nameMatch(f, v.Name) }) ||
			!anyMatch(filters["driver"], func(f string) bool { return f == v.Driver }) ||
			!labelsMatch(v.Labels, filters["label"], nil) {
			continue
		}
		out.Volumes = append(out.Volumes, *apiVolume(v))
	}
	return out, nil
}

// anyMatch is true when there is no filter value or one matches.
func anyMatch(values []string, match func(string) bool) bool {
	if len(values) == 0 {
		return true
	}
	for _, v := range values {
		if match(v) {
			return true
		}
	}
	return false
}

// nameMatch is docker's filter match: equal, or the filter as a regular
// expression found in the name.
func nameMatch(filter, name string) bool {
	if filter == name {
		return true
	}
	re, err := regexp.Compile(filter)
	return err == nil && re.MatchString(name)
}

// VolumesPrune removes the unused volumes that match filters (POST
// /volumes/prune): anonymous ones only unless all=true, as docker since
// API 1.42 (the router adds all=true for older clients); label and
// label! select further.
func (d *Daemon) VolumesPrune(ctx context.Context, filters map[string][]string) (*volumetypes.PruneReport, error) {
	for k := range filters {
		switch k {
		case "label", "label!", "all":
		default:
			return nil, fmt.Errorf("invalid filter '%s': %w", k, errdefs.ErrInvalidArgument)
		}
	}
	all := false
	switch vs := filters["all"]; {
	case len(vs) > 1:
		return nil, fmt.Errorf("invalid filter 'all=%s': %w", vs, errdefs.ErrInvalidArgument)
	case len(vs) == 1:
		b, err := strconv.ParseBool(vs[0])
		if err != nil {
			return nil, fmt.Errorf("invalid filter 'all=%s': %w", vs, errdefs.ErrInvalidArgument)
		}
		all = b
	}
	if !d.pruning.CompareAndSwap(false, true) {
		return nil, fmt.Errorf("a prune operation is already running: %w", errdefs.ErrConflict)
	}
	defer d.pruning.Store(false)
	rep := &volumetypes.PruneReport{VolumesDeleted: []string{}}
	for _, v := range d.volumes.List() {
		if (!all && !v.Anonymous()) || v.Driver != volume.DriverLocal || !labelsMatch(v.Labels, filters["label"], filters["label!"]) {
			continue
		}
		if len(d.volumes.Refs(v.Name)) > 0 {
			continue
		}
		size := d.volumes.Size(v.Name)
		if err := d.volumes.Remove(v.Name, false); err != nil {
			continue // taken meanwhile, or not removable: not pruned
		}
		d.volumeEvent(v.Name, eventtypes.ActionDestroy, map[string]string{"driver": v.Driver})
		rep.VolumesDeleted = append(rep.VolumesDeleted, v.Name)
		if size > 0 {
			rep.SpaceReclaimed += uint64(size)
		}
	}
	d.volumeEvent("", eventtypes.ActionPrune, map[string]string{"reclaimed": strconv.FormatUint(rep.SpaceReclaimed, 10)})
	return rep, nil
}

// VolumesUsage lists the volumes with their size and the number of
// containers that use them (GET /system/df).
func (d *Daemon) VolumesUsage(ctx context.Context) ([]volumetypes.Volume, error) {
	out := []volumetypes.Volume{}
	for _, v := range d.volumes.List() {
		av := apiVolume(v)
		av.UsageData = &volumetypes.UsageData{Size: d.volumes.Size(v.Name), RefCount: int64(len(d.volumes.Refs(v.Name)))}
		out = append(out, *av)
	}
	return out, nil
}

// apiVolume is a volume in the API's form.
func apiVolume(v volume.Volume) *volumetypes.Volume {
	return &volumetypes.Volume{
		Name:       v.Name,
		Driver:     v.Driver,
		Labels:     v.Labels,
		Options:    v.Options,
		Mountpoint: v.Mountpoint,
		Scope:      v.Scope,
		CreatedAt:  v.CreatedAt.Local().Format(time.RFC3339),
	}
}

// volumeEvent publishes a volume event (the actor is the volume's name).
func (d *Daemon) volumeEvent(name string, action eventtypes.Action, attrs map[string]string) {
	now := time.Now()
	d.events.Publish(eventtypes.Message{
		Type:     eventtypes.VolumeEventType,
		Action:   action,
		Actor:    eventtypes.Actor{ID: name, Attributes: attrs},
		Scope:    "local",
		Time:     now.Unix(),
		TimeNano: now.UnixNano(),
	})
}
