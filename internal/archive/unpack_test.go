package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hako-dev/hako/internal/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// permutations calls f with every ordering of ents.
func permutations(ents []ent, f func([]ent)) {
	var rec func(k int)
	rec = func(k int) {
		if k == len(ents) {
			f(append([]ent(nil), ents...))
			return
		}
		for i := k; i < len(ents); i++ {
			ents[k], ents[i] = ents[i], ents[k]
			rec(k + 1)
			ents[k], ents[i] = ents[i], ents[k]
		}
	}
	rec(0)
}

func xattr(path, name string) string {
	buf := make([]byte, 256)
	n, err := unix.Lgetxattr(path, name, buf)
	if err != nil {
		return ""
	}
	return string(buf[:n])
}

func fileType(t *testing.T, path string) string {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return "missing"
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return "dir"
	case unix.S_IFREG:
		b, _ := os.ReadFile(path)
		return "file:" + string(b)
	case unix.S_IFLNK:
		l, _ := os.Readlink(path)
		return "symlink:" + l
	case unix.S_IFCHR:
		return "chr:" + itoa8(int(st.Rdev))
	}
	return "other"
}

// Whatever order a layer lists its entries in, its whiteouts hide the
// lower layers only: both modes, every permutation.
func TestWhiteoutOrderIndependence(t *testing.T) {
	needRoot(t)
	lower := layer(t,
		ent{name: "f", body: "old"},
		ent{name: "d/old", body: "old"},
		ent{name: "x/old", body: "old"},
	)
	upper := []ent{
		{name: ".wh.f"}, {name: "f", body: "new"},
		{name: "d/.wh..wh..opq"}, {name: "d/new", body: "new"},
		{name: ".wh.x"}, {name: "x/inner", body: "new"},
	}
	n := 0
	permutations(upper, func(order []ent) {
		n++
		if testing.Short() && n%10 != 0 {
			return
		}
		names := make([]string, len(order))
		for i, e := range order {
			names[i] = e.name
		}
		label := strings.Join(names, ",")

		dir := t.TempDir()
		if err := apply(t, dir, lower, ApplyOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := apply(t, dir, layer(t, order...), ApplyOptions{}); err != nil {
			t.Fatalf("direct %s: %v", label, err)
		}
		if got := strings.Join(listing(t, dir), " "); got != ". d d/new f x x/inner" {
			t.Fatalf("direct %s: %s", label, got)
		}
		if got := fileType(t, filepath.Join(dir, "f")); got != "file:new" {
			t.Fatalf("direct %s: f is %s", label, got)
		}

		up := t.TempDir()
		if err := apply(t, up, layer(t, order...), ApplyOptions{Whiteouts: WhiteoutOverlay}); err != nil {
			t.Fatalf("overlay %s: %v", label, err)
		}
		if got := strings.Join(listing(t, up), " "); got != ". d d/new f x x/inner" {
			t.Fatalf("overlay %s: %s", label, got)
		}
		if got := fileType(t, filepath.Join(up, "f")); got != "file:new" {
			t.Fatalf("overlay %s: f is %s", label, got)
		}
		for _, d := range []string{"d", "x"} {
			if got := xattr(filepath.Join(up, d), "trusted.overlay.opaque"); got != "y" {
				t.Fatalf("overlay %s: %s not opaque (%q)", label, d, got)
			}
		}
	})
}

func TestOverlayWhiteoutDevice(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	// An overlay layer dir may hold a stale entry where a whiteout goes.
	os.WriteFile(filepath.Join(dir, "stale"), []byte("x"), 0o644)
	err := apply(t, dir, layer(t, ent{name: "a/b/.wh.gone"}, ent{name: ".wh.stale"}, ent{name: ".wh..wh..plnk"}),
		ApplyOptions{Whiteouts: WhiteoutOverlay})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"a/b/gone", "stale"} {
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(dir, p), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 || st.Uid != 0 || st.Gid != 0 {
			t.Errorf("%s: mode %o rdev %d owner %d:%d, %v; want a 0:0 char device", p, st.Mode, st.Rdev, st.Uid, st.Gid, err)
		}
	}
	if got := strings.Join(listing(t, dir), " "); got != ". a a/b a/b/gone stale" {
		t.Errorf("listing %s", got)
	}
}

func TestOwnershipRemap(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	userns := ApplyOptions{
		UIDMappings: []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}},
		GIDMappings: []specs.LinuxIDMapping{{ContainerID: 0, HostID: 200000, Size: 65536}},
	}
	if err := apply(t, dir, layer(t,
		ent{name: "home/u/f", body: "x", uid: 1000, gid: 1001, mode: 0o2755},
		ent{name: "home/u/l", typ: tar.TypeSymlink, link: "f", uid: 1000, gid: 1001},
	), userns); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string][2]uint32{"home": {100000, 200000}, "home/u/f": {101000, 201001}, "home/u/l": {101000, 201001}} {
		var st unix.Stat_t
		unix.Lstat(filepath.Join(dir, p), &st)
		if st.Uid != want[0] || st.Gid != want[1] {
			t.Errorf("%s owned by %d:%d, want %d:%d", p, st.Uid, st.Gid, want[0], want[1])
		}
	}
	var st unix.Stat_t
	unix.Lstat(filepath.Join(dir, "home/u/f"), &st)
	if st.Mode&0o7777 != 0o2755 { // setgid survives the chown
		t.Errorf("mode %o", st.Mode&0o7777)
	}
	err := apply(t, dir, layer(t, ent{name: "g", body: "x", uid: 70000}), userns)
	if err == nil || !strings.Contains(err.Error(), "not in the user namespace mapping") || !errdefs.IsInvalidArgument(err) {
		t.Errorf("unmapped uid: %v", err)
	}
}

func TestTimes(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	dt, ft, at := time.Unix(1500000000, 5), time.Unix(1600000000, 7), time.Unix(1400000000, 0)
	l := func() []byte {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		hdrs := []*tar.Header{
			{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: dt},
			{Name: "d/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: dt},
			{Name: "d/e/", Typeflag: tar.TypeDir, Mode: 0o700, ModTime: dt},
			{Name: "d/e/f", Typeflag: tar.TypeReg, Mode: 0o600, ModTime: ft, AccessTime: at, Format: tar.FormatPAX},
			{Name: "d/l", Typeflag: tar.TypeSymlink, Linkname: "e/f", ModTime: ft},
			{Name: "d/new", Typeflag: tar.TypeReg, Mode: 0o600, ModTime: ft},
		}
		for _, h := range hdrs {
			h.Format = tar.FormatPAX
			tw.WriteHeader(h)
		}
		tw.Close()
		return buf.Bytes()
	}()
	if err := apply(t, dir, l, ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]time.Time{".": dt, "d": dt, "d/e": dt, "d/e/f": ft, "d/l": ft} {
		fi, err := os.Lstat(filepath.Join(dir, p))
		if err != nil || !fi.ModTime().Equal(want) {
			t.Errorf("%s: mtime %v, want %v (%v)", p, fi.ModTime(), want, err)
		}
	}
	var st unix.Stat_t
	unix.Lstat(filepath.Join(dir, "d/e/f"), &st)
	if st.Atim.Sec != at.Unix() {
		t.Errorf("atime %d, want %d", st.Atim.Sec, at.Unix())
	}
}

// A layer replaces what is below it, whatever the types, and never writes
// through a hardlink or a symlink.
func TestReplaceExisting(t *testing.T) {
	needRoot(t)
	top := t.TempDir()
	dir := filepath.Join(top, "root")
	os.Mkdir(dir, 0o755)
	if err := apply(t, dir, layer(t,
		ent{name: "a/inner", body: "old"},
		ent{name: "s", typ: tar.TypeSymlink, link: "a"},
		ent{name: "f", body: "old"},
		ent{name: "g", typ: tar.TypeLink, link: "f"},
		ent{name: "h", typ: tar.TypeSymlink, link: "/etc/hostname"},
	), ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := apply(t, dir, layer(t,
		ent{name: "a", body: "file now"},
		ent{name: "s/", typ: tar.TypeDir},
		ent{name: "f", body: "new"},
		ent{name: "h", body: "replaced link"},
	), ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{"a": "file:file now", "s": "dir", "f": "file:new", "g": "file:old", "h": "file:replaced link"} {
		if got := fileType(t, filepath.Join(dir, p)); got != want {
			t.Errorf("%s is %s, want %s", p, got, want)
		}
	}
}

// Deleting through whiteouts removes a symlink, never what it points to.
func TestWhiteoutRemovesLinksNotTargets(t *testing.T) {
	needRoot(t)
	for _, mode := range []WhiteoutMode{WhiteoutDirect, WhiteoutOverlay} {
		top := t.TempDir()
		dir, outside := filepath.Join(top, "root"), filepath.Join(top, "outside")
		os.Mkdir(dir, 0o755)
		os.Mkdir(outside, 0o755)
		os.WriteFile(filepath.Join(outside, "sentinel"), []byte("safe"), 0o644)
		if err := apply(t, dir, layer(t,
			ent{name: "l", typ: tar.TypeSymlink, link: outside},
			ent{name: "d/l", typ: tar.TypeSymlink, link: "../../outside"},
		), ApplyOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := apply(t, dir, layer(t, ent{name: ".wh.l"}, ent{name: "d/.wh..wh..opq"}), ApplyOptions{Whiteouts: mode}); err != nil {
			t.Fatal(err)
		}
		if b, err := os.ReadFile(filepath.Join(outside, "sentinel")); err != nil || string(b) != "safe" {
			t.Fatalf("mode %d: sentinel gone: %v", mode, err)
		}
	}
}

// The hostile corpus beyond apply_test.go's, also run through the os.Root
// fallback used on kernels without openat2.
func TestHostileMore(t *testing.T) {
	needRoot(t)
	cases := map[string]struct {
		lower []ent
		evil  []ent
		opts  ApplyOptions
		want  string
	}{
		"symlink chain":         {evil: []ent{{name: "a", typ: tar.TypeSymlink, link: "b"}, {name: "b", typ: tar.TypeSymlink, link: "/"}, {name: "a/escape", body: "x"}}, want: "symlink that leads outside"},
		"deep relative symlink": {evil: []ent{{name: "d/e/evil", typ: tar.TypeSymlink, link: "../../.."}, {name: "d/e/evil/escape", body: "x"}}, want: "symlink that leads outside"},
		"whiteout through lower symlink": {lower: []ent{{name: "l", typ: tar.TypeSymlink, link: "../outside"}},
			evil: []ent{{name: "l/.wh.sentinel"}}, want: "symlink that leads outside"},
		"overlay whiteout through symlink": {lower: []ent{{name: "l", typ: tar.TypeSymlink, link: "../outside"}},
			evil: []ent{{name: "l/.wh.sentinel"}}, opts: ApplyOptions{Whiteouts: WhiteoutOverlay}, want: "symlink that leads outside"},
		"overlay opaque through symlink": {lower: []ent{{name: "l", typ: tar.TypeSymlink, link: "/tmp"}},
			evil: []ent{{name: "l/.wh..wh..opq"}}, opts: ApplyOptions{Whiteouts: WhiteoutOverlay}, want: "symlink that leads outside"},
		"hardlink via lower symlink": {lower: []ent{{name: "etc", typ: tar.TypeSymlink, link: "/etc"}},
			evil: []ent{{name: "pw", typ: tar.TypeLink, link: "etc/passwd"}}, want: "symlink that leads outside"},
		"magic link": {lower: []ent{{name: "p", typ: tar.TypeSymlink, link: "/proc/self/root"}},
			evil: []ent{{name: "p/escape", body: "x"}}, want: "symlink that leads outside"},
		"whiteout with children": {evil: []ent{{name: ".wh.x/y", body: "x"}}, want: "cannot hold other entries"},
		"whiteout of dotdot":     {evil: []ent{{name: "a/.wh.."}}, want: "invalid whiteout name"},
		"char device":            {evil: []ent{{name: "mem", typ: tar.TypeChar, major: 1, minor: 1}}, opts: ApplyOptions{NoDevices: true}, want: "device nodes are not allowed"},
		"file over root":         {evil: []ent{{name: ".", body: "x"}}, want: "cannot replace the target directory"},
	}
	for _, fallback := range []bool{false, true} {
		for name, tc := range cases {
			if fallback {
				name += " (os.Root)"
			}
			t.Run(name, func(t *testing.T) {
				if fallback {
					useOpenat2 = false
					defer func() { useOpenat2 = true }()
				}
				top := t.TempDir()
				dir, outside := filepath.Join(top, "root"), filepath.Join(top, "outside")
				os.Mkdir(dir, 0o755)
				os.Mkdir(outside, 0o755)
				os.WriteFile(filepath.Join(outside, "sentinel"), []byte("safe"), 0o644)
				if tc.lower != nil {
					if err := apply(t, dir, layer(t, tc.lower...), ApplyOptions{}); err != nil {
						t.Fatal(err)
					}
				}
				before := strings.Join(listing(t, outside), " ")
				err := apply(t, dir, layer(t, tc.evil...), tc.opts)
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("got %v, want an error about %q", err, tc.want)
				}
				if !errdefs.IsInvalidArgument(err) && !errdefs.IsPermissionDenied(err) {
					t.Errorf("error category: %v", err)
				}
				if after := strings.Join(listing(t, outside), " "); after != before {
					t.Errorf("outside changed: %s → %s", before, after)
				}
				if b, _ := os.ReadFile(filepath.Join(outside, "sentinel")); string(b) != "safe" {
					t.Error("sentinel changed")
				}
				for _, p := range []string{"/escape", "/tmp/escape", "/etc/escape"} {
					if _, err := os.Lstat(p); err == nil {
						t.Fatalf("%s exists!", p)
					}
				}
			})
		}
	}
}

func TestFallbackResolverApplies(t *testing.T) {
	needRoot(t)
	useOpenat2 = false
	defer func() { useOpenat2 = true }()
	dir := t.TempDir()
	if err := apply(t, dir, layer(t,
		ent{name: "usr/lib/", typ: tar.TypeDir},
		ent{name: "lib", typ: tar.TypeSymlink, link: "usr/lib"},
		ent{name: "lib/x/libc.so", body: "elf"},
		ent{name: "usr/lib/.wh.gone"},
	), ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := fileType(t, filepath.Join(dir, "usr/lib/x/libc.so")); got != "file:elf" {
		t.Fatal(got)
	}
}

func TestOverlayXattrsNeverFromLayer(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	if err := apply(t, dir, layer(t, ent{name: "d/", typ: tar.TypeDir, xattrs: map[string]string{
		"trusted.overlay.redirect": "/etc", "trusted.overlay.opaque": "y", "user.keep": "1",
	}}), ApplyOptions{Whiteouts: WhiteoutOverlay}); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "d")
	if xattr(p, "trusted.overlay.redirect") != "" || xattr(p, "trusted.overlay.opaque") != "" || xattr(p, "user.keep") != "1" {
		t.Errorf("xattrs: redirect %q opaque %q user %q", xattr(p, "trusted.overlay.redirect"), xattr(p, "trusted.overlay.opaque"), xattr(p, "user.keep"))
	}
}

func TestSecurityCapabilitySurvivesChown(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	// VFS_CAP_REVISION_2 with CAP_NET_RAW permitted and effective.
	capNetRaw := string([]byte{1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	if err := apply(t, dir, layer(t, ent{name: "bin/ping", body: "elf", uid: 1, mode: 0o755,
		xattrs: map[string]string{"security.capability": capNetRaw}}), ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := xattr(filepath.Join(dir, "bin/ping"), "security.capability"); got != capNetRaw {
		t.Errorf("security.capability = %x", got)
	}
}

type failingReader struct{ n int }

var errSource = errors.New("connection reset")

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errSource
	}
	n := min(len(p), f.n)
	for i := range p[:n] {
		p[i] = 0
	}
	f.n -= n
	return n, nil
}

func TestReadErrors(t *testing.T) {
	needRoot(t)
	plain := layer(t, ent{name: "f", body: strings.Repeat("x", 5000)})
	// The caller's reader failing is not a bad layer.
	r := io.MultiReader(bytes.NewReader(plain[:2000]), &failingReader{})
	_, err := Apply(context.Background(), t.TempDir(), r, ApplyOptions{})
	if !errors.Is(err, errSource) || errdefs.IsInvalidArgument(err) {
		t.Errorf("source error: %v", err)
	}
	// A cut tar is.
	_, err = Apply(context.Background(), t.TempDir(), bytes.NewReader(plain[:2000]), ApplyOptions{})
	if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("truncated tar: %v", err)
	}
	// Cancellation stops it.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = Apply(ctx, t.TempDir(), bytes.NewReader(plain), ApplyOptions{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: %v", err)
	}
	// Everything after the tar end is read, so a digester sees the blob.
	padded := append(gz(plain), gz(make([]byte, 4096))...)
	br := bytes.NewReader(padded)
	if _, err := Apply(context.Background(), t.TempDir(), br, ApplyOptions{}); err != nil || br.Len() != 0 {
		t.Errorf("left %d bytes unread, %v", br.Len(), err)
	}
}

func TestHardlinkToLower(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	if err := apply(t, dir, layer(t, ent{name: "usr/bin/a", body: "elf"}), ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := apply(t, dir, layer(t, ent{name: "bin/b", typ: tar.TypeLink, link: "/usr/bin/a"}, ent{name: "bin/b2", typ: tar.TypeLink, link: "./usr/bin/a"}), ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	unix.Lstat(filepath.Join(dir, "usr/bin/a"), &st)
	if st.Nlink != 3 {
		t.Errorf("nlink %d", st.Nlink)
	}
	err := apply(t, dir, layer(t, ent{name: "x", typ: tar.TypeLink, link: "usr/bin"}), ApplyOptions{})
	if err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("hardlink to a directory: %v", err)
	}
}
