package volume

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/hako-dev/hako/internal/errdefs"
	"github.com/hako-dev/hako/internal/mount"
)

// fakeMounter records mounts instead of making them.
type fakeMounter struct {
	mounted map[string][]mount.Mount
	log     []string
	fail    error
}

func newFake() *fakeMounter { return &fakeMounter{mounted: map[string][]mount.Mount{}} }

func (f *fakeMounter) Mount(ms []mount.Mount, target string) error {
	if f.fail != nil {
		return f.fail
	}
	f.mounted[target] = ms
	f.log = append(f.log, "mount "+filepath.Base(filepath.Dir(target)))
	return nil
}

func (f *fakeMounter) Unmount(target string) error {
	delete(f.mounted, target)
	f.log = append(f.log, "unmount "+filepath.Base(filepath.Dir(target)))
	return nil
}

func (f *fakeMounter) Mounted(target string) bool { _, ok := f.mounted[target]; return ok }

func open(t *testing.T, root string, m Mounter) *Store {
	t.Helper()
	s, err := Open(root, m)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestValidateName(t *testing.T) {
	for _, ok := range []string{"ab", "my-vol", "my_vol.1", "0x", "A.b-c_d"} {
		if err := ValidateName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for name, msg := range map[string]string{
		"a":     "volume name is too short, names should be at least two alphanumeric characters",
		"":      `"" includes invalid characters`,
		"-ab":   `"-ab" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`,
		".hid":  "includes invalid characters",
		"a/b":   "includes invalid characters",
		"a b":   "includes invalid characters",
		"../x":  "includes invalid characters",
		"vol:x": "includes invalid characters",
	} {
		err := ValidateName(name)
		if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), msg) {
			t.Errorf("%q: %v, want %q", name, err, msg)
		}
	}
}

// Docker's layout: ROOT/volumes/NAME/_data and the metadata beside it,
// written through a temporary file renamed into place.
func TestCreateLayoutAndMetadata(t *testing.T) {
	root := t.TempDir()
	s := open(t, root, newFake())
	v, created, err := s.Create("data", CreateOptions{Labels: map[string]string{"a": "b"}, Ref: "c1"})
	if err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	if v.Mountpoint != filepath.Join(root, "data", "_data") || v.Driver != "local" || v.Scope != "local" || v.CreatedAt.IsZero() {
		t.Errorf("volume %+v", v)
	}
	if st, err := os.Stat(v.Mountpoint); err != nil || !st.IsDir() {
		t.Fatalf("_data: %v", err)
	}
	ents, _ := os.ReadDir(filepath.Join(root, "data"))
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"_data", "volume.json"}) {
		t.Errorf("volume directory holds %v (a temporary file left?)", names)
	}
	b, err := os.ReadFile(filepath.Join(root, "data", "volume.json"))
	if err != nil {
		t.Fatal(err)
	}
	var meta map[string]any
	if err := json.Unmarshal(b, &meta); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"Name", "Driver", "Labels", "Options", "CreatedAt", "Scope"} {
		if _, ok := meta[k]; !ok {
			t.Errorf("volume.json lacks %s: %s", k, b)
		}
	}
	if _, ok := meta["Mountpoint"]; ok {
		t.Errorf("volume.json stores the mount point: %s", b)
	}
	// Creating it again returns it as it is, and adds the reference.
	again, created, err := s.Create("data", CreateOptions{Labels: map[string]string{"x": "y"}, Ref: "c2"})
	if err != nil || created || again.Labels["a"] != "b" || again.Labels["x"] != "" {
		t.Errorf("create again: %+v %v %v", again, created, err)
	}
	if got := s.Refs("data"); !slices.Equal(got, []string{"c1", "c2"}) {
		t.Errorf("refs %v", got)
	}
	// A second store over the same directory sees the same volume.
	s2 := open(t, root, newFake())
	got, err := s2.Get("data")
	if err != nil || got.Labels["a"] != "b" || !got.CreatedAt.Equal(v.CreatedAt) || got.Mountpoint != v.Mountpoint {
		t.Errorf("reopened: %+v %v", got, err)
	}
}

func TestCreateAnonymousAndErrors(t *testing.T) {
	s := open(t, t.TempDir(), newFake())
	v, created, err := s.Create("", CreateOptions{})
	if err != nil || !created {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(v.Name) || !v.Anonymous() {
		t.Errorf("anonymous volume %q labels %v", v.Name, v.Labels)
	}
	for _, tc := range []struct {
		name string
		o    CreateOptions
		cat  error
		msg  string
	}{
		{"x", CreateOptions{}, errdefs.ErrInvalidArgument, "create x: volume name is too short"},
		{"ok", CreateOptions{Driver: "nfs"}, errdefs.ErrNotFound, `create ok: error looking up volume plugin nfs: plugin "nfs" not found`},
		{"ok", CreateOptions{Options: map[string]string{"foo": "1"}}, errdefs.ErrInvalidArgument, `create ok: invalid option: "foo"`},
		{"ok", CreateOptions{Options: map[string]string{"type": "tmpfs"}}, errdefs.ErrInvalidArgument, `create ok: missing required option: "device"`},
		{"ok", CreateOptions{Options: map[string]string{"device": "tmpfs"}}, errdefs.ErrInvalidArgument, `create ok: missing required option: "type"`},
		{"ok", CreateOptions{Options: map[string]string{"o": "size=1m"}}, errdefs.ErrInvalidArgument, `create ok: missing required option: "device"`},
		{"ok", CreateOptions{Options: map[string]string{"size": "1g"}}, errdefs.ErrInvalidArgument, "create ok: quota size requested but no quota support"},
	} {
		_, _, err := s.Create(tc.name, tc.o)
		if !errors.Is(err, tc.cat) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s %+v: %v, want %q", tc.name, tc.o, err, tc.msg)
		}
	}
	if l := s.List(); len(l) != 1 {
		t.Errorf("failed creates left volumes: %+v", l)
	}
}

func TestRemoveRefs(t *testing.T) {
	root := t.TempDir()
	s := open(t, root, newFake())
	s.Create("busy", CreateOptions{Ref: "bbb"})
	s.Reference("busy", "aaa")
	err := s.Remove("busy", true)
	if !errors.Is(err, errdefs.ErrConflict) || err.Error() != "remove busy: volume is in use - [aaa, bbb]: conflict" {
		t.Fatalf("remove in use: %v", err)
	}
	s.Release("busy", "aaa")
	s.Release("busy", "bbb")
	os.WriteFile(filepath.Join(root, "busy", "_data", "f"), []byte("x"), 0o644)
	if n := s.Size("busy"); n != 1 {
		t.Errorf("size %d", n)
	}
	if err := s.Remove("busy", false); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(root); len(ents) != 0 {
		t.Errorf("left in root: %v", ents)
	}
	if err := s.Remove("busy", false); !errors.Is(err, errdefs.ErrNotFound) || err.Error() != "get busy: no such volume: not found" {
		t.Errorf("remove missing: %v", err)
	}
	if err := s.Remove("busy", true); err != nil {
		t.Errorf("remove -f missing: %v", err)
	}
	if err := s.Reference("gone", "c"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("reference missing: %v", err)
	}
}

// What a crash leaves is repaired by Open: a removal finished, an
// interrupted creation (no metadata, nothing in _data) dropped, and data
// without (readable) metadata kept as a volume.
func TestOpenRepairs(t *testing.T) {
	root := t.TempDir()
	f := newFake()
	mk := func(p, content string) {
		os.MkdirAll(filepath.Dir(filepath.Join(root, p)), 0o755)
		if content != "" {
			os.WriteFile(filepath.Join(root, p), []byte(content), 0o644)
		}
	}
	mk(".removing-old-12345678/_data/file", "gone")
	f.mounted[filepath.Join(root, ".removing-old-12345678", "_data")] = nil
	mk("halfmade/_data/", "")
	mk("kept/_data/precious", "data")
	mk("kept/volume.json", `{"Name": "kept", "Dri`) // torn by hand: rename makes this impossible
	mk("good/_data/", "")
	mk("good/volume.json", `{"Name": "good", "Driver": "local", "Scope": "local"}`)
	s := open(t, root, f)
	var names []string
	for _, v := range s.List() {
		names = append(names, v.Name)
	}
	if !slices.Equal(names, []string{"good", "kept"}) {
		t.Errorf("volumes %v", names)
	}
	if _, err := os.Stat(filepath.Join(root, ".removing-old-12345678")); !os.IsNotExist(err) {
		t.Errorf("interrupted removal left: %v", err)
	}
	if len(f.mounted) != 0 || !slices.Contains(f.log, "unmount .removing-old-12345678") {
		t.Errorf("a mount under a removed volume was not unmounted first: %v", f.log)
	}
	if _, err := os.Stat(filepath.Join(root, "halfmade")); !os.IsNotExist(err) {
		t.Errorf("interrupted creation left: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "kept", "_data", "precious")); string(b) != "data" {
		t.Error("data without metadata was lost")
	}
	v, _ := s.Get("kept")
	if v.Driver != "local" || v.Scope != "local" || v.Mountpoint != filepath.Join(root, "kept", "_data") {
		t.Errorf("adopted %+v", v)
	}
}

// A volume with a device is mounted by its first running user and
// unmounted by its last; a plain one is never mounted.
func TestMountCounting(t *testing.T) {
	f := newFake()
	s := open(t, t.TempDir(), f)
	tv, _, err := s.Create("tv", CreateOptions{Options: map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "size=10m,uid=1000"}})
	if err != nil {
		t.Fatal(err)
	}
	s.Create("plain", CreateOptions{})
	if fresh, err := s.Mount("plain", "c1"); fresh || err != nil {
		t.Errorf("plain: %v %v", fresh, err)
	}
	if fresh, err := s.Mount("tv", "c1"); !fresh || err != nil {
		t.Errorf("first mount: %v %v", fresh, err)
	}
	want := []mount.Mount{{Type: "tmpfs", Source: "tmpfs", Options: []string{"size=10m", "uid=1000"}}}
	if got := f.mounted[tv.Mountpoint]; len(got) != 1 || got[0].Type != want[0].Type || got[0].Source != want[0].Source || !slices.Equal(got[0].Options, want[0].Options) {
		t.Errorf("mounted %+v", got)
	}
	if fresh, _ := s.Mount("tv", "c2"); fresh {
		t.Error("second user mounted again")
	}
	if was, _ := s.Unmount("tv", "c1"); !was || !f.Mounted(tv.Mountpoint) {
		t.Error("unmounted while c2 runs")
	}
	if was, _ := s.Unmount("tv", "c1"); was {
		t.Error("unmount twice")
	}
	s.Unmount("tv", "c2")
	s.Unmount("plain", "c1")
	if f.Mounted(tv.Mountpoint) || !slices.Equal(f.log, []string{"mount tv", "unmount tv"}) {
		t.Errorf("mounts: %v", f.log)
	}

	// Start-up: mounts survive the engine; those no running container
	// uses are unmounted, the others kept.
	f.mounted[tv.Mountpoint] = want
	s.Create("tv2", CreateOptions{Options: map[string]string{"type": "tmpfs", "device": "tmpfs"}})
	f.mounted[filepath.Join(filepath.Dir(filepath.Dir(tv.Mountpoint)), "tv2", "_data")] = want
	s.MarkActive("tv2", "c3")
	if err := s.Sweep(); err != nil {
		t.Fatal(err)
	}
	if f.Mounted(tv.Mountpoint) || len(f.mounted) != 1 {
		t.Errorf("after sweep: %v", f.mounted)
	}

	f.fail = errors.New("mount tmpfs: no such device")
	if _, err := s.Mount("tv", "c4"); err == nil || err.Error() != "failed to mount local volume: mount tmpfs: no such device" {
		t.Errorf("failed mount: %v", err)
	}
	if was, _ := s.Unmount("tv", "c4"); was {
		t.Error("a failed mount counts as a user")
	}
}

func TestMountsDescription(t *testing.T) {
	if Mounts(nil) != nil || Mounts(map[string]string{}) != nil {
		t.Error("a plain volume needs a mount")
	}
	m := Mounts(map[string]string{"type": "none", "device": "/srv/data", "o": "bind,ro"})
	if len(m) != 1 || m[0].Type != "" || m[0].Source != "/srv/data" || !slices.Equal(m[0].Options, []string{"bind", "ro"}) {
		t.Errorf("bind volume %+v", m)
	}
	if got := hidePassword("mount //srv/share: password=hunter2,user=x: permission denied", "user=x,password=hunter2"); strings.Contains(got, "hunter2") {
		t.Errorf("password shown: %s", got)
	}
}
