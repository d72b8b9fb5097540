package oci

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/hako-dev/hako/internal/runtime/linux"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// resolveUser turns docker's USER forms (name, uid, name:group,
// uid:gid, …) into ids by reading the container's /etc/passwd and
// /etc/group. The files are opened inside rootfs (openat2
// RESOLVE_IN_ROOT), so an image's symlink cannot point the lookup at
// the host's files. Supplementary groups are the user's memberships in
// /etc/group (unless strict) plus groupAdd.
func resolveUser(rootfs, spec string, groupAdd []string, strict bool) (specs.User, error) {
	userPart, groupPart, hasGroup := strings.Cut(spec, ":")
	var passwd, groups []entry
	var perr, gerr error
	if rootfs != "" {
		passwd, perr = readEntries(rootfs, "/etc/passwd")
		groups, gerr = readEntries(rootfs, "/etc/group")
	}

	u := specs.User{}
	userName := "root"
	switch {
	case userPart == "":
		if e := find(passwd, "", 0); e != nil {
			u.GID = e.gid
		}
	case isNumber(userPart):
		id, err := strconv.ParseUint(userPart, 10, 32)
		if err != nil {
			return u, invalid("invalid user %q", spec)
		}
		u.UID = uint32(id)
		userName = ""
		if e := find(passwd, "", u.UID); e != nil {
			u.GID = e.gid
			userName = e.name
		}
	default:
		e := find(passwd, userPart, 0)
		if e == nil {
			if perr != nil && !errors.Is(perr, os.ErrNotExist) {
				return u, fmt.Errorf("unable to find user %s: %w", userPart, perr)
			}
			return u, invalid("unable to find user %s: no matching entries in passwd file", userPart)
		}
		u.UID, u.GID, userName = e.id, e.gid, e.name
	}

	if hasGroup {
		switch {
		case groupPart == "":
			return u, invalid("invalid user %q: empty group", spec)
		case isNumber(groupPart):
			id, err := strconv.ParseUint(groupPart, 10, 32)
			if err != nil {
				return u, invalid("invalid group %q", groupPart)
			}
			u.GID = uint32(id)
		default:
			g := find(groups, groupPart, 0)
			if g == nil {
				if gerr != nil && !errors.Is(gerr, os.ErrNotExist) {
					return u, fmt.Errorf("unable to find group %s: %w", groupPart, gerr)
				}
				return u, invalid("unable to find group %s: no matching entries in group file", groupPart)
			}
			u.GID = g.id
		}
	} else if userName != "" && !strict {
		// Supplementary groups only when the primary group comes from
		// passwd, as docker.
		for _, g := range groups {
			if slices.Contains(g.members, userName) && g.id != u.GID {
				u.AdditionalGids = append(u.AdditionalGids, g.id)
			}
		}
	}
	for _, ga := range groupAdd {
		var id uint32
		if isNumber(ga) {
			n, err := strconv.ParseUint(ga, 10, 32)
			if err != nil {
				return u, invalid("invalid group %q", ga)
			}
			id = uint32(n)
		} else {
			g := find(groups, ga, 0)
			if g == nil {
				return u, invalid("unable to find group %s: no matching entries in group file", ga)
			}
			id = g.id
		}
		if !slices.Contains(u.AdditionalGids, id) {
			u.AdditionalGids = append(u.AdditionalGids, id)
		}
	}
	return u, nil
}

func isNumber(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// entry is a line of /etc/passwd (id=uid, gid) or /etc/group (id=gid,
// members).
type entry struct {
	name    string
	id, gid uint32
	members []string
}

// find returns the entry named name, or with id when name is "".
func find(es []entry, name string, id uint32) *entry {
	for i := range es {
		if (name != "" && es[i].name == name) || (name == "" && es[i].id == id) {
			return &es[i]
		}
	}
	return nil
}

// maxEntriesFile caps what is read of an image's passwd or group file.
const maxEntriesFile = 4 << 20

func readEntries(rootfs, p string) ([]entry, error) {
	root, err := unix.Open(rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open rootfs: %w", err)
	}
	defer unix.Close(root)
	fd, err := linux.OpenInRoot(root, p, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK)
	if err != nil {
		if err == unix.ENOENT {
			return nil, os.ErrNotExist
		}
		return nil, fmt.Errorf("open %s: %w", p, err)
	}
	f := os.NewFile(uintptr(fd), p)
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", p)
	}
	group := p == "/etc/group"
	var out []entry
	s := bufio.NewScanner(io.LimitReader(f, maxEntriesFile))
	s.Buffer(make([]byte, 0, 4096), 64<<10)
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Split(line, ":")
		if len(fields) < 3 {
			continue
		}
		id, err := strconv.ParseUint(fields[2], 10, 32)
		if err != nil {
			continue
		}
		e := entry{name: fields[0], id: uint32(id)}
		if group {
			if len(fields) >= 4 && fields[3] != "" {
				e.members = strings.Split(fields[3], ",")
			}
		} else if len(fields) >= 4 {
			if gid, err := strconv.ParseUint(fields[3], 10, 32); err == nil {
				e.gid = uint32(gid)
			}
		}
		out = append(out, e)
	}
	return out, nil
}
