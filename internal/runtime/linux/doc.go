// Package linux holds the thin, per-thread syscall helpers the runtime is
// built from: capabilities, rlimits, namespaces, procfs reads, path
// resolution confined to a root, consoles and the sealed copy of the
// runtime's own executable.
//
// Functions that change per-thread state (capabilities, credentials,
// namespaces joined with setns) act on the CALLING thread only; the caller
// locks its goroutine to the thread that will execve (see initproc).
package linux
