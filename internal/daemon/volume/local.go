package volume

import (
	"fmt"
	"slices"
	"strings"

	"github.com/hako-dev/hako/internal/errdefs"
	"github.com/hako-dev/hako/internal/mount"
)

// The local driver's options, as docker's: none for a plain directory, or
// a mount(8) of device with type and o on the volume's _data:
//
//	--opt type=tmpfs --opt device=tmpfs --opt o=size=10m,uid=1000
//	--opt type=none --opt device=/srv/data --opt o=bind
//	--opt type=ext4 --opt device=/dev/sdb1
var (
	validOptions = []string{"type", "device", "o", "size"}
	// requiredWith: an option needs the others listed.
	requiredWith = map[string][]string{"device": {"type"}, "type": {"device"}, "o": {"device"}}
)

// ValidateOptions checks the local driver's options with docker's
// messages.
func ValidateOptions(opts map[string]string) error {
	for k := range opts {
		if !slices.Contains(validOptions, k) {
			return fmt.Errorf("invalid option: %q: %w", k, errdefs.ErrInvalidArgument)
		}
	}
	if _, ok := opts["size"]; ok {
		return fmt.Errorf("quota size requested but no quota support: %w", errdefs.ErrInvalidArgument)
	}
	for _, k := range []string{"device", "type", "o"} {
		if _, ok := opts[k]; !ok {
			continue
		}
		for _, need := range requiredWith[k] {
			if _, ok := opts[need]; !ok {
				return fmt.Errorf("missing required option: %q: %w", need, errdefs.ErrInvalidArgument)
			}
		}
	}
	return nil
}

// Mounts describes the mount a volume with these options needs on its
// _data; nil for a plain directory.
func Mounts(opts map[string]string) []mount.Mount {
	dev := opts["device"]
	if dev == "" {
		return nil
	}
	m := mount.Mount{Type: opts["type"], Source: dev}
	if m.Type == "none" {
		m.Type = ""
	}
	for _, o := range strings.Split(opts["o"], ",") {
		if o != "" {
			m.Options = append(m.Options, o)
		}
	}
	return []mount.Mount{m}
}

// hidePassword keeps a cifs password out of an error message.
func hidePassword(msg, o string) string {
	for _, kv := range strings.Split(o, ",") {
		if p, ok := strings.CutPrefix(kv, "password="); ok && p != "" {
			msg = strings.ReplaceAll(msg, "password="+p, "password=********")
		}
	}
	return msg
}
