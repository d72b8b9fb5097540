package cli

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestTarContextDockerignore(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"Dockerfile":     "FROM scratch\n",
		".dockerignore":  "# comment\n*.log\nnode_modules\n!keep.log\nDockerfile\n",
		"a.txt":          "a",
		"x.log":          "x",
		"keep.log":       "k",
		"node_modules/m": "m",
		"src/b.txt":      "b",
		"src/deep/c.log": "c",
	} {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if err := tarContext(&buf, dir); err != nil {
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
	}
	slices.Sort(names)
	want := []string{".dockerignore", "Dockerfile", "a.txt", "keep.log", "src/", "src/b.txt", "src/deep/", "src/deep/c.log"}
	if !slices.Equal(names, want) {
		t.Errorf("context: %v\nwant %v", names, want)
	}
}

func TestStdinContext(t *testing.T) {
	r, err := stdinContext(strings.NewReader("FROM busybox\n"))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(r)
	h, err := tr.Next()
	if err != nil || h.Name != "Dockerfile" {
		t.Fatalf("%v %v", h, err)
	}
	if b, _ := io.ReadAll(tr); string(b) != "FROM busybox\n" {
		t.Errorf("Dockerfile %q", b)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "x", Mode: 0o644})
	tw.Close()
	want := buf.String()
	r, err = stdinContext(strings.NewReader(want))
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(r); string(b) != want {
		t.Error("a tar on stdin was not passed through")
	}
}
