package linux

import (
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestParseMemPolicy(t *testing.T) {
	for _, tc := range []struct {
		p     specs.LinuxMemoryPolicy
		mode  uintptr
		nodes uint64
		bad   bool
	}{
		{p: specs.LinuxMemoryPolicy{Mode: specs.MpolDefault}, mode: 0},
		{p: specs.LinuxMemoryPolicy{Mode: specs.MpolLocal}, mode: 4},
		{p: specs.LinuxMemoryPolicy{Mode: specs.MpolBind, Nodes: "0"}, mode: 2, nodes: 1},
		{p: specs.LinuxMemoryPolicy{Mode: specs.MpolInterleave, Nodes: "0-2,5", Flags: []specs.MemoryPolicyFlagType{specs.MpolFStaticNodes}}, mode: 3 | 1<<15, nodes: 0b100111},
		{p: specs.LinuxMemoryPolicy{Mode: "MPOL_NOPE"}, bad: true},
		{p: specs.LinuxMemoryPolicy{Mode: specs.MpolBind}, bad: true},
		{p: specs.LinuxMemoryPolicy{Mode: specs.MpolLocal, Nodes: "0"}, bad: true},
		{p: specs.LinuxMemoryPolicy{Mode: specs.MpolBind, Nodes: "3-1"}, bad: true},
		{p: specs.LinuxMemoryPolicy{Mode: specs.MpolBind, Nodes: "x"}, bad: true},
		{p: specs.LinuxMemoryPolicy{Mode: specs.MpolBind, Nodes: "0", Flags: []specs.MemoryPolicyFlagType{"MPOL_F_X"}}, bad: true},
	} {
		mp, err := ParseMemPolicy(&tc.p)
		if tc.bad {
			if err == nil {
				t.Errorf("%+v: accepted", tc.p)
			}
			continue
		}
		if err != nil {
			t.Errorf("%+v: %v", tc.p, err)
			continue
		}
		if mp.mode != tc.mode || (tc.nodes != 0 && mp.nodes[0] != tc.nodes) {
			t.Errorf("%+v: mode %#x nodes %v", tc.p, mp.mode, mp.nodes)
		}
	}
}

func TestApplyMemPolicyLocal(t *testing.T) {
	mp, err := ParseMemPolicy(&specs.LinuxMemoryPolicy{Mode: specs.MpolDefault})
	if err != nil {
		t.Fatal(err)
	}
	if err := mp.Apply(); err != nil {
		t.Fatal(err)
	}
}
