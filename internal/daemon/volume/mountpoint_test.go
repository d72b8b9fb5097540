package volume

import (
	"errors"
	"strings"
	"testing"

	"github.com/hako-dev/hako/internal/errdefs"
	mounttypes "github.com/moby/moby/api/types/mount"
)

func TestParseBind(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		want MountPoint
	}{
		{"vol:/data", MountPoint{Type: "volume", Name: "vol", Destination: "/data", RW: true, CopyData: true}},
		{"vol:/data:ro", MountPoint{Type: "volume", Name: "vol", Destination: "/data", Mode: "ro", CopyData: true}},
		{"vol:/data/:nocopy", MountPoint{Type: "volume", Name: "vol", Destination: "/data", Mode: "nocopy", RW: true}},
		{"/data", MountPoint{Type: "volume", Destination: "/data", RW: true, CopyData: true, Anonymous: true}},
		{"/host:/data", MountPoint{Type: "bind", Source: "/host", Destination: "/data", RW: true, Propagation: "rprivate"}},
		{"/host/../h:/data:ro,rslave", MountPoint{Type: "bind", Source: "/h", Destination: "/data", Mode: "ro,rslave", Propagation: "rslave"}},
		{"/host:/data:z", MountPoint{Type: "bind", Source: "/host", Destination: "/data", Mode: "z", RW: true, Propagation: "rprivate"}},
	} {
		mp, err := ParseBind(tc.raw, "")
		if err != nil {
			t.Errorf("%s: %v", tc.raw, err)
			continue
		}
		got := *mp
		got.Spec = mounttypes.Mount{}
		if got != tc.want {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.raw, got, tc.want)
		}
	}
	if mp, _ := ParseBind("/host:/data", ""); mp.Spec.BindOptions == nil || !mp.Spec.BindOptions.CreateMountpoint {
		t.Error("-v does not create a missing host directory")
	}
	for raw, msg := range map[string]string{
		"":                  "invalid volume specification: ''",
		"/foo:rw":           "invalid volume specification: '/foo:rw'",
		"a:b:c:d":           "invalid volume specification: 'a:b:c:d'",
		"vol:/data:rw,ro":   "invalid mode: rw,ro",
		"vol:/data:bogus":   "invalid mode: bogus",
		"vol:data":          `invalid volume specification: 'vol:data': invalid mount config for type "volume": invalid mount path: 'data' mount path must be absolute`,
		"vol:/":             `invalid volume specification: 'vol:/': invalid mount config for type "volume": invalid specification: destination can't be '/'`,
		"/h:/data:nocopy":   `invalid volume specification: '/h:/data:nocopy': invalid mount config for type "bind": field VolumeOptions must not be specified`,
		"vol:/data:rshared": `invalid volume specification: 'vol:/data:rshared': invalid mount config for type "volume": field BindOptions must not be specified`,
	} {
		_, err := ParseBind(raw, "")
		if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.HasPrefix(err.Error(), msg) {
			t.Errorf("%q: %v, want %q", raw, err, msg)
		}
	}
}

func TestParseMount(t *testing.T) {
	exists := func(p string) bool { return p == "/there" }
	mp, err := ParseMount(mounttypes.Mount{Type: "volume", Source: "v", Target: "/d", ReadOnly: true,
		VolumeOptions: &mounttypes.VolumeOptions{NoCopy: true, DriverConfig: &mounttypes.Driver{Name: "local", Options: map[string]string{"type": "tmpfs"}}}}, exists)
	if err != nil || mp.Name != "v" || mp.RW || mp.CopyData || mp.Driver != "local" || mp.Anonymous {
		t.Errorf("volume: %+v %v", mp, err)
	}
	mp, err = ParseMount(mounttypes.Mount{Type: "volume", Target: "/d"}, exists)
	if err != nil || !mp.Anonymous || !mp.CopyData {
		t.Errorf("anonymous: %+v %v", mp, err)
	}
	mp, err = ParseMount(mounttypes.Mount{Type: "bind", Source: "/there", Target: "/d", BindOptions: &mounttypes.BindOptions{Propagation: "rshared"}}, exists)
	if err != nil || mp.Source != "/there" || mp.Propagation != "rshared" || mp.Mode != "" {
		t.Errorf("bind: %+v %v", mp, err)
	}
	if _, err := ParseMount(mounttypes.Mount{Type: "bind", Source: "/nope", Target: "/d", BindOptions: &mounttypes.BindOptions{CreateMountpoint: true}}, exists); err != nil {
		t.Errorf("bind-create-src: %v", err)
	}
	for _, tc := range []struct {
		m   mounttypes.Mount
		msg string
	}{
		{mounttypes.Mount{Type: "bind", Source: "/nope", Target: "/d"}, `invalid mount config for type "bind": bind source path does not exist: /nope`},
		{mounttypes.Mount{Type: "bind", Target: "/d"}, `invalid mount config for type "bind": field Source must not be empty`},
		{mounttypes.Mount{Type: "bind", Source: "rel", Target: "/d"}, `invalid mount config for type "bind": invalid mount path: 'rel' mount path must be absolute`},
		{mounttypes.Mount{Type: "volume", Target: "/d", ReadOnly: true}, `invalid mount config for type "volume": must not set ReadOnly mode when using anonymous volumes`},
		{mounttypes.Mount{Type: "volume", Source: "v"}, `invalid mount config for type "volume": field Target must not be empty`},
		{mounttypes.Mount{Type: "tmpfs", Source: "x", Target: "/t"}, `invalid mount config for type "tmpfs": field Source must not be specified`},
		{mounttypes.Mount{Type: "volume", Source: "v", Target: "/d", TmpfsOptions: &mounttypes.TmpfsOptions{}}, `invalid mount config for type "volume": field TmpfsOptions must not be specified`},
		{mounttypes.Mount{Type: "", Target: "/d"}, `invalid mount config for type "": mount type unknown`},
	} {
		_, err := ParseMount(tc.m, exists)
		if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.HasPrefix(err.Error(), tc.msg) {
			t.Errorf("%+v: %v, want %q", tc.m, err, tc.msg)
		}
	}
}

func TestParseVolumesFrom(t *testing.T) {
	for spec, want := range map[string][2]string{"web": {"web", "rw"}, "web:ro": {"web", "ro"}, "web:rw,z": {"web", "rw,z"}} {
		id, mode, err := ParseVolumesFrom(spec)
		if err != nil || id != want[0] || mode != want[1] {
			t.Errorf("%s: %s %s %v", spec, id, mode, err)
		}
	}
	for _, bad := range []string{"", "web:rshared", "web:nocopy", "web:xx"} {
		if _, _, err := ParseVolumesFrom(bad); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	if !ReadWrite("") || !ReadWrite("rw,z") || ReadWrite("ro") || ReadWrite("bogus") {
		t.Error("ReadWrite")
	}
}
