package seccomp

import (
	"testing"

	mobyseccomp "github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Docker's default profile (which the engine applies, see internal/oci)
// compiles within the kernel's instruction limit and denies what docker
// denies.
func TestDockerDefaultProfile(t *testing.T) {
	native := nativeArch()
	for _, caps := range [][]string{nil, {"CAP_SYS_ADMIN", "CAP_SYS_PTRACE", "CAP_SYS_MODULE"}} {
		spec := &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps}}}
		cfg, err := mobyseccomp.GetDefaultProfile(spec)
		if err != nil {
			t.Fatal(err)
		}
		f, err := Compile(cfg)
		if err != nil {
			t.Fatalf("caps %v: %v", caps, err)
		}
		prog := f.Program()
		if n := len(prog); n == 0 || n > 4096 {
			t.Fatalf("caps %v: %d instructions", caps, n)
		}
		t.Logf("caps %v: %d rules, %d instructions", caps, len(cfg.Syscalls), len(prog))
		eperm := unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
		// CAP_SYS_ADMIN opens mount and clone3.
		mount, clone3 := eperm, unix.SECCOMP_RET_ERRNO|uint32(unix.ENOSYS)
		if caps != nil {
			mount, clone3 = unix.SECCOMP_RET_ALLOW, unix.SECCOMP_RET_ALLOW
		}
		for _, tc := range []struct {
			name string
			want uint32
		}{
			{"read", unix.SECCOMP_RET_ALLOW},
			{"clone3", clone3},
			{"mount", mount},
			{"kexec_load", eperm},
		} {
			nr, ok := native.nr(sysIndex(tc.name))
			if !ok {
				t.Fatalf("no syscall %s", tc.name)
			}
			got, _, err := run(prog, call{nr: nr, arch: native.token}, native.big)
			if err != nil || got != tc.want {
				t.Errorf("caps %v: %s: got %#x (%v), want %#x", caps, tc.name, got, err, tc.want)
			}
		}
	}
}
