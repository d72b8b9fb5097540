// Package mount holds the one currency that storage and the runtime share: a
// description of a mount. Snapshotters return []Mount; only the runtime (and
// tests) turn them into mount(2) calls.
package mount

import (
	"strings"

	"golang.org/x/sys/unix"
)

// Mount describes a filesystem mount, in the shape of an OCI runtime-spec
// mount entry.
type Mount struct {
	// Type is the filesystem type ("overlay", "bind", "tmpfs", ...).
	Type string `json:"type"`
	// Source is the device, directory or pseudo-filesystem name.
	Source string `json:"source"`
	// Target is where it is mounted; empty when the caller decides.
	Target string `json:"target,omitempty"`
	// Options are fstab-style options ("ro", "rbind", "lowerdir=...").
	Options []string `json:"options,omitempty"`
}

// Options is the parsed form of a mount option list.
type Options struct {
	// Flags are the MS_* flags for mount(2).
	Flags uintptr
	// ClearFlags are flags explicitly turned off ("rw", "suid", "dev", ...);
	// a remount of a bind mount needs them to drop inherited flags.
	ClearFlags uintptr
	// Propagation holds the propagation flags (MS_SHARED, MS_SLAVE,
	// MS_PRIVATE, MS_UNBINDABLE, each optionally with MS_REC), applied with
	// separate mount(2) calls after the mount itself.
	Propagation []uintptr
	// Data is the filesystem-specific data string (comma separated).
	Data string
	// Extensions holds runtime extensions that are not mount(2) options:
	// "tmpcopyup", "idmap", "ridmap", "copy-symlink".
	Extensions []string
	// Recursive attributes requested with "rro", "rnosuid", ... as
	// MOUNT_ATTR_* bits for mount_setattr(2) with AT_RECURSIVE.
	RecAttrSet, RecAttrClr uint64
}

type flagOpt struct {
	clear bool
	flag  uintptr
}

// flagTable is a sorted-by-use switch rather than a map so that programs
// that link this package pay nothing at start-up.
func lookupFlag(o string) (flagOpt, bool) {
	switch o {
	case "defaults":
		return flagOpt{false, 0}, true
	case "ro":
		return flagOpt{false, unix.MS_RDONLY}, true
	case "rw":
		return flagOpt{true, unix.MS_RDONLY}, true
	case "nosuid":
		return flagOpt{false, unix.MS_NOSUID}, true
	case "suid":
		return flagOpt{true, unix.MS_NOSUID}, true
	case "nodev":
		return flagOpt{false, unix.MS_NODEV}, true
	case "dev":
		return flagOpt{true, unix.MS_NODEV}, true
	case "noexec":
		return flagOpt{false, unix.MS_NOEXEC}, true
	case "exec":
		return flagOpt{true, unix.MS_NOEXEC}, true
	case "sync":
		return flagOpt{false, unix.MS_SYNCHRONOUS}, true
	case "async":
		return flagOpt{true, unix.MS_SYNCHRONOUS}, true
	case "dirsync":
		return flagOpt{false, unix.MS_DIRSYNC}, true
	case "remount":
		return flagOpt{false, unix.MS_REMOUNT}, true
	case "mand":
		return flagOpt{false, unix.MS_MANDLOCK}, true
	case "nomand":
		return flagOpt{true, unix.MS_MANDLOCK}, true
	case "atime":
		return flagOpt{true, unix.MS_NOATIME}, true
	case "noatime":
		return flagOpt{false, unix.MS_NOATIME}, true
	case "diratime":
		return flagOpt{true, unix.MS_NODIRATIME}, true
	case "nodiratime":
		return flagOpt{false, unix.MS_NODIRATIME}, true
	case "bind":
		return flagOpt{false, unix.MS_BIND}, true
	case "rbind":
		return flagOpt{false, unix.MS_BIND | unix.MS_REC}, true
	case "relatime":
		return flagOpt{false, unix.MS_RELATIME}, true
	case "norelatime":
		return flagOpt{true, unix.MS_RELATIME}, true
	case "strictatime":
		return flagOpt{false, unix.MS_STRICTATIME}, true
	case "nostrictatime":
		return flagOpt{true, unix.MS_STRICTATIME}, true
	case "lazytime":
		return flagOpt{false, unix.MS_LAZYTIME}, true
	case "nolazytime":
		return flagOpt{true, unix.MS_LAZYTIME}, true
	case "silent":
		return flagOpt{false, unix.MS_SILENT}, true
	case "loud":
		return flagOpt{true, unix.MS_SILENT}, true
	case "nosymfollow":
		return flagOpt{false, unix.MS_NOSYMFOLLOW}, true
	case "symfollow":
		return flagOpt{true, unix.MS_NOSYMFOLLOW}, true
	}
	return flagOpt{}, false
}

func lookupPropagation(o string) (uintptr, bool) {
	switch o {
	case "private":
		return unix.MS_PRIVATE, true
	case "rprivate":
		return unix.MS_PRIVATE | unix.MS_REC, true
	case "shared":
		return unix.MS_SHARED, true
	case "rshared":
		return unix.MS_SHARED | unix.MS_REC, true
	case "slave":
		return unix.MS_SLAVE, true
	case "rslave":
		return unix.MS_SLAVE | unix.MS_REC, true
	case "unbindable":
		return unix.MS_UNBINDABLE, true
	case "runbindable":
		return unix.MS_UNBINDABLE | unix.MS_REC, true
	}
	return 0, false
}

func lookupRecAttr(o string) (attr uint64, clear bool, ok bool) {
	switch o {
	case "rro":
		return unix.MOUNT_ATTR_RDONLY, false, true
	case "rrw":
		return unix.MOUNT_ATTR_RDONLY, true, true
	case "rnosuid":
		return unix.MOUNT_ATTR_NOSUID, false, true
	case "rsuid":
		return unix.MOUNT_ATTR_NOSUID, true, true
	case "rnodev":
		return unix.MOUNT_ATTR_NODEV, false, true
	case "rdev":
		return unix.MOUNT_ATTR_NODEV, true, true
	case "rnoexec":
		return unix.MOUNT_ATTR_NOEXEC, false, true
	case "rexec":
		return unix.MOUNT_ATTR_NOEXEC, true, true
	case "rnodiratime":
		return unix.MOUNT_ATTR_NODIRATIME, false, true
	case "rdiratime":
		return unix.MOUNT_ATTR_NODIRATIME, true, true
	case "rnoatime":
		return unix.MOUNT_ATTR_NOATIME, false, true
	case "rrelatime":
		return unix.MOUNT_ATTR_RELATIME, false, true
	case "rstrictatime":
		return unix.MOUNT_ATTR_STRICTATIME, false, true
	case "rnosymfollow":
		return unix.MOUNT_ATTR_NOSYMFOLLOW, false, true
	case "rsymfollow":
		return unix.MOUNT_ATTR_NOSYMFOLLOW, true, true
	}
	return 0, false, false
}

// IsExtension reports whether o is a runtime extension rather than a
// mount(2) option.
func isExtension(o string) bool {
	switch o {
	case "tmpcopyup", "idmap", "ridmap", "copy-symlink":
		return true
	}
	return false
}

// ParseOptions splits fstab-style options into mount(2) flags, propagation
// changes, recursive attributes and the filesystem data string.
// Unknown options are passed to the filesystem as data, as mount(8) does.
func ParseOptions(opts []string) Options {
	var o Options
	var data []string
	for _, opt := range opts {
		if f, ok := lookupFlag(opt); ok {
			if f.clear {
				o.Flags &^= f.flag
				o.ClearFlags |= f.flag
			} else {
				o.Flags |= f.flag
				o.ClearFlags &^= f.flag
			}
			continue
		}
		if p, ok := lookupPropagation(opt); ok {
			o.Propagation = append(o.Propagation, p)
			continue
		}
		if a, clr, ok := lookupRecAttr(opt); ok {
			if clr {
				o.RecAttrClr |= a
				o.RecAttrSet &^= a
			} else {
				o.RecAttrSet |= a
				o.RecAttrClr &^= a
			}
			continue
		}
		if isExtension(opt) {
			o.Extensions = append(o.Extensions, opt)
			continue
		}
		data = append(data, opt)
	}
	o.Data = strings.Join(data, ",")
	return o
}

// HasExtension reports whether the parsed options carry extension ext.
func (o Options) HasExtension(ext string) bool {
	for _, e := range o.Extensions {
		if e == ext {
			return true
		}
	}
	return false
}

// KnownOptions lists every option ParseOptions understands (for the
// runtime's "features" report).
func KnownOptions() []string {
	return []string{
		"async", "atime", "bind", "defaults", "dev", "diratime", "dirsync", "exec", "lazytime",
		"loud", "mand", "noatime", "nodev", "nodiratime", "noexec", "nolazytime", "nomand",
		"norelatime", "nostrictatime", "nosuid", "nosymfollow", "private", "rbind", "rdev",
		"rdiratime", "relatime", "remount", "rexec", "rnoatime", "rnodev", "rnodiratime",
		"rnoexec", "rnosuid", "rnosymfollow", "ro", "rprivate", "rrelatime", "rro", "rrw",
		"rshared", "rslave", "rstrictatime", "rsuid", "rsymfollow", "runbindable", "rw",
		"shared", "silent", "slave", "strictatime", "suid", "symfollow", "sync", "tmpcopyup", "unbindable",
	}
}
