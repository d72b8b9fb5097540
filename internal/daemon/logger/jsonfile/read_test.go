package jsonfile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

var t0 = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

// writeLog writes a log by hand: file i of lines holds the entries
// "<stream> <n>\n" at t0+n seconds, oldest file first; the last is path.
func writeLog(t *testing.T, files ...[]string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "c-json.log")
	n := 0
	for i, lines := range files {
		var b []byte
		for _, s := range lines {
			b = appendEntry(b, s, fmt.Appendf(nil, "%s %d", s, n), true, t0.Add(time.Duration(n)*time.Second), nil)
			n++
		}
		name := path
		if k := len(files) - 1 - i; k > 0 {
			name = rotatedName(path, k)
		}
		if err := os.WriteFile(name, b, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func readAll(t *testing.T, path string, cfg ReadConfig) []string {
	t.Helper()
	var got []string
	err := Read(t.Context(), path, cfg, nil, func(m Message) error {
		got = append(got, strings.TrimSuffix(string(m.Line), "\n"))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func lines(stream string, from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("%s %d", stream, i))
	}
	return out
}

func check(t *testing.T, what string, got, want []string) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s:\n got %q\nwant %q", what, got, want)
	}
}

func TestReadAllAcrossFiles(t *testing.T) {
	path := writeLog(t, repeat("stdout", 3), repeat("stdout", 2), repeat("stdout", 4))
	check(t, "all", readAll(t, path, ReadConfig{Tail: -1}), lines("stdout", 0, 9))
}

func TestReadMissingLog(t *testing.T) {
	got := readAll(t, filepath.Join(t.TempDir(), "none-json.log"), ReadConfig{Tail: -1})
	if len(got) != 0 {
		t.Fatalf("read %q from no file", got)
	}
}

func TestReadTail(t *testing.T) {
	mixed := []string{"stdout", "stderr", "stdout", "stdout", "stderr"}
	path := writeLog(t, mixed, mixed, mixed)
	all := readAll(t, path, ReadConfig{Tail: -1})
	tests := []struct {
		cfg  ReadConfig
		want []string
	}{
		{ReadConfig{Tail: 3}, all[12:]},
		{ReadConfig{Tail: 7}, all[8:]},
		{ReadConfig{Tail: 15}, all},
		{ReadConfig{Tail: 1000}, all},
		{ReadConfig{Tail: 0}, nil},
		{ReadConfig{Tail: 4, Stderr: true}, []string{"stderr 6", "stderr 9", "stderr 11", "stderr 14"}},
		{ReadConfig{Tail: 2, Stdout: true}, []string{"stdout 12", "stdout 13"}},
		{ReadConfig{Tail: 5, Until: t0.Add(10 * time.Second)}, all[5:10]},
		{ReadConfig{Tail: 5, Since: t0.Add(12 * time.Second)}, all[12:]},
	}
	for _, tt := range tests {
		check(t, fmt.Sprintf("%+v", tt.cfg), readAll(t, path, tt.cfg), tt.want)
	}
}

func TestReadTailBigFile(t *testing.T) {
	// Lines of many sizes, some longer than a read chunk, in one big file.
	path := filepath.Join(t.TempDir(), "c-json.log")
	w, err := NewWriter(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var want []string
	for i := range 3000 {
		s := fmt.Sprintf("%d %s", i, strings.Repeat("\"<é>", rng.IntN(10)*rng.IntN(10)*rng.IntN(40)))
		want = append(want, s)
		mustWrite(t, w, "stdout", s+"\n")
	}
	w.Close()
	for _, n := range []int{1, 2, 10, 999, 2999, 3000, 3001} {
		got := readAll(t, path, ReadConfig{Tail: n})
		check(t, fmt.Sprint("tail ", n), got, want[max(0, len(want)-n):])
	}
}

func TestBackScanner(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var b []byte
	var want []string
	for range 500 {
		s := strings.Repeat("y", rng.IntN(3)*rng.IntN(readChunk))
		want = append(want, s)
		b = append(append(b, s...), '\n')
	}
	f, err := os.CreateTemp(t.TempDir(), "scan")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Write(b)
	s := newBackScanner(f, int64(len(b)))
	for i := len(want) - 1; i >= 0; i-- {
		line, off, ok, err := s.prev()
		if err != nil || !ok {
			t.Fatalf("line %d: ok=%v err=%v", i, ok, err)
		}
		if string(line) != want[i] || string(b[off:off+int64(len(line))]) != want[i] {
			t.Fatalf("line %d: got %d bytes at %d, want %d", i, len(line), off, len(want[i]))
		}
	}
	if _, _, ok, _ := s.prev(); ok {
		t.Fatal("a line before the start of the file")
	}
}

func TestReadSinceUntil(t *testing.T) {
	path := writeLog(t, repeat("stdout", 5), repeat("stdout", 5), repeat("stdout", 5))
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	tests := []struct {
		cfg  ReadConfig
		want []string
	}{
		{ReadConfig{Tail: -1, Since: at(3)}, lines("stdout", 3, 15)},
		{ReadConfig{Tail: -1, Since: at(11)}, lines("stdout", 11, 15)},
		{ReadConfig{Tail: -1, Since: at(3).Add(time.Millisecond)}, lines("stdout", 4, 15)},
		{ReadConfig{Tail: -1, Until: at(7)}, lines("stdout", 0, 7)},
		{ReadConfig{Tail: -1, Since: at(4), Until: at(11)}, lines("stdout", 4, 11)},
		{ReadConfig{Tail: -1, Since: at(20)}, nil},
		{ReadConfig{Tail: -1, Until: at(0)}, nil},
	}
	for _, tt := range tests {
		check(t, fmt.Sprintf("since %v until %v", tt.cfg.Since, tt.cfg.Until), readAll(t, path, tt.cfg), tt.want)
	}
}

func TestReadSkipsDamage(t *testing.T) {
	path := writeLog(t, repeat("stdout", 2))
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("garbage\n" + `{"log":"docker\n","stream":"stderr","attrs":{"tag":"x"},"time":"2024-01-02T03:05:00.5Z"}` + "\n" + `{"log":"cut`)
	f.Close()
	check(t, "entries", readAll(t, path, ReadConfig{Tail: -1}), []string{"stdout 0", "stdout 1", "docker"})
	check(t, "tail", readAll(t, path, ReadConfig{Tail: 2}), []string{"stdout 1", "docker"})
}

func TestReadStopsOnCallbackError(t *testing.T) {
	path := writeLog(t, repeat("stdout", 5))
	boom := errors.New("boom")
	n := 0
	err := Read(t.Context(), path, ReadConfig{Tail: -1}, nil, func(Message) error {
		if n++; n == 2 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) || n != 2 {
		t.Fatalf("Read = %v after %d entries, want boom after 2", err, n)
	}
}

// follower runs a following Read and collects what it sends.
type follower struct {
	stopped chan struct{}
	lines   chan string
	done    chan error
	count   atomic.Int64
}

func follow(t *testing.T, ctx context.Context, path string, cfg ReadConfig) *follower {
	t.Helper()
	cfg.Follow = true
	f := &follower{stopped: make(chan struct{}), lines: make(chan string, 100000), done: make(chan error, 1)}
	go func() {
		f.done <- Read(ctx, path, cfg, f.stopped, func(m Message) error {
			f.lines <- strings.TrimSuffix(string(m.Line), "\n")
			f.count.Add(1)
			return nil
		})
	}()
	return f
}

// expect receives want, in order, within a few seconds.
func (f *follower) expect(t *testing.T, want ...string) {
	t.Helper()
	for _, w := range want {
		select {
		case got := <-f.lines:
			if got != w {
				t.Fatalf("followed %q, want %q", got, w)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no entry %q", w)
		}
	}
}

// stop closes stopped and waits for Read to return.
func (f *follower) stop(t *testing.T) {
	t.Helper()
	close(f.stopped)
	select {
	case err := <-f.done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Read did not return after stopped was closed")
	}
}

func (f *follower) expectNone(t *testing.T) {
	t.Helper()
	if len(f.lines) > 0 {
		t.Fatalf("unexpected entry %q", <-f.lines)
	}
}

func TestFollow(t *testing.T) {
	w, path := newTestWriter(t, Options{})
	mustWrite(t, w, "stdout", "old 1\nold 2\n")
	f := follow(t, t.Context(), path, ReadConfig{Tail: 1})
	f.expect(t, "old 2")
	mustWrite(t, w, "stdout", "new 1\n")
	f.expect(t, "new 1")
	mustWrite(t, w, "stderr", "new 2\nnew")
	f.expect(t, "new 2")
	mustWrite(t, w, "stderr", " 3\n")
	f.expect(t, "new 3")
	// What is written just before the container stops is not lost.
	mustWrite(t, w, "stdout", "last\npartial")
	w.Flush()
	f.stop(t)
	f.expect(t, "last", "partial")
	f.expectNone(t)
}

func TestFollowDrainsOnStop(t *testing.T) {
	w, path := newTestWriter(t, Options{})
	f := follow(t, t.Context(), path, ReadConfig{Tail: -1})
	mustWrite(t, w, "stdout", "a\nb\n")
	w.Flush()
	f.stop(t)
	f.expect(t, "a", "b")
	f.expectNone(t)
}

func TestFollowTailZeroAndContext(t *testing.T) {
	w, path := newTestWriter(t, Options{})
	mustWrite(t, w, "stdout", "before\n")
	ctx, cancel := context.WithCancel(t.Context())
	f := follow(t, ctx, path, ReadConfig{Tail: 0})
	time.Sleep(50 * time.Millisecond)
	mustWrite(t, w, "stdout", "after\n")
	f.expect(t, "after")
	cancel()
	select {
	case err := <-f.done:
		if err != nil {
			t.Fatalf("Read = %v after cancel, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Read did not return after cancel")
	}
}

func TestFollowWaitsForFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	f := follow(t, t.Context(), path, ReadConfig{Tail: -1})
	time.Sleep(50 * time.Millisecond)
	w, err := NewWriter(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	mustWrite(t, w, "stdout", "first\n")
	f.expect(t, "first")
	f.stop(t)
	f.expectNone(t)
}

func TestFollowTruncatedLine(t *testing.T) {
	path := writeLog(t, repeat("stdout", 1))
	f := follow(t, t.Context(), path, ReadConfig{Tail: -1})
	f.expect(t, "stdout 0")
	line := appendEntry(nil, "stdout", []byte("slow"), true, time.Now(), nil)
	fh, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	defer fh.Close()
	fh.Write(line[:10])
	time.Sleep(100 * time.Millisecond)
	fh.Write(line[10:])
	f.expect(t, "slow")
	f.stop(t)
	f.expectNone(t)
}

func TestFollowUntil(t *testing.T) {
	w, path := newTestWriter(t, Options{})
	f := follow(t, t.Context(), path, ReadConfig{Tail: -1, Until: time.Now().Add(300 * time.Millisecond)})
	mustWrite(t, w, "stdout", "in time\n")
	f.expect(t, "in time")
	select {
	case err := <-f.done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("follow went on past until")
	}
}

// TestFollowRotation follows a log while it rotates: every entry comes
// exactly once, in order.
func TestFollowRotation(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		lag  int64 // the writer waits while the follower is this far behind; 0: never
	}{
		// Files are never dropped: the follower may fall many rotations
		// behind and must find its way through path.N … path.1.
		{"many files", Options{MaxSize: 600, MaxFiles: 1000}, 0},
		// Two files: the follower keeps up, the writer rotates under it.
		{"two files", Options{MaxSize: 600, MaxFiles: 2}, 3},
		// One file: each rotation replaces the only file.
		{"one file", Options{MaxSize: 600, MaxFiles: 1}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, path := newTestWriter(t, tt.opts)
			mustWrite(t, w, "stdout", "line 0\n")
			f := follow(t, t.Context(), path, ReadConfig{Tail: -1})
			f.expect(t, "line 0")
			const n = 3000
			for i := 1; i < n; i++ {
				for tt.lag > 0 && int64(i)-f.count.Load() > tt.lag {
					time.Sleep(50 * time.Microsecond)
				}
				mustWrite(t, w, "stdout", fmt.Sprintf("line %d\n", i))
			}
			for i := 1; i < n; i++ {
				f.expect(t, fmt.Sprintf("line %d", i))
			}
			f.stop(t)
			f.expectNone(t)
		})
	}
}

func TestReadWhileRotating(t *testing.T) {
	// A reader that is not following must never see an entry twice or
	// out of order, however the files move under it.
	w, path := newTestWriter(t, Options{MaxSize: 500, MaxFiles: 4})
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			mustWrite(t, w, "stdout", fmt.Sprintf("%d\n", i))
		}
	}()
	for range 200 {
		prev := -1
		err := Read(t.Context(), path, ReadConfig{Tail: -1}, nil, func(m Message) error {
			var n int
			fmt.Sscanf(string(m.Line), "%d", &n)
			if n <= prev {
				return fmt.Errorf("entry %d after %d", n, prev)
			}
			prev = n
			return nil
		})
		if err != nil {
			t.Error(err)
			break
		}
	}
	close(stop)
	<-done
}

func TestDecodeEntry(t *testing.T) {
	for _, in := range []string{
		`{"log":"a\u00e9\"\\\/\b\f\n\r\t\u003c","stream":"stdout","time":"2024-01-02T03:04:05.5Z"}`,
		`{"time":"2024-01-02T03:04:05.5Z","stream":"stdout","log":"a\u00e9\"\\\/\b\f\n\r\t\u003c"}`,
		` { "log" : "a\u00e9\"\\\/\b\f\n\r\t\u003c" , "stream" : "stdout" , "time" : "2024-01-02T03:04:05.5Z" } `,
	} {
		m, err := decodeEntry([]byte(in))
		if err != nil || string(m.Line) != "aé\"\\/\b\f\n\r\t<" || m.Stream != "stdout" || !m.Time.Equal(t0.Add(500*time.Millisecond)) {
			t.Errorf("decode %s = %+v, %v", in, m, err)
		}
	}
	// Surrogate pairs go through encoding/json.
	m, err := decodeEntry([]byte(`{"log":"\ud83d\ude00","stream":"stderr","time":"2024-01-02T03:04:05Z"}`))
	if err != nil || string(m.Line) != "😀" {
		t.Errorf("surrogate pair decoded as %q, %v", m.Line, err)
	}
	for _, bad := range []string{``, `{}`, `{"log":"x"`, `{"log":"x","stream":"stdout","time":"yesterday"}`, "{\"log\":\"\x01\",\"stream\":\"stdout\",\"time\":\"2024-01-02T03:04:05Z\"}"} {
		if _, err := decodeEntry([]byte(bad)); err == nil {
			t.Errorf("decoded %q", bad)
		}
	}
}

func BenchmarkReadTail(b *testing.B) {
	path := filepath.Join(b.TempDir(), "c-json.log")
	w, _ := NewWriter(path, Options{})
	line := bytes.Repeat([]byte("x"), 100)
	line = append(line, '\n')
	for range 200000 {
		w.Write("stdout", line)
	}
	w.Close()
	b.ReportAllocs()
	for b.Loop() {
		Read(context.Background(), path, ReadConfig{Tail: 100}, nil, func(Message) error { return nil })
	}
}

func BenchmarkReadAll(b *testing.B) {
	path := filepath.Join(b.TempDir(), "c-json.log")
	w, _ := NewWriter(path, Options{})
	line := []byte("2024-01-02 03:04:05 INFO request served path=/index.html status=200\n")
	for range 10000 {
		w.Write("stdout", line)
	}
	w.Close()
	fi, _ := os.Stat(path)
	b.SetBytes(fi.Size())
	b.ReportAllocs()
	for b.Loop() {
		Read(context.Background(), path, ReadConfig{Tail: -1}, nil, func(Message) error { return nil })
	}
}
