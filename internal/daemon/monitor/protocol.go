// Package monitor supervises running containers on behalf of the daemon,
// in a process of its own that outlives daemon restarts and crashes
// (docker's live-restore; containerd's shims; podman's conmon).
//
// One monitor process serves every container of a daemon: it is the
// parent of each container's init and of every exec'd process, holds
// their stdio (pipes or a terminal's master side), writes the json-file
// logs, relays attach streams and records exit statuses. One process for
// all keeps the cost per idle container to a few goroutines and buffers
// instead of a whole process.
//
// # Protocol
//
// The daemon talks to the monitor over RUNROOT/monitor.sock. Each
// connection carries one request: a JSON line (Request), answered by a
// JSON line (Response). For "attach", "exec" (not detached) and "events"
// the connection then becomes a stream:
//
//   - attach and exec: from the monitor, the process's output — raw with
//     a terminal, otherwise in docker's stdcopy frames (8-byte header:
//     stream, 0, 0, 0, big-endian length); to the monitor, its stdin. A
//     half-close by the daemon ends stdin (closing it for StdinOnce
//     containers and execs). The monitor closes the stream once the
//     process has exited and its output is drained.
//   - events: JSON lines, one Exit per process that ends.
//
// "reopen-log" closes a container's log file and opens its path again
// (kubelet renamed it to rotate it).
//
// "stdio" answers with duplicates of a container's output descriptors
// (SCM_RIGHTS), which the daemon holds while the container runs: if the
// monitor dies, the container's writes block on a full pipe instead of
// killing it with SIGPIPE, and the daemon hands them to the next
// monitor with "adopt" (the request line, an empty answer, then one
// byte carrying the descriptors), which goes on logging and relaying.
//
// Exits are kept (in memory and in RUNROOT/monitor/exits/ID.json) until
// the daemon acknowledges them with "forget", so none is lost while no
// daemon listens.
package monitor

import (
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Request is the first line of every connection.
type Request struct {
	Op string `json:"op"` // create, begin, attach, exec, resize, list, forget, events, ping, adopt, stdio, reopen-log

	ID     string `json:"id,omitempty"`
	ExecID string `json:"execId,omitempty"`

	// create
	Bundle      string `json:"bundle,omitempty"`
	Tty         bool   `json:"tty,omitempty"`
	OpenStdin   bool   `json:"openStdin,omitempty"`
	StdinOnce   bool   `json:"stdinOnce,omitempty"`
	LogPath     string `json:"logPath,omitempty"`
	LogMaxSize  int64  `json:"logMaxSize,omitempty"`
	LogMaxFiles int    `json:"logMaxFiles,omitempty"`
	// LogAttrs go with every json-file entry (--log-opt labels, env, tag).
	LogAttrs map[string]string `json:"logAttrs,omitempty"`
	// LogFormat is "" for docker's json-file or "cri" for the Kubernetes
	// CRI format (no rotation by the monitor: kubelet rotates, then asks
	// for "reopen-log").
	LogFormat   string  `json:"logFormat,omitempty"`
	ConsoleSize [2]uint `json:"consoleSize,omitempty"` // height, width

	// exec
	Process *specs.Process `json:"process,omitempty"`
	Detach  bool           `json:"detach,omitempty"`

	// attach
	Stdin  bool `json:"stdin,omitempty"`
	Stdout bool `json:"stdout,omitempty"`
	Stderr bool `json:"stderr,omitempty"`

	// resize
	Height uint `json:"height,omitempty"`
	Width  uint `json:"width,omitempty"`

	// adopt (with Tty, StdinOnce and the Log fields of create); Fds
	// names the descriptors that follow the request (see Client.Adopt).
	Pid int      `json:"pid,omitempty"`
	Fds []string `json:"fds,omitempty"`
}

// Response answers a Request.
type Response struct {
	Error string `json:"error,omitempty"`
	// Code is 126 or 127 when the process could not be executed, 404
	// when the process is unknown, 409 for a conflict.
	Code       int            `json:"code,omitempty"`
	Pid        int            `json:"pid,omitempty"`
	Processes  []ProcessState `json:"processes,omitempty"`
	MonitorPid int            `json:"monitorPid,omitempty"`
	// Fds names the descriptors passed with a "stdio" answer: "stdout",
	// "stderr" (pipes' read ends) or "console" (a terminal's master).
	Fds []string `json:"fds,omitempty"`
}

// ProcessState is what the monitor knows of one process.
type ProcessState struct {
	ID      string `json:"id"`
	ExecID  string `json:"execId,omitempty"`
	Pid     int    `json:"pid"`
	Running bool   `json:"running"`
	// Started is false for a created container whose process has not
	// been let go (a start interrupted by a crash of the daemon).
	Started bool  `json:"started"`
	Exit    *Exit `json:"exit,omitempty"`
}

// Exit is the end of a container's init or of an exec'd process.
type Exit struct {
	ID       string    `json:"id"`
	ExecID   string    `json:"execId,omitempty"`
	Pid      int       `json:"pid"`
	ExitCode int       `json:"exitCode"`
	ExitedAt time.Time `json:"exitedAt"`
	// Unknown is set when the status could not be read (a process
	// adopted after the monitor was restarted); ExitCode is then 255.
	Unknown bool `json:"unknown,omitempty"`
}

func key(id, execID string) string {
	if execID == "" {
		return id
	}
	return id + "/" + execID
}
