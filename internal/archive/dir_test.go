package archive

import (
	"archive/tar"
	"bytes"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestWriteDir(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "a", "skip"), 0o755)
	os.WriteFile(filepath.Join(dir, "a", "f"), []byte("data"), 0o640)
	os.WriteFile(filepath.Join(dir, "a", "skip", "g"), nil, 0o644)
	os.Symlink("a/f", filepath.Join(dir, "link"))
	var buf bytes.Buffer
	if err := WriteDir(&buf, dir, func(rel string, d fs.DirEntry) bool { return rel == "a/skip" }); err != nil {
		t.Fatal(err)
	}
	var names []string
	tr := tar.NewReader(&buf)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		switch h.Name {
		case "a/f":
			b, _ := io.ReadAll(tr)
			if string(b) != "data" || h.Mode&0o777 != 0o640 || h.Uid != 0 {
				t.Errorf("a/f: %q mode %o uid %d", b, h.Mode, h.Uid)
			}
		case "link":
			if h.Typeflag != tar.TypeSymlink || h.Linkname != "a/f" {
				t.Errorf("link: %+v", h)
			}
		}
	}
	if want := []string{"a/", "a/f", "link"}; !slices.Equal(names, want) {
		t.Errorf("entries %q, want %q", names, want)
	}
}
