package volume

import (
	"fmt"
	"path"
	"strings"

	"github.com/hako-dev/hako/internal/errdefs"
	mounttypes "github.com/moby/moby/api/types/mount"
)

// MountPoint is one of a container's mounts as the engine resolved it at
// create: a volume, a host directory (bind) or a tmpfs, in docker's terms.
// Container records keep them; inspect and ps show them.
type MountPoint struct {
	Type mounttypes.Type
	// Name is the volume's.
	Name string `json:",omitempty"`
	// Source is the host directory of a bind; a volume's is its
	// Mountpoint, filled in when the volume is found or made.
	Source      string `json:",omitempty"`
	Destination string
	Driver      string `json:",omitempty"`
	// Mode is the options as the user gave them with -v ("ro", "z", …).
	Mode        string `json:",omitempty"`
	RW          bool
	Propagation mounttypes.Propagation `json:",omitempty"`
	// CopyData: an empty volume is seeded with the image's content at
	// Destination (not with nocopy, nor through --volumes-from).
	CopyData bool `json:",omitempty"`
	// Anonymous: the volume was made for this container (no name given);
	// rm -v and --rm remove it with the container.
	Anonymous bool `json:",omitempty"`
	// Spec is the request it came from: -v in --mount's form, or the
	// --mount entry itself (tmpfs size, bind recursion, volume options).
	Spec mounttypes.Mount
}

// Docker's option words for -v's third field.
var (
	rwModes          = map[string]bool{"rw": true, "ro": true}
	labelModes       = map[string]bool{"z": true, "Z": true}
	propagationModes = map[string]bool{"private": true, "rprivate": true, "slave": true, "rslave": true, "shared": true, "rshared": true}
	consistencyModes = map[string]bool{"consistent": true, "cached": true, "delegated": true}
)

// validMode reports whether mode is a valid -v option list: at most one
// of each kind.
func validMode(mode string) bool {
	if mode == "" {
		return true
	}
	var rw, label, prop, cp, cons int
	for _, o := range strings.Split(mode, ",") {
		switch {
		case rwModes[o]:
			rw++
		case labelModes[o]:
			label++
		case propagationModes[o]:
			prop++
		case o == "nocopy":
			cp++
		case consistencyModes[o]:
			cons++
		default:
			return false
		}
	}
	return rw <= 1 && label <= 1 && prop <= 1 && cp <= 1 && cons <= 1
}

// ReadWrite reports whether a -v mode leaves the mount writable.
func ReadWrite(mode string) bool {
	if !validMode(mode) {
		return false
	}
	for _, o := range strings.Split(mode, ",") {
		if o == "ro" {
			return false
		}
	}
	return true
}

func modeHas(mode string, set map[string]bool) string {
	for _, o := range strings.Split(mode, ",") {
		if set[o] {
			return o
		}
	}
	return ""
}

func invalidSpec(raw string) error {
	return fmt.Errorf("invalid volume specification: '%s'", raw)
}

func invalidMode(mode string) error {
	return fmt.Errorf("invalid mode: %s: %w", mode, errdefs.ErrInvalidArgument)
}

// ParseBind reads a -v SOURCE:DESTINATION[:MODE] entry of HostConfig.Binds
// as docker does: an absolute SOURCE is a host directory, anything else a
// volume's name. volumeDriver is HostConfig.VolumeDriver.
func ParseBind(raw, volumeDriver string) (*MountPoint, error) {
	arr := strings.Split(raw, ":")
	if arr[0] == "" {
		return nil, fmt.Errorf("%w: %w", invalidSpec(raw), errdefs.ErrInvalidArgument)
	}
	var spec mounttypes.Mount
	var mode string
	switch len(arr) {
	case 1:
		spec.Target = arr[0] // an anonymous volume
	case 2:
		if validMode(arr[1]) {
			// A destination with a mode but no source ("/foo:rw").
			return nil, fmt.Errorf("%w: %w", invalidSpec(raw), errdefs.ErrInvalidArgument)
		}
		spec.Source, spec.Target = arr[0], arr[1]
	case 3:
		spec.Source, spec.Target, mode = arr[0], arr[1], arr[2]
	default:
		return nil, fmt.Errorf("%w: %w", invalidSpec(raw), errdefs.ErrInvalidArgument)
	}
	if !validMode(mode) {
		return nil, invalidMode(mode)
	}
	spec.Type = mounttypes.TypeVolume
	if path.IsAbs(spec.Source) {
		spec.Type = mounttypes.TypeBind
	}
	spec.ReadOnly = !ReadWrite(mode)
	if volumeDriver != "" && spec.Type == mounttypes.TypeVolume {
		spec.VolumeOptions = &mounttypes.VolumeOptions{DriverConfig: &mounttypes.Driver{Name: volumeDriver}}
	}
	if modeHas(mode, map[string]bool{"nocopy": true}) != "" {
		if spec.VolumeOptions == nil {
			spec.VolumeOptions = &mounttypes.VolumeOptions{}
		}
		spec.VolumeOptions.NoCopy = true
	}
	if p := modeHas(mode, propagationModes); p != "" {
		spec.BindOptions = &mounttypes.BindOptions{Propagation: mounttypes.Propagation(p)}
	}
	mp, err := parseSpec(spec, false)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", invalidSpec(raw), err)
	}
	mp.Mode = mode
	if spec.Type == mounttypes.TypeBind {
		// -v creates a missing host directory (--mount does not).
		mp.Spec.BindOptions = withCreate(mp.Spec.BindOptions)
	}
	return mp, nil
}

func withCreate(o *mounttypes.BindOptions) *mounttypes.BindOptions {
	if o == nil {
		o = &mounttypes.BindOptions{}
	}
	o.CreateMountpoint = true
	return o
}

// ParseMount reads a --mount entry of HostConfig.Mounts as docker does.
// exists tells whether a bind source exists (docker refuses a missing one
// unless bind-create-src is set).
func ParseMount(m mounttypes.Mount, exists func(string) bool) (*MountPoint, error) {
	mp, err := parseSpec(m, true)
	if err != nil {
		return nil, err
	}
	if m.Type == mounttypes.TypeBind && (m.BindOptions == nil || !m.BindOptions.CreateMountpoint) && !exists(m.Source) {
		return nil, mountConfigError(m, fmt.Errorf("bind source path does not exist: %s", m.Source))
	}
	return mp, nil
}

func mountConfigError(m mounttypes.Mount, err error) error {
	return fmt.Errorf("invalid mount config for type %q: %v: %w", m.Type, err, errdefs.ErrInvalidArgument)
}

// parseSpec validates a mount in --mount's form and makes its mount point.
func parseSpec(m mounttypes.Mount, fromMount bool) (*MountPoint, error) {
	fail := func(format string, args ...any) (*MountPoint, error) {
		return nil, mountConfigError(m, fmt.Errorf(format, args...))
	}
	if m.Target == "" {
		return fail("field Target must not be empty")
	}
	if !path.IsAbs(m.Target) {
		return fail("invalid mount path: '%s' mount path must be absolute", m.Target)
	}
	if path.Clean(m.Target) == "/" {
		return fail("invalid specification: destination can't be '/'")
	}
	if m.ImageOptions != nil && m.Type != mounttypes.TypeImage {
		return fail("field ImageOptions must not be specified")
	}
	mp := &MountPoint{Type: m.Type, RW: !m.ReadOnly, Destination: path.Clean(m.Target), Spec: m}
	switch m.Type {
	case mounttypes.TypeBind:
		switch {
		case m.Source == "":
			return fail("field Source must not be empty")
		case m.VolumeOptions != nil:
			return fail("field VolumeOptions must not be specified")
		case m.TmpfsOptions != nil:
			return fail("field TmpfsOptions must not be specified")
		case !path.IsAbs(m.Source):
			return fail("invalid mount path: '%s' mount path must be absolute", m.Source)
		}
		if m.BindOptions != nil {
			if m.BindOptions.ReadOnlyNonRecursive || m.BindOptions.ReadOnlyForceRecursive {
				if !m.ReadOnly {
					return fail("must also set ReadOnly when setting a readonly bind-recursive option")
				}
			}
		}
		mp.Source = path.Clean(m.Source)
		mp.Propagation = mounttypes.PropagationRPrivate
		if m.BindOptions != nil && m.BindOptions.Propagation != "" {
			if !propagationModes[string(m.BindOptions.Propagation)] {
				return fail("invalid propagation mode: %s", m.BindOptions.Propagation)
			}
			mp.Propagation = m.BindOptions.Propagation
		}
	case mounttypes.TypeVolume:
		anonymous := m.Source == ""
		switch {
		case m.BindOptions != nil:
			return fail("field BindOptions must not be specified")
		case m.TmpfsOptions != nil:
			return fail("field TmpfsOptions must not be specified")
		case m.ReadOnly && anonymous && fromMount:
			return fail("must not set ReadOnly mode when using anonymous volumes")
		}
		if o := m.VolumeOptions; o != nil && o.Subpath != "" {
			return nil, fmt.Errorf("invalid mount config for type %q: volume subpaths are not supported: %w", m.Type, errdefs.ErrNotImplemented)
		}
		mp.Name = m.Source
		mp.Anonymous = anonymous
		mp.CopyData = m.VolumeOptions == nil || !m.VolumeOptions.NoCopy
		if o := m.VolumeOptions; o != nil && o.DriverConfig != nil {
			mp.Driver = o.DriverConfig.Name
		}
	case mounttypes.TypeTmpfs:
		switch {
		case m.BindOptions != nil:
			return fail("field BindOptions must not be specified")
		case m.VolumeOptions != nil:
			return fail("field VolumeOptions must not be specified")
		case m.Source != "":
			return fail("field Source must not be specified")
		}
		if o := m.TmpfsOptions; o != nil && o.SizeBytes < 0 {
			return fail("invalid tmpfs size: %d", o.SizeBytes)
		}
	case "":
		return fail("mount type unknown")
	default:
		return nil, fmt.Errorf("invalid mount config: mount type %q is not supported: %w", m.Type, errdefs.ErrInvalidArgument)
	}
	return mp, nil
}

// ParseVolumesFrom reads a --volumes-from CONTAINER[:ro|rw] entry: the
// container and the mode ("rw" when none is given).
func ParseVolumesFrom(spec string) (string, string, error) {
	if spec == "" {
		return "", "", fmt.Errorf("volumes-from specification cannot be an empty string: %w", errdefs.ErrInvalidArgument)
	}
	id, mode, _ := strings.Cut(spec, ":")
	if mode == "" {
		return id, "rw", nil
	}
	if !validMode(mode) || modeHas(mode, propagationModes) != "" || strings.Contains(","+mode+",", ",nocopy,") {
		return "", "", invalidMode(mode)
	}
	return id, mode, nil
}

// ErrDuplicate is docker's error for two mounts at one place.
func ErrDuplicate(dest string) error {
	return fmt.Errorf("Duplicate mount point: %s: %w", dest, errdefs.ErrInvalidArgument)
}
