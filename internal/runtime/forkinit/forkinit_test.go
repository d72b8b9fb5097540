package forkinit

import (
	"testing"

	"github.com/hako-dev/hako/internal/runtime/spec"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestUnsupported(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(s *specs.Spec)
		mode Mode
		want bool // unsupported
	}{
		{"default", func(s *specs.Spec) {}, Run, false},
		{"terminal", func(s *specs.Spec) { s.Process.Terminal = true }, Create, false},
		{"user namespace", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
		}, Run, true},
		{"time namespace", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.TimeNamespace})
		}, Run, true},
		{"joined mount namespace", func(s *specs.Spec) {
			for i := range s.Linux.Namespaces {
				if s.Linux.Namespaces[i].Type == specs.MountNamespace {
					s.Linux.Namespaces[i].Path = "/proc/1/ns/mnt"
				}
			}
		}, Run, true},
		{"no mount namespace", func(s *specs.Spec) {
			var ns []specs.LinuxNamespace
			for _, n := range s.Linux.Namespaces {
				if n.Type != specs.MountNamespace {
					ns = append(ns, n)
				}
			}
			s.Linux.Namespaces = ns
		}, Run, true},
		{"startContainer hook", func(s *specs.Spec) {
			s.Hooks = &specs.Hooks{StartContainer: []specs.Hook{{Path: "/bin/true"}}}
		}, Run, true},
		{"prestart hook", func(s *specs.Spec) {
			s.Hooks = &specs.Hooks{Prestart: []specs.Hook{{Path: "/bin/true"}}}
		}, Run, false},
		{"seccomp agent", func(s *specs.Spec) {
			s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, ListenerPath: "/run/agent.sock"}
		}, Run, true},
		{"personality", func(s *specs.Spec) { s.Linux.Personality = &specs.LinuxPersonality{Domain: specs.PerLinux} }, Run, true},
		{"apparmor", func(s *specs.Spec) { s.Process.ApparmorProfile = "docker-default" }, Exec, true},
		{"tmpcopyup", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/x", Type: "tmpfs", Source: "tmpfs", Options: []string{"tmpcopyup"}})
		}, Run, true},
		{"shared rootfs propagation", func(s *specs.Spec) { s.Linux.RootfsPropagation = "rshared" }, Run, true},
		{"private rootfs propagation", func(s *specs.Spec) { s.Linux.RootfsPropagation = "rprivate" }, Run, false},
	} {
		s := spec.Default(false)
		tc.edit(s)
		why := Unsupported(s, tc.mode)
		if (why != "") != tc.want {
			t.Errorf("%s: Unsupported = %q, want unsupported %v", tc.name, why, tc.want)
		}
	}
}
