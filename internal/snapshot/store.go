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

func (s *store) Prepare(ctx context.Context, key, parent string) ([]mount.Mount, error) {
	return s.create(ctx, key, parent, Active)
}

func (s *store) View(ctx context.Context, key, parent string) ([]mount.Mount, error) {
	return s.create(ctx, key, parent, View)
}

func (s *store) create(ctx context.Context, key, parent string, kind Kind) (_ []mount.Mount, retErr error) {
	if key == "" {
		return nil, fmt.Errorf("snapshot key is empty: %w", errdefs.ErrInvalidArgument)
	}
	var parents []string
	var id string
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
		id = strconv.FormatUint(n, 10)
		dir := s.dir(id)
		// The directory exists before the record does (see the package doc).
		if err := os.MkdirAll(filepath.Join(dir, "fs"), 0o755); err != nil {
			return err
		}
		if s.overlay && kind == Active {
			if err := os.Mkdir(filepath.Join(dir, "work"), 0o700); err != nil {
				return err
			}
		}
		if !s.overlay && kind == Active && len(parents) > 0 {
			if err := copyTree(filepath.Join(s.dir(parents[0]), "fs"), filepath.Join(dir, "fs")); err != nil {
				os.RemoveAll(dir)
				return fmt.Errorf("copy parent %q: %w", parent, err)
			}
		}
		return put(tx, Info{Key: key, Parent: parent, Kind: kind, ID: id, Created: time.Now().UTC()})
	})
	if err != nil {
		if id != "" {
			os.RemoveAll(s.dir(id))
		}
		return nil, err
	}
	return s.mounts(id, kind, parents), nil
}

// mounts describes how to mount snapshot id with the given ancestors.
func (s *store) mounts(id string, kind Kind, parents []string) []mount.Mount {
	fsDir := filepath.Join(s.dir(id), "fs")
	ro := kind != Active
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
		opts = append(opts, "lowerdir="+strings.Join(lowers, ":"), "upperdir="+fsDir, "workdir="+filepath.Join(s.dir(id), "work"))
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
	var ms []mount.Mount
	err := s.db.View(func(tx *bolt.Tx) error {
		i, err := get(tx, key)
		if err != nil {
			return err
		}
		if i.Kind == Committed {
			return fmt.Errorf("snapshot %q is committed: view it instead: %w", key, errdefs.ErrInvalidArgument)
		}
		parents, err := chain(tx, i.Parent)
		if err != nil {
			return err
		}
		ms = s.mounts(i.ID, i.Kind, parents)
		return nil
	})
	return ms, err
}

func (s *store) Commit(ctx context.Context, name, key string) error {
	var workDir string
	err := s.db.Update(func(tx *bolt.Tx) error {
		i, err := get(tx, key)
		if err != nil {
			return err
		}
		if i.Kind != Active {
			return fmt.Errorf("snapshot %q is %s, not active: %w", key, i.Kind, errdefs.ErrInvalidArgument)
		}
		if _, err := get(tx, name); err == nil {
			return fmt.Errorf("snapshot %q: %w", name, errdefs.ErrAlreadyExists)
		}
		if err := tx.Bucket(bucket).Delete([]byte(key)); err != nil {
			return err
		}
		i.Key, i.Kind = name, Committed
		workDir = filepath.Join(s.dir(i.ID), "work")
		return put(tx, i)
	})
	if err == nil && workDir != "" {
		os.RemoveAll(workDir)
	}
	return err
}

func (s *store) Remove(ctx context.Context, key string) error {
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
	// The record is gone first: a crash now leaves an orphan directory.
	return removeAll(s.dir(id))
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
	return filepath.Join(s.dir(i.ID), "fs"), nil
}

func (s *store) Usage(ctx context.Context, key string) (Usage, error) {
	dir, err := s.Dir(ctx, key)
	if err != nil {
		return Usage{}, err
	}
	var u Usage
	seen := map[uint64]bool{}
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
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
	owned := map[string]bool{}
	if err := s.Walk(ctx, func(i Info) error { owned[i.ID] = true; return nil }); err != nil {
		return err
	}
	ents, err := os.ReadDir(filepath.Join(s.root, "snapshots"))
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range ents {
		if !owned[e.Name()] {
			errs = append(errs, removeAll(s.dir(e.Name())))
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
