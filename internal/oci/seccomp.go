// Package oci builds the OCI runtime spec of a container with the defaults
// docker gives it. It is used by the engine, not by the runtime, which runs
// whatever spec it is handed.
package oci

import (
	"fmt"

	mobyseccomp "github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// DefaultSeccomp returns docker's default seccomp profile for a container with the
// given spec, as docker and podman apply it when no profile is given: the
// syscalls allowed depend on the capabilities in spec.Process (for example
// CAP_SYS_ADMIN allows mount) and on the kernel version. The profile comes
// from github.com/moby/profiles/seccomp, the one docker itself uses.
func DefaultSeccomp(spec *specs.Spec) (*specs.LinuxSeccomp, error) {
	// The profile reads the capabilities; none means none.
	s := specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{}}}
	if spec != nil && spec.Process != nil && spec.Process.Capabilities != nil {
		s.Process.Capabilities = spec.Process.Capabilities
	}
	spec = &s
	p, err := mobyseccomp.GetDefaultProfile(spec)
	if err != nil {
		return nil, fmt.Errorf("docker default seccomp profile: %w", err)
	}
	return p, nil
}
