package oci

import (
	"testing"

	"github.com/hako-dev/hako/internal/runtime/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestDefaultSeccompCompiles(t *testing.T) {
	cfg, err := DefaultSeccomp(&specs.Spec{Process: &specs.Process{}})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DefaultAction != specs.ActErrno || len(cfg.Syscalls) == 0 {
		t.Fatalf("not docker's profile: default %s, %d rules", cfg.DefaultAction, len(cfg.Syscalls))
	}
	if _, err := seccomp.Compile(cfg); err != nil {
		t.Fatal(err)
	}
}
