// Package snapshot keeps the filesystems images and containers are made
// of: each image layer unpacked once into a committed snapshot, keyed by
// its chain ID, and each container's writable snapshot on top of its
// image's chain. Snapshotters describe mounts ([]mount.Mount) and leave
// mounting them to the caller. They mount only what the description
// stands on: the loop filesystem of an active snapshot with a size limit
// (WithSize), and a small overlay to check that the kernel supports it.
//
// # On disk (inspectable from the host)
//
//	<root>/metadata.db         bbolt: key → {id, parent, kind, size}
//	<root>/snapshots/<id>/fs   the snapshot's files (overlay: its upper/layer dir)
//	<root>/snapshots/<id>/work overlay's work dir (active snapshots)
//
// An active snapshot prepared with a size limit has instead:
//
//	<root>/snapshots/<id>/disk.img    a sparse ext4 image of that size
//	                                  (-i 16384: it limits inodes too)
//	<root>/snapshots/<id>/quota/      where disk.img is mounted, through an
//	                                  auto-clearing loop device
//	<root>/snapshots/<id>/quota/fs    the snapshot's files (overlay: its
//	                                  upper dir; vfs: the whole copied tree)
//	<root>/snapshots/<id>/quota/work  overlay's work dir
//
// The loop filesystem stays mounted, in the host's mount namespace, until
// the snapshot is removed; Mounts, Dir and Usage mount it again when it is
// not (after a reboot). Committing such a snapshot copies its files out
// to <id>/fs and drops the image: committed snapshots have no size.
//
// A snapshot's directory is created (and its image mounted) before its
// record is committed, and unmounted and removed after its record is
// gone, so a crash leaves at worst an unreferenced directory, maybe
// mounted, which Cleanup unmounts and removes.
package snapshot

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/docker/go-units"
	"github.com/hako-dev/hako/internal/errdefs"
	"github.com/hako-dev/hako/internal/mount"
)

// Kind is the state of a snapshot.
type Kind string

const (
	// Active snapshots are writable: a layer being unpacked, a
	// container's rootfs.
	Active Kind = "active"
	// Committed snapshots are read-only and may be parents.
	Committed Kind = "committed"
	// View snapshots are read-only views of a parent.
	View Kind = "view"
)

// Info describes a snapshot.
type Info struct {
	Key     string            `json:"key"`
	Parent  string            `json:"parent,omitempty"`
	Kind    Kind              `json:"kind"`
	ID      string            `json:"id"`
	Created time.Time         `json:"created"`
	Labels  map[string]string `json:"labels,omitempty"`
	// Size is the limit, in bytes, of an active snapshot's own files
	// (and, through the inodes of its filesystem, of their number); 0
	// for none.
	Size int64 `json:"size,omitempty"`
}

// MinSize is the smallest size limit (WithSize) a snapshot may have: an
// ext4 filesystem's journal and metadata take a few MiB of it.
const MinSize = 16 << 20

// Opt is an option of Prepare.
type Opt func(*prepareOpts)

type prepareOpts struct {
	size int64
}

// WithSize limits the snapshot's own files to bytes (at least MinSize;
// 0 is no limit), and their number to one per 16 KiB of it: they are
// kept in an ext4 filesystem of that size, on a loop device.
func WithSize(bytes int64) Opt {
	return func(o *prepareOpts) { o.size = bytes }
}

// ParseStorageOpts turns a container's storage options (docker run
// --storage-opt) into Prepare options. The one known key is "size"
// ("64M", "1G": binary units, as docker parses them).
func ParseStorageOpts(m map[string]string) ([]Opt, error) {
	var opts []Opt
	for _, k := range slices.Sorted(maps.Keys(m)) {
		v := m[k]
		switch strings.ToLower(k) {
		case "size":
			n, err := units.RAMInBytes(strings.TrimSpace(v))
			if err != nil {
				return nil, fmt.Errorf("storage option size=%q: %v: %w", v, err, errdefs.ErrInvalidArgument)
			}
			switch {
			case n < 0: // past int64
				return nil, fmt.Errorf("storage option size=%q: too large: %w", v, errdefs.ErrInvalidArgument)
			case n < MinSize: // 0 too: a limit was asked for
				return nil, fmt.Errorf("storage option size=%q: %w", v, tooSmall(n))
			}
			opts = append(opts, WithSize(n))
		default:
			return nil, fmt.Errorf("storage option %q is not supported (only size is): %w", k, errdefs.ErrInvalidArgument)
		}
	}
	return opts, nil
}

// checkSize checks a size limit; 0 is none.
func checkSize(n int64) error {
	if n < 0 {
		return fmt.Errorf("size %d is out of range: %w", n, errdefs.ErrInvalidArgument)
	}
	if n > 0 && n < MinSize {
		return tooSmall(n)
	}
	return nil
}

func tooSmall(n int64) error {
	return fmt.Errorf("size %d is less than the minimum of %s: %w", n, units.BytesSize(MinSize), errdefs.ErrInvalidArgument)
}

// Usage is the disk space a snapshot's own files take (not its parents').
type Usage struct {
	Size   int64 // bytes, by allocated blocks
	Inodes int64
}

// Snapshotter manages snapshots. Keys are any strings (image layers use
// their chain ID, containers their ID).
type Snapshotter interface {
	// Prepare makes a writable snapshot on parent ("" for an empty one)
	// and returns its mounts.
	Prepare(ctx context.Context, key, parent string, opts ...Opt) ([]mount.Mount, error)
	// View makes a read-only snapshot of parent.
	View(ctx context.Context, key, parent string) ([]mount.Mount, error)
	// Mounts returns the mounts of an active or view snapshot.
	Mounts(ctx context.Context, key string) ([]mount.Mount, error)
	// Commit turns the active snapshot key into the committed snapshot
	// name; key is gone afterwards. A size limit does not carry over.
	Commit(ctx context.Context, name, key string) error
	// Remove deletes a snapshot; one with children is FailedPrecondition
	// (errdefs.ErrConflict).
	Remove(ctx context.Context, key string) error
	// Stat describes a snapshot.
	Stat(ctx context.Context, key string) (Info, error)
	// Walk calls fn for every snapshot.
	Walk(ctx context.Context, fn func(Info) error) error
	// Usage measures a snapshot's own files.
	Usage(ctx context.Context, key string) (Usage, error)
	// Dir is where the snapshot's own files are (overlay's upper dir,
	// inside the loop filesystem of a snapshot with a size limit, which
	// it mounts if need be), for inspection from the host.
	Dir(ctx context.Context, key string) (string, error)
	// Cleanup unmounts and removes directories no snapshot owns (left
	// by a crash).
	Cleanup(ctx context.Context) error
	// Close releases the metadata store.
	Close() error
}
