// Package process starts a container's init (or an exec'd process) and
// holds the message protocol between the runtime and it, for the init that
// is the runtime's binary executed again (package initproc). Most
// containers get the forked init instead (package forkinit, which uses
// only NewPair, RunIn and ExecFailure from here).
//
// The runtime re-executes its own binary, from a sealed read-only copy (see
// linux.SealedExe), as the child. The child learns its role from the
// environment (_HAKO_INIT = "create" or "exec") and talks to the runtime
// over a SOCK_SEQPACKET socketpair (one message per packet, JSON, file
// descriptors as SCM_RIGHTS). The protocol for a new container:
//
//	runtime (create/run)                          init (pid 1 of the container)
//	  cgroup v2: cgroup made and limited first    │
//	  clone(new namespaces, CLONE_INTO_CGROUP on  │
//	  v2), exec the sealed binary ───────────────►│ Go runtime starts (~1.5 ms)
//	  uid/gid maps written (syscall.ForkExec)     │ blocks reading the socket
//	  cgroup v1: cgroup made and limited now,     │
//	  in parallel with the init's start           │
//	  ── config {spec, rootfs, cgroup mounts}     │
//	     + v1 "tasks" files ────────────────────►│ main thread joins the v1
//	                                              │ cgroups ("0" > tasks, see
//	                                              │ cgroups.Manager.Entry);
//	                                              │ rootfs.Prepare: mounts, /dev;
//	                                              │ unshare the cgroup namespace
//	                                              │ (only if hooks are configured)
//	  ◄──────────────────────────── hooks ────────│
//	  prestart + createRuntime hooks              │
//	  ── hooks-done ─────────────────────────────►│ createContainer hooks,
//	                                              │ pivot_root, rootfs.Finish,
//	                                              │ hostname, sysctls, console
//	  ◄─────────────── ready (+ pty master fd) ───│
//	create: write state, pid file; exit.          │ blocks reading exec.fifo
//	  "start" later writes one byte to the fifo ─►│ startContainer hooks,
//	run: ── start ───────────────────────────────►│ credentials, caps, seccomp
//	  ◄──────── EOF (the socket is CLOEXEC) ──────│ execve(process.args)
//
// Any step may instead answer {type: "error"} and exit; an EOF before
// "ready" means the init died. For exec the child joins the container's
// namespaces, receives {process} and the tasks files (joining them the
// same way), and answers the same way: "ready", then EOF at execve (or an
// error).
package process

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/hako-dev/hako/internal/runtime/rootfs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Environment variables of the child. They are removed by the child as soon
// as it has read them.
const (
	EnvMode    = "_HAKO_INIT"     // "create" or "exec"
	EnvSyncFD  = "_HAKO_SYNC_FD"  // the socket
	EnvFifoFD  = "_HAKO_FIFO_FD"  // exec.fifo, create only
	EnvMntFD   = "_HAKO_MNT_FD"   // a mount namespace to join, if any
	EnvExtraFD = "_HAKO_FIRST_FD" // first descriptor that is the runtime's own
	// EnvUnshare are the namespaces (clone flags, decimal) the child
	// makes itself once it is in the user namespace it joined, so that
	// they belong to that one.
	EnvUnshare = "_HAKO_UNSHARE"
	// EnvHeld marks the init a holder forked (see MsgPid): it dies with
	// the holder.
	EnvHeld  = "_HAKO_HELD"
	EnvLogFD = "_HAKO_LOG_LEVEL" // unused for now
)

// Message types.
const (
	MsgConfig    = "config"
	MsgHooks     = "hooks"
	MsgHooksDone = "hooks-done"
	MsgReady     = "ready"
	MsgStart     = "start"
	MsgError     = "error"
	// MsgPid comes first from a holder: a child that joined a user
	// namespace and made a PID namespace in it, whose PID 1 (the
	// container's init, which speaks the rest of the protocol) it forked.
	// The holder relays signals to it and exits as it does.
	MsgPid = "pid"
)

// Message is one packet of the protocol.
type Message struct {
	Type  string `json:"type"`
	Error string `json:"error,omitempty"`
	// Code goes with Error: 127 or 126 when the process could not be
	// executed (see ChildError.Code).
	Code   int         `json:"code,omitempty"`
	Config *InitConfig `json:"config,omitempty"`
	// Pid is the init's (MsgPid).
	Pid int `json:"pid,omitempty"`
}

// InitConfig is everything the child needs to set itself up.
type InitConfig struct {
	// Spec is the validated container configuration (create), or for exec
	// the container's configuration with Spec.Process replaced by the
	// process to run.
	Spec   *specs.Spec `json:"spec"`
	ID     string      `json:"id"`
	Bundle string      `json:"bundle"`
	Rootfs string      `json:"rootfs"`
	// NoPivot, CgroupV1, CgroupV2, CgroupNS: see rootfs.Config.
	NoPivot  bool                 `json:"noPivot,omitempty"`
	CgroupV1 []rootfs.CgroupMount `json:"cgroupV1,omitempty"`
	CgroupV2 string               `json:"cgroupV2,omitempty"`
	// UnshareCgroupNS asks the init to create its cgroup namespace itself,
	// after the runtime placed it in its cgroup (so that the namespace is
	// rooted there).
	UnshareCgroupNS bool `json:"unshareCgroupNS,omitempty"`
	// Hooks is true when the runtime has prestart/createRuntime hooks to
	// run between Prepare and pivot_root.
	Hooks bool `json:"hooks,omitempty"`
	// NoNewKeyring keeps the runtime's session keyring instead of a new one.
	NoNewKeyring bool `json:"noNewKeyring,omitempty"`
	// PreserveFDs is the number of descriptors after stdio to pass on.
	PreserveFDs int `json:"preserveFDs,omitempty"`
	// ClampLimits lowers rlimits and oomScoreAdj the kernel refuses (no
	// CAP_SYS_RESOURCE) to what is allowed instead of failing.
	ClampLimits bool `json:"clampLimits,omitempty"`
	// State is handed to createContainer and startContainer hooks.
	State *specs.State `json:"state,omitempty"`
}

// Conn is one end of the socketpair.
type Conn struct {
	f *os.File
}

// NewPair creates the socketpair; the first end is the runtime's, the
// second the child's.
func NewPair() (*Conn, *os.File, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("socketpair: %w", err)
	}
	return &Conn{os.NewFile(uintptr(fds[0]), "sync")}, os.NewFile(uintptr(fds[1]), "sync-child"), nil
}

// NewConn wraps an inherited descriptor.
func NewConn(fd int) *Conn { return &Conn{os.NewFile(uintptr(fd), "sync")} }

// Close closes this end.
func (c *Conn) Close() error { return c.f.Close() }

// Fd returns the descriptor.
func (c *Conn) Fd() int { return int(c.f.Fd()) }

// Send writes one message, with descriptors if any.
func (c *Conn) Send(m *Message, fds ...int) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	for {
		err = unix.Sendmsg(int(c.f.Fd()), b, oob, nil, 0)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("send %s message: %w", m.Type, err)
	}
	return nil
}

// maxFDs is the most descriptors one message carries: a config carries
// the cgroup v1 "tasks" files, one per hierarchy (about a dozen at most).
const maxFDs = 64

// ErrClosed is returned by Recv when the other end is gone.
var ErrClosed = errors.New("peer closed the connection")

// Recv reads one message and the descriptors sent with it.
func (c *Conn) Recv() (*Message, []int, error) {
	fd := int(c.f.Fd())
	// Learn the size of the next packet without consuming it.
	var size int
	for {
		n, _, _, _, err := unix.Recvmsg(fd, nil, nil, unix.MSG_PEEK|unix.MSG_TRUNC)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("receive: %w", err)
		}
		size = n
		break
	}
	if size == 0 {
		// Drain the zero-length packet (or detect EOF).
		return nil, nil, ErrClosed
	}
	buf := make([]byte, size)
	oob := make([]byte, unix.CmsgSpace(4*maxFDs))
	var n, oobn int
	var err error
	for {
		n, oobn, _, _, err = unix.Recvmsg(fd, buf, oob, unix.MSG_CMSG_CLOEXEC)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("receive: %w", err)
	}
	var fds []int
	if oobn > 0 {
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err == nil {
			for _, m := range msgs {
				if rights, err := unix.ParseUnixRights(&m); err == nil {
					fds = append(fds, rights...)
				}
			}
		}
	}
	var m Message
	if err := json.Unmarshal(buf[:n], &m); err != nil {
		return nil, fds, fmt.Errorf("decode message: %w", err)
	}
	return &m, fds, nil
}

// Expect receives a message of type want; an error message from the peer
// becomes the returned error.
func (c *Conn) Expect(want string) (*Message, []int, error) {
	m, fds, err := c.Recv()
	if err != nil {
		return nil, nil, err
	}
	if m.Type == MsgError {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, nil, &ChildError{Msg: m.Error, Code: m.Code}
	}
	if m.Type != want {
		return nil, nil, fmt.Errorf("protocol error: got %q, want %q", m.Type, want)
	}
	return m, fds, nil
}

// ChildError is an error reported by the container's init or exec child.
type ChildError struct {
	Msg string
	// Code is the child's exit status when it failed to execute the
	// container process: 127 (not found) or 126 (cannot execute), as a
	// shell reports them; 0 for other failures.
	Code int
}

func (e *ChildError) Error() string { return e.Msg }
