// Package atomicfile writes files so that a crash leaves either the old
// content or the new one, never a mix or an empty file.
package atomicfile

import (
	"os"
	"path/filepath"
)

// Write writes data to a temporary file beside p, syncs it, renames it
// over p and syncs the directory, so that the rename itself survives a
// crash.
func Write(p string, data []byte, perm os.FileMode) error {
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
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), p); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
