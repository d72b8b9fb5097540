package runtime

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func i64(v int64) *int64 { return &v }

// allowedDevices are always reachable, as in runc: the default nodes, the
// container's terminals, and mknod of anything (mknod alone grants no
// access to a device).
var allowedDevices = [...]specs.LinuxDeviceCgroup{
	{Allow: true, Type: "c", Access: "m"},
	{Allow: true, Type: "b", Access: "m"},
	{Allow: true, Type: "c", Major: i64(1), Minor: i64(3), Access: "rwm"},    // null
	{Allow: true, Type: "c", Major: i64(1), Minor: i64(5), Access: "rwm"},    // zero
	{Allow: true, Type: "c", Major: i64(1), Minor: i64(7), Access: "rwm"},    // full
	{Allow: true, Type: "c", Major: i64(1), Minor: i64(8), Access: "rwm"},    // random
	{Allow: true, Type: "c", Major: i64(1), Minor: i64(9), Access: "rwm"},    // urandom
	{Allow: true, Type: "c", Major: i64(5), Minor: i64(0), Access: "rwm"},    // tty
	{Allow: true, Type: "c", Major: i64(5), Minor: i64(1), Access: "rwm"},    // console
	{Allow: true, Type: "c", Major: i64(5), Minor: i64(2), Access: "rwm"},    // ptmx
	{Allow: true, Type: "c", Major: i64(136), Minor: nil, Access: "rwm"},     // /dev/pts/*
	{Allow: true, Type: "c", Major: i64(10), Minor: i64(200), Access: "rwm"}, // tun
}

// cgroupResources returns the configuration's resources with the device
// rules completed: the configuration's own rules, then access to every
// device it creates, then the always-allowed ones.
func cgroupResources(s *specs.Spec) *specs.LinuxResources {
	var r specs.LinuxResources
	if s.Linux.Resources != nil {
		r = *s.Linux.Resources
	}
	devs := append([]specs.LinuxDeviceCgroup(nil), r.Devices...)
	if len(devs) == 0 || devs[0].Allow || devs[0].Type != "" && devs[0].Type != "a" {
		// Without a leading deny-all, start from one: a container sees
		// only what it is given.
		devs = append([]specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}, devs...)
	}
	for _, d := range s.Linux.Devices {
		if d.Type == "p" {
			continue
		}
		t := d.Type
		if t == "u" {
			t = "c"
		}
		devs = append(devs, specs.LinuxDeviceCgroup{Allow: true, Type: t, Major: i64(d.Major), Minor: i64(d.Minor), Access: "rwm"})
	}
	devs = append(devs, allowedDevices[:]...)
	r.Devices = devs
	return &r
}
