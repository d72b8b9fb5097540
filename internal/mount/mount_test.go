package mount

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseOptions(t *testing.T) {
	tests := []struct {
		name  string
		in    []string
		flags uintptr
		clear uintptr
		prop  []uintptr
		data  string
		ext   []string
	}{
		{name: "empty"},
		{name: "bind ro", in: []string{"rbind", "ro"}, flags: unix.MS_BIND | unix.MS_REC | unix.MS_RDONLY},
		{name: "rw clears ro", in: []string{"ro", "rw"}, clear: unix.MS_RDONLY},
		{name: "proc style", in: []string{"nosuid", "noexec", "nodev"}, flags: unix.MS_NOSUID | unix.MS_NOEXEC | unix.MS_NODEV},
		{name: "tmpfs data", in: []string{"nosuid", "strictatime", "mode=755", "size=65536k"},
			flags: unix.MS_NOSUID | unix.MS_STRICTATIME, data: "mode=755,size=65536k"},
		{name: "propagation", in: []string{"rbind", "rslave", "shared"}, flags: unix.MS_BIND | unix.MS_REC,
			prop: []uintptr{unix.MS_SLAVE | unix.MS_REC, unix.MS_SHARED}},
		{name: "overlay", in: []string{"lowerdir=/a:/b", "upperdir=/u", "workdir=/w"}, data: "lowerdir=/a:/b,upperdir=/u,workdir=/w"},
		{name: "extension", in: []string{"tmpcopyup", "nodev"}, flags: unix.MS_NODEV, ext: []string{"tmpcopyup"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := ParseOptions(tt.in)
			if o.Flags != tt.flags {
				t.Errorf("flags = %#x, want %#x", o.Flags, tt.flags)
			}
			if o.ClearFlags != tt.clear {
				t.Errorf("clear = %#x, want %#x", o.ClearFlags, tt.clear)
			}
			if len(o.Propagation) != len(tt.prop) {
				t.Fatalf("propagation = %v, want %v", o.Propagation, tt.prop)
			}
			for i := range tt.prop {
				if o.Propagation[i] != tt.prop[i] {
					t.Errorf("propagation[%d] = %#x, want %#x", i, o.Propagation[i], tt.prop[i])
				}
			}
			if o.Data != tt.data {
				t.Errorf("data = %q, want %q", o.Data, tt.data)
			}
			if len(o.Extensions) != len(tt.ext) {
				t.Errorf("extensions = %v, want %v", o.Extensions, tt.ext)
			}
		})
	}
}

func TestRecursiveAttrs(t *testing.T) {
	o := ParseOptions([]string{"rro", "rnosuid", "rsuid"})
	if o.RecAttrSet != unix.MOUNT_ATTR_RDONLY {
		t.Errorf("set = %#x", o.RecAttrSet)
	}
	if o.RecAttrClr != unix.MOUNT_ATTR_NOSUID {
		t.Errorf("clr = %#x", o.RecAttrClr)
	}
}
