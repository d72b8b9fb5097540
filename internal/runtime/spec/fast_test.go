//go:build goexperiment.jsonv2

package spec

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// slow is what Decode would return without the fast path.
func slow(t testing.TB, data []byte) (*specs.Spec, bool) {
	var s specs.Spec
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, false
	}
	return &s, true
}

// check holds fastDecode to encoding/json: when it takes a configuration,
// it must give the same result.
func check(t testing.TB, name string, data []byte, wantFast bool) {
	t.Helper()
	fast, ok := fastDecode(data)
	want, wok := slow(t, data)
	if ok && !wok {
		t.Fatalf("%s: fast path took a configuration encoding/json refuses", name)
	}
	if ok && !reflect.DeepEqual(fast, want) {
		a, _ := json.Marshal(fast)
		b, _ := json.Marshal(want)
		t.Fatalf("%s: fast path differs\nfast: %s\njson: %s", name, a, b)
	}
	if wantFast && !ok {
		t.Errorf("%s: not taken by the fast path", name)
	}
}

func TestFastDecodeMatchesJSON(t *testing.T) {
	def := Default(false)
	full := Default(true)
	full.Process.ConsoleSize = &specs.Box{Height: 24, Width: 80}
	full.Process.OOMScoreAdj = new(int)
	*full.Process.OOMScoreAdj = -500
	full.Process.User = specs.User{UID: 1000, GID: 1000, Umask: new(uint32), AdditionalGids: []uint32{1, 2}, Username: "u"}
	full.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1 << 63, Soft: 1024}}
	full.Process.ApparmorProfile, full.Process.SelinuxLabel = "p", "l"
	full.Hostname, full.Domainname = "h", "d"
	full.Annotations = map[string]string{"a": "b", "": "\u00e9\n\""}
	full.Hooks = &specs.Hooks{Prestart: []specs.Hook{{Path: "/bin/true", Args: []string{"true"}, Env: []string{"A=b"}, Timeout: new(int)}}, Poststop: []specs.Hook{}}
	l := full.Linux
	l.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	l.GIDMappings = l.UIDMappings
	l.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"}
	l.CgroupsPath = "/x/y"
	l.RootfsPropagation, l.MountLabel = "rslave", "m"
	mode := os.FileMode(0o640)
	uid := uint32(5)
	l.Devices = []specs.LinuxDevice{{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229, FileMode: &mode, UID: &uid, GID: &uid}}
	lim, sw, sh, per, q := int64(64<<20), uint64(60), uint64(512), uint64(100000), int64(-1)
	yes := true
	l.Resources = &specs.LinuxResources{
		Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}, {Allow: true, Type: "c", Major: new(int64), Minor: &lim, Access: "r"}},
		Memory:  &specs.LinuxMemory{Limit: &lim, Reservation: &lim, Swap: &lim, Swappiness: &sw, DisableOOMKiller: &yes, CheckBeforeUpdate: &yes},
		CPU:     &specs.LinuxCPU{Shares: &sh, Quota: &q, Period: &per, Cpus: "0-1", Mems: "0"},
		Pids:    &specs.LinuxPids{Limit: &lim},
	}
	full.Mounts = append(full.Mounts, specs.Mount{Destination: "/v", Type: "bind", Source: "/tmp", Options: []string{}})
	docker := Default(false)
	errno := uint(1)
	docker.Linux.Seccomp = &specs.LinuxSeccomp{
		DefaultAction: specs.ActErrno, DefaultErrnoRet: &errno,
		Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86},
		Flags:         []specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_LOG"},
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"read", "write"}, Action: specs.ActAllow},
			{Names: []string{"personality"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 0xffffffff, ValueTwo: 1, Op: specs.OpEqualTo}}},
			{Names: []string{"clone"}, Action: specs.ActErrno, ErrnoRet: &errno},
		},
	}

	for name, s := range map[string]*specs.Spec{"default": def, "full": full, "docker seccomp": docker} {
		b, err := json.MarshalIndent(s, "", "\t")
		if err != nil {
			t.Fatal(err)
		}
		check(t, name, b, true)
	}
	// The bundles of the e2e and conformance tests, where present.
	files, _ := filepath.Glob("/var/tmp/runtime-perf/bundles/*/config.json")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err == nil {
			check(t, f, b, true)
		}
	}
}

func TestFastDecodeFallsBack(t *testing.T) {
	for _, c := range []string{
		`{"ociVersion":"1.0.0","Hostname":"h"}`,             // another spelling: encoding/json matches it
		`{"hostname":"a","hostname":"b"}`,                   // twice
		`{"process":null}`,                                  // null
		`{"process":{"user":{"uid":-1}}}`,                   // out of range
		`{"process":{"user":{"uid":1.5}}}`,                  // not an integer
		`{"process":{"oomScoreAdj":1e3}}`,                   // exponent
		`{"linux":{"resources":{"blockIO":{"weight":10}}}}`, // not handled here
		`{"linux":{"personality":{"domain":"LINUX"}}}`,
		`{"hostname":"x"} {}`, // trailing value
		`{"hostname":"\xff"}`, // invalid UTF-8
		`[]`,
		`{"unknown":1}`,
	} {
		if _, ok := fastDecode([]byte(c)); ok {
			t.Errorf("fast path took %s", c)
		}
		check(t, c, []byte(c), false)
	}
	// Decode still gives encoding/json's answer, errors included.
	if _, err := Decode([]byte(`{"process":{"user":{"uid":-1}}}`)); err == nil || !strings.Contains(err.Error(), "uid") {
		t.Errorf("Decode of a bad uid: %v", err)
	}
	s, err := Decode([]byte(`{"Hostname":"h"}`))
	if err != nil || s.Hostname != "h" {
		t.Errorf("Decode of a differently spelt key: %+v, %v", s, err)
	}
}

func FuzzFastDecode(f *testing.F) {
	b, _ := json.Marshal(Default(true))
	f.Add(b)
	f.Add([]byte(`{"process":{"args":["a"],"user":{"uid":0,"gid":0}},"linux":{"namespaces":[{"type":"pid"}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		check(t, "fuzz", data, false)
	})
}

func FuzzFastDecodeProcess(f *testing.F) {
	b, _ := json.Marshal(Default(true).Process)
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		fast, ok := fastDecodeProcess(data)
		var want specs.Process
		err := json.Unmarshal(data, &want)
		if ok && err != nil {
			t.Fatalf("fast path took a process encoding/json refuses: %v", err)
		}
		if ok && !reflect.DeepEqual(*fast, want) {
			t.Fatalf("fast path differs: %+v vs %+v", *fast, want)
		}
	})
}
