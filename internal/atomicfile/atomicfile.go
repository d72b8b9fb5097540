// Package atomicfile writes files so that a reader sees either the old
// content or the new one, never a mix or an empty file.
package atomicfile

import (
	"os"
	"path/filepath"
)

// Write writes data to a temporary file beside p, syncs it, renames it
// over p and syncs the directory, so that the new content survives a
// crash of the machine too. It is for records the engine cannot rebuild.
func Write(p string, data []byte, perm os.FileMode) error {
	return write(p, data, perm, true)
}

// Replace is Write without the syncs, for files the engine writes anew
// before every use (a container's hosts file, its bundle's config.json):
// readers still never see a partial file, and the two syncs, which cost
// more than the rest of the write together, are saved.
func Replace(p string, data []byte, perm os.FileMode) error {
	return write(p, data, perm, false)
}

func write(p string, data []byte, perm os.FileMode, durable bool) error {
	dir := filepath.Dir(p)
	f, err := os.CreateTemp(dir, "."+filepath.Base(p)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // after a successful rename: nothing to remove
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if durable {
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), p); err != nil {
		return err
	}
	if durable {
		if d, err := os.Open(dir); err == nil {
			d.Sync()
			d.Close()
		}
	}
	return nil
}
