package jsonfile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/hako-dev/hako/internal/errdefs"
)

// maxLine is the longest "log" value of one entry (docker's 16 KiB); a
// longer line is split into entries of at most this size, without '\n'
// but the last.
const maxLine = 16 * 1024

// Writer appends a container's output to its json-file log. It holds no
// goroutine, and per container only the partial line of each stream (at
// most maxLine bytes) and one encoding buffer that is dropped again when a
// large write made it grow.
type Writer struct {
	path string
	opts Options

	mu      sync.Mutex
	f       *os.File // nil once closed
	size    int64
	partial [2][]byte // the unterminated line of stdout, stderr
	enc     []byte    // entries encoded but not yet written
	attrs   []byte    // Options.Attrs as JSON, written with every entry
	err     error     // the first error of the current call
}

// NewWriter opens path for appending (creating it 0640), in the
// json-file format, rotating per o.
func NewWriter(path string, o Options) (*Writer, error) {
	if o.MaxSize < 0 {
		return nil, fmt.Errorf("log max-size %d: %w", o.MaxSize, errdefs.ErrInvalidArgument)
	}
	if o.MaxFiles < 1 {
		o.MaxFiles = 1
	}
	w := &Writer{path: path, opts: o}
	if len(o.Attrs) > 0 {
		w.attrs, _ = json.Marshal(o.Attrs) // sorted keys
	}
	if err := w.open(); err != nil {
		return nil, err
	}
	// A crash can leave a half-written last line: end it, so that the
	// next entry starts on a line of its own and readers skip only the
	// broken one.
	if w.size > 0 {
		last := make([]byte, 1)
		if _, err := w.f.ReadAt(last, w.size-1); err == nil && last[0] != '\n' {
			w.write([]byte{'\n'})
			if err := w.flushBatch(); err != nil {
				w.f.Close()
				return nil, err
			}
		}
	}
	return w, nil
}

func (w *Writer) open() error {
	f, err := os.OpenFile(w.path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("open container log: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("open container log: %w", err)
	}
	w.f, w.size = f, fi.Size()
	return nil
}

func streamIndex(stream string) (int, error) {
	switch stream {
	case "stdout":
		return 0, nil
	case "stderr":
		return 1, nil
	}
	return 0, fmt.Errorf("log stream %q: must be stdout or stderr: %w", stream, errdefs.ErrInvalidArgument)
}

// Write logs p, a chunk of stream's output ("stdout" or "stderr"). Each
// line ending in '\n' becomes one entry; a line longer than 16 KiB becomes
// several; an unterminated last line waits for the rest of it (or Flush).
// Safe for concurrent use.
func (w *Writer) Write(stream string, p []byte) error {
	si, err := streamIndex(stream)
	if err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return fmt.Errorf("write container log: %w", os.ErrClosed)
	}
	// One time for the whole chunk, taken under the lock so that times
	// never go backwards within the file (Read's since and tail rely on
	// that order).
	now := time.Now().UTC()
	part := w.partial[si]
	for len(p) > 0 {
		nl := bytes.IndexByte(p, '\n')
		content := p
		if nl >= 0 {
			content = p[:nl]
		}
		// Whole maxLine pieces first; a piece goes out only once the
		// line is known to be longer, so a line of exactly maxLine
		// bytes stays one entry with its '\n'.
		for len(part)+len(content) > maxLine {
			n := cut(part, content)
			if len(part) > 0 {
				part = append(part, content[:n]...)
				w.add(stream, part, false, now)
				part = part[:0]
			} else {
				w.add(stream, content[:n], false, now)
			}
			content = content[n:]
		}
		if nl < 0 {
			part = append(part, content...)
			break
		}
		if len(part) > 0 {
			part = append(part, content...)
			w.add(stream, part, true, now)
			part = part[:0]
		} else {
			w.add(stream, content, true, now)
		}
		p = p[nl+1:]
	}
	w.partial[si] = part
	return w.flushBatch()
}

// cut returns how many bytes of content complete a maxLine piece after
// part, backing off so as not to split a UTF-8 sequence between entries.
func cut(part, content []byte) int {
	n := maxLine - len(part)
	for i := 0; i < utf8.UTFMax-1 && n-i > 0; i++ {
		if utf8.RuneStart(content[n-i]) {
			return n - i
		}
	}
	return n
}

// Flush logs the buffered unterminated lines, as entries without '\n'
// (the container has exited).
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	return w.flushLocked()
}

func (w *Writer) flushLocked() error {
	now := time.Now().UTC()
	for si, name := range [2]string{"stdout", "stderr"} {
		if part := w.partial[si]; len(part) > 0 {
			w.add(name, part, false, now)
			w.partial[si] = part[:0]
		}
		if cap(w.partial[si]) > 4096 {
			w.partial[si] = nil
		}
	}
	return w.flushBatch()
}

// Close flushes the partial lines and closes the file.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	err := w.flushLocked()
	err = errors.Join(err, w.f.Close())
	w.f = nil
	w.partial = [2][]byte{}
	w.enc = nil
	return err
}

// add encodes one entry into the batch, first writing out the batch and
// rotating when the entry would take the file past MaxSize. Errors are
// kept for flushBatch.
func (w *Writer) add(stream string, line []byte, nl bool, t time.Time) {
	start := len(w.enc)
	w.enc = appendEntry(w.enc, stream, line, nl, t, w.attrs)
	n := int64(len(w.enc) - start)
	if w.opts.MaxSize > 0 && w.size+int64(start) > 0 && w.size+int64(start)+n > w.opts.MaxSize {
		entry := w.enc[start:]
		if start > 0 {
			w.write(w.enc[:start])
			entry = w.enc[:copy(w.enc, entry)]
		}
		w.rotate()
		w.enc = entry
	}
}

// flushBatch writes the encoded entries and reports the first error
// since the last call.
func (w *Writer) flushBatch() error {
	w.write(w.enc)
	if cap(w.enc) > 64<<10 {
		w.enc = nil
	} else {
		w.enc = w.enc[:0]
	}
	err := w.err
	w.err = nil
	return err
}

// write appends b to the file. After an error it writes nothing more
// until flushBatch has reported the error.
func (w *Writer) write(b []byte) {
	if len(b) == 0 || w.err != nil {
		return
	}
	n, err := w.f.Write(b)
	w.size += int64(n)
	if err != nil {
		w.err = fmt.Errorf("write container log: %w", err)
		if n > 0 && b[n-1] != '\n' {
			// Keep the next entry off the broken line, if there is room.
			if m, _ := w.f.Write([]byte{'\n'}); m == 1 {
				w.size++
			}
		}
	}
}

// rotate moves the full file aside (path → path.1 → path.2 …, dropping
// the oldest) and starts a new one. The name path never disappears: the
// old file is linked to path.1 and a new file renamed over path, so a
// reader always finds the current file and can tell from its inode that
// it changed. When rotation fails the old file stays current.
func (w *Writer) rotate() {
	if w.err != nil {
		return
	}
	next := w.path + ".rotating"
	nf, err := os.OpenFile(next, os.O_RDWR|os.O_APPEND|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		w.err = fmt.Errorf("rotate container log: %w", err)
		return
	}
	if err := w.shift(); err != nil {
		nf.Close()
		os.Remove(next)
		w.err = fmt.Errorf("rotate container log: %w", err)
		return
	}
	if err := os.Rename(next, w.path); err != nil {
		nf.Close()
		os.Remove(next)
		w.err = fmt.Errorf("rotate container log: %w", err)
		return
	}
	w.f.Close()
	w.f, w.size = nf, 0
}

// shift renames path.N-1 … path.1 one up and makes the current file
// path.1 as well; with MaxFiles 1 there is nothing to keep.
func (w *Writer) shift() error {
	if w.opts.MaxFiles < 2 {
		return nil
	}
	for i := w.opts.MaxFiles - 1; i > 1; i-- {
		if err := os.Rename(rotatedName(w.path, i-1), rotatedName(w.path, i)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	first := rotatedName(w.path, 1)
	if err := os.Remove(first); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.Link(w.path, first); err != nil {
		// A file system without hard links: the name is briefly missing.
		return os.Rename(w.path, first)
	}
	return nil
}

// rotatedName is the name of the i-th older file (path.1 is the newest).
func rotatedName(path string, i int) string {
	return path + "." + strconv.Itoa(i)
}
