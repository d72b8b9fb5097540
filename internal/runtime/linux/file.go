package linux

import (
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// The runtime's verbs live for a few milliseconds and read or write a
// handful of small files each (config.json, state.json, /proc and cgroup
// files). os.ReadFile and os.WriteFile register every descriptor with Go's
// poller: four more system calls per file, and an epoll instance and an
// eventfd on first use. These do the same with plain system calls, and
// return the same *os.PathError values.

// ReadFile reads the whole file at path.
func ReadFile(path string) ([]byte, error) {
	fd, err := openRetry(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	size := 4096
	var st unix.Stat_t
	// /proc and cgroupfs files say 0 or 4096; regular files their size.
	if unix.Fstat(fd, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFREG && st.Size > 0 && st.Size < 1<<30 {
		size = int(st.Size) + 1 // +1: the read that sees EOF needs room
	}
	b, err := readAll(fd, size)
	if err != nil {
		return nil, &os.PathError{Op: "read", Path: path, Err: err}
	}
	return b, nil
}

// readAll reads fd to its end into a buffer of size bytes to begin with.
func readAll(fd, size int) ([]byte, error) {
	b := make([]byte, 0, size)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := unix.Read(fd, b[len(b):cap(b)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return b, nil
		}
		b = b[:len(b)+n]
	}
}

// WriteFile writes data to the file at path, creating it with perm
// (before the umask) or truncating it.
func WriteFile(path string, data []byte, perm uint32) error {
	fd, err := openRetry(path, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC|unix.O_CLOEXEC, perm)
	if err != nil {
		return &os.PathError{Op: "open", Path: path, Err: err}
	}
	for len(data) > 0 {
		n, err := unix.Write(fd, data)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			unix.Close(fd)
			return &os.PathError{Op: "write", Path: path, Err: err}
		}
		data = data[n:]
	}
	if err := unix.Close(fd); err != nil {
		return &os.PathError{Op: "close", Path: path, Err: err}
	}
	return nil
}

// ReplaceFile replaces the file at path with data atomically: a reader
// sees the old content or the new, and a crash leaves one of them. The
// data goes to ".NAME" beside it first. An existing file is swapped with
// it (renameat2 RENAME_EXCHANGE) and the old content then unlinked, rather
// than renamed over: ext4 flushes a file renamed over another at once
// (its auto_da_alloc heuristic), which makes both that rename and the
// file's later unlink wait for the disk.
func ReplaceFile(path string, data []byte, perm uint32) error {
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path))
	if err := WriteFile(tmp, data, perm); err != nil {
		return err
	}
	err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, path, unix.RENAME_EXCHANGE)
	if err == nil {
		// tmp now holds the old content.
		unix.Unlink(tmp)
		return nil
	}
	// ENOENT: no file to swap with yet. EINVAL: a filesystem without
	// RENAME_EXCHANGE.
	if err := unix.Rename(tmp, path); err != nil {
		unix.Unlink(tmp)
		return &os.LinkError{Op: "rename", Old: tmp, New: path, Err: err}
	}
	return nil
}

func openRetry(path string, flags int, perm uint32) (int, error) {
	for {
		fd, err := unix.Open(path, flags, perm)
		if err != unix.EINTR {
			return fd, err
		}
	}
}
