package archive

import (
	"archive/tar"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hako-dev/hako/internal/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// paxXattr prefixes the PAX records that carry extended attributes.
const paxXattr = "SCHILY.xattr."

// finish gives the entry base in pfd the header's owner, mode, xattrs and
// (except for directories, done last) times. fd, when not -1, is open on
// the entry and used instead of its name. Order matters: chown clears the
// setuid bits and security.capability, so mode and xattrs come after it.
func (a *applier) finish(pfd int, base string, fd int, hdr *tar.Header) error {
	uid, err := mapID(hdr.Uid, a.opts.UIDMappings)
	if err != nil {
		return fmt.Errorf("uid: %w", err)
	}
	gid, err := mapID(hdr.Gid, a.opts.GIDMappings)
	if err != nil {
		return fmt.Errorf("gid: %w", err)
	}
	if fd >= 0 {
		err = unix.Fchown(fd, uid, gid)
	} else {
		err = unix.Fchownat(pfd, base, uid, gid, unix.AT_SYMLINK_NOFOLLOW)
	}
	if err != nil {
		return fmt.Errorf("chown %d:%d: %w", uid, gid, err)
	}
	if hdr.Typeflag != tar.TypeSymlink { // Linux symlinks have no mode
		mode := uint32(hdr.Mode) & 0o7777
		if fd >= 0 {
			err = unix.Fchmod(fd, mode)
		} else {
			err = unix.Fchmodat(pfd, base, mode, 0)
		}
		if err != nil {
			return fmt.Errorf("chmod %#o: %w", mode, err)
		}
	}
	if err := a.xattrs(pfd, base, fd, hdr); err != nil {
		return err
	}
	if hdr.Typeflag == tar.TypeDir {
		return nil
	}
	return setTimes(pfd, base, hdr)
}

func (a *applier) xattrs(pfd int, base string, fd int, hdr *tar.Header) error {
	for key, value := range hdr.PAXRecords {
		name, ok := strings.CutPrefix(key, paxXattr)
		if !ok {
			continue
		}
		// Overlay's own attributes would let a layer forge whiteouts,
		// redirects or metacopy files in a snapshot: never taken from a
		// layer.
		if strings.HasPrefix(name, "trusted.overlay.") || strings.HasPrefix(name, "user.overlay.") {
			continue
		}
		var err error
		if fd >= 0 {
			err = unix.Fsetxattr(fd, name, []byte(value), 0)
		} else {
			// No fd can be opened on a symlink or a device without
			// following or opening it; name it through its parent's fd.
			err = unix.Lsetxattr(procPath(pfd, base), name, []byte(value), 0)
		}
		if err == nil {
			continue
		}
		if a.opts.IgnoreXattrErrors && (strings.HasPrefix(name, "security.") || strings.HasPrefix(name, "trusted.")) &&
			(errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES)) {
			continue
		}
		return fmt.Errorf("set xattr %s: %w", name, err)
	}
	return nil
}

func procPath(dirfd int, base string) string {
	return "/proc/self/fd/" + strconv.Itoa(dirfd) + "/" + base
}

func setTimes(pfd int, base string, hdr *tar.Header) error {
	if hdr.ModTime.IsZero() {
		return nil
	}
	atime := hdr.AccessTime
	if atime.IsZero() {
		atime = hdr.ModTime
	}
	ts := []unix.Timespec{timespec(atime), timespec(hdr.ModTime)}
	if err := unix.UtimesNanoAt(pfd, base, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("set times: %w", err)
	}
	return nil
}

func timespec(t time.Time) unix.Timespec {
	return unix.Timespec{Sec: t.Unix(), Nsec: int64(t.Nanosecond())}
}

// fixDirTimes sets the directories' times, now that nothing more is
// written into them.
func (a *applier) fixDirTimes() error {
	for rel, hdr := range a.dirTimes {
		dir, base := splitRel(rel)
		pfd, err := a.root.dirFD(dir)
		if rel == "." {
			pfd, base, err = a.root.fd, ".", nil
		}
		if err != nil {
			continue // replaced by a later entry of the layer
		}
		var st unix.Stat_t
		if unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW) != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
			continue
		}
		if err := setTimes(pfd, base, hdr); err != nil {
			return fmt.Errorf("layer entry %q: %w", hdr.Name, err)
		}
	}
	a.root.release()
	return nil
}

// mapID maps a container ID to the host ID that stands for it.
func mapID(id int, mappings []specs.LinuxIDMapping) (int, error) {
	if id < 0 || id > 1<<32-2 {
		return -1, fmt.Errorf("invalid ID %d: %w", id, errdefs.ErrInvalidArgument)
	}
	if len(mappings) == 0 {
		return id, nil
	}
	for _, m := range mappings {
		if uint32(id) >= m.ContainerID && uint64(id) < uint64(m.ContainerID)+uint64(m.Size) {
			return int(m.HostID + (uint32(id) - m.ContainerID)), nil
		}
	}
	return -1, fmt.Errorf("ID %d is not in the user namespace mapping: %w", id, errdefs.ErrInvalidArgument)
}
