package archive

import (
	"bufio"
	"bytes"
	"fmt"
	"io"

	"github.com/hako-dev/hako/internal/errdefs"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Compression is how a layer stream is compressed.
type Compression int

const (
	// Uncompressed is a plain tar stream
	// (application/vnd.oci.image.layer.v1.tar).
	Uncompressed Compression = iota
	// Gzip is a gzip stream (…layer.v1.tar+gzip), possibly multi-member.
	Gzip
	// Zstd is a zstd stream (…layer.v1.tar+zstd), possibly with skippable
	// frames (zstd:chunked).
	Zstd
)

func (c Compression) String() string {
	switch c {
	case Uncompressed:
		return "uncompressed"
	case Gzip:
		return "gzip"
	case Zstd:
		return "zstd"
	}
	return fmt.Sprintf("compression(%d)", int(c))
}

// detectLen is how many leading bytes DetectCompression wants: a whole tar
// header block, so an uncompressed stream can be recognised by its ustar
// magic or its checksum.
const detectLen = 512

var (
	gzipMagic = []byte{0x1f, 0x8b}
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
	// Formats a layer must not use, named in the error so that the user
	// knows what they fed us.
	otherMagics = []struct {
		magic []byte
		name  string
	}{
		{[]byte("BZh"), "bzip2"},
		{[]byte{0xfd, '7', 'z', 'X', 'Z', 0x00}, "xz"},
		{[]byte{0x04, 0x22, 0x4d, 0x18}, "lz4"},
		{[]byte("PK\x03\x04"), "zip"},
	}
)

// DetectCompression tells by its first bytes how a layer stream is
// compressed. head should hold the stream's first 512 bytes (fewer only if
// the stream is shorter). Anything that is neither gzip, zstd nor a tar
// header is an error naming the bytes it saw.
func DetectCompression(head []byte) (Compression, error) {
	switch {
	case len(head) == 0:
		return 0, fmt.Errorf("layer: empty stream: %w", errdefs.ErrInvalidArgument)
	case bytes.HasPrefix(head, gzipMagic):
		return Gzip, nil
	case bytes.HasPrefix(head, zstdMagic), isZstdSkippable(head):
		return Zstd, nil
	case isTarHeader(head):
		return Uncompressed, nil
	}
	for _, m := range otherMagics {
		if bytes.HasPrefix(head, m.magic) {
			return 0, fmt.Errorf("layer: unknown compression (first bytes %#x look like %s; OCI layers are tar, tar+gzip or tar+zstd): %w",
				head[:min(len(head), 8)], m.name, errdefs.ErrInvalidArgument)
		}
	}
	n := min(len(head), 8)
	return 0, fmt.Errorf("layer: unknown compression (first bytes %#x): %w", head[:n], errdefs.ErrInvalidArgument)
}

// isZstdSkippable reports a zstd skippable frame (magic 0x184D2A50–5F,
// little endian), which may open a zstd:chunked layer.
func isZstdSkippable(b []byte) bool {
	return len(b) >= 4 && b[0]&0xf0 == 0x50 && b[1] == 0x2a && b[2] == 0x4d && b[3] == 0x18
}

// isTarHeader reports whether b starts with a tar header block: one with
// the ustar (POSIX or GNU) magic, an old v7 header whose checksum holds, or
// the all-zero block that ends an archive (an empty layer).
func isTarHeader(b []byte) bool {
	if len(b) < detectLen {
		return false
	}
	b = b[:detectLen]
	if string(b[257:262]) == "ustar" {
		return true
	}
	if bytes.Count(b, []byte{0}) == detectLen {
		return true
	}
	// v7: the checksum field is octal, and equals the byte sum of the
	// header with the field itself counted as spaces.
	field := bytes.Trim(b[148:156], " \x00")
	if len(field) == 0 {
		return false
	}
	var want int64
	for _, c := range field {
		if c < '0' || c > '7' {
			return false
		}
		want = want*8 + int64(c-'0')
	}
	var sum int64
	for i, c := range b {
		if i >= 148 && i < 156 {
			c = ' '
		}
		sum += int64(c)
	}
	return sum == want
}

// zstdMaxWindow bounds the memory a hostile zstd frame can make us
// allocate: 128 MiB covers `zstd --long` (window log 27).
const zstdMaxWindow = 1 << 27

// Decompress returns the tar stream inside r, detecting its compression by
// its magic bytes. Closing the result releases the decompressor, not r.
func Decompress(r io.Reader) (io.ReadCloser, Compression, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(detectLen)
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		return nil, 0, fmt.Errorf("layer: read: %w", err)
	}
	c, err := DetectCompression(head)
	if err != nil {
		return nil, 0, err
	}
	switch c {
	case Gzip:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, c, fmt.Errorf("layer: gzip: %w", err)
		}
		return zr, c, nil
	case Zstd:
		zr, err := zstd.NewReader(br, zstd.WithDecoderMaxWindow(zstdMaxWindow))
		if err != nil {
			return nil, c, fmt.Errorf("layer: zstd: %w", err)
		}
		return zstdReadCloser{zr}, c, nil
	}
	return io.NopCloser(br), c, nil
}

// zstdReadCloser adapts a zstd.Decoder, whose Close returns nothing.
type zstdReadCloser struct{ *zstd.Decoder }

func (z zstdReadCloser) Close() error { z.Decoder.Close(); return nil }
