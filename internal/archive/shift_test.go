package archive

import (
	"archive/tar"
	"bytes"
	"io"
	"testing"
)

func TestShiftTar(t *testing.T) {
	var in bytes.Buffer
	tw := tar.NewWriter(&in)
	for _, h := range []*tar.Header{
		{Name: "d/", Typeflag: tar.TypeDir, Mode: 0o755, Uid: 100000, Gid: 100000},
		{Name: "d/f", Typeflag: tar.TypeReg, Mode: 0o644, Uid: 100007, Gid: 100005, Size: 3, Uname: "host", Gname: "host"},
		{Name: "d/outside", Typeflag: tar.TypeReg, Mode: 0o644, Uid: 5, Gid: 5},
	} {
		tw.WriteHeader(h)
		if h.Size > 0 {
			tw.Write([]byte("abc"))
		}
	}
	tw.Close()
	back := func(uid, gid int) (int, int) {
		if uid >= 100000 && uid < 165536 {
			uid -= 100000
		}
		if gid >= 100000 && gid < 165536 {
			gid -= 100000
		}
		return uid, gid
	}
	var out bytes.Buffer
	if err := ShiftTar(&out, &in, back); err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(&out)
	want := [][2]int{{0, 0}, {7, 5}, {5, 5}}
	for i := 0; ; i++ {
		h, err := tr.Next()
		if err == io.EOF {
			if i != 3 {
				t.Fatalf("%d entries", i)
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Uid != want[i][0] || h.Gid != want[i][1] || h.Uname != "" {
			t.Errorf("%s: %d:%d %q", h.Name, h.Uid, h.Gid, h.Uname)
		}
		if b, _ := io.ReadAll(tr); h.Size > 0 && string(b) != "abc" {
			t.Errorf("%s: body %q", h.Name, b)
		}
	}
	// A broken stream is an error.
	if err := ShiftTar(io.Discard, bytes.NewReader([]byte("not a tar at all, just bytes of some length that fills a block........................................................................................................................................................................................................................................................................................................................................................................................................................................................................................")), back); err == nil {
		t.Fatal("a broken stream passed")
	}
}
