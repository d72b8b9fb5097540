package monitor

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hako-dev/hako/internal/errdefs"
	"golang.org/x/sys/unix"
)

// Client is the daemon's side of the protocol.
type Client struct {
	dir, runtimeRoot string
	mu               sync.Mutex // serializes starting a monitor
}

// NewClient returns a client for the monitor on dir; a monitor is started
// on demand (see Ensure).
func NewClient(dir, runtimeRoot string) *Client {
	return &Client{dir: dir, runtimeRoot: runtimeRoot}
}

// ExecError is a process that could not be executed: Code is 126 or 127.
type ExecError struct {
	Code int
	Msg  string
}

func (e *ExecError) Error() string { return e.Msg }

func respErr(r *Response) error {
	if r.Error == "" {
		return nil
	}
	switch r.Code {
	case 126, 127:
		return &ExecError{Code: r.Code, Msg: r.Error}
	case 404:
		return fmt.Errorf("%s: %w", r.Error, errdefs.ErrNotFound)
	case 409:
		return fmt.Errorf("%s: %w", r.Error, errdefs.ErrConflict)
	case 400:
		return fmt.Errorf("%s: %w", r.Error, errdefs.ErrInvalidArgument)
	}
	return errors.New(r.Error)
}

func (c *Client) dial() (*net.UnixConn, error) {
	conn, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: filepath.Join(c.dir, SocketName), Net: "unix"})
	if err != nil {
		return nil, err
	}
	return conn, nil
}

// open sends req on a new connection and reads the response line; the
// connection stays open for streams.
func (c *Client) open(req *Request) (*net.UnixConn, *bufio.Reader, *Response, error) {
	conn, err := c.dial()
	if err != nil {
		if err := c.Ensure(); err != nil {
			return nil, nil, nil, err
		}
		if conn, err = c.dial(); err != nil {
			return nil, nil, nil, fmt.Errorf("container monitor: %w", err)
		}
	}
	b, _ := json.Marshal(req)
	if _, err := conn.Write(append(b, '\n')); err != nil {
		conn.Close()
		return nil, nil, nil, fmt.Errorf("container monitor: %w", err)
	}
	br := bufio.NewReader(conn)
	line, err := br.ReadBytes('\n')
	if err != nil {
		conn.Close()
		return nil, nil, nil, fmt.Errorf("container monitor: no answer to %s: %w", req.Op, err)
	}
	var resp Response
	if err := json.Unmarshal(line, &resp); err != nil {
		conn.Close()
		return nil, nil, nil, fmt.Errorf("container monitor: %w", err)
	}
	if err := respErr(&resp); err != nil {
		conn.Close()
		return nil, nil, nil, err
	}
	return conn, br, &resp, nil
}

func (c *Client) call(req *Request) (*Response, error) {
	conn, _, resp, err := c.open(req)
	if err != nil {
		return nil, err
	}
	conn.Close()
	return resp, nil
}

// Ping reports the monitor's pid when one answers, without starting one.
func (c *Client) Ping() (int, error) {
	conn, err := c.dial()
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	conn.Write([]byte(`{"op":"ping"}` + "\n"))
	line, err := bufio.NewReader(conn).ReadBytes('\n')
	if err != nil {
		return 0, err
	}
	var r Response
	if err := json.Unmarshal(line, &r); err != nil {
		return 0, err
	}
	return r.MonitorPid, nil
}

// Ensure starts a monitor unless one answers. The monitor runs in a
// session of its own, so that neither a signal to the daemon's process
// group nor the daemon's end touches it.
func (c *Client) Ensure() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := c.Ping(); err == nil {
		return nil
	}
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	logf, err := os.OpenFile(filepath.Join(c.dir, "monitor.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(exe, "monitor", "--dir", c.dir, "--runtime-root", c.runtimeRoot)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Dir = "/"
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start container monitor: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := c.Ping(); err == nil {
			return nil
		}
		select {
		case err := <-exited:
			b, _ := os.ReadFile(filepath.Join(c.dir, "monitor.log"))
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			return fmt.Errorf("container monitor exited (%v): %s", err, lines[len(lines)-1])
		case <-time.After(5 * time.Millisecond):
		}
	}
	return errors.New("container monitor did not answer within 10s")
}

// Pid reads the running monitor's pid from its pid file (0 if none).
func (c *Client) Pid() int {
	b, err := os.ReadFile(filepath.Join(c.dir, PidName))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// CreateOptions describe a container for Create.
type CreateOptions struct {
	Bundle                    string
	Tty, OpenStdin, StdinOnce bool
	LogPath                   string
	LogMaxSize                int64
	LogMaxFiles               int
	LogAttrs                  map[string]string
	LogFormat                 string // "" (json-file) or "cri"
	ConsoleSize               [2]uint
}

// Create creates a container whose init waits for Begin; attach before
// Begin to see all of its output.
func (c *Client) Create(id string, o CreateOptions) (int, error) {
	r, err := c.call(&Request{Op: "create", ID: id, Bundle: o.Bundle, Tty: o.Tty, OpenStdin: o.OpenStdin, StdinOnce: o.StdinOnce,
		LogPath: o.LogPath, LogMaxSize: o.LogMaxSize, LogMaxFiles: o.LogMaxFiles, LogAttrs: o.LogAttrs, LogFormat: o.LogFormat, ConsoleSize: o.ConsoleSize})
	if err != nil {
		return 0, err
	}
	return r.Pid, nil
}

// Begin starts a created container's process.
func (c *Client) Begin(id string) error {
	_, err := c.call(&Request{Op: "begin", ID: id})
	return err
}

// Stream is an attached process's output and input.
type Stream struct {
	*net.UnixConn
	r *bufio.Reader
}

// Read reads the process's output (stdcopy frames without a terminal).
func (s *Stream) Read(b []byte) (int, error) { return s.r.Read(b) }

// Attach connects to a process's streams.
func (c *Client) Attach(id, execID string, stdin, stdout, stderr bool) (*Stream, error) {
	conn, br, _, err := c.open(&Request{Op: "attach", ID: id, ExecID: execID, Stdin: stdin, Stdout: stdout, Stderr: stderr})
	if err != nil {
		return nil, err
	}
	return &Stream{conn, br}, nil
}

// Exec starts a process in a running container. Unless detached the
// returned stream carries its output and input.
func (c *Client) Exec(id, execID string, req *Request) (*Stream, int, error) {
	req.Op, req.ID, req.ExecID = "exec", id, execID
	conn, br, resp, err := c.open(req)
	if err != nil {
		return nil, 0, err
	}
	if req.Detach {
		conn.Close()
		return nil, resp.Pid, nil
	}
	return &Stream{conn, br}, resp.Pid, nil
}

// Resize changes a process's terminal size.
func (c *Client) Resize(id, execID string, h, w uint) error {
	_, err := c.call(&Request{Op: "resize", ID: id, ExecID: execID, Height: h, Width: w})
	return err
}

// List returns every process the monitor knows, running or exited and
// not yet forgotten.
func (c *Client) List() ([]ProcessState, int, error) {
	r, err := c.call(&Request{Op: "list"})
	if err != nil {
		return nil, 0, err
	}
	return r.Processes, r.MonitorPid, nil
}

// Forget acknowledges an exit.
func (c *Client) Forget(id, execID string) error {
	_, err := c.call(&Request{Op: "forget", ID: id, ExecID: execID})
	return err
}

// AdoptOptions describe an adopted container's stdio.
type AdoptOptions struct {
	Tty, StdinOnce bool
	LogPath        string
	LogMaxSize     int64
	LogMaxFiles    int
	LogAttrs       map[string]string
	LogFormat      string
	// Stdio are the descriptors the daemon kept (see Stdio), by name.
	Stdio map[string]*os.File
}

// Adopt asks the monitor to watch a container init a previous monitor
// started, and to go on with its output when o.Stdio has it.
func (c *Client) Adopt(id string, pid int, o AdoptOptions) error {
	req := &Request{Op: "adopt", ID: id, Pid: pid, Tty: o.Tty, StdinOnce: o.StdinOnce,
		LogPath: o.LogPath, LogMaxSize: o.LogMaxSize, LogMaxFiles: o.LogMaxFiles, LogAttrs: o.LogAttrs, LogFormat: o.LogFormat}
	var fds []int
	for _, name := range []string{"console", "stdout", "stderr"} {
		if f := o.Stdio[name]; f != nil {
			req.Fds = append(req.Fds, name)
			fds = append(fds, int(f.Fd()))
		}
	}
	if len(fds) == 0 {
		_, err := c.call(req)
		return err
	}
	conn, br, _, err := c.open(req)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, _, err := conn.WriteMsgUnix([]byte{0}, unix.UnixRights(fds...), nil); err != nil {
		return fmt.Errorf("container monitor: pass descriptors: %w", err)
	}
	line, err := br.ReadBytes('\n')
	if err != nil {
		return fmt.Errorf("container monitor: no answer to adopt: %w", err)
	}
	var resp Response
	if err := json.Unmarshal(line, &resp); err != nil {
		return fmt.Errorf("container monitor: %w", err)
	}
	return respErr(&resp)
}

// Stdio returns duplicates of a running container's output descriptors
// (by name: "console", or "stdout" and "stderr"), for the daemon to hold
// while the container runs.
func (c *Client) Stdio(id string) (map[string]*os.File, error) {
	conn, err := c.dial()
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	b, _ := json.Marshal(&Request{Op: "stdio", ID: id})
	if _, err := conn.Write(append(b, '\n')); err != nil {
		return nil, err
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4*3))
	n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		return nil, fmt.Errorf("container monitor: stdio: %w", err)
	}
	fds, err := parseRights(oob[:oobn])
	if err != nil {
		return nil, err
	}
	closeFds := func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}
	var resp Response
	if err := json.Unmarshal(bytes.TrimSpace(buf[:n]), &resp); err != nil {
		closeFds()
		return nil, fmt.Errorf("container monitor: stdio: %w", err)
	}
	if err := respErr(&resp); err != nil {
		closeFds()
		return nil, err
	}
	if len(fds) != len(resp.Fds) {
		closeFds()
		return nil, fmt.Errorf("container monitor: stdio: %d descriptors for %d names", len(fds), len(resp.Fds))
	}
	files := map[string]*os.File{}
	for i, fd := range fds {
		unix.CloseOnExec(fd)
		files[resp.Fds[i]] = os.NewFile(uintptr(fd), resp.Fds[i])
	}
	return files, nil
}

// Events streams exits until ctx ends or the monitor goes away (the
// channel is then closed; re-subscribe and List to catch up).
func (c *Client) Events(ctx context.Context) (<-chan Exit, error) {
	conn, br, _, err := c.open(&Request{Op: "events"})
	if err != nil {
		return nil, err
	}
	ch := make(chan Exit, 64)
	go func() {
		<-ctx.Done()
		conn.Close()
	}()
	go func() {
		defer close(ch)
		defer conn.Close()
		dec := json.NewDecoder(br)
		for {
			var x Exit
			if err := dec.Decode(&x); err != nil {
				return
			}
			ch <- x
		}
	}()
	return ch, nil
}
