package linux

import (
	"fmt"
	"strconv"
	"strings"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Memory policy modes and flags of set_mempolicy(2) (linux/mempolicy.h).
var (
	mpolModes = map[specs.MemoryPolicyModeType]uintptr{
		specs.MpolDefault:            0,
		specs.MpolPreferred:          1,
		specs.MpolBind:               2,
		specs.MpolInterleave:         3,
		specs.MpolLocal:              4,
		specs.MpolPreferredMany:      5,
		specs.MpolWeightedInterleave: 6,
	}
	mpolFlags = map[specs.MemoryPolicyFlagType]uintptr{
		specs.MpolFStaticNodes:   1 << 15,
		specs.MpolFRelativeNodes: 1 << 14,
		specs.MpolFNumaBalancing: 1 << 13,
	}
)

// maxNUMANodes bounds the node numbers a nodemask may name.
const maxNUMANodes = 1024

// MemPolicy is a parsed linux.memoryPolicy.
type MemPolicy struct {
	mode  uintptr
	nodes []uint64 // bitmask, one bit per node
}

// ParseMemPolicy checks p and turns it into set_mempolicy arguments.
// Errors name the spec field.
func ParseMemPolicy(p *specs.LinuxMemoryPolicy) (*MemPolicy, error) {
	mode, ok := mpolModes[p.Mode]
	if !ok {
		return nil, fmt.Errorf("linux.memoryPolicy.mode %q: unknown mode", p.Mode)
	}
	for _, f := range p.Flags {
		v, ok := mpolFlags[f]
		if !ok {
			return nil, fmt.Errorf("linux.memoryPolicy.flags: unknown flag %q", f)
		}
		mode |= v
	}
	mp := &MemPolicy{mode: mode}
	if p.Nodes == "" {
		switch p.Mode {
		case specs.MpolDefault, specs.MpolLocal:
		default:
			return nil, fmt.Errorf("linux.memoryPolicy.nodes: mode %s needs nodes", p.Mode)
		}
		return mp, nil
	}
	switch p.Mode {
	case specs.MpolDefault, specs.MpolLocal:
		return nil, fmt.Errorf("linux.memoryPolicy.nodes: mode %s takes no nodes", p.Mode)
	}
	mp.nodes = make([]uint64, maxNUMANodes/64)
	for _, part := range strings.Split(p.Nodes, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err1 := strconv.Atoi(lo)
		b := a
		var err2 error
		if isRange {
			b, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil || a < 0 || b < a || b >= maxNUMANodes {
			return nil, fmt.Errorf("linux.memoryPolicy.nodes %q: %q is not a node number or range below %d", p.Nodes, part, maxNUMANodes)
		}
		for n := a; n <= b; n++ {
			mp.nodes[n/64] |= 1 << (n % 64)
		}
	}
	return mp, nil
}

// Apply sets the policy for the calling thread; it is inherited across
// execve and fork.
func (mp *MemPolicy) Apply() error {
	var ptr unsafe.Pointer
	var maxnode uintptr
	if mp.nodes != nil {
		ptr = unsafe.Pointer(&mp.nodes[0])
		maxnode = uintptr(len(mp.nodes)*64) + 1
	}
	if _, _, e := unix.Syscall(unix.SYS_SET_MEMPOLICY, mp.mode, uintptr(ptr), maxnode); e != 0 {
		return fmt.Errorf("linux.memoryPolicy: set_mempolicy: %w", e)
	}
	return nil
}
