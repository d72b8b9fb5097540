package cli

import (
	"archive/tar"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
)

func TestSplitCpArg(t *testing.T) {
	for in, want := range map[string][2]string{
		"web:/etc":      {"web", "/etc"},
		"/abs:path":     {"", "/abs:path"},
		"./web:x":       {"", "./web:x"},
		"local/file":    {"", "local/file"},
		"web:rel/path/": {"web", "rel/path/"},
	} {
		if c, p := splitCpArg(in); c != want[0] || p != want[1] {
			t.Errorf("splitCpArg(%q) = %q, %q", in, c, p)
		}
	}
}

func TestPlanCopy(t *testing.T) {
	for _, tc := range []struct {
		srcDir           bool
		srcBase, dst     string
		exists, dstDir   bool
		wantDir, wantTop string
		wantErr          bool
	}{
		{false, "hosts", "/out", true, true, "/out", "hosts", false},      // file into a directory
		{false, "hosts", "/out/h", true, false, "/out", "h", false},       // file over a file
		{false, "hosts", "/out/new", false, false, "/out", "new", false},  // file to a new name
		{false, "hosts", "/out/new/", false, false, "", "", true},         // the directory must exist
		{true, "etc", "/out", true, true, "/out", "etc", false},           // directory into a directory
		{true, ".", "/out", true, true, "/out", ".", false},               // "dir/." : its content
		{true, "etc", "/out/new", false, false, "/out", "new", false},     // directory to a new name
		{true, ".", "/out/new", false, false, "/out", "new", false},       // content to a new directory
		{true, "etc", "/out/file", true, false, "", "", true},             // directory over a file
		{true, "etc", "/out/dir/.", true, true, "/out/dir", "etc", false}, // "dest/." is the directory
	} {
		got, err := planCopy(tc.srcDir, tc.srcBase, tc.dst, tc.exists, tc.dstDir)
		if (err != nil) != tc.wantErr || got.dir != tc.wantDir || got.top != tc.wantTop {
			t.Errorf("%+v: got %+v, %v", tc, got, err)
		}
	}
}

func TestRebaser(t *testing.T) {
	r := rebaser("etc", "conf")
	for in, want := range map[string]string{"etc": "conf", "etc/": "conf", "etc/hosts": "conf/hosts", "/etc/a/b": "conf/a/b", "etcetera": "etcetera"} {
		if got := r(in); got != want {
			t.Errorf("etc→conf %q: %q", in, got)
		}
	}
	r = rebaser(".", "new")
	for in, want := range map[string]string{".": "new", "./": "new", "./a": "new/a", "a/b": "new/a/b"} {
		if got := r(in); got != want {
			t.Errorf(".→new %q: %q", in, got)
		}
	}
	if got := rebaser(".", ".")("./a"); got != "a" {
		t.Errorf(".→. %q", got)
	}
	if got := rebaser("x", "y")("../../etc/passwd"); got != "etc/passwd" {
		t.Errorf("climbing entry kept: %q", got)
	}
}

func TestUntarRefusesEscapes(t *testing.T) {
	dir := t.TempDir()
	outside := t.TempDir()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "link", Typeflag: tar.TypeSymlink, Linkname: outside})
	tw.WriteHeader(&tar.Header{Name: "link/evil", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1})
	tw.Write([]byte("x"))
	tw.Close()
	if err := untar(&buf, dir, func(s string) string { return s }); err == nil {
		t.Error("extracted through a symlink")
	}
	if _, err := os.Stat(filepath.Join(outside, "evil")); err == nil {
		t.Error("a file landed outside the destination")
	}
}

// fakeContainerFS serves GET, HEAD and PUT /containers/web/archive from
// a directory standing for the container's root, as the daemon does.
func fakeContainerFS(t *testing.T, root string) string {
	return fakeDaemon(t, func(w http.ResponseWriter, r *http.Request, p string) {
		if p != "/containers/web/archive" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		cp := r.URL.Query().Get("path")
		local := filepath.Join(root, cp)
		fi, err := os.Lstat(local)
		if r.Method != http.MethodPut {
			if err != nil {
				w.WriteHeader(http.StatusNotFound)
				io.WriteString(w, `{"message":"Could not find the file `+cp+` in container web"}`)
				return
			}
			st := container.PathStat{Name: fi.Name(), Size: fi.Size(), Mode: fi.Mode()}
			st.LinkTarget, _ = os.Readlink(local)
			b, _ := json.Marshal(st)
			w.Header().Set("X-Docker-Container-Path-Stat", base64.StdEncoding.EncodeToString(b))
			if r.Method == http.MethodGet {
				_, base := splitDirEntry(cp)
				if _, err := writeTar(w, path.Clean(local), base, false); err != nil {
					t.Error(err)
				}
			}
			return
		}
		if err != nil || !fi.IsDir() {
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"message":"extraction point is not a directory"}`)
			return
		}
		if r.URL.Query().Get("noOverwriteDirNonDir") != "true" {
			t.Error("PUT without noOverwriteDirNonDir")
		}
		if err := untar(r.Body, local, func(s string) string { return path.Clean("/" + s)[1:] }); err != nil {
			t.Error(err)
		}
	})
}

func listTree(t *testing.T, dir string) []string {
	var l []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if rel, _ := filepath.Rel(dir, p); rel != "." {
			if d.IsDir() {
				rel += "/"
			}
			l = append(l, rel)
		}
		return nil
	})
	return l
}

func TestCp(t *testing.T) {
	ctr := t.TempDir()
	os.MkdirAll(filepath.Join(ctr, "etc/sub"), 0o755)
	os.WriteFile(filepath.Join(ctr, "etc/hosts"), []byte("127.0.0.1 localhost\n"), 0o644)
	os.WriteFile(filepath.Join(ctr, "etc/sub/x"), []byte("x"), 0o600)
	os.Symlink("hosts", filepath.Join(ctr, "etc/link"))
	os.MkdirAll(filepath.Join(ctr, "tmp"), 0o1777)
	host := fakeContainerFS(t, ctr)

	cp := func(args ...string) (string, string, error) {
		return run(t, "", append([]string{"-H", host, "cp"}, args...)...)
	}
	fresh := func() string {
		d := t.TempDir()
		os.WriteFile(filepath.Join(d, "file"), []byte("f"), 0o644)
		return d
	}

	from := []struct {
		src, dst string // dst relative to a fresh directory holding "file"
		want     []string
		wantErr  string
	}{
		{"web:/etc/hosts", ".", []string{"file", "hosts"}, ""},
		{"web:/etc/hosts", "renamed", []string{"file", "renamed"}, ""},
		{"web:/etc/hosts", "file", []string{"file"}, ""},
		{"web:/etc/hosts", "missing/", nil, "does not exist"},
		{"web:/etc", ".", []string{"etc/", "etc/hosts", "etc/link", "etc/sub/", "etc/sub/x", "file"}, ""},
		{"web:/etc", "copy", []string{"copy/", "copy/hosts", "copy/link", "copy/sub/", "copy/sub/x", "file"}, ""},
		{"web:/etc/.", ".", []string{"file", "hosts", "link", "sub/", "sub/x"}, ""},
		{"web:/etc/sub/.", "new", []string{"file", "new/", "new/x"}, ""},
		{"web:/etc", "file", nil, "cannot copy a directory to a file"},
		{"web:/nothere", ".", nil, "Could not find the file /nothere in container web"},
	}
	for _, tc := range from {
		d := fresh()
		_, errOut, err := cp(tc.src, filepath.Join(d, tc.dst)+map[bool]string{true: "/"}[strings.HasSuffix(tc.dst, "/")])
		if tc.wantErr != "" {
			var se *StatusError
			if !errors.As(err, &se) || se.Status != 1 || !strings.Contains(errOut+se.Error(), tc.wantErr) {
				t.Errorf("cp %s %s: want error %q, got %v %q", tc.src, tc.dst, tc.wantErr, err, errOut)
			}
			continue
		}
		if err != nil {
			t.Errorf("cp %s %s: %v %s", tc.src, tc.dst, err, errOut)
			continue
		}
		if got := listTree(t, d); !slices.Equal(got, tc.want) {
			t.Errorf("cp %s %s: got %v, want %v", tc.src, tc.dst, got, tc.want)
		}
	}
	d := fresh()
	if _, _, err := cp("web:/etc/hosts", filepath.Join(d, "file")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(d, "file")); string(b) != "127.0.0.1 localhost\n" {
		t.Errorf("overwritten file: %q", b)
	}
	if fi, err := os.Lstat(filepath.Join(ctr, "etc/sub/x")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("mode: %v %v", fi, err)
	}
	// -L copies what a link points to, under the link's name.
	d = fresh()
	if _, _, err := cp("-L", "web:/etc/link", d); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(d, "link")); err != nil || string(b) != "127.0.0.1 localhost\n" {
		t.Errorf("cp -L: %q %v", b, err)
	}

	// To stdout: the container's tar stream as is.
	out, _, err := cp("web:/etc/sub", "-")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	tr := tar.NewReader(strings.NewReader(out))
	for h, err := tr.Next(); err == nil; h, err = tr.Next() {
		names = append(names, h.Name)
	}
	if !slices.Equal(names, []string{"sub/", "sub/x"}) {
		t.Errorf("cp to -: %v", names)
	}

	// Into the container.
	src := t.TempDir()
	os.MkdirAll(filepath.Join(src, "dir/in"), 0o755)
	os.WriteFile(filepath.Join(src, "dir/in/f"), []byte("data"), 0o640)
	os.WriteFile(filepath.Join(src, "one"), []byte("1"), 0o644)
	to := []struct {
		src, dst string
		want     []string
	}{
		{"dir", "/tmp", []string{"dir/", "dir/in/", "dir/in/f"}},
		{"dir/.", "/tmp", []string{"in/", "in/f"}},
		{"dir", "/tmp/newdir", []string{"newdir/", "newdir/in/", "newdir/in/f"}},
		{"one", "/tmp", []string{"one"}},
		{"one", "/tmp/two", []string{"two"}},
	}
	for _, tc := range to {
		os.RemoveAll(filepath.Join(ctr, "tmp"))
		os.Mkdir(filepath.Join(ctr, "tmp"), 0o755)
		if _, errOut, err := cp(filepath.Join(src, tc.src)+map[bool]string{true: "/."}[strings.HasSuffix(tc.src, "/.")], "web:"+tc.dst); err != nil {
			t.Errorf("cp %s web:%s: %v %s", tc.src, tc.dst, err, errOut)
			continue
		}
		if got := listTree(t, filepath.Join(ctr, "tmp")); !slices.Equal(got, tc.want) {
			t.Errorf("cp %s web:%s: got %v, want %v", tc.src, tc.dst, got, tc.want)
		}
	}
	if _, _, err := cp(filepath.Join(src, "dir"), "web:/etc/hosts"); err == nil {
		t.Error("copied a directory over a file in the container")
	}
	if _, _, err := cp(filepath.Join(src, "one")+"/", "web:/tmp"); err == nil {
		t.Error("one/ is not a directory")
	}

	// From stdin: a tar stream into a directory.
	os.RemoveAll(filepath.Join(ctr, "tmp"))
	os.Mkdir(filepath.Join(ctr, "tmp"), 0o755)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "s.txt", Mode: 0o644, Size: 2, Typeflag: tar.TypeReg})
	tw.Write([]byte("hi"))
	tw.Close()
	if _, _, err := run(t, buf.String(), "-H", host, "cp", "-", "web:/tmp"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(ctr, "tmp/s.txt")); string(b) != "hi" {
		t.Errorf("cp - web:/tmp: %q", b)
	}
	if _, errOut, err := run(t, buf.String(), "-H", host, "cp", "-", "web:/etc/hosts"); err == nil || errOut != "hako: destination \"web:/etc/hosts\" must be a directory\n" {
		t.Errorf("cp - to a file: %v %q", err, errOut)
	}
}
