package jsonfile

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
	"time"
)

// Message is one entry of the log.
type Message struct {
	Line   []byte // the output, with its '\n' when the entry had one
	Stream string // "stdout" or "stderr"
	Time   time.Time
	// Attrs are the attributes logged with the entry (--log-opt labels,
	// env, tag), if any.
	Attrs map[string]string
}

// ReadConfig selects what Read sends.
type ReadConfig struct {
	// Since and Until bound the entries' times (Since inclusive, Until
	// exclusive); zero is unbounded.
	Since, Until time.Time
	// Tail is how many of the last selected entries to send before
	// following; -1 sends all.
	Tail int
	// Follow waits for new entries after the existing ones.
	Follow bool
	// Stdout and Stderr pick the streams; neither set means both.
	Stdout, Stderr bool
}

// errDone ends a read early without an error (an entry at or past Until).
var errDone = errors.New("done")

// Read sends the log's selected entries to fn, oldest first, across the
// rotated files. With cfg.Follow it then sends new entries as they are
// written, across rotations, until ctx is done or stopped is closed (the
// container exited); after stopped it sends what is left in the files
// first. Read returns nil then, or fn's error when fn fails.
//
// fn may keep Message.Line.
func Read(ctx context.Context, path string, cfg ReadConfig, stopped <-chan struct{}, fn func(Message) error) error {
	r := &reader{ctx: ctx, path: path, cfg: cfg, fn: fn}
	if !cfg.Stdout && !cfg.Stderr {
		r.cfg.Stdout, r.cfg.Stderr = true, true
	}
	files, err := openFiles(path)
	if err != nil {
		return err
	}
	defer func() {
		for _, f := range files {
			f.close()
		}
	}()
	err = r.history(files)
	if err == nil && cfg.Follow {
		err = r.follow(files, stopped)
	}
	if errors.Is(err, errDone) || (err != nil && ctx.Err() != nil) {
		return nil
	}
	return err
}

type reader struct {
	ctx  context.Context
	path string
	cfg  ReadConfig
	fn   func(Message) error
	cur  *lineReader // the file being followed
	n    int         // lines read, to check ctx now and then
}

// selected decodes line and reports whether the config selects it, and
// whether it lies at or past Until.
func (r *reader) selected(line []byte) (m Message, ok, past bool) {
	m, err := decodeEntry(line)
	if err != nil {
		return m, false, false // damage, or a line cut short by a crash
	}
	if !r.cfg.Until.IsZero() && !m.Time.Before(r.cfg.Until) {
		return m, false, true
	}
	switch m.Stream {
	case "stdout":
		ok = r.cfg.Stdout
	case "stderr":
		ok = r.cfg.Stderr
	}
	if ok && !r.cfg.Since.IsZero() && m.Time.Before(r.cfg.Since) {
		ok = false
	}
	return m, ok, false
}

// emit sends line to fn when it is selected; errDone once past Until.
func (r *reader) emit(line []byte) error {
	m, ok, past := r.selected(line)
	if past {
		return errDone
	}
	if !ok {
		return nil
	}
	return r.fn(m)
}

// drain sends the complete lines lr holds beyond its offset.
func (r *reader) drain(lr *lineReader) error {
	for {
		line, ok, err := lr.next()
		if err != nil || !ok {
			return err
		}
		if err := r.emit(line); err != nil {
			return err
		}
		if r.n++; r.n%1024 == 0 && r.ctx.Err() != nil {
			return r.ctx.Err()
		}
	}
}

// history sends the entries already in files (oldest first; the last is
// the current file). When following, r.cur is left at the current file's
// end; otherwise the read stops at the sizes the files had when opened.
func (r *reader) history(files []*logFile) error {
	if len(files) == 0 {
		return nil
	}
	limit := func(f *logFile) int64 {
		if r.cfg.Follow {
			return -1
		}
		return f.size
	}
	i, off, err := r.start(files)
	if err != nil {
		return err
	}
	for ; i < len(files); i++ {
		lr := newLineReader(files[i].f, off, limit(files[i]))
		off = 0
		if err := r.drain(lr); err != nil {
			return err
		}
		r.cur = lr
	}
	return nil
}

// start finds where history begins: file index and offset.
func (r *reader) start(files []*logFile) (int, int64, error) {
	last := len(files) - 1
	switch {
	case r.cfg.Tail == 0:
		end, err := files[last].lineEnd()
		return last, end, err
	case r.cfg.Tail > 0:
		return r.tailStart(files)
	}
	// All entries, but skip the rotated files that end before Since.
	if r.cfg.Since.IsZero() {
		return 0, 0, nil
	}
	for i, f := range files[:last] {
		t, ok, err := f.lastTime()
		if err != nil {
			return 0, 0, err
		}
		if !ok || !t.Before(r.cfg.Since) {
			return i, 0, nil
		}
	}
	return last, 0, nil
}

// tailStart scans back from the newest entry for the Tail-th last
// selected one; older entries are never read.
func (r *reader) tailStart(files []*logFile) (int, int64, error) {
	count := 0
	for i := len(files) - 1; i >= 0; i-- {
		end, err := files[i].lineEnd()
		if err != nil {
			return 0, 0, err
		}
		s := newBackScanner(files[i].f, end)
		for {
			line, off, ok, err := s.prev()
			if err != nil {
				return 0, 0, fmt.Errorf("read container log: %w", err)
			}
			if !ok {
				break
			}
			m, sel, _ := r.selected(line)
			if !r.cfg.Since.IsZero() && m.Time.Before(r.cfg.Since) && !m.Time.IsZero() {
				// Times only grow along the files: nothing earlier is
				// selected either.
				return i, off + int64(len(line)) + 1, nil
			}
			if sel {
				if count++; count == r.cfg.Tail {
					return i, off, nil
				}
			}
		}
	}
	return 0, 0, nil
}

// logFile is one open file of the log.
type logFile struct {
	f    *os.File
	dev  uint64
	ino  uint64
	size int64 // when opened
}

func (f *logFile) close() { f.f.Close() }

func (f *logFile) same(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && uint64(st.Dev) == f.dev && st.Ino == f.ino
}

// lineEnd is the offset just past the last complete line the file had
// when opened.
func (f *logFile) lineEnd() (int64, error) {
	if f.size == 0 {
		return 0, nil
	}
	buf := make([]byte, min(f.size, readChunk))
	for end := f.size; end > 0; {
		at := max(0, end-int64(len(buf)))
		b := buf[:end-at]
		if _, err := f.f.ReadAt(b, at); err != nil {
			return 0, fmt.Errorf("read container log: %w", err)
		}
		for i := len(b) - 1; i >= 0; i-- {
			if b[i] == '\n' {
				return at + int64(i) + 1, nil
			}
		}
		end = at
		if f.size-end > maxEntry {
			break
		}
	}
	return 0, nil
}

// lastTime is the time of the file's last entry; ok is false when it has
// none.
func (f *logFile) lastTime() (time.Time, bool, error) {
	end, err := f.lineEnd()
	if err != nil {
		return time.Time{}, false, err
	}
	s := newBackScanner(f.f, end)
	for {
		line, _, ok, err := s.prev()
		if err != nil || !ok {
			return time.Time{}, false, err
		}
		if m, err := decodeEntry(line); err == nil {
			return m.Time, true, nil
		}
	}
}

// openFiles opens the log's files, oldest first: path.N … path.1, path.
// The current file is missing before the container first wrote. A
// rotation while opening them would pair names with the wrong files, so
// the set is checked against the names afterwards and opened again when
// it changed.
func openFiles(path string) ([]*logFile, error) {
	var files []*logFile
	for range 20 {
		var stable bool
		var err error
		files, stable, err = tryOpenFiles(path)
		if err != nil || stable {
			return files, err
		}
		for _, f := range files {
			f.close()
		}
		time.Sleep(time.Millisecond)
	}
	return tryOpenFilesOnce(path)
}

func tryOpenFilesOnce(path string) ([]*logFile, error) {
	files, _, err := tryOpenFiles(path)
	return files, err
}

func tryOpenFiles(path string) (files []*logFile, stable bool, retErr error) {
	n := 0
	for {
		if _, err := os.Lstat(rotatedName(path, n+1)); err != nil {
			break
		}
		n++
	}
	names := make([]string, 0, n+1)
	for i := n; i >= 1; i-- {
		names = append(names, rotatedName(path, i))
	}
	names = append(names, path)
	defer func() {
		if retErr != nil {
			for _, f := range files {
				f.close()
			}
			files = nil
		}
	}()
	for _, name := range names {
		f, err := openLogFile(name)
		if errors.Is(err, fs.ErrNotExist) {
			if name == path && n == 0 {
				return files, true, nil // no log yet
			}
			return files, false, nil // rotated away meanwhile
		}
		if err != nil {
			return files, false, err
		}
		files = append(files, f)
	}
	// Every name must still be its file, and no file appear twice (the
	// writer links the current file to path.1 before replacing path).
	for i, name := range names {
		fi, err := os.Stat(name)
		if err != nil || !files[i].same(fi) || (i > 0 && files[i-1].dev == files[i].dev && files[i-1].ino == files[i].ino) {
			return files, false, nil
		}
	}
	return files, true, nil
}

func openLogFile(name string) (*logFile, error) {
	f, err := os.Open(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("open container log: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open container log: %w", err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return &logFile{f: f, dev: uint64(st.Dev), ino: st.Ino, size: fi.Size()}, nil
}
