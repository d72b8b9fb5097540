package archive

import (
	"archive/tar"
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/hako-dev/hako/internal/errdefs"
)

func TestDetectCompression(t *testing.T) {
	plain := layer(t, ent{name: "f", body: "x"})
	v7 := make([]byte, 512)
	copy(v7, "file")
	copy(v7[100:], "0000644\x00")
	copy(v7[124:], "00000000000\x00")
	var sum int
	for i, c := range v7 {
		if i >= 148 && i < 156 {
			c = ' '
		}
		sum += int(c)
	}
	copy(v7[148:], []byte(strings.Repeat("0", 6-len(itoa8(sum)))+itoa8(sum)+"\x00 "))
	for _, tc := range []struct {
		name string
		head []byte
		want Compression
		err  string
	}{
		{"tar", plain, Uncompressed, ""},
		{"empty tar", make([]byte, 1024), Uncompressed, ""},
		{"v7 tar", v7, Uncompressed, ""},
		{"gzip", gz(plain), Gzip, ""},
		{"zstd", zst(plain), Zstd, ""},
		{"zstd skippable frame", []byte{0x50, 0x2a, 0x4d, 0x18, 0, 0, 0, 0}, Zstd, ""},
		{"empty", nil, 0, "empty stream"},
		{"xz", []byte("\xfd7zXZ\x00rest"), 0, "look like xz"},
		{"bzip2", []byte("BZh91AY&SY"), 0, "look like bzip2"},
		{"text", []byte("hello, world"), 0, "unknown compression (first bytes 0x68656c6c6f2c2077)"},
		{"short tar", plain[:300], 0, "unknown compression"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			head := tc.head
			if len(head) > detectLen {
				head = head[:detectLen]
			}
			got, err := DetectCompression(head)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !errdefs.IsInvalidArgument(err) {
					t.Fatalf("got %v, %v; want an invalid-argument error about %q", got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func itoa8(n int) string {
	var b []byte
	for ; n > 0; n /= 8 {
		b = append([]byte{byte('0' + n%8)}, b...)
	}
	return string(b)
}

func TestDecompress(t *testing.T) {
	plain := layer(t, ent{name: "f", body: strings.Repeat("hako ", 1000)})
	multi := append(gz(plain[:1000]), gz(plain[1000:])...) // multi-member gzip
	for name, data := range map[string][]byte{"tar": plain, "gzip": gz(plain), "zstd": zst(plain), "multi-member gzip": multi} {
		t.Run(name, func(t *testing.T) {
			rc, _, err := Decompress(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			got, err := io.ReadAll(rc)
			if err != nil || !bytes.Equal(got, plain) {
				t.Fatalf("round trip: %d bytes, %v", len(got), err)
			}
			if _, err := tar.NewReader(bytes.NewReader(got)).Next(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
