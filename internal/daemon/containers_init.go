package daemon

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/hako-dev/hako/internal/daemon/container"
	"github.com/hako-dev/hako/internal/errdefs"
	"github.com/hako-dev/hako/internal/image"
)

// The init layer, as docker's: a committed snapshot between a container
// and its image that holds the mount points every container needs
// (/proc, /sys, /dev, /etc/hostname, /etc/hosts, /etc/resolv.conf). The
// container's own layer then holds only what its processes changed, so
// diff and commit do not report or keep the engine's stubs.
// Overlay only: on vfs it would be one more full copy of the image.

func initKey(snapshotKey string) string { return snapshotKey + "-init" }

var (
	initDirs  = []string{"proc", "sys", "dev"}
	initFiles = []string{"etc/hostname", "etc/hosts", "etc/resolv.conf"}
)

// prepareInitLayer makes the init layer of c on parent and returns the
// key to use as the container's parent.
func (d *Daemon) prepareInitLayer(ctx context.Context, c *container.Container, img *image.Image, parent string) (_ string, retErr error) {
	key := initKey(c.SnapshotKey)
	active := key + "-prepare"
	if _, err := d.snapshots.Prepare(ctx, active, parent); err != nil {
		return "", err
	}
	defer func() {
		if retErr != nil {
			d.snapshots.Remove(context.WithoutCancel(ctx), active)
		}
	}()
	dir, err := d.snapshots.Dir(ctx, active)
	if err != nil {
		return "", err
	}
	if err := writeInitLayer(dir, d.layerDirs(ctx, img)); err != nil {
		return "", err
	}
	if err := d.snapshots.Commit(ctx, key, active); err != nil {
		return "", err
	}
	return key, nil
}

// writeInitLayer creates the stubs in dir that the image (its layer
// directories, top first) lacks. It never replaces a symlink or a
// non-directory of the image with a directory.
func writeInitLayer(dir string, lowers []string) error {
	for _, name := range initDirs {
		if _, ok := lookupLowers(lowers, name); ok {
			continue // a directory (fine) or something else (left as is)
		}
		if err := os.Mkdir(filepath.Join(dir, name), 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
	}
	etc, ok := lookupLowers(lowers, "etc")
	switch {
	case !ok:
		if err := os.Mkdir(filepath.Join(dir, "etc"), 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
	case !etc.IsDir():
		return nil // /etc is a symlink: the runtime resolves it inside the rootfs
	default:
		// The merged /etc takes the topmost directory's attributes: keep
		// the image's.
		p := filepath.Join(dir, "etc")
		if err := os.Mkdir(p, etc.Mode().Perm()); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
		os.Chmod(p, etc.Mode()&(os.ModePerm|os.ModeSticky|os.ModeSetgid|os.ModeSetuid))
		if sys, ok := etc.Sys().(*syscall.Stat_t); ok {
			os.Lchown(p, int(sys.Uid), int(sys.Gid))
		}
	}
	for _, name := range initFiles {
		if st, ok := lookupLowers(lowers, name); ok && !st.Mode().IsRegular() {
			continue
		}
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
		if err != nil {
			return err
		}
		f.Close()
	}
	return nil
}

// lookupLowers finds rel in the topmost layer that has it; a whiteout
// means it is absent. Intermediate components are looked up with Lstat
// one by one by the caller's choice of names (only top-level names and
// etc/…, after etc was checked to be a directory).
func lookupLowers(lowers []string, rel string) (os.FileInfo, bool) {
	for _, l := range lowers {
		st, err := os.Lstat(filepath.Join(l, rel))
		if err != nil {
			// A whiteout of a parent hides the entry from lower layers.
			if parent := filepath.Dir(rel); parent != "." {
				if pst, err := os.Lstat(filepath.Join(l, parent)); err == nil && isWhiteoutInfo(pst) {
					return nil, false
				}
			}
			continue
		}
		if isWhiteoutInfo(st) {
			return nil, false
		}
		return st, true
	}
	return nil, false
}

func isWhiteoutInfo(st os.FileInfo) bool {
	if st.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	return ok && sys.Rdev == 0
}

// containerLowers are the layer directories under c's own: its init
// layer (when it has one), then its image's, top first.
func (d *Daemon) containerLowers(ctx context.Context, c *container.Container, img *image.Image) []string {
	dirs := d.layerDirs(ctx, img)
	if dir, err := d.snapshots.Dir(ctx, initKey(c.SnapshotKey)); err == nil {
		dirs = append([]string{dir}, dirs...)
	}
	return dirs
}

// removeContainerSnapshots removes the container's snapshot and its
// init layer (children first).
func (d *Daemon) removeContainerSnapshots(ctx context.Context, key string) error {
	var errs []error
	for _, k := range []string{key, initKey(key) + "-prepare", initKey(key)} {
		if err := d.snapshots.Remove(ctx, k); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// containerIDOfSnapshot returns the container ID a snapshot key belongs
// to ("" for image layers).
func containerIDOfSnapshot(key string) string {
	id, ok := strings.CutPrefix(key, "container-")
	if !ok {
		return ""
	}
	id, _ = strings.CutSuffix(id, "-prepare")
	id, _ = strings.CutSuffix(id, "-init")
	return id
}
