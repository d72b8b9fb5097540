package seccomp

import (
	"encoding/binary"
	"fmt"
	"testing"

	"golang.org/x/sys/unix"
)

// call is a synthetic syscall: struct seccomp_data.
type call struct {
	nr   uint32
	arch uint32
	ip   uint64
	args [6]uint64
}

func (c call) data(big bool) []byte {
	var order binary.ByteOrder = binary.LittleEndian
	if big {
		order = binary.BigEndian
	}
	b := make([]byte, 64)
	order.PutUint32(b[0:], c.nr)
	order.PutUint32(b[4:], c.arch)
	order.PutUint64(b[8:], c.ip)
	for i, a := range c.args {
		order.PutUint64(b[16+8*i:], a)
	}
	return b
}

// verify checks prog the way the kernel's classic-BPF and seccomp checkers
// do, for the instructions the compiler emits.
func verify(prog []unix.SockFilter) error {
	if len(prog) == 0 || len(prog) > maxInsns {
		return fmt.Errorf("%d instructions", len(prog))
	}
	for pc, ins := range prog {
		switch ins.Code {
		case opLd:
			if ins.K%4 != 0 || ins.K >= 64 {
				return fmt.Errorf("%d: load at offset %d", pc, ins.K)
			}
		case opAnd, opRet:
		case opJa:
			if uint64(pc)+1+uint64(ins.K) >= uint64(len(prog)) {
				return fmt.Errorf("%d: ja out of range", pc)
			}
		case opJeq, opJgt, opJge, opJset:
			if pc+1+int(ins.Jt) >= len(prog) || pc+1+int(ins.Jf) >= len(prog) {
				return fmt.Errorf("%d: jump out of range", pc)
			}
		default:
			return fmt.Errorf("%d: unexpected opcode %#x", pc, ins.Code)
		}
	}
	if prog[len(prog)-1].Code != opRet {
		return fmt.Errorf("the last instruction is not a return")
	}
	return nil
}

// run interprets prog on c and returns the action and the number of
// instructions executed.
func run(prog []unix.SockFilter, c call, big bool) (uint32, int, error) {
	data := c.data(big)
	var order binary.ByteOrder = binary.LittleEndian
	if big {
		order = binary.BigEndian
	}
	var a uint32
	for pc, steps := 0, 1; pc < len(prog); pc, steps = pc+1, steps+1 {
		ins := prog[pc]
		jump := func(cond bool) {
			if cond {
				pc += int(ins.Jt)
			} else {
				pc += int(ins.Jf)
			}
		}
		switch ins.Code {
		case opLd:
			a = order.Uint32(data[ins.K:])
		case opAnd:
			a &= ins.K
		case opJa:
			pc += int(ins.K)
		case opJeq:
			jump(a == ins.K)
		case opJgt:
			jump(a > ins.K)
		case opJge:
			jump(a >= ins.K)
		case opJset:
			jump(a&ins.K != 0)
		case opRet:
			return ins.K, steps, nil
		default:
			return 0, steps, fmt.Errorf("%d: unexpected opcode %#x", pc, ins.Code)
		}
	}
	return 0, 0, fmt.Errorf("ran off the end")
}

// disasm renders prog for failure messages.
func disasm(prog []unix.SockFilter) string {
	s := ""
	for pc, ins := range prog {
		var op string
		switch ins.Code {
		case opLd:
			op = fmt.Sprintf("ld [%d]", ins.K)
		case opAnd:
			op = fmt.Sprintf("and #%#x", ins.K)
		case opJa:
			op = fmt.Sprintf("ja %d", pc+1+int(ins.K))
		case opJeq, opJgt, opJge, opJset:
			name := map[uint16]string{opJeq: "jeq", opJgt: "jgt", opJge: "jge", opJset: "jset"}[ins.Code]
			op = fmt.Sprintf("%s #%#x, %d, %d", name, ins.K, pc+1+int(ins.Jt), pc+1+int(ins.Jf))
		case opRet:
			op = fmt.Sprintf("ret #%#x", ins.K)
		default:
			op = fmt.Sprintf("%#x %d %d %#x", ins.Code, ins.Jt, ins.Jf, ins.K)
		}
		s += fmt.Sprintf("%4d: %s\n", pc, op)
	}
	return s
}

func TestInterpreter(t *testing.T) {
	prog := []unix.SockFilter{
		{Code: opLd, K: offArgs},
		{Code: opAnd, K: 0xf0},
		{Code: opJeq, K: 0x30, Jt: 0, Jf: 1},
		{Code: opRet, K: 1},
		{Code: opJa, K: 1},
		{Code: opRet, K: 2},
		{Code: opRet, K: 3},
	}
	if err := verify(prog); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		arg  uint64
		want uint32
	}{{0x35, 1}, {0x45, 3}} {
		got, _, err := run(prog, call{args: [6]uint64{tc.arg}}, false)
		if err != nil || got != tc.want {
			t.Errorf("arg %#x: got %d, %v; want %d", tc.arg, got, err, tc.want)
		}
	}
}
