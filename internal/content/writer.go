package content

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/hako-dev/hako/internal/errdefs"
	"github.com/opencontainers/go-digest"
)

// Writer streams one blob into the store. Write, then Commit; Close
// releases the ingest without committing (its data stays for a resume).
type Writer struct {
	s        *Store
	key, dir string
	lock     *os.File
	f        *os.File
	h        hash.Hash
	alg      digest.Algorithm
	offset   int64
	expected digest.Digest
	size     int64
	closed   bool
}

// Writer opens an ingest for ref (any string naming the download, such
// as the layer's digest). expected and size, when known (not "" and not
// negative), are checked at Commit. If blob expected is already stored,
// the error is AlreadyExists: there is nothing to write. If another writer
// holds ref, the error is Unavailable. An ingest left with ref by a crash
// is resumed: Offset tells how much is already there.
func (s *Store) Writer(ctx context.Context, ref string, expected digest.Digest, size int64) (_ *Writer, retErr error) {
	alg := digest.Canonical
	if expected != "" {
		if err := expected.Validate(); err != nil {
			return nil, fmt.Errorf("digest %q: %v: %w", expected, err, errdefs.ErrInvalidArgument)
		}
		if s.Exists(expected) {
			return nil, fmt.Errorf("blob %s: %w", expected, errdefs.ErrAlreadyExists)
		}
		alg = expected.Algorithm()
	}
	key := ingestKey(ref)
	s.mu.Lock()
	if s.open[key] {
		s.mu.Unlock()
		return nil, fmt.Errorf("ingest %q: another writer is active: %w", ref, errdefs.ErrUnavailable)
	}
	s.open[key] = true
	s.mu.Unlock()
	dir := filepath.Join(s.root, "ingest", key)
	w := &Writer{s: s, key: key, dir: dir, alg: alg, h: alg.Hash(), expected: expected, size: size}
	defer func() {
		if retErr != nil {
			w.release()
		}
	}()
	lock, err := lockIngest(dir, true)
	if err != nil {
		return nil, fmt.Errorf("ingest %q: another process is writing it: %w", ref, errdefs.ErrUnavailable)
	}
	w.lock = lock
	if err := os.WriteFile(filepath.Join(dir, "ref"), []byte(ref), 0o600); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, "data"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	w.f = f
	// Resume: hash what a crashed writer left, and append after it.
	n, err := io.Copy(w.h, f)
	if err != nil {
		return nil, fmt.Errorf("ingest %q: resume: %w", ref, err)
	}
	w.offset = n
	return w, nil
}

// Offset is how many bytes the ingest holds.
func (w *Writer) Offset() int64 { return w.offset }

// Truncate discards the ingest's data beyond n (0 restarts it).
func (w *Writer) Truncate(n int64) error {
	if n > w.offset {
		return fmt.Errorf("truncate to %d beyond offset %d: %w", n, w.offset, errdefs.ErrInvalidArgument)
	}
	if err := w.f.Truncate(n); err != nil {
		return err
	}
	if _, err := w.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	w.h.Reset()
	if _, err := io.CopyN(w.h, w.f, n); err != nil {
		return err
	}
	w.offset = n
	return nil
}

// Write appends p to the blob.
func (w *Writer) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.h.Write(p[:n])
	w.offset += int64(n)
	return n, err
}

// Digest is the digest of what was written so far.
func (w *Writer) Digest() digest.Digest { return digest.NewDigest(w.alg, w.h) }

// Commit checks the blob against the expected size and digest (those given
// to Writer, overridden by a size >= 0 and a digest != "" here), syncs it and moves it
// under its digest. A mismatch is InvalidArgument and discards the data;
// nothing is stored. If the blob appeared meanwhile (another writer won),
// Commit succeeds. The writer is closed either way.
func (w *Writer) Commit(ctx context.Context, size int64, expected digest.Digest) (retErr error) {
	defer w.release()
	if size >= 0 {
		w.size = size
	}
	if expected != "" {
		w.expected = expected
	}
	got := w.Digest()
	if w.size >= 0 && w.offset != w.size {
		os.RemoveAll(w.dir)
		return fmt.Errorf("blob %s: got %d bytes, want %d: %w", orUnknown(w.expected), w.offset, w.size, errdefs.ErrInvalidArgument)
	}
	if w.expected != "" && got != w.expected {
		os.RemoveAll(w.dir)
		return fmt.Errorf("blob digest mismatch: expected %s, got %s: %w", w.expected, got, errdefs.ErrInvalidArgument)
	}
	if err := w.f.Sync(); err != nil {
		return err
	}
	if err := w.f.Chmod(0o444); err != nil {
		return err
	}
	target, err := w.s.BlobPath(got)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o711); err != nil {
		return err
	}
	if _, err := os.Stat(target); err == nil {
		os.RemoveAll(w.dir)
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.Rename(filepath.Join(w.dir, "data"), target); err != nil {
		return err
	}
	syncDir(filepath.Dir(target))
	os.RemoveAll(w.dir)
	return nil
}

func orUnknown(d digest.Digest) string {
	if d == "" {
		return "(unknown digest)"
	}
	return d.String()
}

// Close releases the writer without committing; the data stays for a
// later writer with the same ref to resume.
func (w *Writer) Close() error {
	w.release()
	return nil
}

func (w *Writer) release() {
	if w.closed {
		return
	}
	w.closed = true
	if w.f != nil {
		w.f.Close()
	}
	if w.lock != nil {
		w.lock.Close()
	}
	w.s.mu.Lock()
	delete(w.s.open, w.key)
	w.s.mu.Unlock()
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// WriteBlob stores the content of r, which must have the given digest and
// size (size < 0: unknown). A blob already stored is not an error.
func (s *Store) WriteBlob(ctx context.Context, r io.Reader, expected digest.Digest, size int64) error {
	ref := string(expected)
	if ref == "" {
		var b [8]byte
		rand.Read(b[:])
		ref = "anonymous-" + hex.EncodeToString(b[:])
	}
	w, err := s.Writer(ctx, ref, expected, size)
	if errdefs.IsAlreadyExists(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if w.Offset() > 0 {
		if err := w.Truncate(0); err != nil {
			w.Close()
			return err
		}
	}
	if _, err := io.Copy(w, r); err != nil {
		w.Close()
		return err
	}
	return w.Commit(ctx, size, expected)
}
