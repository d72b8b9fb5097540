package snapshot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hako-dev/hako/internal/errdefs"
	"github.com/hako-dev/hako/internal/mount"
	bolt "go.etcd.io/bbolt"
)

var bucket = []byte("snapshots")

// store is the snapshotter of both drivers: they differ in how a
// snapshot gets its parent's files (overlay stacks, vfs copies) and in
// the mounts they describe.
type store struct {
	root    string
	db      *bolt.DB
	overlay bool
	// mu orders making, mounting, unmounting and removing snapshot
	// directories (the loop filesystems of snapshots with a size) and
	// Cleanup.
	mu sync.Mutex
}

// NewOverlay returns the overlay snapshotter rooted at root. Check
// OverlaySupported first.
func NewOverlay(root string) (Snapshotter, error) { return open(root, true) }

// NewVFS returns the vfs snapshotter (full copies; works everywhere).
func NewVFS(root string) (Snapshotter, error) { return open(root, false) }

func open(root string, overlay bool) (*store, error) {
	if err := os.MkdirAll(filepath.Join(root, "snapshots"), 0o700); err != nil {
		return nil, fmt.Errorf("snapshotter: %w", err)
	}
	db, err := bolt.Open(filepath.Join(root, "metadata.db"), 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("snapshotter metadata: %w", err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucket)
		return err
	}); err != nil {
		db.Close()
		return nil, err
	}
	return &store{root: root, db: db, overlay: overlay}, nil
}

func (s *store) Close() error { return s.db.Close() }

func (s *store) dir(id string) string { return filepath.Join(s.root, "snapshots", id) }

// filesDir is where snapshot i's own files are (overlay's upper dir).
func (s *store) filesDir(i Info) string {
	if i.Size > 0 {
		return filepath.Join(s.dir(i.ID), quotaName, "fs")
	}
	return filepath.Join(s.dir(i.ID), "fs")
}

// workDir is overlay's work dir of the active snapshot i.
func (s *store) workDir(i Info) string {
	if i.Size > 0 {
		return filepath.Join(s.dir(i.ID), quotaName, "work")
	}
	return filepath.Join(s.dir(i.ID), "work")
}

func get(tx *bolt.Tx, key string) (Info, error) {
	b := tx.Bucket(bucket).Get([]byte(key))
	if b == nil {
		return Info{}, fmt.Errorf("snapshot %q: %w", key, errdefs.ErrNotFound)
	}
	var i Info
	err := json.Unmarshal(b, &i)
	return i, err
}

func put(tx *bolt.Tx, i Info) error {
	b, err := json.Marshal(i)
	if err != nil {
		return err
	}
	return tx.Bucket(bucket).Put([]byte(i.Key), b)
}

// chain returns the ids of key's committed ancestors, nearest first.
func chain(tx *bolt.Tx, parent string) ([]string, error) {
	var ids []string
	for p := parent; p != ""; {
		i, err := get(tx, p)
		if err != nil {
			return nil, fmt.Errorf("parent: %w", err)
		}
		if i.Kind != Committed {
			return nil, fmt.Errorf("parent %q is not committed: %w", p, errdefs.ErrInvalidArgument)
		}
		ids = append(ids, i.ID)
		p = i.Parent
	}
	return ids, nil
}

func (s *store) Prepare(ctx context.Context, key, parent string, opts ...Opt) ([]mount.Mount, error) {
	var o prepareOpts
	for _, opt := range opts {
		opt(&o)
	}
	if err := checkSize(o.size); err != nil {
		return nil, fmt.Errorf("snapshot %q: %w", key, err)
	}
	return s.create(ctx, key, parent, Active, o.size)
}

func (s *store) View(ctx context.Context, key, parent string) ([]mount.Mount, error) {
	return s.create(ctx, key, parent, View, 0)
}

func (s *store) create(ctx context.Context, key, parent string, kind Kind, size int64) (_ []mount.Mount, retErr error) {
	if key == "" {
		return nil, fmt.Errorf("snapshot key is empty: %w", errdefs.ErrInvalidArgument)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var parents []string
	var info Info
	err := s.db.Update(func(tx *bolt.Tx) error {
		if _, err := get(tx, key); err == nil {
			return fmt.Errorf("snapshot %q: %w", key, errdefs.ErrAlreadyExists)
		}
		var err error
		if parents, err = chain(tx, parent); err != nil {
			return err
		}
		n, err := tx.Bucket(bucket).NextSequence()
		if err != nil {
			return err
		}
		info = Info{Key: key, Parent: parent, Kind: kind, ID: strconv.FormatUint(n, 10), Created: time.Now().UTC(), Size: size}
		dir := s.dir(info.ID)
		// A directory of a new id is an orphan: its record was never
		// committed (a crash since the last Cleanup).
		if err := s.removeDir(info.ID); err != nil {
			return err
		}
		// The directory exists before the record does (see the package
		// doc), with its size limit filesystem mounted.
		if size > 0 {
			if err := os.Mkdir(dir, 0o755); err != nil {
				return err
			}
			if err := makeQuotaFS(ctx, dir, size, s.overlay); err != nil {
				return fmt.Errorf("snapshot %q: size limit: %w", key, err)
			}
		} else {
			if err := os.MkdirAll(filepath.Join(dir, "fs"), 0o755); err != nil {
				return err
			}
			if s.overlay && kind == Active {
				if err := os.Mkdir(filepath.Join(dir, "work"), 0o700); err != nil {
					return err
				}
			}
		}
		if !s.overlay && kind == Active && len(parents) > 0 {
			if err := copyTree(filepath.Join(s.dir(parents[0]), "fs"), s.filesDir(info), false); err != nil {
				if size > 0 && errors.Is(err, syscall.ENOSPC) {
					return fmt.Errorf("copy parent %q into a size limit of %d bytes: %w", parent, size, err)
				}
				return fmt.Errorf("copy parent %q: %w", parent, err)
			}
			if size > 0 {
				if err := syncFS(s.filesDir(info)); err != nil {
					return err
				}
			}
		}
		return put(tx, info)
	})
	if err != nil {
		if info.ID != "" {
			s.removeDir(info.ID)
		}
		return nil, err
	}
	return s.mounts(info, parents), nil
}

// removeDir unmounts and removes snapshot id's directory. If its loop
// filesystem cannot be unmounted, it leaves the directory: removing it
// would empty that filesystem and fail anyway.
func (s *store) removeDir(id string) error {
	if err := unmount(filepath.Join(s.dir(id), quotaName)); err != nil {
		return err
	}
	return removeAll(s.dir(id))
}

// mountQuota mounts the loop filesystem of snapshot key, which has a
// size, unless it is mounted (it is not after a reboot).
func (s *store) mountQuota(key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	// Again under mu: Remove may have removed it since.
	var i Info
	if err := s.db.View(func(tx *bolt.Tx) (err error) { i, err = get(tx, key); return err }); err != nil {
		return err
	}
	return s.mountQuotaLocked(i)
}

func (s *store) mountQuotaLocked(i Info) error {
	if i.Size == 0 {
		return nil
	}
	q := filepath.Join(s.dir(i.ID), quotaName)
	if !mount.IsMountPoint(q) {
		if err := mountImage(filepath.Join(s.dir(i.ID), imageName), q); err != nil {
			return fmt.Errorf("snapshot %q: size limit filesystem: %w", i.Key, err)
		}
	}
	if _, err := os.Stat(s.filesDir(i)); err != nil {
		return fmt.Errorf("snapshot %q: size limit filesystem: %w", i.Key, err)
	}
	return nil
}

// mounts describes how to mount snapshot i with the given ancestors.
func (s *store) mounts(i Info, parents []string) []mount.Mount {
	fsDir := s.filesDir(i)
	ro := i.Kind != Active
	if !s.overlay {
		if ro && len(parents) > 0 {
			fsDir = filepath.Join(s.dir(parents[0]), "fs")
		}
		return []mount.Mount{bind(fsDir, ro)}
	}
	if len(parents) == 0 {
		return []mount.Mount{bind(fsDir, ro)}
	}
	if ro && len(parents) == 1 {
		return []mount.Mount{bind(filepath.Join(s.dir(parents[0]), "fs"), true)}
	}
	var lowers []string
	for _, p := range parents {
		lowers = append(lowers, filepath.Join(s.dir(p), "fs"))
	}
	opts := []string{"index=off"}
	if ro {
		opts = append(opts, "ro", "lowerdir="+strings.Join(lowers, ":"))
	} else {
		opts = append(opts, "lowerdir="+strings.Join(lowers, ":"), "upperdir="+fsDir, "workdir="+s.workDir(i))
	}
	return []mount.Mount{{Type: "overlay", Source: "overlay", Options: opts}}
}

func bind(dir string, ro bool) mount.Mount {
	opts := []string{"rbind"}
	if ro {
		opts = append(opts, "ro")
	} else {
		opts = append(opts, "rw")
	}
	return mount.Mount{Type: "bind", Source: dir, Options: opts}
}

func (s *store) Mounts(ctx context.Context, key string) ([]mount.Mount, error) {
	var i Info
	var parents []string
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		if i, err = get(tx, key); err != nil {
			return err
		}
		if i.Kind == Committed {
			return fmt.Errorf("snapshot %q is committed: view it instead: %w", key, errdefs.ErrInvalidArgument)
		}
		parents, err = chain(tx, i.Parent)
		return err
	})
	if err != nil {
		return nil, err
	}
	if i.Size > 0 {
		if err := s.mountQuota(key); err != nil {
			return nil, err
		}
	}
	return s.mounts(i, parents), nil
}

func (s *store) Commit(ctx context.Context, name, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	check := func(tx *bolt.Tx) (Info, error) {
		i, err := get(tx, key)
		if err != nil {
			return i, err
		}
		if i.Kind != Active {
			return i, fmt.Errorf("snapshot %q is %s, not active: %w", key, i.Kind, errdefs.ErrInvalidArgument)
		}
		if _, err := get(tx, name); err == nil {
			return i, fmt.Errorf("snapshot %q: %w", name, errdefs.ErrAlreadyExists)
		}
		return i, nil
	}
	var i Info
	if err := s.db.View(func(tx *bolt.Tx) (err error) { i, err = check(tx); return err }); err != nil {
		return err
	}
	// A snapshot with a size has its files copied out of its loop
	// filesystem, to <id>/fs: a committed snapshot is a plain directory,
	// which may be the parent of many.
	fsDir := filepath.Join(s.dir(i.ID), "fs")
	if i.Size > 0 {
		if err := s.mountQuotaLocked(i); err != nil {
			return err
		}
		// An fs dir now is what a crashed Commit left.
		if err := removeAll(fsDir); err != nil {
			return err
		}
		if err := os.Mkdir(fsDir, 0o755); err != nil {
			return err
		}
		if err := copyTree(s.filesDir(i), fsDir, true); err != nil {
			removeAll(fsDir)
			return fmt.Errorf("commit %q: copy its files out of its size limit filesystem: %w", key, err)
		}
		// On disk before the image they come from goes.
		if err := syncFS(fsDir); err != nil {
			removeAll(fsDir)
			return err
		}
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		if _, err := check(tx); err != nil {
			return err
		}
		if err := tx.Bucket(bucket).Delete([]byte(key)); err != nil {
			return err
		}
		c := i
		c.Key, c.Kind, c.Size = name, Committed, 0
		return put(tx, c)
	})
	if err != nil {
		if i.Size > 0 {
			removeAll(fsDir)
		}
		return err
	}
	os.RemoveAll(filepath.Join(s.dir(i.ID), "work"))
	if i.Size > 0 {
		// What is left here, Cleanup removes.
		s.dropQuota(i.ID)
	}
	return nil
}

// dropQuota unmounts and removes the loop filesystem and image of
// snapshot id, which has no size (any more).
func (s *store) dropQuota(id string) error {
	q := filepath.Join(s.dir(id), quotaName)
	if err := unmount(q); err != nil {
		return err
	}
	if err := removeAll(q); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(s.dir(id), imageName)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

func (s *store) Remove(ctx context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var id string
	err := s.db.Update(func(tx *bolt.Tx) error {
		i, err := get(tx, key)
		if err != nil {
			return err
		}
		c := tx.Bucket(bucket).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			var o Info
			if json.Unmarshal(v, &o) == nil && o.Parent == key {
				return fmt.Errorf("snapshot %q has children (%q): %w", key, o.Key, errdefs.ErrConflict)
			}
		}
		id = i.ID
		return tx.Bucket(bucket).Delete([]byte(key))
	})
	if err != nil {
		return err
	}
	// The record is gone first: a crash now leaves an orphan directory
	// (maybe with its loop filesystem mounted).
	return s.removeDir(id)
}

func (s *store) Stat(ctx context.Context, key string) (Info, error) {
	var i Info
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		i, err = get(tx, key)
		return err
	})
	return i, err
}

func (s *store) Walk(ctx context.Context, fn func(Info) error) error {
	var all []Info
	if err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).ForEach(func(k, v []byte) error {
			var i Info
			if err := json.Unmarshal(v, &i); err != nil {
				return err
			}
			all = append(all, i)
			return nil
		})
	}); err != nil {
		return err
	}
	for _, i := range all {
		if err := fn(i); err != nil {
			return err
		}
	}
	return nil
}

func (s *store) Dir(ctx context.Context, key string) (string, error) {
	i, err := s.Stat(ctx, key)
	if err != nil {
		return "", err
	}
	if i.Size > 0 {
		if err := s.mountQuota(key); err != nil {
			return "", err
		}
	}
	return s.filesDir(i), nil
}

func (s *store) Usage(ctx context.Context, key string) (Usage, error) {
	dir, err := s.Dir(ctx, key)
	if err != nil {
		return Usage{}, err
	}
	return DirUsage(dir)
}

// DirUsage is the disk space (allocated blocks) and inodes of the tree at
// dir, a file with several links counted once.
func DirUsage(dir string) (Usage, error) {
	var u Usage
	seen := map[uint64]bool{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		st, ok := info.Sys().(*syscall.Stat_t)
		if !ok || seen[st.Ino] {
			return nil
		}
		seen[st.Ino] = true
		u.Inodes++
		u.Size += st.Blocks * 512
		return nil
	})
	return u, err
}

func (s *store) Cleanup(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	owned := map[string]Info{}
	if err := s.Walk(ctx, func(i Info) error { owned[i.ID] = i; return nil }); err != nil {
		return err
	}
	snaps := filepath.Join(s.root, "snapshots")
	real := realPath(snaps)
	idOf := func(p string) string {
		rel, err := filepath.Rel(real, p)
		if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
			return ""
		}
		id, _, _ := strings.Cut(rel, "/")
		return id
	}
	var errs []error
	// The loop filesystems of snapshots whose record a crash lost are
	// unmounted first (deepest first): removing their directories would
	// only empty them.
	busy := map[string]bool{}
	mps, err := mountPointsUnder(snaps)
	if err != nil {
		return err
	}
	for _, mp := range mps {
		if id := idOf(mp); id != "" {
			if _, ok := owned[id]; !ok {
				if err := unmount(mp); err != nil {
					errs = append(errs, err)
					busy[id] = true
				}
			}
		}
	}
	// A loop device left attached to an orphan's image without a mount
	// (a crash between LOOP_SET_FD and LOOP_SET_STATUS64).
	for dev, file := range loopsBackedUnder(snaps) {
		if id := idOf(file); id != "" {
			if _, ok := owned[id]; !ok {
				errs = append(errs, detachLoop(dev))
			}
		}
	}
	ents, err := os.ReadDir(snaps)
	if err != nil {
		return err
	}
	for _, e := range ents {
		i, ok := owned[e.Name()]
		switch {
		case !ok && !busy[e.Name()]:
			errs = append(errs, removeAll(s.dir(e.Name())))
		case ok && i.Size == 0:
			// What a Commit of a snapshot with a size left when it
			// crashed after its record.
			if _, err := os.Lstat(filepath.Join(s.dir(i.ID), imageName)); err == nil {
				errs = append(errs, s.dropQuota(i.ID))
			}
		}
	}
	return errors.Join(errs...)
}

// removeAll removes a snapshot directory, which may hold read-only
// directories (a layer's own modes).
func removeAll(dir string) error {
	err := os.RemoveAll(dir)
	if err == nil || errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o700)
		}
		return nil
	})
	return os.RemoveAll(dir)
}
