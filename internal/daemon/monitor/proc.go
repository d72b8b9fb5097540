package monitor

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/hako-dev/hako/internal/runtime"
	"golang.org/x/sys/unix"
)

// proc is one supervised process: a container's init or an exec.
type proc struct {
	s          *Server
	id, execID string
	pid        int
	waitPid    int // the process to reap, when not pid (a holder's)
	tty        bool
	stdinOnce  bool
	created    *runtime.Created // until begun

	console *os.File // terminal master side
	stdin   *os.File // our end of the stdin pipe (nil: none)
	// outputs' descriptors by name ("stdout", "stderr", "console"), for
	// the daemon to hold (see the "stdio" op); nil once they are closed.
	outFiles map[string]*os.File
	log      logWriter

	mu       sync.Mutex
	attached map[*attachment]struct{}
	// ended is set (under mu) once the attached streams are closed for
	// good: a later attach ends at once instead of waiting for output
	// that will never come.
	ended   bool
	exit    *Exit         // guarded by s.mu
	done    chan struct{} // closed once exited and output drained
	outputs sync.WaitGroup
}

// attachment is one attached stream.
type attachment struct {
	conn           *net.UnixConn
	stdout, stderr bool
	frames         chan []byte
	closed         bool
}

const readBufSize = 16 << 10

func (s *Server) create(req *Request) *Response {
	if err := runtime.CheckID(req.ID); err != nil {
		return errResponse(err)
	}
	p := &proc{s: s, id: req.ID, tty: req.Tty, stdinOnce: req.StdinOnce, done: make(chan struct{}), attached: map[*attachment]struct{}{}}
	if err := s.add(p); err != nil {
		return errResponse(err)
	}
	resp, err := p.create(req)
	if err != nil {
		s.remove(p)
		p.closeStdio()
		return errResponse(err)
	}
	return resp
}

func (p *proc) create(req *Request) (*Response, error) {
	if req.LogPath != "" {
		w, err := openLog(req)
		if err != nil {
			return nil, err
		}
		p.log = w
	}
	o := &runtime.CreateOptions{Bundle: req.Bundle}
	var childEnds []*os.File
	defer func() {
		for _, f := range childEnds {
			f.Close()
		}
	}()
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	childEnds = append(childEnds, null)
	o.Stdin, o.Stdout, o.Stderr = null, null, null
	var outR, errR *os.File
	if !req.Tty {
		if req.OpenStdin {
			r, w, err := os.Pipe()
			if err != nil {
				return nil, err
			}
			childEnds = append(childEnds, r)
			o.Stdin, p.stdin = r, w
		}
		r, w, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		childEnds = append(childEnds, w)
		o.Stdout, outR = w, r
		r, w, err = os.Pipe()
		if err != nil {
			outR.Close()
			return nil, err
		}
		childEnds = append(childEnds, w)
		o.Stderr, errR = w, r
	}
	c, err := p.s.rt.CreateSupervised(p.id, o)
	if err != nil {
		if outR != nil {
			outR.Close()
			errR.Close()
		}
		return nil, err
	}
	p.s.mu.Lock()
	p.created = c
	p.s.mu.Unlock()
	p.pid, p.waitPid = c.Pid(), c.WaitPid()
	if req.Tty {
		if c.Console == nil {
			c.Delete(true)
			return nil, errors.New("the container's terminal was not received")
		}
		p.console = pollable(c.Console)
		if req.ConsoleSize[0] > 0 && req.ConsoleSize[1] > 0 {
			setSize(p.console, req.ConsoleSize[0], req.ConsoleSize[1])
		}
		if req.OpenStdin {
			p.stdin = p.console
		}
		p.pump("stdout", p.console)
	} else {
		p.pump("stdout", outR)
		p.pump("stderr", errR)
	}
	return &Response{Pid: p.pid}, nil
}

// pollable makes f non-blocking so that reads park a goroutine in Go's
// poller instead of a thread in read(2).
func pollable(f *os.File) *os.File {
	fd := int(f.Fd())
	nfd, err := unix.Dup(fd)
	if err != nil {
		return f
	}
	f.Close()
	unix.SetNonblock(nfd, true)
	unix.CloseOnExec(nfd)
	return os.NewFile(uintptr(nfd), "console")
}

func setSize(f *os.File, h, w uint) error {
	// Through the raw descriptor: f.Fd() would make it blocking.
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ierr error
	if err := rc.Control(func(fd uintptr) {
		ierr = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, &unix.Winsize{Row: uint16(h), Col: uint16(w)})
	}); err != nil {
		return err
	}
	return ierr
}

// begin lets a created container execute its process.
func (s *Server) begin(req *Request) *Response {
	p, r := s.get(req.ID, "")
	if r != nil {
		return r
	}
	s.mu.Lock()
	c := p.created
	p.created = nil
	s.mu.Unlock()
	if c == nil {
		return &Response{Error: "container " + req.ID + " was already started", Code: 409}
	}
	if err := c.Begin(); err != nil {
		// The init is gone (Begin reaped it): the output pumps end.
		c.Delete(true)
		go p.finish(Exit{ID: p.id, Pid: p.pid, ExitCode: exitCodeOf(err), ExitedAt: time.Now().UTC()})
		return errResponse(err)
	}
	if err := p.watch(); err != nil {
		return errResponse(err)
	}
	return &Response{Pid: p.pid}
}

func exitCodeOf(err error) int {
	if c := runtime.ExecFailureCode(err); c > 0 {
		return c
	}
	return 128
}

// watch waits for the process to exit without holding a thread: the
// pidfd is readable once the process is a zombie, then wait4 reaps it.
func (p *proc) watch() error {
	pid := p.pid
	if p.waitPid != 0 {
		pid = p.waitPid // the holder of an init in a joined user namespace
	}
	fd, err := unix.PidfdOpen(pid, unix.O_NONBLOCK)
	if err != nil {
		return fmt.Errorf("watch pid %d: %w", pid, err)
	}
	f := os.NewFile(uintptr(fd), "pidfd")
	go func() {
		defer f.Close()
		rc, err := f.SyscallConn()
		if err != nil {
			p.s.log.Error("pidfd", "error", err)
			return
		}
		code, unknown := 255, false
		rc.Read(func(pfd uintptr) bool {
			var ws syscall.WaitStatus
			reaped, err := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
			switch {
			case err == syscall.EINTR:
				return false
			case err == syscall.ECHILD:
				// Not our child (adopted): it has ended once the pidfd is
				// readable (Read calls this before waiting, too).
				fds := []unix.PollFd{{Fd: int32(pfd), Events: unix.POLLIN}}
				if n, _ := unix.Poll(fds, 0); n <= 0 {
					return false
				}
				unknown = true
				return true
			case err != nil:
				unknown = true
				return true
			case reaped == 0:
				return false // not yet: wait for readability again
			}
			switch {
			case ws.Exited():
				code = ws.ExitStatus()
			case ws.Signaled():
				code = 128 + int(ws.Signal())
			}
			return true
		})
		p.finish(Exit{ID: p.id, ExecID: p.execID, Pid: p.pid, ExitCode: code, ExitedAt: time.Now().UTC(), Unknown: unknown})
	}()
	return nil
}

// finish waits (briefly) for the output to drain, closes the streams and
// records the exit.
func (p *proc) finish(x Exit) {
	drained := make(chan struct{})
	go func() { p.outputs.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(2 * time.Second):
		// Something outside the container's pid namespace still holds
		// the output open: stop reading it.
		if p.console != nil {
			p.console.Close()
		}
	}
	if p.log != nil {
		p.log.Flush()
		p.log.Close()
	}
	p.closeStdio()
	p.mu.Lock()
	for a := range p.attached {
		p.detach(a)
	}
	p.ended = true
	p.mu.Unlock()
	p.s.exited(p, x)
	close(p.done)
}

func (p *proc) closeStdio() {
	if p.stdin != nil && p.stdin != p.console {
		p.stdin.Close()
	}
	if p.console != nil {
		p.console.Close()
	}
}

// pump copies one output stream to the log and the attached clients.
func (p *proc) pump(stream string, f *os.File) {
	p.outputs.Add(1)
	name := stream
	if f == p.console {
		name = "console"
	}
	p.mu.Lock()
	if p.outFiles == nil {
		p.outFiles = map[string]*os.File{}
	}
	p.outFiles[name] = f
	p.mu.Unlock()
	go func() {
		defer p.outputs.Done()
		defer func() {
			p.mu.Lock()
			delete(p.outFiles, name)
			p.mu.Unlock()
		}()
		if f != p.console {
			defer f.Close()
		}
		buf := make([]byte, readBufSize)
		for {
			n, err := f.Read(buf)
			if n > 0 {
				p.emit(stream, buf[:n])
			}
			if err != nil {
				return // EOF, or EIO from a terminal whose other side closed
			}
		}
	}()
}

func (p *proc) emit(stream string, b []byte) {
	if p.log != nil {
		if err := p.log.Write(stream, b); err != nil {
			p.s.log.Warn("write log", "container", p.id, "error", err)
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.attached) == 0 {
		return
	}
	var frame []byte
	if p.tty {
		frame = append([]byte(nil), b...)
	} else {
		frame = make([]byte, 8+len(b))
		frame[0] = 1
		if stream == "stderr" {
			frame[0] = 2
		}
		binary.BigEndian.PutUint32(frame[4:], uint32(len(b)))
		copy(frame[8:], b)
	}
	for a := range p.attached {
		if (stream == "stdout" && !a.stdout) || (stream == "stderr" && !a.stderr) {
			continue
		}
		select {
		case a.frames <- frame:
		default:
			// A client that does not keep up is cut off rather than
			// stalling the container's output.
			p.detach(a)
		}
	}
}

// detach ends an attachment; p.mu is held.
func (p *proc) detach(a *attachment) {
	if a.closed {
		return
	}
	a.closed = true
	delete(p.attached, a)
	close(a.frames)
}

// attach streams a process's output to c and c's input to its stdin.
func (s *Server) attach(c *net.UnixConn, br *bufio.Reader, req *Request) {
	p, r := s.get(req.ID, req.ExecID)
	if r != nil {
		reply(c, r)
		c.Close()
		return
	}
	p.serveStreams(c, br, req.Stdin, req.Stdout, req.Stderr)
}

func (p *proc) serveStreams(c *net.UnixConn, br *bufio.Reader, stdin, stdout, stderr bool) {
	a := &attachment{conn: c, stdout: stdout, stderr: stderr, frames: make(chan []byte, 64)}
	p.mu.Lock()
	if p.ended {
		// The process has ended and its streams are closed (its exit may
		// not be recorded yet): nothing more will come.
		p.mu.Unlock()
		reply(c, &Response{})
		c.Close()
		return
	}
	p.attached[a] = struct{}{}
	p.mu.Unlock()
	p.stream(c, br, a, stdin)
}

// stream serves a registered attachment: the reply line, then output to
// c and c's input to the process's stdin, until the process ends or the
// client leaves.
func (p *proc) stream(c *net.UnixConn, br *bufio.Reader, a *attachment, stdin bool) {
	if reply(c, &Response{Pid: p.pid}) != nil {
		p.mu.Lock()
		p.detach(a)
		p.mu.Unlock()
	}
	if stdin && p.stdin != nil {
		go func() {
			io.Copy(p.stdin, br)
			if !p.stdinOnce {
				return
			}
			p.mu.Lock()
			if p.stdin != p.console {
				p.stdin.Close()
			} else {
				// A terminal has no half-close: send EOF (^D).
				p.console.Write([]byte{4})
			}
			p.mu.Unlock()
		}()
	}
	// A client's half-close is not its leaving (docker's CLI half-closes
	// when its stdin ends and still reads): a gone client shows as a
	// failed write.
	for f := range a.frames {
		if _, err := c.Write(f); err != nil {
			p.mu.Lock()
			p.detach(a)
			p.mu.Unlock()
			for range a.frames {
			}
			break
		}
	}
	c.Close()
}

func (s *Server) resize(req *Request) *Response {
	p, r := s.get(req.ID, req.ExecID)
	if r != nil {
		return r
	}
	if p.console == nil {
		return &Response{Error: "the process has no terminal", Code: 409}
	}
	if err := setSize(p.console, req.Height, req.Width); err != nil {
		return errResponse(err)
	}
	return &Response{}
}

// exec starts a process in a running container; unless detached, c
// becomes its stream.
func (s *Server) exec(c *net.UnixConn, br *bufio.Reader, req *Request) {
	if req.Process == nil || req.ExecID == "" {
		reply(c, &Response{Error: "exec needs an exec ID and a process", Code: 400})
		c.Close()
		return
	}
	ctr, err := s.rt.Load(req.ID)
	if err != nil {
		reply(c, errResponse(err))
		c.Close()
		return
	}
	p := &proc{s: s, id: req.ID, execID: req.ExecID, tty: req.Process.Terminal, stdinOnce: true, done: make(chan struct{}), attached: map[*attachment]struct{}{}}
	if err := s.add(p); err != nil {
		reply(c, errResponse(err))
		c.Close()
		return
	}
	var a *attachment
	if !req.Detach {
		// Attached before the process starts, so no output is lost.
		a = &attachment{conn: c, stdout: true, stderr: true, frames: make(chan []byte, 64)}
		p.attached[a] = struct{}{}
	}
	o := &runtime.ExecOptions{}
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		s.remove(p)
		reply(c, errResponse(err))
		c.Close()
		return
	}
	childEnds := []*os.File{null}
	o.Stdin, o.Stdout, o.Stderr = null, null, null
	var outR, errR *os.File
	if !p.tty {
		if req.Stdin && !req.Detach {
			r, w, _ := os.Pipe()
			childEnds = append(childEnds, r)
			o.Stdin, p.stdin = r, w
		}
		r, w, _ := os.Pipe()
		childEnds = append(childEnds, w)
		o.Stdout, outR = w, r
		r, w, _ = os.Pipe()
		childEnds = append(childEnds, w)
		o.Stderr, errR = w, r
	}
	proc, err := ctr.Exec(req.Process, o)
	for _, f := range childEnds {
		f.Close()
	}
	if err != nil {
		if outR != nil {
			outR.Close()
			errR.Close()
		}
		p.closeStdio()
		s.remove(p)
		reply(c, errResponse(err))
		c.Close()
		return
	}
	p.pid = proc.Pid
	proc.Release()
	if p.tty {
		p.console = pollable(proc.Console)
		if req.ConsoleSize[0] > 0 && req.ConsoleSize[1] > 0 {
			setSize(p.console, req.ConsoleSize[0], req.ConsoleSize[1])
		}
		if req.Stdin && !req.Detach {
			p.stdin = p.console
		}
		p.pump("stdout", p.console)
	} else {
		p.pump("stdout", outR)
		p.pump("stderr", errR)
	}
	if err := p.watch(); err != nil {
		s.log.Error("watch exec", "error", err)
	}
	if req.Detach {
		reply(c, &Response{Pid: p.pid})
		c.Close()
		return
	}
	p.stream(c, br, a, req.Stdin)
}

// adopt watches a container's init that a previous monitor started. Its
// exit status is unknowable (it is not our child) but its end is noticed
// and recorded; its output goes on to the log and to attach clients when
// the daemon passes its descriptors back (req.Fds), otherwise it is lost.
func (s *Server) adopt(c *net.UnixConn, br *bufio.Reader, req *Request) *Response {
	files, err := receiveFds(c, br, req.Fds)
	if err != nil {
		return errResponse(err)
	}
	p := &proc{s: s, id: req.ID, pid: req.Pid, tty: req.Tty, stdinOnce: req.StdinOnce, done: make(chan struct{}), attached: map[*attachment]struct{}{}}
	if err := s.add(p); err != nil {
		closeAll(files)
		return errResponse(err)
	}
	if req.LogPath != "" && len(files) > 0 {
		w, err := openLog(req)
		if err != nil {
			s.log.Warn("adopt: open log", "container", req.ID, "error", err)
		} else {
			p.log = w
		}
	}
	if f := files["console"]; f != nil {
		p.console = pollable(f)
		p.pump("stdout", p.console)
	}
	for _, name := range []string{"stdout", "stderr"} {
		if f := files[name]; f != nil {
			p.pump(name, pollable(f))
		}
	}
	if err := p.watch(); err != nil {
		s.remove(p)
		return errResponse(err)
	}
	return &Response{Pid: p.pid}
}

// receiveFds reads the descriptors named in names: the client sends them
// on one byte after our empty answer, so that nothing it sends is
// buffered in br without them.
func receiveFds(c *net.UnixConn, br *bufio.Reader, names []string) (map[string]*os.File, error) {
	if len(names) == 0 {
		return nil, nil
	}
	if br.Buffered() > 0 {
		return nil, errors.New("adopt: unexpected data before the descriptors")
	}
	if err := reply(c, &Response{}); err != nil {
		return nil, err
	}
	buf := make([]byte, 1)
	oob := make([]byte, unix.CmsgSpace(4*len(names)))
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer c.SetReadDeadline(time.Time{})
	_, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
	if err != nil {
		return nil, fmt.Errorf("adopt: receive descriptors: %w", err)
	}
	fds, err := parseRights(oob[:oobn])
	if err != nil {
		return nil, err
	}
	if len(fds) != len(names) {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, fmt.Errorf("adopt: %d descriptors for %d names", len(fds), len(names))
	}
	files := map[string]*os.File{}
	for i, fd := range fds {
		unix.CloseOnExec(fd)
		files[names[i]] = os.NewFile(uintptr(fd), names[i])
	}
	return files, nil
}

func parseRights(oob []byte) ([]int, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, err
	}
	var fds []int
	for _, m := range msgs {
		rights, err := unix.ParseUnixRights(&m)
		if err != nil {
			continue
		}
		fds = append(fds, rights...)
	}
	return fds, nil
}

func closeAll(files map[string]*os.File) {
	for _, f := range files {
		f.Close()
	}
}

// stdio answers with duplicates of a running container's output
// descriptors, for the daemon to keep (see the package doc).
func (s *Server) stdio(c *net.UnixConn, req *Request) {
	p, r := s.get(req.ID, "")
	if r != nil {
		reply(c, r)
		return
	}
	var names []string
	var fds []int
	p.mu.Lock()
	for _, name := range []string{"console", "stdout", "stderr"} {
		f := p.outFiles[name]
		if f == nil {
			continue
		}
		// Not f.Fd(): that would switch the descriptor to blocking mode
		// under the pump's poller.
		rc, err := f.SyscallConn()
		if err != nil {
			continue
		}
		rc.Control(func(fd uintptr) {
			if nfd, err := unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 3); err == nil {
				names = append(names, name)
				fds = append(fds, nfd)
			}
		})
	}
	p.mu.Unlock()
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	b, _ := json.Marshal(&Response{Pid: p.pid, Fds: names})
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	c.WriteMsgUnix(append(b, '\n'), oob, nil)
}
