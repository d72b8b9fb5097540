// Package trampoline holds the tiny static program a container's init
// executes last (trampoline_amd64.asm says what it does), and makes sealed
// in-memory copies of it to execute.
package trampoline

//go:generate ./gen.sh

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"golang.org/x/sys/unix"
)

var marker = []byte("HKOTRMP1")

// Available reports whether this architecture has a trampoline.
func Available() bool { return len(elf) > 0 }

// Memfd returns an empty memfd for the trampoline; Fill writes it.
func Memfd() (int, error) {
	fd, err := unix.MemfdCreate("hako-init", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING|unix.MFD_EXEC)
	if err == unix.EINVAL {
		// Kernels before 6.3 know no MFD_EXEC (and make memfds executable).
		fd, err = unix.MemfdCreate("hako-init", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	}
	if err != nil {
		return -1, fmt.Errorf("trampoline: memfd: %w", err)
	}
	return fd, nil
}

// Fill writes the trampoline with its wait and error descriptors (waitFD
// -1: no wait) into fd, a Memfd, and seals it: nothing can write to it
// any more.
func Fill(fd, waitFD, errFD int) error {
	i := bytes.Index(elf, marker)
	if i < 0 {
		return fmt.Errorf("trampoline: no parameter block")
	}
	b := bytes.Clone(elf)
	binary.LittleEndian.PutUint32(b[i+8:], uint32(int32(waitFD)))
	binary.LittleEndian.PutUint32(b[i+12:], uint32(int32(errFD)))
	if _, err := unix.Write(fd, b); err != nil {
		return fmt.Errorf("trampoline: write: %w", err)
	}
	seals := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals); err != nil {
		return fmt.Errorf("trampoline: seal: %w", err)
	}
	return nil
}
