package daemon

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/hako-dev/hako/internal/archive"
	"github.com/hako-dev/hako/internal/daemon/container"
	"github.com/hako-dev/hako/internal/daemon/volume"
	"github.com/hako-dev/hako/internal/errdefs"
	"github.com/hako-dev/hako/internal/mount"
	ctypes "github.com/moby/moby/api/types/container"
	eventtypes "github.com/moby/moby/api/types/events"
	mounttypes "github.com/moby/moby/api/types/mount"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// A container's mounts: resolved once, at create, into its record's
// MountPoints (docker's registerMountPoints); its volumes referenced from
// then on, mounted while it runs, released when it is removed.

// hostMounter mounts volumes' devices on the host.
type hostMounter struct{}

func (hostMounter) Mount(ms []mount.Mount, target string) error { return mount.All(ms, target) }
func (hostMounter) Mounted(target string) bool                  { return mount.IsMountPoint(target) }

func (hostMounter) Unmount(target string) error {
	if err := unix.Unmount(target, 0); err != nil {
		if err := unix.Unmount(target, unix.MNT_DETACH); err != nil {
			return fmt.Errorf("unmount %s: %w", target, err)
		}
	}
	return nil
}

// openVolumes opens the volume store under Root/volumes.
func (d *Daemon) openVolumes() error {
	s, err := volume.Open(filepath.Join(d.cfg.Root, "volumes"), hostMounter{})
	if err != nil {
		if s == nil {
			return err
		}
		d.log().Warn("volumes", "error", err)
	}
	d.volumes = s
	return nil
}

// restoreVolumeRefs tells the volume store, at start-up, which containers
// use which volumes and which of them run: the records are the truth.
func (d *Daemon) restoreVolumeRefs(list []*container.Container) {
	for _, c := range list {
		for _, mp := range c.MountPoints {
			if mp.Type != mounttypes.TypeVolume || mp.Name == "" {
				continue
			}
			if err := d.volumes.Reference(mp.Name, c.ID); err != nil {
				d.log().Warn("a container's volume is missing", "id", c.ID, "volume", mp.Name)
				continue
			}
			if c.Running() {
				d.volumes.MarkActive(mp.Name, c.ID)
			}
		}
	}
}

// registerMountPoints resolves c's mounts at create, in docker's order:
// --volumes-from, then -v (binds and named volumes), then --mount, each
// replacing what came before at the same destination; then an anonymous
// volume for each Config.Volumes entry (the image's VOLUME, -v /path)
// that nothing else covers. Volumes are created as needed and referenced
// by c; on error nothing is left referenced, and the anonymous volumes
// made are removed. c's rootfs is mounted.
func (d *Daemon) registerMountPoints(c *container.Container) (retErr error) {
	hc := c.HostConfig
	points := map[string]*volume.MountPoint{}
	borrowed := map[*volume.MountPoint]bool{} // from --volumes-from: the volume exists
	for _, spec := range hc.VolumesFrom {
		id, mode, err := volume.ParseVolumesFrom(spec)
		if err != nil {
			return err
		}
		src, err := d.containers.Get(id)
		if err != nil {
			return err
		}
		for _, m := range src.MountPoints {
			cp := *m
			cp.RW = m.RW && volume.ReadWrite(mode)
			cp.CopyData = false
			points[cp.Destination] = &cp
			borrowed[&cp] = true
		}
	}
	taken := map[string]bool{}
	for dst := range hc.Tmpfs {
		taken[path.Clean(dst)] = true
		delete(points, path.Clean(dst)) // a --tmpfs given wins over a --volumes-from mount
	}
	add := func(mp *volume.MountPoint) error {
		if taken[mp.Destination] {
			return volume.ErrDuplicate(mp.Destination)
		}
		taken[mp.Destination] = true
		if mp.Type == mounttypes.TypeVolume && mp.Mode == "" {
			mp.Mode = "z" // docker's default for local volumes
		}
		points[mp.Destination] = mp
		return nil
	}
	for _, b := range hc.Binds {
		mp, err := volume.ParseBind(b, hc.VolumeDriver)
		if err != nil {
			return err
		}
		if err := add(mp); err != nil {
			return err
		}
	}
	for _, m := range hc.Mounts {
		mp, err := volume.ParseMount(m, func(p string) bool { _, err := os.Stat(p); return err == nil })
		if err != nil {
			return err
		}
		if err := add(mp); err != nil {
			return err
		}
	}
	rootfs := d.rootfsDir(c.ID)
	for _, dst := range slices.Sorted(maps.Keys(c.Config.Volumes)) {
		if !path.IsAbs(dst) {
			return fmt.Errorf("invalid volume specification: '%s': invalid mount path: '%s' mount path must be absolute: %w", dst, dst, errdefs.ErrInvalidArgument)
		}
		dst = path.Clean(dst)
		if _, ok := points[dst]; ok || taken[dst] {
			continue // not an error: the image's VOLUME is covered
		}
		if st, err := archive.Lstat(rootfs, dst); err == nil && st.Mode&unix.S_IFMT != unix.S_IFDIR && st.Mode&unix.S_IFMT != unix.S_IFLNK {
			return fmt.Errorf("cannot mount volume over existing file, file exists %s: %w", filepath.Join(rootfs, dst), errdefs.ErrInvalidArgument)
		}
		points[dst] = &volume.MountPoint{
			Type: mounttypes.TypeVolume, Destination: dst, RW: true, CopyData: true, Anonymous: true,
			Spec: mounttypes.Mount{Type: mounttypes.TypeVolume, Target: dst},
		}
	}

	list := make([]*volume.MountPoint, 0, len(points))
	for _, dst := range slices.Sorted(maps.Keys(points)) {
		list = append(list, points[dst])
	}
	var acquired, made []string
	defer func() {
		if retErr != nil {
			for _, n := range acquired {
				d.volumes.Release(n, c.ID)
			}
			for _, n := range made {
				d.volumes.Remove(n, true)
			}
		}
	}()
	for _, mp := range list {
		if mp.Type != mounttypes.TypeVolume {
			continue
		}
		if borrowed[mp] {
			if err := d.volumes.Reference(mp.Name, c.ID); err != nil {
				return err
			}
			acquired = append(acquired, mp.Name)
			continue
		}
		o := volume.CreateOptions{Driver: mp.Driver, Ref: c.ID}
		if vo := mp.Spec.VolumeOptions; vo != nil {
			o.Labels = vo.Labels
			if vo.DriverConfig != nil {
				o.Options = vo.DriverConfig.Options
			}
		}
		v, created, err := d.volumes.Create(mp.Name, o)
		if err != nil {
			return err
		}
		acquired = append(acquired, v.Name)
		if created {
			if mp.Anonymous {
				made = append(made, v.Name)
			}
			d.volumeEvent(v.Name, eventtypes.ActionCreate, map[string]string{"driver": v.Driver})
		}
		mp.Name, mp.Source, mp.Driver = v.Name, v.Mountpoint, v.Driver
	}
	c.MountPoints = list
	return nil
}

// seedVolumes fills c's empty volumes that need no mount with the image's
// content at their destination (docker does it at create).
func (d *Daemon) seedVolumes(c *container.Container) error {
	for _, mp := range c.MountPoints {
		if mp.Type != mounttypes.TypeVolume || !mp.CopyData {
			continue
		}
		if v, err := d.volumes.Get(mp.Name); err != nil || volume.Mounts(v.Options) != nil {
			continue // a device's content exists only once mounted (at start)
		}
		if err := d.seedVolume(c, mp); err != nil {
			return err
		}
	}
	if c.IDMap != nil {
		// A new volume of a remapped container is its root's (docker
		// makes a remapped daemon's volumes under the remapped root).
		for _, mp := range c.MountPoints {
			if mp.Type != mounttypes.TypeVolume {
				continue
			}
			var st unix.Stat_t
			if ents, err := os.ReadDir(mp.Source); err != nil || len(ents) > 0 || unix.Lstat(mp.Source, &st) != nil || st.Uid != 0 || st.Gid != 0 {
				continue
			}
			if err := os.Lchown(mp.Source, int(c.IDMap.UID), int(c.IDMap.GID)); err != nil {
				return err
			}
		}
	}
	return nil
}

// seedVolume copies what c's mounted rootfs has at mp's destination into
// the volume when the volume is empty, as docker does: owners, modes,
// times, xattrs and hardlinks kept, and the directory's own owner and
// mode too. Symlinks are followed inside the rootfs only.
func (d *Daemon) seedVolume(c *container.Container, mp *volume.MountPoint) error {
	rootfs := d.rootfsDir(c.ID)
	src := mp.Destination + "/."
	st, err := archive.Lstat(rootfs, src)
	if err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return nil // nothing (or no directory) there: nothing to copy
	}
	ents, err := os.ReadDir(mp.Source)
	if err != nil || len(ents) > 0 {
		return err
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(archive.TarPath(pw, rootfs, src)) }()
	err = archive.ExtractTo(mp.Source, "/", pr, false)
	pr.CloseWithError(io.ErrClosedPipe)
	if err != nil {
		return fmt.Errorf("copy the image's %s into volume %s: %w", mp.Destination, mp.Name, err)
	}
	return errors.Join(os.Lchown(mp.Source, int(st.Uid), int(st.Gid)), unix.Chmod(mp.Source, st.Mode&0o7777))
}

// mountVolumes makes c's volumes ready for its start: a volume with a
// device is mounted by its first running user, and seeded then when
// empty.
func (d *Daemon) mountVolumes(c *container.Container) (retErr error) {
	defer func() {
		if retErr != nil {
			d.unmountVolumes(c)
		}
	}()
	for _, mp := range c.MountPoints {
		if mp.Type != mounttypes.TypeVolume || mp.Name == "" {
			continue
		}
		fresh, err := d.volumes.Mount(mp.Name, c.ID)
		if err != nil {
			return fmt.Errorf("error while mounting volume '%s': %w", mp.Source, err)
		}
		if fresh && mp.CopyData {
			if err := d.seedVolume(c, mp); err != nil {
				return err
			}
		}
		d.volumeEvent(mp.Name, eventtypes.ActionMount, map[string]string{
			"container": c.ID, "destination": mp.Destination, "driver": mp.Driver,
			"propagation": string(mp.Propagation), "read/write": strconv.FormatBool(mp.RW),
		})
	}
	return nil
}

// unmountVolumes ends c's use of its volumes when it stops: the last
// running user of a volume with a device unmounts it.
func (d *Daemon) unmountVolumes(c *container.Container) {
	for _, mp := range c.MountPoints {
		if mp.Type != mounttypes.TypeVolume || mp.Name == "" {
			continue
		}
		was, err := d.volumes.Unmount(mp.Name, c.ID)
		if err != nil {
			d.log().Warn("unmount volume", "id", c.ID, "volume", mp.Name, "error", err)
		}
		if was {
			d.volumeEvent(mp.Name, eventtypes.ActionUnmount, map[string]string{"container": c.ID, "driver": mp.Driver})
		}
	}
}

// releaseVolumes drops c's references when it is removed; with
// anonymous, the volumes made for it go too (rm -v, --rm), unless another
// container uses them.
func (d *Daemon) releaseVolumes(c *container.Container, anonymous bool) {
	d.unmountVolumes(c)
	for _, mp := range c.MountPoints {
		if mp.Type != mounttypes.TypeVolume || mp.Name == "" {
			continue
		}
		d.volumes.Release(mp.Name, c.ID)
		if !anonymous || !mp.Anonymous {
			continue
		}
		switch err := d.volumes.Remove(mp.Name, false); {
		case err == nil:
			d.volumeEvent(mp.Name, eventtypes.ActionDestroy, map[string]string{"driver": mp.Driver})
		case errors.Is(err, errdefs.ErrConflict), errors.Is(err, errdefs.ErrNotFound):
		default:
			d.log().Warn("remove volume", "id", c.ID, "volume", mp.Name, "error", err)
		}
	}
}

// specMounts turns c's mount points into runtime mounts. Unless dryRun
// (at create), a missing host directory named with -v (or
// bind-create-src) is made, as docker does at start.
func specMounts(c *container.Container, dryRun bool) ([]specs.Mount, error) {
	out := make([]specs.Mount, 0, len(c.MountPoints))
	for _, mp := range c.MountPoints {
		rw := "rw"
		if !mp.RW {
			rw = "ro"
		}
		switch mp.Type {
		case mounttypes.TypeVolume:
			out = append(out, specs.Mount{Destination: mp.Destination, Type: "bind", Source: mp.Source, Options: []string{"rbind", rw, "rprivate"}})
		case mounttypes.TypeBind:
			bo := mp.Spec.BindOptions
			if bo != nil && bo.CreateMountpoint && !dryRun {
				if _, err := os.Stat(mp.Source); os.IsNotExist(err) {
					if err := os.MkdirAll(mp.Source, 0o755); err != nil {
						return nil, fmt.Errorf("create bind source %s: %w", mp.Source, err)
					}
				}
			}
			opts := []string{"rbind", rw}
			if bo != nil && bo.NonRecursive {
				opts[0] = "bind"
			}
			if bo != nil && bo.ReadOnlyForceRecursive {
				opts = append(opts, "rro")
			}
			prop := string(mp.Propagation)
			if prop == "" {
				prop = "rprivate"
			}
			out = append(out, specs.Mount{Destination: mp.Destination, Type: "bind", Source: mp.Source, Options: append(opts, prop)})
		case mounttypes.TypeTmpfs:
			opts := []string{"nosuid", "nodev", "noexec"}
			if !mp.RW {
				opts = append(opts, "ro")
			}
			if o := mp.Spec.TmpfsOptions; o != nil {
				if o.SizeBytes > 0 {
					opts = append(opts, fmt.Sprintf("size=%d", o.SizeBytes))
				}
				if o.Mode != 0 {
					opts = append(opts, fmt.Sprintf("mode=%o", o.Mode))
				}
				for _, kv := range o.Options {
					opts = append(opts, strings.Join(kv, "="))
				}
			}
			out = append(out, specs.Mount{Destination: mp.Destination, Type: "tmpfs", Source: "tmpfs", Options: opts})
		}
	}
	return out, nil
}

// apiMountPoints is c's Mounts as inspect and ps show them: its mount
// points and its --tmpfs mounts, by destination.
func apiMountPoints(c *container.Container) []ctypes.MountPoint {
	out := make([]ctypes.MountPoint, 0, len(c.MountPoints)+len(c.HostConfig.Tmpfs))
	for _, mp := range c.MountPoints {
		out = append(out, ctypes.MountPoint{
			Type: mp.Type, Name: mp.Name, Source: mp.Source, Destination: mp.Destination,
			Driver: mp.Driver, Mode: mp.Mode, RW: mp.RW, Propagation: mp.Propagation,
		})
	}
	for dst, opts := range c.HostConfig.Tmpfs {
		out = append(out, ctypes.MountPoint{Type: mounttypes.TypeTmpfs, Destination: path.Clean(dst), RW: !slices.Contains(strings.Split(opts, ","), "ro")})
	}
	slices.SortFunc(out, func(a, b ctypes.MountPoint) int { return strings.Compare(a.Destination, b.Destination) })
	return out
}
