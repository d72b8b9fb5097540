package cri

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/hako-dev/hako/internal/api/types"
	"github.com/hako-dev/hako/internal/errdefs"
	ctypes "github.com/moby/moby/api/types/container"
	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	remotecommandserver "k8s.io/cri-streaming/pkg/streaming/remotecommand"
	utilexec "k8s.io/utils/exec"
)

// hijacked is the engine's end of an in-process stream: it reads the
// client's stdin and writes the process's output. Its Close ends both.
type hijacked struct {
	stdin *io.PipeReader
	out   *io.PipeWriter
}

func (h *hijacked) Read(b []byte) (int, error)  { return h.stdin.Read(b) }
func (h *hijacked) Write(b []byte) (int, error) { return h.out.Write(b) }
func (h *hijacked) Close() error {
	h.stdin.Close()
	return h.out.Close()
}

// streamPipe returns the engine's end and ours: stdin to write (close it
// at the end of the input) and the output to read.
func streamPipe() (*hijacked, *io.PipeWriter, *io.PipeReader) {
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	return &hijacked{stdin: inR, out: outW}, inW, outR
}

// demux copies the engine's output to stdout and stderr: raw with a
// terminal, otherwise docker's stdcopy frames (8-byte header: stream,
// 0, 0, 0, big-endian length).
func demux(r io.Reader, tty bool, stdout, stderr io.Writer) error {
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	if tty {
		_, err := io.Copy(stdout, r)
		return err
	}
	var hdr [8]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe) {
				return nil
			}
			return err
		}
		w := stdout
		if hdr[0] == 2 {
			w = stderr
		}
		n := int64(binary.BigEndian.Uint32(hdr[4:]))
		if _, err := io.CopyN(w, r, n); err != nil {
			return err
		}
	}
}

// execProcess runs cmd in a container and streams its I/O; it returns
// the exec's ID once the process has ended.
func (s *Service) execProcess(ctx context.Context, id string, cmd []string, stdin io.Reader, stdout, stderr io.Writer, tty bool, resize <-chan remotecommandserver.TerminalSize, started func(execID string)) (string, error) {
	if len(cmd) == 0 {
		return "", fmt.Errorf("exec: no command given: %w", errdefs.ErrInvalidArgument)
	}
	execID, err := s.b.ExecCreate(ctx, id, ctypes.ExecCreateRequest{
		Cmd: cmd, Tty: tty, AttachStdin: stdin != nil, AttachStdout: true, AttachStderr: true,
	})
	if err != nil {
		return "", err
	}
	engineEnd, inW, outR := streamPipe()
	var wg sync.WaitGroup
	if stdin != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			io.Copy(inW, stdin)
			inW.Close()
		}()
	}
	if resize != nil {
		go func() {
			for sz := range resize {
				if sz.Height > 0 && sz.Width > 0 {
					s.b.ExecResize(context.WithoutCancel(ctx), execID, uint(sz.Height), uint(sz.Width))
				}
			}
		}()
	}
	outDone := make(chan error, 1)
	go func() { outDone <- demux(outR, tty, stdout, stderr) }()
	if started != nil {
		started(execID)
	}
	err = s.b.ExecStart(ctx, execID, false, nil, func(bool) (io.ReadWriteCloser, error) { return engineEnd, nil })
	engineEnd.Close()
	inW.CloseWithError(io.ErrClosedPipe)
	<-outDone
	if err != nil {
		return execID, err
	}
	return execID, nil
}

// exitCode waits briefly for an exec's exit code to be recorded.
func (s *Service) exitCode(ctx context.Context, execID string) (int, error) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		in, err := s.b.ExecInspect(ctx, execID)
		if err != nil {
			return 0, err
		}
		if !in.Running && in.ExitCode != nil {
			return *in.ExitCode, nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("exec %s: no exit status", execID)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// ExecSync runs a command in a container and returns its output and
// exit code; past the timeout the process is killed.
func (s *Service) ExecSync(ctx context.Context, req *runtimeapi.ExecSyncRequest) (*runtimeapi.ExecSyncResponse, error) {
	c, err := s.store.container(req.ContainerId)
	if err != nil {
		return nil, err
	}
	if req.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(req.Timeout)*time.Second)
		defer cancel()
	}
	var stdout, stderr bytes.Buffer
	var execIDMu sync.Mutex
	var execID string
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			// Kill what runs past the timeout (or a gone client).
			execIDMu.Lock()
			execID := execID
			execIDMu.Unlock()
			if execID == "" {
				return
			}
			if in, err := s.b.ExecInspect(context.Background(), execID); err == nil && in.Pid > 0 {
				unix.Kill(in.Pid, unix.SIGKILL)
			}
		case <-done:
		}
	}()
	var mu sync.Mutex
	id, err := s.execProcess(context.WithoutCancel(ctx), c.ID, req.Cmd, nil, &lockedWriter{&stdout, &mu}, &lockedWriter{&stderr, &mu}, false, nil, func(id string) {
		execIDMu.Lock()
		execID = id
		execIDMu.Unlock()
	})
	close(done)
	if err != nil {
		return nil, err
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("command %q timed out after %ds: %w", req.Cmd, req.Timeout, context.DeadlineExceeded)
	}
	code, err := s.exitCode(context.WithoutCancel(ctx), id)
	if err != nil {
		return nil, err
	}
	return &runtimeapi.ExecSyncResponse{Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), ExitCode: int32(code)}, nil
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// Exec returns the streaming server's URL for an exec.
func (s *Service) Exec(ctx context.Context, req *runtimeapi.ExecRequest) (*runtimeapi.ExecResponse, error) {
	c, err := s.store.container(req.ContainerId)
	if err != nil {
		return nil, err
	}
	if err := s.checkRunning(ctx, c.ID); err != nil {
		return nil, err
	}
	return s.stream.GetExec(req)
}

// Attach returns the streaming server's URL for an attach.
func (s *Service) Attach(ctx context.Context, req *runtimeapi.AttachRequest) (*runtimeapi.AttachResponse, error) {
	c, err := s.store.container(req.ContainerId)
	if err != nil {
		return nil, err
	}
	if err := s.checkRunning(ctx, c.ID); err != nil {
		return nil, err
	}
	return s.stream.GetAttach(req)
}

// PortForward returns the streaming server's URL for a port-forward.
func (s *Service) PortForward(ctx context.Context, req *runtimeapi.PortForwardRequest) (*runtimeapi.PortForwardResponse, error) {
	sb, err := s.store.sandbox(req.PodSandboxId)
	if err != nil {
		return nil, err
	}
	if s.sandboxState(ctx, sb) != runtimeapi.PodSandboxState_SANDBOX_READY {
		return nil, fmt.Errorf("pod sandbox %s is not ready: %w", sb.ID, errdefs.ErrConflict)
	}
	return s.stream.GetPortForward(req)
}

func (s *Service) checkRunning(ctx context.Context, id string) error {
	in, err := s.b.ContainerInspect(ctx, id, false)
	if err != nil {
		return err
	}
	if in.State == nil || !in.State.Running {
		return fmt.Errorf("container %s is not running: %w", id, errdefs.ErrConflict)
	}
	return nil
}

// streamRuntime serves the streaming server's requests.
type streamRuntime struct{ s *Service }

func (r streamRuntime) Exec(ctx context.Context, id string, cmd []string, in io.Reader, out, errw io.WriteCloser, tty bool, resize <-chan remotecommandserver.TerminalSize) error {
	var stdout, stderr io.Writer
	if out != nil {
		stdout = out
	}
	if errw != nil {
		stderr = errw
	}
	execID, err := r.s.execProcess(ctx, id, cmd, in, stdout, stderr, tty, resize, nil)
	if err != nil {
		return err
	}
	code, err := r.s.exitCode(ctx, execID)
	if err != nil {
		return err
	}
	if code != 0 {
		return &utilexec.CodeExitError{Err: fmt.Errorf("command %q exited with %d", cmd, code), Code: code}
	}
	return nil
}

func (r streamRuntime) Attach(ctx context.Context, id string, in io.Reader, out, errw io.WriteCloser, tty bool, resize <-chan remotecommandserver.TerminalSize) error {
	engineEnd, inW, outR := streamPipe()
	if in != nil {
		go func() {
			io.Copy(inW, in)
			inW.Close()
		}()
	}
	if resize != nil {
		go func() {
			for sz := range resize {
				if sz.Height > 0 && sz.Width > 0 {
					r.s.b.ContainerResize(context.WithoutCancel(ctx), id, uint(sz.Height), uint(sz.Width))
				}
			}
		}()
	}
	var stdout, stderr io.Writer
	if out != nil {
		stdout = out
	}
	if errw != nil {
		stderr = errw
	}
	outDone := make(chan error, 1)
	go func() { outDone <- demux(outR, tty, stdout, stderr) }()
	err := r.s.b.ContainerAttach(ctx, id, types.AttachOptions{Stream: true, Stdin: in != nil, Stdout: out != nil, Stderr: errw != nil}, func(bool) (io.ReadWriteCloser, error) { return engineEnd, nil })
	engineEnd.Close()
	inW.CloseWithError(io.ErrClosedPipe)
	<-outDone
	return err
}

func (r streamRuntime) PortForward(ctx context.Context, sandboxID string, port int32, stream io.ReadWriteCloser) error {
	defer stream.Close()
	sb, err := r.s.store.sandbox(sandboxID)
	if err != nil {
		return err
	}
	nsPath := sb.NetNS
	if nsPath == "" {
		pid := r.s.infraPid(ctx, sb.ID)
		if pid == 0 {
			return fmt.Errorf("pod sandbox %s is not running: %w", sb.ID, errdefs.ErrConflict)
		}
		nsPath = "/proc/" + strconv.Itoa(pid) + "/ns/net"
	}
	conn, err := dialInNetNS(nsPath, "127.0.0.1:"+strconv.Itoa(int(port)))
	if err != nil {
		conn, err = dialInNetNS(nsPath, "[::1]:"+strconv.Itoa(int(port)))
	}
	if err != nil {
		return fmt.Errorf("port-forward to port %d in pod %s: %w", port, sb.ID, err)
	}
	defer conn.Close()
	done := make(chan struct{}, 2)
	go func() { io.Copy(conn, stream); closeWrite(conn); done <- struct{}{} }()
	go func() { io.Copy(stream, conn); done <- struct{}{} }()
	for range 2 {
		select {
		case <-done:
		case <-ctx.Done():
			return nil
		}
	}
	return nil
}

func closeWrite(c io.Closer) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
}
