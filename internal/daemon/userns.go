package daemon

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/hako-dev/hako/internal/archive"
	"github.com/hako-dev/hako/internal/atomicfile"
	"github.com/hako-dev/hako/internal/daemon/container"
	"github.com/hako-dev/hako/internal/errdefs"
	"golang.org/x/sys/unix"
)

// Subordinate ID files, as shadow-utils keeps them.
var (
	subuidFile = "/etc/subuid"
	subgidFile = "/etc/subgid"
)

// remapUser is the user --userns-remap=default uses (docker's is
// "dockremap").
const remapUser = "hako"

// remapSize is how many IDs a remapped container gets.
const remapSize = 65536

// ParseUsernsRemap reads --userns-remap as docker does: "default" (the
// subordinate IDs of the user "hako", given a range of 65536 in
// /etc/subuid and /etc/subgid if it has none), "USER[:GROUP]" (their
// ranges in those files, by name or ID), or hako's "UID:GID:SIZE" (a
// range given outright). "" is no remapping.
func ParseUsernsRemap(v string) (*container.IDMap, error) {
	if v == "" {
		return nil, nil
	}
	if p := strings.Split(v, ":"); len(p) == 3 {
		var n [3]uint64
		ok := true
		for i, s := range p {
			var err error
			if n[i], err = strconv.ParseUint(s, 10, 32); err != nil {
				ok = false
			}
		}
		if ok {
			if n[0] == 0 || n[1] == 0 || n[2] == 0 || n[0]+n[2] > 1<<32-1 || n[1]+n[2] > 1<<32-1 {
				return nil, fmt.Errorf("--userns-remap %s: want a range of non-root IDs, UID:GID:SIZE: %w", v, errdefs.ErrInvalidArgument)
			}
			return &container.IDMap{UID: uint32(n[0]), GID: uint32(n[1]), Size: uint32(n[2])}, nil
		}
	}
	name, group, _ := strings.Cut(v, ":")
	if name == "default" && group == "" {
		name, group = remapUser, remapUser
		for _, f := range []string{subuidFile, subgidFile} {
			if err := ensureSubordinate(f, remapUser); err != nil {
				return nil, err
			}
		}
	}
	if group == "" {
		group = name
	}
	uid, usize, err := subordinate(subuidFile, name, lookupUID)
	if err != nil {
		return nil, err
	}
	gid, gsize, err := subordinate(subgidFile, group, lookupGID)
	if err != nil {
		return nil, err
	}
	return &container.IDMap{UID: uid, GID: gid, Size: min(usize, gsize)}, nil
}

func lookupUID(name string) string {
	if u, err := user.Lookup(name); err == nil {
		return u.Uid
	}
	return ""
}

func lookupGID(name string) string {
	if g, err := user.LookupGroup(name); err == nil {
		return g.Gid
	}
	return ""
}

// subordinate is name's first range in file (lines "name:start:count";
// an entry may name the user by ID).
func subordinate(file, name string, id func(string) string) (start, size uint32, err error) {
	f, err := os.Open(file)
	if err != nil {
		return 0, 0, fmt.Errorf("--userns-remap: %w", err)
	}
	defer f.Close()
	alt := id(name)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		p := strings.Split(strings.TrimSpace(sc.Text()), ":")
		if len(p) != 3 || p[0] != name && (alt == "" || p[0] != alt) {
			continue
		}
		s, err1 := strconv.ParseUint(p[1], 10, 32)
		n, err2 := strconv.ParseUint(p[2], 10, 32)
		if err1 != nil || err2 != nil || s == 0 || n == 0 {
			return 0, 0, fmt.Errorf("--userns-remap: %s: bad entry %q: %w", file, sc.Text(), errdefs.ErrInvalidArgument)
		}
		return uint32(s), uint32(n), nil
	}
	return 0, 0, fmt.Errorf("--userns-remap: %s has no range for %s: %w", file, name, errdefs.ErrNotFound)
}

// ensureSubordinate gives name a range of remapSize IDs in file, after
// every range there (from 100000 on), unless it has one.
func ensureSubordinate(file, name string) error {
	b, err := os.ReadFile(file)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("--userns-remap: %w", err)
	}
	next := uint64(100000)
	for _, l := range strings.Split(string(b), "\n") {
		p := strings.Split(strings.TrimSpace(l), ":")
		if len(p) != 3 {
			continue
		}
		if p[0] == name {
			return nil
		}
		s, err1 := strconv.ParseUint(p[1], 10, 32)
		n, err2 := strconv.ParseUint(p[2], 10, 32)
		if err1 == nil && err2 == nil && s+n > next {
			next = s + n
		}
	}
	next = (next + remapSize - 1) / remapSize * remapSize
	if len(b) > 0 && b[len(b)-1] != '\n' {
		b = append(b, '\n')
	}
	b = fmt.Appendf(b, "%s:%d:%d\n", name, next, remapSize)
	return atomicfile.Replace(file, b, 0o644)
}

// usernsFD returns a user namespace with the daemon's mapping (made once,
// held open), for idmapped mounts of image layers.
func (d *Daemon) usernsFD(m *container.IDMap) (int, error) {
	d.usernsMu.Lock()
	defer d.usernsMu.Unlock()
	if fd, ok := d.usernsFDs[*m]; ok {
		return fd, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return -1, err
	}
	// The pause face: it sleeps until it is told to stop.
	cmd := &exec.Cmd{Path: exe, Args: []string{"pause"}, SysProcAttr: &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: int(m.UID), Size: int(m.Size)}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: int(m.GID), Size: int(m.Size)}},
		Pdeathsig:   syscall.SIGKILL,
	}}
	if err := cmd.Start(); err != nil {
		return -1, fmt.Errorf("user namespace for %d:%d:%d: %w", m.UID, m.GID, m.Size, err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	fd, err := unix.Open(fmt.Sprintf("/proc/%d/ns/user", cmd.Process.Pid), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("user namespace for %d:%d:%d: %w", m.UID, m.GID, m.Size, err)
	}
	if d.usernsFDs == nil {
		d.usernsFDs = map[container.IDMap]int{}
	}
	d.usernsFDs[*m] = fd
	return fd, nil
}

// remapDirs lets remapped containers' roots reach the files the runtime
// bind-mounts from ROOT/containers/<id>: the directories are their
// group's, searchable but not listable (docker's remapped root is too).
func (d *Daemon) remapDirs() error {
	if d.remap == nil {
		return nil
	}
	for _, top := range []string{d.cfg.Root, d.cfg.RunRoot} {
		if err := searchable(top, d.remap); err != nil {
			return err
		}
	}
	return remapDir(filepath.Join(d.cfg.Root, "containers"), d.remap)
}

// searchable checks that the remapped root may pass through dir and its
// parents (the runtime opens the files it bind-mounts there as that
// root).
func searchable(dir string, m *container.IDMap) error {
	for p := dir; ; p = filepath.Dir(p) {
		var st unix.Stat_t
		if err := unix.Stat(p, &st); err != nil {
			return err
		}
		if st.Mode&0o001 == 0 && !(st.Gid == m.GID && st.Mode&0o010 != 0) && st.Uid != m.UID {
			return fmt.Errorf("--userns-remap: containers' roots (host UID %d) cannot reach %s: %s is not searchable by them (chmod o+x %s): %w", m.UID, dir, p, p, errdefs.ErrInvalidArgument)
		}
		if p == "/" {
			return nil
		}
	}
}

func remapDir(dir string, m *container.IDMap) error {
	if err := os.Chown(dir, 0, int(m.GID)); err != nil {
		return err
	}
	return os.Chmod(dir, 0o710)
}

// shifted writes to w the tar stream produce makes of a container's files
// as the host sees them, with the IDs of a remapped container (m) mapped
// back to its own: an export, a cp or a commit shows the container's
// owners, not the host's.
func shifted(w io.Writer, m *container.IDMap, produce func(io.Writer) error) error {
	if m == nil {
		return produce(w)
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(produce(pw)) }()
	err := archive.ShiftTar(w, pr, m.ToContainer)
	pr.CloseWithError(io.ErrClosedPipe) // a producer still writing stops
	return err
}

// unshifted is the tar stream r with its IDs mapped into the host's for
// a remapped container (m): what cp puts in it.
func unshifted(r io.Reader, m *container.IDMap) io.Reader {
	if m == nil {
		return r
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(archive.ShiftTar(pw, r, m.ToHost)) }()
	return pr
}

// rootOwned is the tar stream r with every entry root's (docker cp
// without -a).
func rootOwned(r io.Reader) io.Reader {
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(archive.ShiftTar(pw, r, func(int, int) (int, int) { return 0, 0 }))
	}()
	return pr
}
