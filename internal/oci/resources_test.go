package oci

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/blkiodev"
	ctypes "github.com/moby/moby/api/types/container"
	"golang.org/x/sys/unix"
)

// blockDevice is a block device of this host and its numbers.
func blockDevice(t *testing.T) (string, int64, int64) {
	ents, _ := os.ReadDir("/dev")
	for _, e := range ents {
		p := filepath.Join("/dev", e.Name())
		var st unix.Stat_t
		if unix.Stat(p, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFBLK {
			return p, int64(unix.Major(uint64(st.Rdev))), int64(unix.Minor(uint64(st.Rdev)))
		}
	}
	t.Skip("no block device in /dev")
	return "", 0, 0
}

// --device-read-bps and its kin name a device by path; the spec holds
// its numbers. A path that is no block device is refused.
func TestBlockIODevices(t *testing.T) {
	dev, major, minor := blockDevice(t)
	hc := &ctypes.HostConfig{Resources: ctypes.Resources{
		BlkioDeviceReadBps:   []*blkiodev.ThrottleDevice{{Path: dev, Rate: 1 << 20}},
		BlkioDeviceWriteIOps: []*blkiodev.ThrottleDevice{{Path: dev, Rate: 100}},
		BlkioWeightDevice:    []*blkiodev.WeightDevice{{Path: dev, Weight: 200}},
	}}
	r, err := Resources(hc)
	if err != nil {
		t.Fatal(err)
	}
	b := r.BlockIO
	if b == nil || len(b.ThrottleReadBpsDevice) != 1 || b.ThrottleReadBpsDevice[0].Rate != 1<<20 || b.ThrottleReadBpsDevice[0].Major != major || b.ThrottleReadBpsDevice[0].Minor != minor ||
		len(b.ThrottleWriteIOPSDevice) != 1 || b.ThrottleWriteIOPSDevice[0].Rate != 100 || len(b.WeightDevice) != 1 || *b.WeightDevice[0].Weight != 200 {
		t.Fatalf("block IO: %+v", b)
	}
	for path, want := range map[string]string{"/dev/null": "not a block device", "/dev/hako-no-such": "no such file"} {
		hc := &ctypes.HostConfig{Resources: ctypes.Resources{BlkioDeviceWriteBps: []*blkiodev.ThrottleDevice{{Path: path, Rate: 1}}}}
		if _, err := Resources(hc); err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "--device-write-bps") {
			t.Errorf("%s: %v", path, err)
		}
	}
}

// --device-cgroup-rule adds to the allowlist; a malformed rule is refused.
func TestDeviceCgroupRules(t *testing.T) {
	hc := &ctypes.HostConfig{Resources: ctypes.Resources{DeviceCgroupRules: []string{"c 42:* rmw", "b *:* r"}}}
	r, err := Resources(hc)
	if err != nil {
		t.Fatal(err)
	}
	got := r.Devices[len(r.Devices)-2:]
	if got[0].Type != "c" || *got[0].Major != 42 || got[0].Minor != nil || got[0].Access != "rmw" || !got[0].Allow ||
		got[1].Type != "b" || got[1].Major != nil || got[1].Access != "r" {
		t.Fatalf("rules: %+v", got)
	}
	for _, bad := range []string{"c 42 rwm", "x 1:3 r", "c 1:3 rwx", "c a:3 r", "c 1:3"} {
		hc := &ctypes.HostConfig{Resources: ctypes.Resources{DeviceCgroupRules: []string{bad}}}
		if _, err := Resources(hc); err == nil || !strings.Contains(err.Error(), "invalid device cgroup rule") {
			t.Errorf("%q: %v", bad, err)
		}
	}
	hc = &ctypes.HostConfig{Resources: ctypes.Resources{CPURealtimePeriod: 1000000, CPURealtimeRuntime: 950000}}
	if r, err := Resources(hc); err != nil || *r.CPU.RealtimePeriod != 1000000 || *r.CPU.RealtimeRuntime != 950000 {
		t.Fatalf("cpu-rt: %v %+v", err, r)
	}
}
