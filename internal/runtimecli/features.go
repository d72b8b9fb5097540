package runtimecli

import (
	"encoding/json"
	"os"

	"github.com/hako-dev/hako/internal/mount"
	"github.com/hako-dev/hako/internal/runtime/linux"
	"github.com/hako-dev/hako/internal/runtime/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"
)

func newFeatures(g *globals) *command {
	return &command{
		name:  "features",
		short: "print what this runtime supports, as runtime-spec features JSON",
		args:  exactArgs("features", 0, "no arguments"),
		run: func(args []string) error {
			yes, no := true, false
			var ns []string
			for _, k := range linux.NamespaceKinds() {
				ns = append(ns, k.Spec)
			}
			_, apparmorErr := os.Stat("/sys/kernel/security/apparmor")
			_, selinuxErr := os.Stat("/sys/fs/selinux/enforce")
			apparmor, selinux := apparmorErr == nil, selinuxErr == nil
			f := features.Features{
				OCIVersionMin: "1.0.0",
				OCIVersionMax: specs.Version,
				Hooks:         []string{"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"},
				MountOptions:  mount.KnownOptions(),
				Linux: &features.Linux{
					Namespaces:   ns,
					Capabilities: linux.KnownCapabilities(),
					Cgroup:       &features.Cgroup{V1: &yes, V2: &yes, Systemd: &no, SystemdUser: &no, Rdma: &yes},
					Seccomp: &features.Seccomp{
						Enabled:        &yes,
						Actions:        seccomp.Actions(),
						Operators:      seccomp.Operators(),
						Archs:          seccomp.Archs(),
						KnownFlags:     seccomp.KnownFlags(),
						SupportedFlags: seccomp.SupportedFlags(),
					},
					Apparmor:        &features.Apparmor{Enabled: &apparmor},
					Selinux:         &features.Selinux{Enabled: &selinux},
					IntelRdt:        &features.IntelRdt{Enabled: &no},
					MountExtensions: &features.MountExtensions{IDMap: &features.IDMap{Enabled: &no}},
					NetDevices:      &features.NetDevices{Enabled: &no},
				},
				Annotations: map[string]string{
					"org.hako.runtime.version": Version,
				},
			}
			enc := json.NewEncoder(os.Stdout)
			enc.SetIndent("", "    ")
			return enc.Encode(f)
		},
	}
}
