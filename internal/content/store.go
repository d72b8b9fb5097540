// Package content is a content-addressed blob store: image manifests,
// configs and layers, each stored once under its digest.
//
// # On disk
//
//	<root>/blobs/<alg>/<hex>     verified blobs, read-only (0444), as in an OCI layout
//	<root>/ingest/<key>/data     a blob being written; <key> is a hash of the writer's ref
//	<root>/ingest/<key>/ref      the ref, for humans
//	<root>/ingest/<key>/lock     held (flock) while a writer is open
//
// A blob reaches blobs/ only by rename(2) after its size and digest were
// checked and the data synced, so a crash never leaves a partial or wrong
// blob under a digest. An ingest left by a crash is resumed by the next
// writer with the same ref (the data so far is re-hashed), or removed by
// Cleanup.
package content

import (
	"context"
	"crypto/sha256"
	_ "crypto/sha512" // digest.SHA512
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/hako-dev/hako/internal/errdefs"
	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

// Store is a blob store rooted at a directory. It is safe for concurrent
// use, and for use by several processes.
type Store struct {
	root string
	mu   sync.Mutex
	open map[string]bool // ingest keys with a writer in this process
}

// Open returns the store at root, creating its directories.
func Open(root string) (*Store, error) {
	for _, d := range []string{"blobs", "ingest"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o711); err != nil {
			return nil, fmt.Errorf("content store: %w", err)
		}
	}
	return &Store{root: root, open: map[string]bool{}}, nil
}

// Root is the store's directory.
func (s *Store) Root() string { return s.root }

// BlobPath is where the blob d is (or would be) stored.
func (s *Store) BlobPath(d digest.Digest) (string, error) {
	if err := d.Validate(); err != nil {
		return "", fmt.Errorf("digest %q: %v: %w", d, err, errdefs.ErrInvalidArgument)
	}
	return filepath.Join(s.root, "blobs", d.Algorithm().String(), d.Encoded()), nil
}

// Info returns the size of blob d.
func (s *Store) Info(d digest.Digest) (int64, error) {
	p, err := s.BlobPath(d)
	if err != nil {
		return 0, err
	}
	st, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("blob %s: %w", d, errdefs.ErrNotFound)
	}
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

// Exists reports whether blob d is stored.
func (s *Store) Exists(d digest.Digest) bool {
	_, err := s.Info(d)
	return err == nil
}

// Open opens blob d for reading.
func (s *Store) Open(d digest.Digest) (*os.File, error) {
	p, err := s.BlobPath(d)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("blob %s: %w", d, errdefs.ErrNotFound)
	}
	return f, err
}

// ReadAll returns the content of a small blob (a manifest or config).
func (s *Store) ReadAll(d digest.Digest) ([]byte, error) {
	f, err := s.Open(d)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// Delete removes blob d. A missing blob is NotFound.
func (s *Store) Delete(d digest.Digest) error {
	p, err := s.BlobPath(d)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("blob %s: %w", d, errdefs.ErrNotFound)
		}
		return err
	}
	return nil
}

// Walk calls fn for every stored blob.
func (s *Store) Walk(fn func(d digest.Digest, size int64) error) error {
	algs, err := os.ReadDir(filepath.Join(s.root, "blobs"))
	if err != nil {
		return err
	}
	for _, a := range algs {
		ents, err := os.ReadDir(filepath.Join(s.root, "blobs", a.Name()))
		if err != nil {
			return err
		}
		for _, e := range ents {
			d := digest.NewDigestFromEncoded(digest.Algorithm(a.Name()), e.Name())
			if d.Validate() != nil {
				continue
			}
			info, err := e.Info()
			if err != nil {
				continue
			}
			if err := fn(d, info.Size()); err != nil {
				return err
			}
		}
	}
	return nil
}

// Verify re-hashes every blob and removes those whose content does not
// match their name (disk corruption, a hand edit). It returns the removed
// digests.
func (s *Store) Verify(ctx context.Context) ([]digest.Digest, error) {
	var bad []digest.Digest
	err := s.Walk(func(d digest.Digest, _ int64) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		f, err := s.Open(d)
		if err != nil {
			return err
		}
		v := d.Verifier()
		_, err = io.Copy(v, f)
		f.Close()
		if err != nil {
			return fmt.Errorf("verify %s: %w", d, err)
		}
		if !v.Verified() {
			bad = append(bad, d)
			return s.Delete(d)
		}
		return nil
	})
	return bad, err
}

// Cleanup removes ingests no writer holds (left by a crash). Call it when
// no resume is wanted, for example at daemon start.
func (s *Store) Cleanup() error {
	ents, err := os.ReadDir(filepath.Join(s.root, "ingest"))
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range ents {
		dir := filepath.Join(s.root, "ingest", e.Name())
		lock, err := lockIngest(dir, false)
		if err != nil {
			continue // in use
		}
		errs = append(errs, os.RemoveAll(dir))
		lock.Close()
	}
	return errors.Join(errs...)
}

// ingestKey names the ingest directory of ref.
func ingestKey(ref string) string {
	h := sha256.Sum256([]byte(ref))
	return hex.EncodeToString(h[:16])
}

// lockIngest takes the ingest's lock without blocking.
func lockIngest(dir string, create bool) (*os.File, error) {
	if create {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
	}
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
