package archive

import (
	"archive/tar"
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
)

// benchLayer writes (once, cached in the temp dir) a ~50 MB gzip layer of
// 8,000 small files in 200 directories and four large ones, and returns
// its path, so that `tar -xzf` can be timed on the same file.
func benchLayer(b *testing.B) string {
	b.Helper()
	path := filepath.Join(os.TempDir(), "hako-bench-layer-v1.tar.gz")
	if _, err := os.Stat(path); err == nil {
		return path
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		b.Fatal(err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	zw := gzip.NewWriter(bw)
	tw := tar.NewWriter(zw)
	src := rand.NewChaCha8([32]byte{'h', 'a', 'k', 'o'})
	rng := rand.New(src)
	words := strings.Fields("the quick brown fox jumps over a lazy dog while containers run on layered images and overlay mounts #include <stdio.h> int main return 0;")
	mtime := time.Unix(1700000000, 0)
	add := func(h *tar.Header, body []byte) {
		h.ModTime, h.Size = mtime, int64(len(body))
		if err := tw.WriteHeader(h); err != nil {
			b.Fatal(err)
		}
		tw.Write(body)
	}
	for d := range 200 {
		add(&tar.Header{Name: fmt.Sprintf("usr/share/d%03d/", d), Typeflag: tar.TypeDir, Mode: 0o755}, nil)
		for i := range 40 {
			var sb strings.Builder
			for n := 1024 + rng.IntN(11*1024); sb.Len() < n; {
				sb.WriteString(words[rng.IntN(len(words))])
				sb.WriteByte(' ')
				if rng.IntN(4) == 0 { // some entropy, like real binaries
					fmt.Fprintf(&sb, "%x", rng.Uint64())
				}
			}
			add(&tar.Header{Name: fmt.Sprintf("usr/share/d%03d/f%02d", d, i), Typeflag: tar.TypeReg, Mode: 0o644}, []byte(sb.String()))
		}
	}
	big := make([]byte, 8<<20)
	for i := range 4 {
		src.Read(big)
		add(&tar.Header{Name: fmt.Sprintf("opt/big%d.bin", i), Typeflag: tar.TypeReg, Mode: 0o755}, big)
	}
	if err := tw.Close(); err != nil {
		b.Fatal(err)
	}
	zw.Close()
	bw.Flush()
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		b.Fatal(err)
	}
	return path
}

// BenchmarkApply unpacks benchLayer; MB/s is of the compressed layer.
// Compare with: time tar -xzf /tmp/hako-bench-layer-v1.tar.gz -C DIR.
// HAKO_BENCH_DIR picks where to unpack (default /var/tmp).
func BenchmarkApply(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root (chown)")
	}
	path := benchLayer(b)
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(fi.Size())
	b.Logf("layer %s: %.1f MB", path, float64(fi.Size())/1e6)
	base := os.Getenv("HAKO_BENCH_DIR") // e.g. /dev/shm, to leave the disk out
	if base == "" {
		base = "/var/tmp"
	}
	var unpacked int64
	for b.Loop() {
		b.StopTimer()
		dir, err := os.MkdirTemp(base, "hako-bench-")
		if err != nil {
			b.Fatal(err)
		}
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		unpacked, err = Apply(context.Background(), dir, f, ApplyOptions{})
		b.StopTimer()
		f.Close()
		if err != nil {
			b.Fatal(err)
		}
		os.RemoveAll(dir)
		b.StartTimer()
	}
	b.ReportMetric(float64(unpacked)/1e6, "MB-unpacked")
}
