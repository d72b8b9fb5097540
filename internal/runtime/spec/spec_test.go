package spec

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hako-dev/hako/internal/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func bundle(t *testing.T, mutate func(*specs.Spec)) (string, *specs.Spec) {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "rootfs"), 0o755); err != nil {
		t.Fatal(err)
	}
	s := Default(false)
	if mutate != nil {
		mutate(s)
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ConfigName), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, s
}

func TestDefaultIsValid(t *testing.T) {
	for _, rootless := range []bool{false, true} {
		dir, _ := bundle(t, func(s *specs.Spec) { *s = *Default(rootless) })
		s, _, err := Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		if err := Validate(s, dir); err != nil {
			t.Errorf("rootless=%v: default spec invalid: %v", rootless, err)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	_, _, err := Load(dir)
	if !errdefs.IsNotFound(err) || !strings.Contains(err.Error(), "config.json not found") {
		t.Errorf("missing config: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, ConfigName), []byte("{\n  \"ociVersion\": \"1.0.0\",\n  \"process\": {,}\n}"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err = Load(dir)
	if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "line 3, column 15") {
		t.Errorf("bad JSON: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, ConfigName), []byte(`{"ociVersion": "1.0.0", "process": {"args": "sh"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err = Load(dir)
	if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "process.args") {
		t.Errorf("wrong type: %v", err)
	}
}

func TestValidateErrors(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*specs.Spec)
		want   string
	}{
		{"unknown namespace", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "foo"})
		}, `linux.namespaces[6].type: unknown namespace type "foo"`},
		{"duplicate namespace", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "pid"})
		}, "pid namespace given twice"},
		{"missing rootfs", func(s *specs.Spec) { s.Root.Path = "nope" }, `root.path "nope": no such directory`},
		{"relative mount destination", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "tmp", Type: "tmpfs", Source: "tmpfs"})
		}, `mounts[7].destination "tmp": must be an absolute path`},
		{"unknown capability", func(s *specs.Spec) {
			s.Process.Capabilities.Bounding = append(s.Process.Capabilities.Bounding, "CAP_FOO")
		}, `process.capabilities.bounding[3]: unknown capability "CAP_FOO"`},
		{"bad version", func(s *specs.Spec) { s.Version = "invalid" }, `ociVersion "invalid"`},
		{"no args", func(s *specs.Spec) { s.Process.Args = nil }, "process.args: must name a program"},
		{"relative cwd", func(s *specs.Spec) { s.Process.Cwd = "tmp" }, `process.cwd "tmp": must be an absolute path`},
		{"unknown rlimit", func(s *specs.Spec) {
			s.Process.Rlimits = append(s.Process.Rlimits, specs.POSIXRlimit{Type: "RLIMIT_FOO"})
		}, `process.rlimits[1].type: unknown rlimit "RLIMIT_FOO"`},
		{"soft above hard", func(s *specs.Spec) { s.Process.Rlimits[0].Soft = 2048 }, "soft limit 2048 is above hard limit 1024"},
		{"userns without mappings", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "user"})
		}, "linux.uidMappings, linux.gidMappings: required"},
		{"hostname without uts", func(s *specs.Spec) {
			s.Linux.Namespaces = s.Linux.Namespaces[:3] // pid, network, ipc
		}, "hostname: cannot be set without a uts namespace"},
		{"host sysctl", func(s *specs.Spec) { s.Linux.Sysctl = map[string]string{"kernel.panic": "1"} }, `linux.sysctl "kernel.panic": not isolated`},
		{"relative hook", func(s *specs.Spec) {
			s.Hooks = &specs.Hooks{Poststop: []specs.Hook{{Path: "bin/true"}}}
		}, `hooks.poststop[0].path "bin/true": must be an absolute path`},
		{"bad propagation", func(s *specs.Spec) { s.Linux.RootfsPropagation = "weird" }, `linux.rootfsPropagation "weird"`},
		{"bad device type", func(s *specs.Spec) {
			s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/x", Type: "z"}}
		}, `linux.devices[0].type "z"`},
		{"bad oom score", func(s *specs.Spec) { v := 2000; s.Process.OOMScoreAdj = &v }, "process.oomScoreAdj 2000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, _ := bundle(t, tt.mutate)
			s, _, err := Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			err = Validate(s, dir)
			if err == nil {
				t.Fatalf("accepted; want error containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			if !errors.Is(err, errdefs.ErrInvalidArgument) && !errors.Is(err, errdefs.ErrNotFound) {
				t.Errorf("error %q has no category", err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
		})
	}
}

func TestValidSysctls(t *testing.T) {
	dir, _ := bundle(t, func(s *specs.Spec) {
		s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1", "kernel.shmmax": "1000", "fs.mqueue.msg_max": "10"}
	})
	s, _, _ := Load(dir)
	if err := Validate(s, dir); err != nil {
		t.Fatal(err)
	}
}
