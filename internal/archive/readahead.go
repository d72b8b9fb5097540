package archive

import "io"

// readahead decompresses in its own goroutine, a few chunks ahead of the
// tar reader, so that inflating the layer overlaps with writing it (as
// `tar -z` does by running gzip in its own process).
type readahead struct {
	full chan chunk
	free chan []byte
	done chan struct{} // closed by Close: stop
	gone chan struct{} // closed by the goroutine when it has stopped
	buf  []byte        // the chunk being read, returned to free when used
	cur  []byte        // its unread part
	err  error
}

type chunk struct {
	b   []byte
	err error
}

const (
	readaheadChunk = 1 << 20
	readaheadDepth = 4
)

func newReadahead(r io.Reader) *readahead {
	ra := &readahead{
		full: make(chan chunk, readaheadDepth),
		free: make(chan []byte, readaheadDepth+1),
		done: make(chan struct{}),
		gone: make(chan struct{}),
	}
	for range readaheadDepth + 1 {
		ra.free <- make([]byte, readaheadChunk)
	}
	go ra.fill(r)
	return ra
}

func (ra *readahead) fill(r io.Reader) {
	defer close(ra.gone)
	for {
		var b []byte
		select {
		case b = <-ra.free:
		case <-ra.done:
			return
		}
		// Not io.ReadFull: it would turn the decompressor's own
		// io.ErrUnexpectedEOF (a truncated stream) into a short chunk.
		n := 0
		var err error
		for n < len(b) && err == nil {
			var m int
			m, err = r.Read(b[n:])
			n += m
		}
		select {
		case ra.full <- chunk{b[:n], err}:
		case <-ra.done:
			return
		}
		if err != nil {
			return
		}
	}
}

func (ra *readahead) Read(p []byte) (int, error) {
	for len(ra.cur) == 0 {
		if ra.err != nil {
			return 0, ra.err
		}
		if ra.buf != nil {
			ra.free <- ra.buf[:cap(ra.buf)]
			ra.buf = nil
		}
		c := <-ra.full
		ra.buf, ra.cur, ra.err = c.b, c.b, c.err
	}
	n := copy(p, ra.cur)
	ra.cur = ra.cur[n:]
	return n, nil
}

// Close stops the goroutine and waits for it, so that nothing reads the
// underlying reader once Close returns.
func (ra *readahead) Close() {
	close(ra.done)
	<-ra.gone
}
