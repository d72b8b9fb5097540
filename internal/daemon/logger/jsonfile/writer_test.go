package jsonfile

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

type entry struct {
	Log    string `json:"log"`
	Stream string `json:"stream"`
	Time   string `json:"time"`
}

// fileEntries decodes one file with encoding/json, independently of the
// package's own decoder.
func fileEntries(t *testing.T, name string) []entry {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []entry
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, maxEntry)
	for sc.Scan() {
		var e entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("%s: line %q: %v", name, sc.Text(), err)
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func logs(es []entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Stream[3:] + ":" + e.Log
	}
	return out
}

func newTestWriter(t *testing.T, o Options) (*Writer, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "c-json.log")
	w, err := NewWriter(path, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w, path
}

func mustWrite(t testing.TB, w *Writer, stream, s string) {
	t.Helper()
	if err := w.Write(stream, []byte(s)); err != nil {
		t.Fatal(err)
	}
}

func TestWriteFormat(t *testing.T) {
	w, path := newTestWriter(t, Options{})
	before := time.Now()
	mustWrite(t, w, "stdout", "hello\n")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`^\{"log":"hello\\n","stream":"stdout","time":"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z)"\}\n$`)
	m := re.FindSubmatch(b)
	if m == nil {
		t.Fatalf("entry %q is not in docker's format", b)
	}
	ts, err := time.Parse(time.RFC3339Nano, string(m[1]))
	if err != nil || ts.Before(before.Add(-time.Second)) || ts.After(time.Now().Add(time.Second)) {
		t.Fatalf("time %s (%v) is not now", m[1], err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm()&^0o640 != 0 {
		t.Errorf("mode %v, want at most 0640", fi.Mode().Perm())
	}
}

func TestWriteSplitsLines(t *testing.T) {
	w, path := newTestWriter(t, Options{})
	mustWrite(t, w, "stdout", "a\nb")
	mustWrite(t, w, "stderr", "e1")
	mustWrite(t, w, "stdout", "c\nd\n")
	mustWrite(t, w, "stderr", "\n\ne2")
	mustWrite(t, w, "stdout", "")
	mustWrite(t, w, "stdout", "tail")
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, w, "stderr", "after\n")
	got := logs(fileEntries(t, path))
	want := []string{"out:a\n", "out:bc\n", "out:d\n", "err:e1\n", "err:\n", "out:tail", "err:e2", "err:after\n"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("entries\n got %q\nwant %q", got, want)
	}
}

func TestWriteLongLines(t *testing.T) {
	long := strings.Repeat("x", 40000)
	tests := []struct {
		name   string
		chunks []string
		want   []int // lengths of the "log" values; negative: ends in '\n'
	}{
		{"one write", []string{long + "\n"}, []int{maxLine, maxLine, -(40000 - 2*maxLine + 1)}},
		{"small writes", chunk(long+"\n", 1000), []int{maxLine, maxLine, -(40000 - 2*maxLine + 1)}},
		{"exactly 16K", []string{long[:maxLine], "\n"}, []int{-(maxLine + 1)}},
		{"16K+1", chunk(long[:maxLine+1]+"\n", 7), []int{maxLine, -2}},
		{"unterminated", []string{long[:20000]}, []int{maxLine, 20000 - maxLine}},
		{"two lines", []string{long[:maxLine+5] + "\nab\n"}, []int{maxLine, -6, -3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, path := newTestWriter(t, Options{})
			for _, c := range tt.chunks {
				mustWrite(t, w, "stdout", c)
			}
			w.Flush()
			es := fileEntries(t, path)
			var got []int
			for _, e := range es {
				n := len(e.Log)
				if strings.HasSuffix(e.Log, "\n") {
					n = -n
				}
				got = append(got, n)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("entry sizes %v, want %v", got, tt.want)
			}
		})
	}
}

func chunk(s string, n int) []string {
	var out []string
	for len(s) > n {
		out = append(out, s[:n])
		s = s[n:]
	}
	return append(out, s)
}

func TestWriteLongLineKeepsRunes(t *testing.T) {
	w, path := newTestWriter(t, Options{})
	line := strings.Repeat("x", maxLine-1) + "é" + "yy\n"
	mustWrite(t, w, "stdout", line)
	es := fileEntries(t, path)
	if len(es) != 2 || es[0].Log+es[1].Log != line {
		t.Fatalf("got %d entries, not the line", len(es))
	}
	if len(es[0].Log) != maxLine-1 || es[1].Log != "éyy\n" {
		t.Fatalf("split at %d, want before the two-byte rune", len(es[0].Log))
	}
}

func TestWriteEscapes(t *testing.T) {
	w, path := newTestWriter(t, Options{})
	odd := "q\"b\\s/<a>&\t\r\x00\x1f\x7f é 日本 \u2028\u2029 \xff\xfe end"
	mustWrite(t, w, "stdout", odd+"\n")
	b, _ := os.ReadFile(path)
	// Escaped as docker's encoder escapes: HTML characters, line
	// separators and each invalid byte.
	for _, want := range []string{`q\"b\\s/\u003ca\u003e\u0026\t\r\u0000\u001f` + "\x7f" + ` é 日本 \u2028\u2029 \ufffd\ufffd end\n`} {
		if !bytes.Contains(b, []byte(`{"log":"`+want+`","stream":"stdout"`)) {
			t.Fatalf("file %s\nwant log %s", b, want)
		}
	}
	var e entry
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatal(err)
	}
	m, err := decodeEntry(bytes.TrimSuffix(b, []byte("\n")))
	if err != nil {
		t.Fatal(err)
	}
	if string(m.Line) != e.Log || !strings.HasPrefix(e.Log, "q\"b\\s/<a>&\t\r\x00\x1f\x7f é") {
		t.Fatalf("decoded %q, encoding/json decodes %q", m.Line, e.Log)
	}
}

func TestWriteRejectsUnknownStream(t *testing.T) {
	w, _ := newTestWriter(t, Options{})
	if err := w.Write("stdin", []byte("x\n")); err == nil {
		t.Fatal("stream stdin accepted")
	}
}

func TestRotation(t *testing.T) {
	for _, files := range []int{1, 2, 4} {
		t.Run(fmt.Sprint("max-file=", files), func(t *testing.T) {
			const maxSize = 1000
			w, path := newTestWriter(t, Options{MaxSize: maxSize, MaxFiles: files})
			const n = 300
			for i := range n {
				mustWrite(t, w, "stdout", fmt.Sprintf("line %03d\n", i))
			}
			var all []entry
			for i := files - 1; i >= 0; i-- {
				name := path
				if i > 0 {
					name = rotatedName(path, i)
				}
				fi, err := os.Stat(name)
				if err != nil {
					t.Fatalf("file %d: %v", i, err)
				}
				if fi.Size() > maxSize {
					t.Errorf("%s has %d bytes, more than max-size %d", filepath.Base(name), fi.Size(), maxSize)
				}
				es := fileEntries(t, name)
				if i > 0 && maxSize-fi.Size() > int64(len(`{"log":"line 000\n","stream":"stdout","time":"2024-01-02T03:04:05.123456789Z"}`)+1) {
					t.Errorf("%s was rotated with room for another entry (%d bytes)", filepath.Base(name), fi.Size())
				}
				all = append(all, es...)
			}
			if _, err := os.Stat(rotatedName(path, files)); err == nil {
				t.Errorf("%s exists beyond max-file", rotatedName(path, files))
			}
			if _, err := os.Stat(path + ".rotating"); err == nil {
				t.Error("the rotation's temporary file was left behind")
			}
			// The files hold the last entries, in order, without a gap.
			first := n - len(all)
			for i, e := range all {
				if want := fmt.Sprintf("line %03d\n", first+i); e.Log != want {
					t.Fatalf("entry %d is %q, want %q", i, e.Log, want)
				}
			}
			if len(all) < files*(maxSize/100) {
				t.Errorf("only %d entries kept", len(all))
			}
		})
	}
}

func TestWriterReopenAfterCrash(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	good := `{"log":"one\n","stream":"stdout","time":"2024-01-02T03:04:05Z"}` + "\n"
	if err := os.WriteFile(path, []byte(good+`{"log":"tw`), 0o640); err != nil {
		t.Fatal(err)
	}
	w, err := NewWriter(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, w, "stdout", "three\n")
	w.Close()
	var got []string
	err = Read(t.Context(), path, ReadConfig{Tail: -1}, nil, func(m Message) error {
		got = append(got, string(m.Line))
		return nil
	})
	if err != nil || fmt.Sprint(got) != fmt.Sprint([]string{"one\n", "three\n"}) {
		t.Fatalf("read %q, %v; want the entries around the broken one", got, err)
	}
}

func TestConcurrentWriters(t *testing.T) {
	w, path := newTestWriter(t, Options{MaxSize: 64 << 10, MaxFiles: 100})
	const n = 2000
	var wg sync.WaitGroup
	for _, stream := range []string{"stdout", "stderr"} {
		wg.Go(func() {
			var buf []byte
			for i := range n {
				buf = fmt.Appendf(buf, "%s %d %s\n", stream, i, strings.Repeat("z", i%50))
			}
			// Odd chunk sizes, so lines straddle writes.
			for size := 1; len(buf) > 0; size = size%97 + 13 {
				k := min(size, len(buf))
				if err := w.Write(stream, buf[:k]); err != nil {
					t.Error(err)
					return
				}
				buf = buf[k:]
			}
		})
	}
	// A reader running alongside must see whole entries only.
	wg.Go(func() {
		for range 20 {
			Read(t.Context(), path, ReadConfig{Tail: 10}, nil, func(m Message) error {
				if !bytes.HasSuffix(m.Line, []byte("\n")) {
					t.Errorf("partial entry %q", m.Line)
				}
				return nil
			})
		}
	})
	wg.Wait()
	next := map[string]int{}
	err := Read(t.Context(), path, ReadConfig{Tail: -1}, nil, func(m Message) error {
		want := fmt.Sprintf("%s %d %s\n", m.Stream, next[m.Stream], strings.Repeat("z", next[m.Stream]%50))
		if string(m.Line) != want {
			return fmt.Errorf("got %q, want %q", m.Line, want)
		}
		next[m.Stream]++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if next["stdout"] != n || next["stderr"] != n {
		t.Fatalf("read %v entries, want %d per stream", next, n)
	}
}

func BenchmarkWriteSmallLines(b *testing.B) {
	w, err := NewWriter(filepath.Join(b.TempDir(), "c-json.log"), Options{MaxSize: 10 << 20, MaxFiles: 2})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	line := []byte("2024-01-02 03:04:05 INFO request served path=/index.html status=200\n")
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		if err := w.Write("stdout", line); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWriteChunk(b *testing.B) {
	w, err := NewWriter(filepath.Join(b.TempDir(), "c-json.log"), Options{MaxSize: 10 << 20, MaxFiles: 2})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	chunk := bytes.Repeat([]byte("a short line of output\n"), 1000)
	b.SetBytes(int64(len(chunk)))
	b.ReportAllocs()
	for b.Loop() {
		if err := w.Write("stdout", chunk); err != nil {
			b.Fatal(err)
		}
	}
}
