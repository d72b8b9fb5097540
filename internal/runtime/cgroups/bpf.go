package cgroups

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"unsafe"

	"github.com/hako-dev/hako/internal/errdefs"
	"golang.org/x/sys/unix"
)

// cgroup v2 has no devices files: a BPF_PROG_TYPE_CGROUP_DEVICE program
// attached to the cgroup decides each open and mknod of a device node. The
// kernel calls it with
//
//	struct bpf_cgroup_dev_ctx {
//		__u32 access_type; // (BPF_DEVCG_ACC_* << 16) | BPF_DEVCG_DEV_*
//		__u32 major;
//		__u32 minor;
//	};
//
// in R1 and allows the access when it returns 1. The program hako builds:
//
//	R2 = device type, R3 = the access bits not yet allowed,
//	R4 = major, R5 = minor
//	for each rule, last first:
//	  skip the rule unless type, major and minor match
//	  deny rule:  if R3 & access != 0: return 0
//	  allow rule: if R3 & access != 0: R3 &^= access; if R3 == 0: return 1
//	return the default
//
// which gives the semantics described in devices.go.

// insn is one eBPF instruction (struct bpf_insn).
type insn struct {
	code     uint8
	dst, src uint8
	off      int16
	imm      int32
}

// Instruction classes and operations, from the kernel's uapi/linux/bpf.h.
const (
	opLdxW   = unix.BPF_LDX | unix.BPF_MEM | unix.BPF_W
	opAnd32  = unix.BPF_ALU | unix.BPF_AND | unix.BPF_K
	opRsh32  = unix.BPF_ALU | unix.BPF_RSH | unix.BPF_K
	opMov32  = unix.BPF_ALU | unix.BPF_MOV | unix.BPF_K
	opMov32X = unix.BPF_ALU | unix.BPF_MOV | unix.BPF_X
	opJeq    = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
	opJne    = unix.BPF_JMP | unix.BPF_JNE | unix.BPF_K
	opExit   = unix.BPF_JMP | unix.BPF_EXIT
)

// toNext marks a jump to the end of the current rule's block.
const toNext = -1

// deviceProgram builds the device filter for rs.
func deviceProgram(rs []devRule) []insn {
	def, rest := effectiveRules(rs)
	prog := []insn{
		{code: opLdxW, dst: 2, src: 1, off: 0},
		{code: opAnd32, dst: 2, imm: 0xffff},
		{code: opLdxW, dst: 3, src: 1, off: 0},
		{code: opRsh32, dst: 3, imm: 16},
		{code: opLdxW, dst: 4, src: 1, off: 4},
		{code: opLdxW, dst: 5, src: 1, off: 8},
	}
	for i := len(rest) - 1; i >= 0; i-- {
		prog = append(prog, ruleBlock(rest[i])...)
	}
	return append(prog, ret(def)...)
}

// ruleBlock is the instructions of one rule, with its jumps resolved.
func ruleBlock(r devRule) []insn {
	var b []insn
	switch r.typ {
	case 'c':
		b = append(b, insn{code: opJne, dst: 2, imm: devChar, off: toNext})
	case 'b':
		b = append(b, insn{code: opJne, dst: 2, imm: devBlock, off: toNext})
	}
	if r.major >= 0 {
		b = append(b, insn{code: opJne, dst: 4, imm: int32(r.major), off: toNext})
	}
	if r.minor >= 0 {
		b = append(b, insn{code: opJne, dst: 5, imm: int32(r.minor), off: toNext})
	}
	if r.access != accAll {
		b = append(b,
			insn{code: opMov32X, dst: 0, src: 3},
			insn{code: opAnd32, dst: 0, imm: int32(r.access)},
			insn{code: opJeq, dst: 0, imm: 0, off: toNext})
	}
	if r.allow && r.access != accAll {
		b = append(b,
			insn{code: opAnd32, dst: 3, imm: int32(^uint32(r.access))},
			insn{code: opJne, dst: 3, imm: 0, off: toNext})
	}
	b = append(b, ret(r.allow)...)
	for i := range b {
		if b[i].off == toNext {
			b[i].off = int16(len(b) - i - 1)
		}
	}
	return b
}

func ret(allow bool) []insn {
	v := int32(0)
	if allow {
		v = 1
	}
	return []insn{{code: opMov32, dst: 0, imm: v}, {code: opExit}}
}

// encode lays the program out as the kernel reads it.
func encode(prog []insn) []byte {
	b := make([]byte, 8*len(prog))
	for i, in := range prog {
		p := b[8*i:]
		p[0] = in.code
		p[1] = in.src<<4 | in.dst&0xf
		binary.NativeEndian.PutUint16(p[2:], uint16(in.off))
		binary.NativeEndian.PutUint32(p[4:], uint32(in.imm))
	}
	return b
}

// The parts of union bpf_attr that hako uses.
type bpfProgLoadAttr struct {
	progType           uint32
	insnCnt            uint32
	insns              uint64
	license            uint64
	logLevel           uint32
	logSize            uint32
	logBuf             uint64
	kernVersion        uint32
	progFlags          uint32
	progName           [16]byte
	progIfindex        uint32
	expectedAttachType uint32
}

type bpfAttachAttr struct {
	targetFd     uint32
	attachBpfFd  uint32
	attachType   uint32
	attachFlags  uint32
	replaceBpfFd uint32
}

type bpfQueryAttr struct {
	targetFd    uint32
	attachType  uint32
	queryFlags  uint32
	attachFlags uint32
	progIDs     uint64
	progCnt     uint32
	_           uint32
}

type bpfGetFDAttr struct {
	progID    uint32
	nextID    uint32
	openFlags uint32
}

func bpf(cmd int, attr unsafe.Pointer, size uintptr) (int, error) {
	r, _, errno := unix.Syscall(unix.SYS_BPF, uintptr(cmd), uintptr(attr), size)
	if errno != 0 {
		return -1, errno
	}
	return int(r), nil
}

// loadDeviceProgram loads prog into the kernel and returns its fd.
func loadDeviceProgram(prog []insn) (int, error) {
	code := encode(prog)
	license := []byte("Apache\x00")
	attr := bpfProgLoadAttr{
		progType: unix.BPF_PROG_TYPE_CGROUP_DEVICE,
		insnCnt:  uint32(len(prog)),
		insns:    uint64(uintptr(unsafe.Pointer(&code[0]))),
		license:  uint64(uintptr(unsafe.Pointer(&license[0]))),
	}
	copy(attr.progName[:], "hako_devices")
	fd, err := bpf(unix.BPF_PROG_LOAD, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	if err != nil && (err == unix.EINVAL || err == unix.EACCES) {
		// Load again with the verifier's log, to say why.
		log := make([]byte, 1<<16)
		attr.logLevel, attr.logSize = 1, uint32(len(log))
		attr.logBuf = uint64(uintptr(unsafe.Pointer(&log[0])))
		if _, err2 := bpf(unix.BPF_PROG_LOAD, unsafe.Pointer(&attr), unsafe.Sizeof(attr)); err2 != nil {
			if s := strings.TrimSpace(unix.ByteSliceToString(log)); s != "" {
				err = fmt.Errorf("%w: verifier said: %s", err, lastLines(s, 3))
			}
		}
		runtime.KeepAlive(log)
	}
	runtime.KeepAlive(code)
	runtime.KeepAlive(license)
	if err != nil {
		return -1, fmt.Errorf("load device filter: %w", err)
	}
	return fd, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "; ")
}

// setDeviceFilter makes rs the device rules of the cgroup at dir: it
// attaches the new program, then detaches the ones attached before. Until
// then both run, and a device is reachable only if both allow it, so the
// rules never get looser on the way.
func setDeviceFilter(dir string, rs []devRule) error {
	dirfd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("set device rules in %s: %w", dir, err)
	}
	defer unix.Close(dirfd)
	old, err := attachedPrograms(dirfd)
	if err != nil {
		return fmt.Errorf("set device rules in %s: list attached programs: %w", dir, err)
	}
	progfd, err := loadDeviceProgram(deviceProgram(rs))
	if err != nil {
		return fmt.Errorf("set device rules in %s: %w", dir, bpfCategory(err))
	}
	defer unix.Close(progfd)
	attach := bpfAttachAttr{
		targetFd:    uint32(dirfd),
		attachBpfFd: uint32(progfd),
		attachType:  unix.BPF_CGROUP_DEVICE,
		attachFlags: unix.BPF_F_ALLOW_MULTI,
	}
	if _, err := bpf(unix.BPF_PROG_ATTACH, unsafe.Pointer(&attach), unsafe.Sizeof(attach)); err != nil {
		return fmt.Errorf("set device rules in %s: attach device filter: %w", dir, bpfCategory(err))
	}
	for _, id := range old {
		get := bpfGetFDAttr{progID: id}
		fd, err := bpf(unix.BPF_PROG_GET_FD_BY_ID, unsafe.Pointer(&get), unsafe.Sizeof(get))
		if err == unix.ENOENT {
			continue
		}
		if err != nil {
			return fmt.Errorf("set device rules in %s: open old device filter %d: %w", dir, id, err)
		}
		detach := bpfAttachAttr{targetFd: uint32(dirfd), attachBpfFd: uint32(fd), attachType: unix.BPF_CGROUP_DEVICE}
		_, err = bpf(unix.BPF_PROG_DETACH, unsafe.Pointer(&detach), unsafe.Sizeof(detach))
		unix.Close(fd)
		if err != nil && err != unix.ENOENT {
			return fmt.Errorf("set device rules in %s: detach old device filter %d: %w", dir, id, err)
		}
	}
	return nil
}

// attachedPrograms lists the ids of the device programs attached to the
// cgroup itself (not inherited).
func attachedPrograms(dirfd int) ([]uint32, error) {
	ids := make([]uint32, 64)
	for {
		q := bpfQueryAttr{
			targetFd:   uint32(dirfd),
			attachType: unix.BPF_CGROUP_DEVICE,
			progIDs:    uint64(uintptr(unsafe.Pointer(&ids[0]))),
			progCnt:    uint32(len(ids)),
		}
		_, err := bpf(unix.BPF_PROG_QUERY, unsafe.Pointer(&q), unsafe.Sizeof(q))
		runtime.KeepAlive(ids)
		if err == unix.ENOSPC {
			ids = make([]uint32, 2*len(ids))
			continue
		}
		if err != nil {
			return nil, err
		}
		return ids[:q.progCnt], nil
	}
}

// bpfCategory adds an errdefs category to the errors a kernel without
// cgroup device BPF gives.
func bpfCategory(err error) error {
	switch {
	case errors.Is(err, unix.ENOSYS), errors.Is(err, unix.EOPNOTSUPP):
		return catError{err, errdefs.ErrNotImplemented}
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return catError{err, errdefs.ErrPermissionDenied}
	}
	return err
}
