package cgroups

import (
	"bytes"
	"fmt"
	"path"
	"path/filepath"
	"strings"

	"github.com/hako-dev/hako/internal/errdefs"
	"github.com/hako-dev/hako/internal/runtime/linux"
)

// containerPath resolves cfg.Path (see the package doc) to a clean path
// starting with "/", and whether it is relative to the caller's cgroup.
func containerPath(cfg *Config) (string, bool, error) {
	p := cfg.Path
	if cfg.Systemd {
		var err error
		if p, err = systemdPath(p, cfg.ID); err != nil {
			return "", false, err
		}
	} else if p == "" {
		if cfg.ID == "" {
			return "", false, fmt.Errorf("linux.cgroupsPath is empty and there is no container ID to name the cgroup after: %w", errdefs.ErrInvalidArgument)
		}
		p = cfg.ID
	}
	rel := !strings.HasPrefix(p, "/")
	if err := checkClimb(p, cfg.Path); err != nil {
		return "", false, err
	}
	return path.Clean("/" + p), rel, nil
}

// checkClimb refuses a path whose ".." components climb above its base, or
// that names the base itself.
func checkClimb(p, orig string) error {
	depth := 0
	for _, c := range strings.Split(p, "/") {
		switch c {
		case "", ".":
		case "..":
			if depth--; depth < 0 {
				return fmt.Errorf("linux.cgroupsPath %q climbs out of the cgroup hierarchy: %w", orig, errdefs.ErrInvalidArgument)
			}
		default:
			depth++
		}
	}
	if depth == 0 {
		return fmt.Errorf("linux.cgroupsPath %q names no cgroup below its base: %w", orig, errdefs.ErrInvalidArgument)
	}
	return nil
}

// systemdPath maps "slice:prefix:name" to the cgroupfs path systemd uses for
// that unit (see the package doc).
func systemdPath(p, id string) (string, error) {
	if p == "" {
		if id == "" {
			return "", fmt.Errorf("linux.cgroupsPath is empty and there is no container ID to name the cgroup after: %w", errdefs.ErrInvalidArgument)
		}
		p = "system.slice:hako:" + id
	}
	parts := strings.Split(p, ":")
	if len(parts) != 3 {
		return "", fmt.Errorf("linux.cgroupsPath %q: with systemd cgroups it must be \"slice:prefix:name\": %w", p, errdefs.ErrInvalidArgument)
	}
	slice, prefix, name := parts[0], parts[1], parts[2]
	if slice == "" {
		slice = "system.slice"
	}
	dir, err := expandSlice(slice)
	if err != nil {
		return "", fmt.Errorf("linux.cgroupsPath %q: %w", p, err)
	}
	if name == "" || strings.Contains(name, "/") || strings.Contains(prefix, "/") {
		return "", fmt.Errorf("linux.cgroupsPath %q: the prefix and name must be non-empty unit name parts without \"/\": %w", p, errdefs.ErrInvalidArgument)
	}
	unit := name
	if !strings.HasSuffix(name, ".slice") {
		unit = name + ".scope"
		if prefix != "" {
			unit = prefix + "-" + unit
		}
	}
	return path.Join(dir, unit), nil
}

// expandSlice turns a systemd slice name into its cgroup path:
// "a-b-c.slice" is "/a.slice/a-b.slice/a-b-c.slice"; "-.slice" is "/".
func expandSlice(slice string) (string, error) {
	const suffix = ".slice"
	name, ok := strings.CutSuffix(slice, suffix)
	if !ok || name == "" || strings.Contains(slice, "/") {
		return "", fmt.Errorf("invalid slice name %q: %w", slice, errdefs.ErrInvalidArgument)
	}
	if name == "-" {
		return "/", nil
	}
	var b strings.Builder
	prefix := ""
	for _, c := range strings.Split(name, "-") {
		if c == "" {
			return "", fmt.Errorf("invalid slice name %q: a \"-\" must separate two names: %w", slice, errdefs.ErrInvalidArgument)
		}
		b.WriteString("/" + prefix + c + suffix)
		prefix += c + "-"
	}
	return b.String(), nil
}

// ownCgroups returns the caller's cgroup per controller (see Config.Own).
func ownCgroups(cfg *Config) (map[string]string, error) {
	if cfg.Own != nil {
		return cfg.Own, nil
	}
	b, err := linux.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, fmt.Errorf("read own cgroup: %w", err)
	}
	return parseProcCgroup(b), nil
}

// parseProcCgroup parses /proc/PID/cgroup lines "ID:ctrl,ctrl:/path".
func parseProcCgroup(b []byte) map[string]string {
	out := make(map[string]string)
	for len(b) > 0 {
		var line []byte
		line, b, _ = bytes.Cut(b, []byte{'\n'})
		_, rest, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			continue
		}
		ctrls, p, ok := bytes.Cut(rest, []byte{':'})
		if !ok {
			continue
		}
		if len(ctrls) == 0 {
			out[""] = string(p)
			continue
		}
		for _, c := range strings.Split(string(ctrls), ",") {
			out[c] = string(p)
		}
	}
	return out
}

// readMounts returns the cgroup v1 hierarchies mounted directly under root
// (any root if root is ""), and the cgroup2 mount point under root if any.
func readMounts(root string) ([]Mount, string, error) {
	b, err := linux.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, "", fmt.Errorf("read mount table: %w", err)
	}
	mounts, unified := parseMountinfo(b, root)
	return mounts, unified, nil
}

// parseMountinfo parses the cgroup lines of /proc/PID/mountinfo:
//
//	32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
func parseMountinfo(b []byte, root string) ([]Mount, string) {
	var mounts []Mount
	unified := ""
	for len(b) > 0 {
		var line []byte
		line, b, _ = bytes.Cut(b, []byte{'\n'})
		pre, post, ok := bytes.Cut(line, []byte(" - "))
		if !ok || !bytes.HasPrefix(post, []byte("cgroup")) {
			continue
		}
		f := strings.Fields(string(pre))
		g := strings.Fields(string(post))
		if len(f) < 5 || len(g) < 3 {
			continue
		}
		dir := unescapeMount(f[4])
		if root != "" && filepath.Dir(dir) != root {
			continue
		}
		switch g[0] {
		case "cgroup2":
			if unified == "" {
				unified = dir
			}
		case "cgroup":
			var ctrls []string
			for _, o := range strings.Split(g[2], ",") {
				if isController(o) {
					ctrls = append(ctrls, o)
				}
			}
			if len(ctrls) == 0 || hasMount(mounts, dir) {
				continue
			}
			mounts = append(mounts, Mount{Dir: dir, Controllers: ctrls, Subtree: unescapeMount(f[3])})
		}
	}
	return mounts, unified
}

// isController tells controllers apart from the other options of a cgroup
// v1 superblock ("rw,nosuid,cpu,cpuacct", "rw,xattr,name=systemd").
func isController(o string) bool {
	switch o {
	case "", "rw", "ro", "nosuid", "nodev", "noexec", "relatime", "noatime",
		"nodiratime", "strictatime", "sync", "dirsync", "mand", "lazytime",
		"noprefix", "clone_children", "xattr", "cpuset_v2_mode",
		"favordynmods", "none", "all":
		return false
	}
	return strings.HasPrefix(o, "name=") || !strings.Contains(o, "=")
}

func hasMount(ms []Mount, dir string) bool {
	for _, m := range ms {
		if m.Dir == dir {
			return true
		}
	}
	return false
}

// unescapeMount undoes mountinfo's octal escapes ("\040" for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1:i+4]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if s[i] < '0' || s[i] > '7' {
			return false
		}
	}
	return true
}

// underSubtree returns own relative to the subtree a mount shows.
func underSubtree(own, subtree string) string {
	if own == "" {
		return "/"
	}
	if subtree == "" || subtree == "/" {
		return own
	}
	if own == subtree {
		return "/"
	}
	if rest, ok := strings.CutPrefix(own, subtree+"/"); ok {
		return "/" + rest
	}
	return own
}
