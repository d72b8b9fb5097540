// Package snapshot keeps the filesystems images and containers are made
// of: each image layer unpacked once into a committed snapshot, keyed by
// its chain ID, and each container's writable snapshot on top of its
// image's chain. Snapshotters describe mounts ([]mount.Mount) and never
// mount anything themselves, except to check that the kernel supports
// them.
//
// # On disk (inspectable from the host)
//
//	<root>/metadata.db         bbolt: key → {id, parent, kind}
//	<root>/snapshots/<id>/fs   the snapshot's files (overlay: its upper/layer dir)
//	<root>/snapshots/<id>/work overlay's work dir (active snapshots)
//
// A snapshot's directory is created before its record is committed and
// removed after its record is gone, so a crash leaves at worst an
// unreferenced directory, which Cleanup removes.
package snapshot

import (
	"context"
	"time"

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
	Prepare(ctx context.Context, key, parent string) ([]mount.Mount, error)
	// View makes a read-only snapshot of parent.
	View(ctx context.Context, key, parent string) ([]mount.Mount, error)
	// Mounts returns the mounts of an active or view snapshot.
	Mounts(ctx context.Context, key string) ([]mount.Mount, error)
	// Commit turns the active snapshot key into the committed snapshot
	// name; key is gone afterwards.
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
	// Dir is where the snapshot's own files are (overlay's upper dir),
	// for inspection from the host.
	Dir(ctx context.Context, key string) (string, error)
	// Cleanup removes directories no snapshot owns (left by a crash).
	Cleanup(ctx context.Context) error
	// Close releases the metadata store.
	Close() error
}
