package linux

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []int{0, 1, 511, 4096, 4097, 100000} {
		p := filepath.Join(dir, "f")
		want := bytes.Repeat([]byte{'x'}, n)
		if err := os.WriteFile(p, want, 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := ReadFile(p)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("ReadFile of %d bytes: %d bytes, %v", n, len(got), err)
		}
	}
	// /proc files report no size.
	got, err := ReadFile("/proc/self/mountinfo")
	want, _ := os.ReadFile("/proc/self/mountinfo")
	if err != nil || len(got) == 0 || len(got) != len(want) {
		t.Fatalf("ReadFile(/proc/self/mountinfo): %d bytes (os: %d), %v", len(got), len(want), err)
	}
	if _, err := ReadFile(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v, want ErrNotExist", err)
	}
	var pe *os.PathError
	if _, err := ReadFile(dir); !errors.As(err, &pe) || pe.Op != "read" {
		t.Fatalf("directory: %v, want a read *os.PathError", err)
	}
}

func TestWriteAndReplaceFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "state.json")
	if err := WriteFile(p, []byte("one"), 0o640); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(p); err != nil || st.Mode().Perm()&^0o640 != 0 {
		t.Fatalf("WriteFile mode: %v %v", st.Mode(), err)
	}
	if err := WriteFile(filepath.Join(dir, "no", "such"), nil, 0o600); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("WriteFile into a missing directory: %v", err)
	}
	// A new file, then a replacement (swapped in, old content unlinked).
	p2 := filepath.Join(dir, "new.json")
	for _, content := range []string{"first", "second, longer", "3"} {
		if err := ReplaceFile(p2, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if b, err := os.ReadFile(p2); err != nil || string(b) != content {
			t.Fatalf("after ReplaceFile(%q): %q, %v", content, b, err)
		}
	}
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if len(names) != 2 {
		t.Fatalf("ReplaceFile left %v, want only new.json and state.json", names)
	}
	// A reader holding the old file keeps reading the old content.
	f, err := os.Open(p2)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := ReplaceFile(p2, []byte("fourth"), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(f.Name()); string(b) != "fourth" {
		t.Fatalf("path reads %q", b)
	}
	old := make([]byte, 8)
	n, _ := f.Read(old)
	if string(old[:n]) != "3" {
		t.Fatalf("the open file reads %q, want the old content", old[:n])
	}
}
