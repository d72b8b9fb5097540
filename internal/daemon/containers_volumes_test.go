package daemon

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/hako-dev/hako/internal/daemon/container"
	"github.com/hako-dev/hako/internal/daemon/volume"
	ctypes "github.com/moby/moby/api/types/container"
	mounttypes "github.com/moby/moby/api/types/mount"
)

// A container's mount points become the runtime's mounts, and inspect's
// Mounts in docker's shape.
func TestSpecAndAPIMounts(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "made")
	bind, err := volume.ParseBind(missing+":/h:ro,rslave", "")
	if err != nil {
		t.Fatal(err)
	}
	tmpfs, err := volume.ParseMount(mounttypes.Mount{Type: "tmpfs", Target: "/mt", ReadOnly: true,
		TmpfsOptions: &mounttypes.TmpfsOptions{SizeBytes: 1 << 20, Mode: 0o1777, Options: [][]string{{"exec"}}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &container.Container{
		HostConfig: &ctypes.HostConfig{Tmpfs: map[string]string{"/t/": "ro,size=1m"}},
		MountPoints: []*volume.MountPoint{
			{Type: "volume", Name: "data", Source: "/r/volumes/data/_data", Destination: "/data", Driver: "local", Mode: "z", RW: true},
			bind, tmpfs,
		},
	}
	ms, err := specMounts(c, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Error("a dry run (create) made the host directory")
	}
	want := [][]string{{"rbind", "rw", "rprivate"}, {"rbind", "ro", "rslave"}, {"nosuid", "nodev", "noexec", "ro", "size=1048576", "mode=1777", "exec"}}
	for i, m := range ms {
		if !slices.Equal(m.Options, want[i]) {
			t.Errorf("%s: options %v, want %v", m.Destination, m.Options, want[i])
		}
	}
	if ms[0].Type != "bind" || ms[0].Source != "/r/volumes/data/_data" || ms[1].Source != missing || ms[2].Type != "tmpfs" {
		t.Errorf("mounts %+v", ms)
	}
	if _, err := specMounts(c, false); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(missing); err != nil || !st.IsDir() {
		t.Errorf("-v did not make its host directory at start: %v", err)
	}

	got := apiMountPoints(c)
	wantAPI := []ctypes.MountPoint{
		{Type: "volume", Name: "data", Source: "/r/volumes/data/_data", Destination: "/data", Driver: "local", Mode: "z", RW: true},
		{Type: "bind", Source: missing, Destination: "/h", Mode: "ro,rslave", Propagation: "rslave"},
		{Type: "tmpfs", Destination: "/mt"},
		{Type: "tmpfs", Destination: "/t"},
	}
	if !slices.Equal(got, wantAPI) {
		t.Errorf("Mounts:\n got %+v\nwant %+v", got, wantAPI)
	}
}
