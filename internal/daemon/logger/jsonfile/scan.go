package jsonfile

import (
	"bytes"
	"io"
	"os"
)

const (
	readChunk = 32 << 10
	// maxEntry bounds one line of the file: an entry holds at most 16 KiB
	// of output, six bytes each when escaped, plus docker's attrs. A
	// longer "line" is damage and is skipped.
	maxEntry = 1 << 20
)

// lineReader reads a file's complete lines forward from an offset. It
// reads with ReadAt, so it can pick up where it stopped when the file
// grows, and never returns a last line that has no '\n' yet.
type lineReader struct {
	f     *os.File
	off   int64 // file offset of buf[r]
	limit int64 // read no further than this offset; -1: to the end
	buf   []byte
	r, w  int
	skip  bool // dropping the rest of an over-long line
}

func newLineReader(f *os.File, off, limit int64) *lineReader {
	return &lineReader{f: f, off: off, limit: limit}
}

// end is the offset up to which the file has been read.
func (l *lineReader) end() int64 { return l.off + int64(l.w-l.r) }

// reset restarts at offset off, dropping what was read ahead.
func (l *lineReader) reset(off int64) {
	l.off, l.r, l.w, l.skip = off, 0, 0, false
}

// next returns the next complete line with its '\n', valid until the
// next call; ok is false when the file holds no complete line beyond it
// yet.
func (l *lineReader) next() (line []byte, ok bool, err error) {
	for {
		if i := bytes.IndexByte(l.buf[l.r:l.w], '\n'); i >= 0 {
			line = l.buf[l.r : l.r+i+1]
			l.r += i + 1
			l.off += int64(i + 1)
			if l.skip {
				l.skip = false
				continue
			}
			return line, true, nil
		}
		if l.r > 0 {
			l.w = copy(l.buf, l.buf[l.r:l.w])
			l.r = 0
		}
		if l.w == len(l.buf) {
			if len(l.buf) >= maxEntry {
				l.off += int64(l.w)
				l.w, l.skip = 0, true
			} else {
				nb := make([]byte, max(readChunk, 2*len(l.buf)))
				copy(nb, l.buf[:l.w])
				l.buf = nb
			}
		}
		at := l.off + int64(l.w)
		want := len(l.buf) - l.w
		if l.limit >= 0 {
			want = int(min(int64(want), l.limit-at))
			if want <= 0 {
				return nil, false, nil
			}
		}
		n, err := l.f.ReadAt(l.buf[l.w:l.w+want], at)
		l.w += n
		if n == 0 {
			if err == nil || err == io.EOF {
				return nil, false, nil
			}
			return nil, false, err
		}
	}
}

// backScanner reads a file's lines backwards from an offset, for tail:
// only the lines asked for are read, however big the file.
type backScanner struct {
	f     *os.File
	pos   int64  // file offset of buf[start]
	buf   []byte // the data not yet returned is buf[start:]
	start int
	skip  bool // dropping an over-long line
}

// newBackScanner scans the lines that end before end, which should be
// just past a '\n' (or 0).
func newBackScanner(f *os.File, end int64) *backScanner {
	return &backScanner{f: f, pos: end}
}

// prev returns the line before the last one returned, without its '\n',
// and the offset it starts at; ok is false at the start of the file.
// The line is valid until the next call.
func (s *backScanner) prev() (line []byte, off int64, ok bool, err error) {
	for {
		data := s.buf[s.start:]
		switch {
		case s.skip:
			if i := bytes.LastIndexByte(data, '\n'); i >= 0 {
				s.buf, s.skip = s.buf[:s.start+i+1], false
				continue
			}
			if s.pos == 0 {
				return nil, 0, false, nil
			}
			s.buf = s.buf[:s.start]
		case len(data) > 0:
			body := data[:len(data)-1] // without the '\n' that ends it
			if i := bytes.LastIndexByte(body, '\n'); i >= 0 || s.pos == 0 {
				s.buf = s.buf[:s.start+i+1]
				return body[i+1:], s.pos + int64(i+1), true, nil
			}
			if len(data) >= maxEntry {
				// Damage: no entry is this long. Drop the line.
				s.buf, s.skip = s.buf[:s.start], true
			}
		case s.pos == 0:
			return nil, 0, false, nil
		}
		// Read the chunk before the data, into a bigger buffer when one
		// line does not fit.
		data = s.buf[s.start:]
		if s.start == 0 {
			size := max(readChunk, 2*len(data))
			nb := make([]byte, size)
			s.start = size - copy(nb[size-len(data):], data)
			s.buf = nb
		}
		n := min(int64(s.start), s.pos)
		if _, err := s.f.ReadAt(s.buf[s.start-int(n):s.start], s.pos-n); err != nil {
			return nil, 0, false, err
		}
		s.start -= int(n)
		s.pos -= n
	}
}
