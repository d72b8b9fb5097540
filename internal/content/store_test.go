package content

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hako-dev/hako/internal/errdefs"
	"github.com/opencontainers/go-digest"
)

func TestWriteReadDelete(t *testing.T) {
	ctx := context.Background()
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("hello, layer")
	d := digest.FromBytes(data)
	if err := s.WriteBlob(ctx, bytes.NewReader(data), d, int64(len(data))); err != nil {
		t.Fatal(err)
	}
	got, err := s.ReadAll(d)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back %q %v", got, err)
	}
	p, _ := s.BlobPath(d)
	if p != filepath.Join(s.Root(), "blobs", "sha256", d.Encoded()) {
		t.Errorf("path %s", p)
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o444 {
		t.Errorf("blob mode %v", st.Mode())
	}
	if n, err := s.Info(d); err != nil || n != int64(len(data)) {
		t.Errorf("info %d %v", n, err)
	}
	// Writing it again is a no-op.
	if err := s.WriteBlob(ctx, bytes.NewReader(data), d, int64(len(data))); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Writer(ctx, "x", d, -1); !errdefs.IsAlreadyExists(err) {
		t.Errorf("writer for a stored blob: %v", err)
	}
	var seen []digest.Digest
	s.Walk(func(d digest.Digest, _ int64) error { seen = append(seen, d); return nil })
	if len(seen) != 1 || seen[0] != d {
		t.Errorf("walk: %v", seen)
	}
	if err := s.Delete(d); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Open(d); !errdefs.IsNotFound(err) {
		t.Errorf("open after delete: %v", err)
	}
	if err := s.Delete(d); !errdefs.IsNotFound(err) {
		t.Errorf("second delete: %v", err)
	}
}

// A blob whose digest or size lies is refused and nothing is stored.
func TestWrongDigestOrSize(t *testing.T) {
	ctx := context.Background()
	s, _ := Open(t.TempDir())
	data := []byte("real content")
	lie := digest.FromString("other content")
	err := s.WriteBlob(ctx, bytes.NewReader(data), lie, int64(len(data)))
	if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "expected "+lie.String()) {
		t.Fatalf("wrong digest: %v", err)
	}
	if s.Exists(lie) || s.Exists(digest.FromBytes(data)) {
		t.Fatal("a blob was stored")
	}
	err = s.WriteBlob(ctx, bytes.NewReader(data), digest.FromBytes(data), 5)
	if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "want 5") {
		t.Fatalf("wrong size: %v", err)
	}
	ents, _ := os.ReadDir(filepath.Join(s.Root(), "ingest"))
	if len(ents) != 0 {
		t.Errorf("ingests left: %v", ents)
	}
	if _, err := s.Writer(ctx, "x", "sha256:nothex", -1); !errdefs.IsInvalidArgument(err) {
		t.Errorf("bad digest: %v", err)
	}
}

// A writer that stops half way (a crash, a dropped connection) leaves an
// ingest the next writer with the same ref resumes.
func TestResume(t *testing.T) {
	ctx := context.Background()
	s, _ := Open(t.TempDir())
	data := bytes.Repeat([]byte("0123456789"), 1000)
	d := digest.FromBytes(data)
	w, err := s.Writer(ctx, "layer-1", d, int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	w.Write(data[:4000])
	// A second writer for the same ref is refused while the first is open.
	if _, err := s.Writer(ctx, "layer-1", d, int64(len(data))); !errdefs.IsUnavailable(err) {
		t.Fatalf("concurrent writer: %v", err)
	}
	w.Close()
	w, err = s.Writer(ctx, "layer-1", d, int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if w.Offset() != 4000 {
		t.Fatalf("offset %d", w.Offset())
	}
	w.Write(data[4000:])
	if err := w.Commit(ctx, -1, ""); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.ReadAll(d); !bytes.Equal(got, data) {
		t.Fatal("resumed blob differs")
	}
	// Cleanup removes abandoned ingests only.
	w2, _ := s.Writer(ctx, "abandoned", "", -1)
	w2.Write([]byte("x"))
	w2.Close()
	w3, _ := s.Writer(ctx, "active", "", -1)
	defer w3.Close()
	if err := s.Cleanup(); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(filepath.Join(s.Root(), "ingest"))
	if len(ents) != 1 || ents[0].Name() != ingestKey("active") {
		t.Errorf("after cleanup: %v", ents)
	}
}

func TestConcurrentWritersOfOneBlob(t *testing.T) {
	ctx := context.Background()
	s, _ := Open(t.TempDir())
	data := bytes.Repeat([]byte("x"), 1<<16)
	d := digest.FromBytes(data)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.WriteBlob(ctx, bytes.NewReader(data), d, int64(len(data)))
			// Losers of the ingest race are told to retry.
			if err != nil && !errdefs.IsUnavailable(err) {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got, err := s.ReadAll(d); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("blob: %v", err)
	}
}

func TestVerify(t *testing.T) {
	ctx := context.Background()
	s, _ := Open(t.TempDir())
	good, bad := []byte("good"), []byte("bad")
	s.WriteBlob(ctx, bytes.NewReader(good), digest.FromBytes(good), 4)
	s.WriteBlob(ctx, bytes.NewReader(bad), digest.FromBytes(bad), 3)
	p, _ := s.BlobPath(digest.FromBytes(bad))
	os.Chmod(p, 0o644)
	os.WriteFile(p, []byte("rot"), 0o644)
	removed, err := s.Verify(ctx)
	if err != nil || len(removed) != 1 || removed[0] != digest.FromBytes(bad) {
		t.Fatalf("verify: %v %v", removed, err)
	}
	if !s.Exists(digest.FromBytes(good)) || s.Exists(digest.FromBytes(bad)) {
		t.Error("wrong blob removed")
	}
}
