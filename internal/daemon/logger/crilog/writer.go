// Package crilog writes a container's output in the Kubernetes CRI log
// format, the file kubelet (and crictl logs) read directly:
//
//	2016-10-06T00:17:09.669794202Z stdout F a whole line
//	2016-10-06T00:17:09.669794202Z stderr P the first 16 KiB of a long line
//
// One line per entry: an RFC 3339 time with nanoseconds, the stream, a
// tag (F: the line is complete, P: a partial line whose rest follows in
// the next entries) and the content without its '\n'. kubelet rotates the
// file by renaming it and then asks the runtime to reopen it (Reopen).
package crilog

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hako-dev/hako/internal/errdefs"
)

// MaxLine is the longest content of one entry; a longer line is split
// into partial entries (containerd's default, 16 KiB).
const MaxLine = 16 * 1024

// Writer appends entries to one file. Safe for concurrent use.
type Writer struct {
	path string

	mu      sync.Mutex
	f       *os.File // nil once closed
	partial [2][]byte
	buf     []byte
}

// NewWriter opens path for appending, creating it (0640).
func NewWriter(path string) (*Writer, error) {
	w := &Writer{path: path}
	if err := w.open(); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *Writer) open() error {
	// kubelet makes the pod's log directory; other clients (crictl) may
	// not, and containerd makes it too.
	if err := os.MkdirAll(filepath.Dir(w.path), 0o755); err != nil {
		return fmt.Errorf("open container log: %w", err)
	}
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("open container log: %w", err)
	}
	w.f = f
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

// Write logs p, a chunk of stream's output. Complete lines become F
// entries; an unterminated last line waits for its rest (or Flush), and
// goes out as P entries of MaxLine bytes while it grows past that.
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
	now := time.Now().UTC()
	part := w.partial[si]
	for len(p) > 0 {
		nl := bytes.IndexByte(p, '\n')
		if nl < 0 {
			part = append(part, p...)
			break
		}
		part = append(part, p[:nl]...)
		w.addLine(stream, part, now)
		part = part[:0]
		p = p[nl+1:]
	}
	for len(part) > MaxLine {
		w.add(stream, 'P', part[:MaxLine], now)
		part = append(part[:0], part[MaxLine:]...)
	}
	w.partial[si] = part
	return w.flushLocked()
}

// addLine adds a complete line, split into P entries and a last F.
func (w *Writer) addLine(stream string, line []byte, now time.Time) {
	for len(line) > MaxLine {
		w.add(stream, 'P', line[:MaxLine], now)
		line = line[MaxLine:]
	}
	w.add(stream, 'F', line, now)
}

func (w *Writer) add(stream string, tag byte, content []byte, now time.Time) {
	w.buf = now.AppendFormat(w.buf, time.RFC3339Nano)
	w.buf = append(w.buf, ' ')
	w.buf = append(w.buf, stream...)
	w.buf = append(w.buf, ' ', tag, ' ')
	w.buf = append(w.buf, content...)
	w.buf = append(w.buf, '\n')
}

func (w *Writer) flushLocked() error {
	if len(w.buf) == 0 {
		return nil
	}
	_, err := w.f.Write(w.buf)
	if cap(w.buf) > 64<<10 {
		w.buf = nil
	} else {
		w.buf = w.buf[:0]
	}
	if err != nil {
		return fmt.Errorf("write container log: %w", err)
	}
	return nil
}

// Flush logs the unterminated lines as complete ones (the output ended).
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	w.flushPartial()
	return w.flushLocked()
}

func (w *Writer) flushPartial() {
	now := time.Now().UTC()
	for si, name := range [2]string{"stdout", "stderr"} {
		if len(w.partial[si]) > 0 {
			w.addLine(name, w.partial[si], now)
			w.partial[si] = nil
		}
	}
}

// Reopen closes the file and opens path again, creating it: kubelet has
// renamed the old one to rotate it.
func (w *Writer) Reopen() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return fmt.Errorf("reopen container log: %w", os.ErrClosed)
	}
	err := w.flushLocked()
	err = errors.Join(err, w.f.Close())
	w.f = nil
	if oerr := w.open(); oerr != nil {
		return oerr
	}
	return err
}

// Close flushes the partial lines and closes the file.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	w.flushPartial()
	err := errors.Join(w.flushLocked(), w.f.Close())
	w.f = nil
	return err
}
