package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hako-dev/hako/internal/errdefs"
	"golang.org/x/sys/unix"
)

// The image every diff test starts from: two layers.
func baseLayers(t *testing.T) [][]byte {
	return [][]byte{
		layer(t,
			ent{name: "etc/", typ: tar.TypeDir},
			ent{name: "etc/passwd", body: "root:x:0:0::/root:/bin/sh\n"},
			ent{name: "etc/hosts", body: "127.0.0.1 localhost\n"},
			ent{name: "bin/sh", body: "#!", mode: 0o755},
			ent{name: "opt/app/a.txt", body: "a"},
			ent{name: "opt/app/sub/b.txt", body: "b"},
			ent{name: "usr/lib/x", body: "x"},
			ent{name: "keep", body: "k"},
			ent{name: "mode.txt", body: "m"},
			ent{name: "owned", body: "o", uid: 1000, gid: 1000},
		),
		layer(t,
			ent{name: "usr/lib/.wh.x"},
			ent{name: "newinl1", body: "n"},
		),
	}
}

// mutate does to the container root what a container's processes would.
func mutate(t *testing.T, root string) {
	t.Helper()
	p := func(rel string) string { return filepath.Join(root, rel) }
	steps := []error{
		os.WriteFile(p("etc/hosts"), []byte("10.0.0.1 changed\n"), 0o644),
		os.WriteFile(p("etc/new"), []byte("new"), 0o644),
		os.Lchown(p("etc/new"), 1000, 1000),
		os.Remove(p("etc/passwd")),
		os.RemoveAll(p("opt/app")),
		os.Mkdir(p("opt/app"), 0o755),
		os.WriteFile(p("opt/app/c.txt"), []byte("c"), 0o644),
		os.Chmod(p("mode.txt"), 0o600),
		os.WriteFile(p("usr/lib/x"), []byte("x again"), 0o644),
		os.Mkdir(p("newdir"), 0o755),
		os.WriteFile(p("newdir/f"), []byte("linked"), 0o644),
		os.Link(p("newdir/f"), p("newdir/g")),
		unix.Mkfifo(p("newdir/fifo"), 0o640),
		os.Symlink("/etc/hosts", p("link")),
		os.Remove(p("newinl1")),
		unix.Lsetxattr(p("keep"), "user.test", []byte("v"), 0),
	}
	if err := errors.Join(steps...); err != nil {
		t.Fatal(err)
	}
}

// What mutate changes, as both OverlayChanges and DirChanges see it.
var wantChanges = []string{
	"C /etc", "C /etc/hosts", "A /etc/new", "D /etc/passwd", "C /keep", "A /link", "C /mode.txt",
	"A /newdir", "A /newdir/f", "A /newdir/fifo", "A /newdir/g", "D /newinl1",
	"C /opt", "C /opt/app", "D /opt/app/a.txt", "A /opt/app/c.txt", "D /opt/app/sub",
	"C /usr", "C /usr/lib", "A /usr/lib/x",
}

// overlay builds the image's layers as overlay snapshots, mounts a
// container rootfs on them and returns the upper dir, the lowers (top
// first) and the merged mount.
func overlay(t *testing.T) (upper string, lowers []string, merged string) {
	t.Helper()
	needRoot(t)
	dir := t.TempDir()
	for i, l := range baseLayers(t) {
		ld := filepath.Join(dir, "layer", string(rune('0'+i)))
		os.MkdirAll(ld, 0o755)
		if err := apply(t, ld, l, ApplyOptions{Whiteouts: WhiteoutOverlay}); err != nil {
			t.Fatal(err)
		}
		lowers = append([]string{ld}, lowers...)
	}
	upper, work, merged := filepath.Join(dir, "upper"), filepath.Join(dir, "work"), filepath.Join(dir, "merged")
	for _, d := range []string{upper, work, merged} {
		os.Mkdir(d, 0o755)
	}
	opts := "lowerdir=" + strings.Join(lowers, ":") + ",upperdir=" + upper + ",workdir=" + work + ",index=off,redirect_dir=off,metacopy=off"
	if err := unix.Mount("overlay", merged, "overlay", 0, opts); err != nil {
		t.Skipf("cannot mount overlayfs here: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(merged, unix.MNT_DETACH) })
	return upper, lowers, merged
}

// vfsTree unpacks the image's layers into a fresh directory.
func vfsTree(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, l := range baseLayers(t) {
		if err := apply(t, dir, l, ApplyOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func changeStrings(cs []Change) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.String())
	}
	return out
}

// tarEnt is what the tests check of a tar entry.
type tarEnt struct {
	name string
	typ  byte
	link string
	body string
	mode int64
	uid  int
	pax  map[string]string
}

func readTar(t *testing.T, data []byte) []tarEnt {
	t.Helper()
	var out []tarEnt
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		var pax map[string]string
		for k, v := range h.PAXRecords {
			if strings.HasPrefix(k, paxXattr) {
				if pax == nil {
					pax = map[string]string{}
				}
				pax[k] = v
			}
		}
		out = append(out, tarEnt{name: h.Name, typ: h.Typeflag, link: h.Linkname, body: string(body), mode: h.Mode, uid: h.Uid, pax: pax})
	}
}

func entryLines(ents []tarEnt) []string {
	var out []string
	for _, e := range ents {
		s := string(e.typ) + " " + e.name
		if e.link != "" {
			s += " -> " + e.link
		}
		out = append(out, s)
	}
	return out
}

func findEnt(t *testing.T, ents []tarEnt, name string) tarEnt {
	t.Helper()
	for _, e := range ents {
		if e.name == name {
			return e
		}
	}
	t.Fatalf("no entry %q", name)
	return tarEnt{}
}

func TestOverlayChangesAndDiff(t *testing.T) {
	upper, lowers, merged := overlay(t)
	mutate(t, merged)

	cs, err := OverlayChanges(upper, lowers)
	if err != nil {
		t.Fatal(err)
	}
	if got := changeStrings(cs); !slices.Equal(got, wantChanges) {
		t.Errorf("changes:\n got %q\nwant %q", got, wantChanges)
	}

	var buf bytes.Buffer
	if err := WriteOverlayDiff(&buf, upper, lowers); err != nil {
		t.Fatal(err)
	}
	ents := readTar(t, buf.Bytes())
	want := []string{
		"5 etc/", "0 etc/hosts", "0 etc/new", "0 etc/.wh.passwd", "0 keep", "2 link -> /etc/hosts", "0 mode.txt",
		"5 newdir/", "0 newdir/f", "6 newdir/fifo", "1 newdir/g -> newdir/f", "0 .wh.newinl1",
		"5 opt/", "5 opt/app/", "0 opt/app/.wh..wh..opq", "0 opt/app/c.txt",
		"5 usr/", "5 usr/lib/", "0 usr/lib/x",
	}
	if got := entryLines(ents); !slices.Equal(got, want) {
		t.Errorf("diff entries:\n got %q\nwant %q", got, want)
	}
	checkDiffEntries(t, ents)

	// Determinism: the same upper gives the same bytes.
	var again bytes.Buffer
	if err := WriteOverlayDiff(&again, upper, lowers); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Error("two diffs of the same upper differ")
	}

	// The image plus the diff is the container's filesystem.
	target := vfsTree(t)
	if err := apply(t, target, buf.Bytes(), ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	compareTrees(t, merged, target)
}

func checkDiffEntries(t *testing.T, ents []tarEnt) {
	t.Helper()
	if e := findEnt(t, ents, "etc/hosts"); e.body != "10.0.0.1 changed\n" {
		t.Errorf("etc/hosts body %q", e.body)
	}
	if e := findEnt(t, ents, "etc/new"); e.uid != 1000 {
		t.Errorf("etc/new uid %d", e.uid)
	}
	if e := findEnt(t, ents, "mode.txt"); e.mode != 0o600 {
		t.Errorf("mode.txt mode %o", e.mode)
	}
	if e := findEnt(t, ents, "keep"); !maps.Equal(e.pax, map[string]string{paxXattr + "user.test": "v"}) {
		t.Errorf("keep xattrs %v", e.pax)
	}
	for _, e := range ents {
		for k := range e.pax {
			if strings.Contains(k, "overlay.") {
				t.Errorf("%s carries overlay xattr %s", e.name, k)
			}
		}
	}
}

func TestDirChangesAndDiff(t *testing.T) {
	needRoot(t)
	base, changed := vfsTree(t), vfsTree(t)
	mutate(t, changed)

	cs, err := DirChanges(base, changed)
	if err != nil {
		t.Fatal(err)
	}
	if got := changeStrings(cs); !slices.Equal(got, wantChanges) {
		t.Errorf("changes:\n got %q\nwant %q", got, wantChanges)
	}
	if cs, _ := DirChanges(base, base); len(cs) != 0 {
		t.Errorf("a tree against itself: %v", cs)
	}

	var buf bytes.Buffer
	if err := WriteDirDiff(&buf, base, changed); err != nil {
		t.Fatal(err)
	}
	ents := readTar(t, buf.Bytes())
	want := []string{
		"5 etc/", "0 etc/hosts", "0 etc/new", "0 etc/.wh.passwd", "0 keep", "2 link -> /etc/hosts", "0 mode.txt",
		"5 newdir/", "0 newdir/f", "6 newdir/fifo", "1 newdir/g -> newdir/f", "0 .wh.newinl1",
		"5 opt/", "5 opt/app/", "0 opt/app/.wh.a.txt", "0 opt/app/c.txt", "0 opt/app/.wh.sub",
		"5 usr/", "5 usr/lib/", "0 usr/lib/x",
	}
	if got := entryLines(ents); !slices.Equal(got, want) {
		t.Errorf("diff entries:\n got %q\nwant %q", got, want)
	}
	checkDiffEntries(t, ents)

	if err := apply(t, base, buf.Bytes(), ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	compareTrees(t, changed, base)
}

func TestDirChangesDetails(t *testing.T) {
	needRoot(t)
	base, changed := t.TempDir(), t.TempDir()
	for _, d := range []string{base, changed} {
		os.MkdirAll(filepath.Join(d, "d/deep"), 0o755)
		os.WriteFile(filepath.Join(d, "d/deep/f"), []byte("1"), 0o644)
		os.WriteFile(filepath.Join(d, "same"), []byte("1"), 0o644)
		os.Symlink("a", filepath.Join(d, "sl"))
		os.WriteFile(filepath.Join(d, "toDir"), []byte("1"), 0o644)
		os.WriteFile(filepath.Join(d, "own"), []byte("1"), 0o644)
	}
	// Same content and metadata in both, mtimes included.
	for _, rel := range []string{"d/deep/f", "same", "toDir", "own"} {
		fi, _ := os.Stat(filepath.Join(base, rel))
		os.Chtimes(filepath.Join(changed, rel), fi.ModTime(), fi.ModTime())
	}
	os.RemoveAll(filepath.Join(changed, "d"))               // a deleted tree: only its top
	os.Remove(filepath.Join(changed, "sl"))                 // a changed link target
	os.Symlink("b", filepath.Join(changed, "sl"))           //
	os.Remove(filepath.Join(changed, "toDir"))              // a file become a directory
	os.MkdirAll(filepath.Join(changed, "toDir/x/y"), 0o755) // everything below it added
	os.Lchown(filepath.Join(changed, "own"), 5, 5)          // ownership
	cs, err := DirChanges(base, changed)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"D /d", "C /own", "C /sl", "C /toDir", "A /toDir/x", "A /toDir/x/y"}
	if got := changeStrings(cs); !slices.Equal(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

// TestOverlayChangesForms checks the whiteout and opaque forms without a
// mount: xattr whiteouts, user.overlay.* attributes, opaque lowers.
func TestOverlayChangesForms(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	l0, l1, up := filepath.Join(dir, "l0"), filepath.Join(dir, "l1"), filepath.Join(dir, "up")
	mk := func(p string, body string) {
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	setx := func(p, name, v string) {
		if err := unix.Lsetxattr(p, name, []byte(v), 0); err != nil {
			t.Fatal(err)
		}
	}
	// l0: d/z, e/p, e/q, f, g
	mk(filepath.Join(l0, "d/z"), "z")
	mk(filepath.Join(l0, "e/p"), "p")
	mk(filepath.Join(l0, "e/q"), "q")
	mk(filepath.Join(l0, "f"), "f")
	mk(filepath.Join(l0, "g"), "g")
	// l1: d opaque (hides d/z), e/q whited out, d/w
	mk(filepath.Join(l1, "d/w"), "w")
	setx(filepath.Join(l1, "d"), "trusted.overlay.opaque", "y")
	os.MkdirAll(filepath.Join(l1, "e"), 0o755)
	if err := unix.Mknod(filepath.Join(l1, "e/q"), unix.S_IFCHR, 0); err != nil {
		t.Fatal(err)
	}
	// upper: d/new; e opaque (user.overlay) with nothing; f deleted by an
	// xattr whiteout; g deleted by a device; h whiteout over nothing.
	mk(filepath.Join(up, "d/new"), "n")
	os.MkdirAll(filepath.Join(up, "e"), 0o755)
	setx(filepath.Join(up, "e"), "user.overlay.opaque", "y")
	mk(filepath.Join(up, "f"), "")
	setx(filepath.Join(up, "f"), "trusted.overlay.whiteout", "")
	unix.Mknod(filepath.Join(up, "g"), unix.S_IFCHR, 0)
	unix.Mknod(filepath.Join(up, "h"), unix.S_IFCHR, 0)
	// Make the upper's d and e look like their lower copies.
	for _, d := range []string{"d", "e"} {
		os.Chmod(filepath.Join(up, d), 0o755)
		os.Chmod(filepath.Join(l1, d), 0o755)
	}

	lowers := []string{l1, l0}
	cs, err := OverlayChanges(up, lowers)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"C /d", "A /d/new", "C /e", "D /e/p", "D /f", "D /g"}
	if got := changeStrings(cs); !slices.Equal(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
	var buf bytes.Buffer
	if err := WriteOverlayDiff(&buf, up, lowers); err != nil {
		t.Fatal(err)
	}
	wantEnts := []string{"5 d/", "0 d/new", "5 e/", "0 e/.wh..wh..opq", "0 .wh.f", "0 .wh.g"}
	if got := entryLines(readTar(t, buf.Bytes())); !slices.Equal(got, wantEnts) {
		t.Errorf("entries %q\nwant %q", got, wantEnts)
	}

	// A renamed directory's content lives in the lowers: refused.
	setx(filepath.Join(up, "d"), "trusted.overlay.redirect", "/x")
	if _, err := OverlayChanges(up, lowers); !errors.Is(err, errdefs.ErrNotImplemented) {
		t.Errorf("redirect: %v", err)
	}
}

func TestWriteTree(t *testing.T) {
	_, _, merged := overlay(t)
	mutate(t, merged)
	var buf bytes.Buffer
	if err := WriteTree(&buf, merged); err != nil {
		t.Fatal(err)
	}
	ents := readTar(t, buf.Bytes())
	var names []string
	for _, e := range ents {
		names = append(names, e.name)
		if strings.Contains(e.name, ".wh.") {
			t.Errorf("whiteout in an export: %s", e.name)
		}
	}
	want := []string{
		"bin/", "bin/sh", "etc/", "etc/hosts", "etc/new", "keep", "link", "mode.txt",
		"newdir/", "newdir/f", "newdir/fifo", "newdir/g", "opt/", "opt/app/", "opt/app/c.txt",
		"owned", "usr/", "usr/lib/", "usr/lib/x",
	}
	if !slices.Equal(names, want) {
		t.Errorf("names %q\nwant %q", names, want)
	}
	if e := findEnt(t, ents, "owned"); e.uid != 1000 || e.body != "o" {
		t.Errorf("owned: %+v", e)
	}
	if e := findEnt(t, ents, "bin/sh"); e.mode != 0o755 {
		t.Errorf("bin/sh mode %o", e.mode)
	}
	if e := findEnt(t, ents, "newdir/g"); e.typ != tar.TypeLink || e.link != "newdir/f" {
		t.Errorf("newdir/g: %+v", e)
	}
	// Unpacked, it is the container's filesystem again.
	dst := t.TempDir()
	if _, err := Apply(context.Background(), dst, bytes.NewReader(buf.Bytes()), ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	compareTrees(t, merged, dst)
}

func TestComparePaths(t *testing.T) {
	ps := []string{"a-b", "a/b", "a", "a/b/c", "ab", "a/a"}
	slices.SortFunc(ps, comparePaths)
	want := []string{"a", "a/a", "a/b", "a/b/c", "a-b", "ab"}
	if !slices.Equal(ps, want) {
		t.Errorf("%q", ps)
	}
}

// compareTrees fails unless the trees a and b hold the same entries with
// the same type, mode, owner, content, link target, device, xattrs and
// (for non-directories) mtime in seconds.
func compareTrees(t *testing.T, a, b string) {
	t.Helper()
	list := func(root string) map[string]unix.Stat_t {
		m := map[string]unix.Stat_t{}
		filepath.Walk(root, func(p string, _ os.FileInfo, err error) error {
			if err != nil {
				t.Fatal(err)
			}
			rel, _ := filepath.Rel(root, p)
			if rel != "." {
				var st unix.Stat_t
				unix.Lstat(p, &st)
				m[rel] = st
			}
			return nil
		})
		return m
	}
	ma, mb := list(a), list(b)
	ka, kb := slices.Sorted(maps.Keys(ma)), slices.Sorted(maps.Keys(mb))
	if !slices.Equal(ka, kb) {
		t.Fatalf("trees differ:\n%s: %q\n%s: %q", a, ka, b, kb)
	}
	for _, rel := range ka {
		sa, sb := ma[rel], mb[rel]
		pa, pb := filepath.Join(a, rel), filepath.Join(b, rel)
		if sa.Mode != sb.Mode || sa.Uid != sb.Uid || sa.Gid != sb.Gid || sa.Rdev != sb.Rdev {
			t.Errorf("%s: mode %o/%o uid %d/%d gid %d/%d", rel, sa.Mode, sb.Mode, sa.Uid, sb.Uid, sa.Gid, sb.Gid)
		}
		xa, _ := readXattrs(pa)
		xb, _ := readXattrs(pb)
		if !maps.Equal(xa, xb) {
			t.Errorf("%s: xattrs %v / %v", rel, xa, xb)
		}
		switch sa.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
			continue
		case unix.S_IFREG:
			da, _ := os.ReadFile(pa)
			db, _ := os.ReadFile(pb)
			if !bytes.Equal(da, db) || sa.Nlink != sb.Nlink {
				t.Errorf("%s: content %q/%q nlink %d/%d", rel, da, db, sa.Nlink, sb.Nlink)
			}
		case unix.S_IFLNK:
			la, _ := os.Readlink(pa)
			lb, _ := os.Readlink(pb)
			if la != lb {
				t.Errorf("%s: link %q/%q", rel, la, lb)
			}
		}
		if sa.Mtim.Sec != sb.Mtim.Sec && sa.Mode&unix.S_IFMT != unix.S_IFLNK {
			t.Errorf("%s: mtime %d/%d", rel, sa.Mtim.Sec, sb.Mtim.Sec)
		}
	}
}
