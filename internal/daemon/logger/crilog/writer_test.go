package crilog

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var entry = regexp.MustCompile(`^(\S+) (stdout|stderr) ([FP]) (.*)$`)

func parse(t *testing.T, p string) [][3]string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var out [][3]string
	for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		m := entry.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("not a CRI log line: %q", l)
		}
		if _, err := time.Parse(time.RFC3339Nano, m[1]); err != nil {
			t.Fatalf("time %q: %v", m[1], err)
		}
		out = append(out, [3]string{m[2], m[3], m[4]})
	}
	return out
}

func TestWriterLines(t *testing.T) {
	p := filepath.Join(t.TempDir(), "0.log")
	w, err := NewWriter(p)
	if err != nil {
		t.Fatal(err)
	}
	w.Write("stdout", []byte("hello\nwor"))
	w.Write("stderr", []byte("oops\n"))
	w.Write("stdout", []byte("ld\nlast"))
	long := strings.Repeat("x", MaxLine+10)
	w.Write("stderr", []byte(long+"\n"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got := parse(t, p)
	want := [][3]string{
		{"stdout", "F", "hello"},
		{"stderr", "F", "oops"},
		{"stdout", "F", "world"},
		{"stderr", "P", long[:MaxLine]},
		{"stderr", "F", long[MaxLine:]},
		{"stdout", "F", "last"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d entries, want %d: %q", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("entry %d: got %q, want %q", i, got[i], want[i])
		}
	}
}

func TestWriterReopen(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "0.log")
	w, err := NewWriter(p)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.Write("stdout", []byte("before\n"))
	if err := os.Rename(p, p+".1"); err != nil {
		t.Fatal(err)
	}
	if err := w.Reopen(); err != nil {
		t.Fatal(err)
	}
	w.Write("stdout", []byte("after\n"))
	if got := parse(t, p+".1"); len(got) != 1 || got[0][2] != "before" {
		t.Errorf("rotated file: %q", got)
	}
	if got := parse(t, p); len(got) != 1 || got[0][2] != "after" {
		t.Errorf("reopened file: %q", got)
	}
}

func TestWriterBadStream(t *testing.T) {
	w, err := NewWriter(filepath.Join(t.TempDir(), "0.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Write("stdin", []byte("x\n")); err == nil {
		t.Error("stream stdin accepted")
	}
}
