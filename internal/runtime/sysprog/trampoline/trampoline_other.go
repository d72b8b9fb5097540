//go:build !amd64

package trampoline

var elf []byte
