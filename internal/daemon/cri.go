package daemon

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	apitypes "github.com/hako-dev/hako/internal/api/types"
	"github.com/hako-dev/hako/internal/daemon/container"
	"github.com/hako-dev/hako/internal/errdefs"
	"github.com/hako-dev/hako/internal/image"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// What the Kubernetes CRI service (internal/cri) needs beyond the Docker
// API's operations: containers that log in the CRI format where kubelet
// says, log reopening, and the image of a pod's sandbox.

// ContainerCreateCRI creates a container as ContainerCreate does, with
// the CRI's additions (its log, strict supplementary groups).
func (d *Daemon) ContainerCreateCRI(ctx context.Context, req CreateRequest, o apitypes.CRIOptions) (string, error) {
	if req.HostConfig != nil {
		req.HostConfig.LogConfig.Type = "none"
		req.HostConfig.LogConfig.Config = nil
	}
	resp, err := d.createContainer(ctx, req, func(c *container.Container) {
		if o.LogPath != "" {
			c.LogPath, c.LogFormat = o.LogPath, "cri"
		}
		c.StrictGroups = o.StrictGroups
	})
	return resp.ID, err
}

// ReopenContainerLog makes the monitor reopen a running container's CRI
// log (kubelet renamed it to rotate it).
func (d *Daemon) ReopenContainerLog(ctx context.Context, ref string) error {
	c, err := d.containers.Get(ref)
	if err != nil {
		return err
	}
	c.Lock()
	running, format := c.State.Status == container.StatusRunning, c.LogFormat
	c.Unlock()
	if !running {
		return fmt.Errorf("container %s is not running: %w", c.ID, errdefs.ErrConflict)
	}
	if format != "cri" {
		return fmt.Errorf("container %s has no CRI log to reopen: %w", c.ID, errdefs.ErrInvalidArgument)
	}
	return d.monitor.ReopenLog(c.ID)
}

// ContainerProcessUser is the user a container's process runs as, with
// its supplementary groups, as its runtime spec says (started
// containers; NotFound before the first start).
func (d *Daemon) ContainerProcessUser(ctx context.Context, ref string) (*specs.User, error) {
	c, err := d.containers.Get(ref)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(d.bundleDir(c.ID), "config.json"))
	if err != nil {
		return nil, fmt.Errorf("container %s has no runtime spec: %w", c.ID, errdefs.ErrNotFound)
	}
	var s specs.Spec
	if err := json.Unmarshal(b, &s); err != nil || s.Process == nil {
		return nil, fmt.Errorf("container %s: runtime spec: %v", c.ID, err)
	}
	return &s.Process.User, nil
}

// PauseImage is the image of pod sandboxes, made locally the first time:
// an empty file system where the engine binary is bind-mounted at
// PauseTarget (see package pause). It returns the image's name.
func (d *Daemon) PauseImage(ctx context.Context) (string, error) {
	const name = "hako.local/pause:1"
	if _, err := d.images.Get(name); err == nil {
		return name, nil
	} else if !errors.Is(err, errdefs.ErrNotFound) {
		return "", err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	now := time.Unix(0, 0)
	for _, dir := range []string{"dev", "etc", "proc", "sys"} {
		tw.WriteHeader(&tar.Header{Name: dir + "/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: now})
	}
	tw.WriteHeader(&tar.Header{Name: "pause", Typeflag: tar.TypeReg, Mode: 0o755, ModTime: now})
	if err := tw.Close(); err != nil {
		return "", err
	}
	if _, err := d.ImportImage(ctx, &buf, "hako.local/pause", "1", []string{`ENTRYPOINT ["/pause"]`}, "hako pod sandbox"); err != nil {
		return "", fmt.Errorf("make the pod sandbox image: %w", err)
	}
	return name, nil
}

// PauseBinary is what is bind-mounted at /pause in a sandbox: this
// executable.
func PauseBinary() (string, error) { return os.Executable() }

// ImageRecords lists the image store's records (full names, IDs).
func (d *Daemon) ImageRecords(ctx context.Context) ([]*image.Image, error) {
	return d.images.List()
}

// ImageRecord returns one image's record and configuration, by name or
// ID.
func (d *Daemon) ImageRecord(ctx context.Context, ref string) (*image.Image, *ocispec.ImageConfig, error) {
	img, err := d.images.Get(ref)
	if err != nil {
		return nil, nil, err
	}
	cfg, err := d.imageConfig(img)
	if err != nil {
		return nil, nil, err
	}
	return img, &cfg.Config.ImageConfig, nil
}

// StorageDir is where image layers and container file systems are kept
// (for the CRI's ImageFsInfo).
func (d *Daemon) StorageDir() string { return filepath.Join(d.cfg.Root, d.driver) }
