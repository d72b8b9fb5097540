package jsonfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// How often a follower looks at the file without being woken: a safety
// net beside inotify, the only clock without it.
const (
	pollWithInotify = time.Second
	pollAlone       = 200 * time.Millisecond
)

// follow sends entries as they are appended to the current file
// (files[len-1], or none yet), moving on through rotations, until ctx is
// done or stopped is closed (or Until passes); then it sends what the
// files hold and returns.
//
// A rotation never loses or repeats an entry: the writer finishes the old
// file before it replaces the name, so once the name points elsewhere the
// old file is drained to its end, and the files that came after it are
// found one by one: the file after the one at path.k is the one at
// path.k-1 (path.0 being path).
func (r *reader) follow(files []*logFile, stopped <-chan struct{}) error {
	var cur *logFile
	if len(files) > 0 {
		cur = files[len(files)-1]
	}
	defer func() {
		if cur != nil {
			cur.close()
		}
	}()

	w := watchDir(filepath.Dir(r.path))
	poll := pollAlone
	if w != nil {
		defer w.close()
		poll = pollWithInotify
	}
	tick := time.NewTicker(poll)
	defer tick.Stop()
	var untilC <-chan time.Time
	if !r.cfg.Until.IsZero() {
		t := time.NewTimer(time.Until(r.cfg.Until))
		defer t.Stop()
		untilC = t.C
	}

	for final := false; ; {
		if err := r.catchUp(&cur); err != nil {
			return err
		}
		if final {
			return nil
		}
		select {
		case <-r.ctx.Done():
			return r.ctx.Err()
		case <-stopped:
			final = true
		case <-untilC:
			final = true
		case <-w.wakeC():
		case <-tick.C:
		}
	}
}

// catchUp sends what has been appended to *cur and, when the log was
// rotated, to the files after it, leaving *cur at the current file.
func (r *reader) catchUp(cur **logFile) error {
	for {
		if *cur != nil {
			if fi, err := (*cur).f.Stat(); err == nil && fi.Size() < r.cur.end() {
				r.cur.reset(0) // truncated by hand: start over
			}
			if err := r.drain(r.cur); err != nil {
				return err
			}
		}
		fi, err := os.Stat(r.path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil // not written yet, or mid-rotation
		}
		if err != nil {
			return err
		}
		if *cur != nil && (*cur).same(fi) {
			return nil
		}
		// Replaced: whatever reached the old file before did so before
		// the name changed.
		if *cur != nil {
			if err := r.drain(r.cur); err != nil {
				return err
			}
		}
		next, err := successor(r.path, *cur)
		if err != nil || next == nil {
			return err // nil: mid-rotation, look again when woken
		}
		if *cur != nil {
			(*cur).close()
		}
		*cur = next
		r.cur = newLineReader(next.f, 0, -1)
	}
}

// successor opens the file written after cur: when cur is now path.k,
// the one at path.k-1 (path for k = 1). The writer renames the older
// files before the newer ones, so if cur is still at path.k after the
// other file was opened, that file was cur's successor. With cur rotated
// out of existence, the oldest file left comes next. nil means the files
// are moving: try again later.
func successor(path string, cur *logFile) (*logFile, error) {
	name := func(i int) string {
		if i == 0 {
			return path
		}
		return rotatedName(path, i)
	}
	for range 50 {
		// Find cur, and the oldest file. A rotation in progress leaves at
		// most one name missing, so a scan ends at two missing in a row.
		k, oldest := -1, -1
		for i, missing := 0, 0; missing < 2; i++ {
			fi, err := os.Stat(name(i))
			if err != nil {
				missing++
				continue
			}
			missing, oldest = 0, i
			if i > 0 && k < 0 && cur != nil && cur.same(fi) {
				k = i
			}
		}
		if k < 0 && cur != nil && oldest < 0 {
			return nil, nil
		}
		want, anchor := oldest, -1 // cur gone (or none yet): start at the oldest
		if k > 0 {
			want, anchor = k-1, k
		}
		f, err := openLogFile(name(want))
		if errors.Is(err, fs.ErrNotExist) {
			time.Sleep(time.Millisecond)
			continue
		}
		if err != nil {
			return nil, err
		}
		if cur != nil && f.dev == cur.dev && f.ino == cur.ino {
			f.close() // the writer linked cur to path.1 and is replacing path
			time.Sleep(time.Millisecond)
			continue
		}
		if anchor < 0 {
			return f, nil
		}
		if fi, err := os.Stat(name(anchor)); err == nil && cur.same(fi) {
			return f, nil
		}
		f.close()
	}
	return nil, nil
}

// watcher wakes a follower when anything in the log's directory changes
// (writes, renames, creations).
type watcher struct {
	f    *os.File
	wake chan struct{}
}

// watchDir returns nil when inotify is not available; the follower then
// polls.
func watchDir(dir string) *watcher {
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return nil
	}
	const mask = unix.IN_MODIFY | unix.IN_CREATE | unix.IN_MOVED_TO | unix.IN_MOVED_FROM |
		unix.IN_DELETE | unix.IN_CLOSE_WRITE | unix.IN_ATTRIB
	if _, err := unix.InotifyAddWatch(fd, dir, mask); err != nil {
		unix.Close(fd)
		return nil
	}
	// Non-blocking, so the runtime's poller owns it and Close ends the
	// pending Read.
	w := &watcher{f: os.NewFile(uintptr(fd), "inotify"), wake: make(chan struct{}, 1)}
	go func() {
		buf := make([]byte, 4096)
		for {
			if _, err := w.f.Read(buf); err != nil {
				return
			}
			select {
			case w.wake <- struct{}{}:
			default:
			}
		}
	}()
	return w
}

func (w *watcher) wakeC() <-chan struct{} {
	if w == nil {
		return nil
	}
	return w.wake
}

func (w *watcher) close() { w.f.Close() }
