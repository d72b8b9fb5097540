package monitor

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hako-dev/hako/internal/atomicfile"
	"github.com/hako-dev/hako/internal/errdefs"
	"github.com/hako-dev/hako/internal/runtime"
	"golang.org/x/sys/unix"
)

// SocketName and PidName are the monitor's files in its directory.
const (
	SocketName = "monitor.sock"
	PidName    = "monitor.pid"
)

// Server is the monitor: it owns the processes it started.
type Server struct {
	dir   string // RUNROOT/monitor
	rt    *runtime.Runtime
	log   *slog.Logger
	mu    sync.Mutex
	procs map[string]*proc
	subs  map[chan Exit]struct{}
	// ops counts requests, so that a quiet spell after a burst gives the
	// heap back to the system.
	ops atomic.Int64
}

// Serve runs the monitor on dir (RUNROOT/monitor) with containers' runtime
// state under runtimeRoot, until the process is killed. It refuses to run
// when another monitor holds dir.
func Serve(dir, runtimeRoot string, log *slog.Logger) error {
	if err := os.MkdirAll(filepath.Join(dir, "exits"), 0o700); err != nil {
		return err
	}
	pidf, err := os.OpenFile(filepath.Join(dir, PidName), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	if err := unix.Flock(int(pidf.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return fmt.Errorf("another monitor runs on %s: %w", dir, errdefs.ErrConflict)
	}
	pidf.Truncate(0)
	pidf.WriteAt([]byte(fmt.Sprintf("%d\n", os.Getpid())), 0)
	// pidf stays open (and locked) for the life of the process.

	sock := filepath.Join(dir, SocketName)
	os.Remove(sock)
	l, err := net.Listen("unix", sock)
	if err != nil {
		return err
	}
	os.Chmod(sock, 0o600)
	s := &Server{
		dir:   dir,
		rt:    runtime.New(runtime.Options{Root: runtimeRoot, Log: log}),
		log:   log,
		procs: map[string]*proc{},
		subs:  map[chan Exit]struct{}{},
	}
	s.loadExits()
	go s.exitWhenIdle(l)
	for {
		c, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			s.log.Warn("accept", "error", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		go s.serveConn(c.(*net.UnixConn))
	}
}

// exitWhenIdle ends the monitor once it has had nothing to supervise and
// no daemon listening for a while: the next container start brings a new
// one.
func (s *Server) exitWhenIdle(l net.Listener) {
	idleSince := time.Now()
	lastOps, freed := int64(0), true
	for range time.Tick(5 * time.Second) {
		// The monitor lives as long as containers do: after a burst of
		// creates and execs, return the garbage to the system instead
		// of keeping it in RSS for the containers' lifetime.
		if ops := s.ops.Load(); ops != lastOps {
			lastOps, freed = ops, false
		} else if !freed {
			debug.FreeOSMemory()
			freed = true
		}
		s.mu.Lock()
		idle := len(s.procs) == 0 && len(s.subs) == 0
		s.mu.Unlock()
		if !idle {
			idleSince = time.Now()
			continue
		}
		if time.Since(idleSince) > 30*time.Second {
			s.log.Info("idle: exiting")
			os.Remove(filepath.Join(s.dir, SocketName))
			l.Close()
			return
		}
	}
}

// loadExits restores the exits recorded by a previous monitor that no
// daemon acknowledged.
func (s *Server) loadExits() {
	ents, _ := os.ReadDir(filepath.Join(s.dir, "exits"))
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(s.dir, "exits", e.Name()))
		if err != nil {
			continue
		}
		var x Exit
		if json.Unmarshal(b, &x) != nil || x.ID == "" {
			continue
		}
		p := &proc{s: s, id: x.ID, execID: x.ExecID, pid: x.Pid, exit: &x, done: make(chan struct{})}
		close(p.done)
		s.procs[key(x.ID, x.ExecID)] = p
	}
}

func (s *Server) serveConn(c *net.UnixConn) {
	s.ops.Add(1)
	br := bufio.NewReaderSize(c, 4096)
	line, err := br.ReadBytes('\n')
	if err != nil {
		c.Close()
		return
	}
	var req Request
	if err := json.Unmarshal(line, &req); err != nil {
		reply(c, &Response{Error: "bad request: " + err.Error(), Code: 400})
		c.Close()
		return
	}
	switch req.Op {
	case "ping":
		reply(c, &Response{MonitorPid: os.Getpid()})
	case "create":
		reply(c, s.create(&req))
	case "begin":
		reply(c, s.begin(&req))
	case "resize":
		reply(c, s.resize(&req))
	case "list":
		reply(c, s.list())
	case "forget":
		reply(c, s.forget(&req))
	case "adopt":
		reply(c, s.adopt(c, br, &req))
	case "stdio":
		s.stdio(c, &req)
	case "reopen-log":
		reply(c, s.reopenLog(&req))
	case "attach":
		s.attach(c, br, &req)
		return // attach owns c
	case "exec":
		s.exec(c, br, &req)
		return
	case "events":
		s.events(c)
		return
	default:
		reply(c, &Response{Error: fmt.Sprintf("unknown op %q", req.Op), Code: 400})
	}
	c.Close()
}

func reply(c net.Conn, r *Response) error {
	b, _ := json.Marshal(r)
	b = append(b, '\n')
	_, err := c.Write(b)
	return err
}

func errResponse(err error) *Response {
	r := &Response{Error: err.Error(), Code: 500}
	if code := runtime.ExecFailureCode(err); code > 0 {
		r.Code = code
	}
	switch {
	case errors.Is(err, errdefs.ErrNotFound):
		r.Code = 404
	case errors.Is(err, errdefs.ErrConflict), errors.Is(err, errdefs.ErrAlreadyExists):
		r.Code = 409
	}
	return r
}

func (s *Server) get(id, execID string) (*proc, *Response) {
	s.mu.Lock()
	p := s.procs[key(id, execID)]
	s.mu.Unlock()
	if p == nil {
		return nil, &Response{Error: fmt.Sprintf("no process %s", key(id, execID)), Code: 404}
	}
	return p, nil
}

// add registers p unless a live process has its key.
func (s *Server) add(p *proc) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := key(p.id, p.execID)
	if old := s.procs[k]; old != nil {
		if old.exit == nil {
			return fmt.Errorf("process %s exists: %w", k, errdefs.ErrConflict)
		}
		os.Remove(s.exitFile(old))
	}
	s.procs[k] = p
	return nil
}

func (s *Server) remove(p *proc) {
	s.mu.Lock()
	if s.procs[key(p.id, p.execID)] == p {
		delete(s.procs, key(p.id, p.execID))
	}
	s.mu.Unlock()
}

func (s *Server) list() *Response {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := &Response{MonitorPid: os.Getpid()}
	for _, p := range s.procs {
		st := ProcessState{ID: p.id, ExecID: p.execID, Pid: p.pid, Running: p.exit == nil, Started: p.created == nil}
		if p.exit != nil {
			x := *p.exit
			st.Exit = &x
		}
		r.Processes = append(r.Processes, st)
	}
	return r
}

// forget drops an exited process once the daemon has recorded its exit,
// or a created container that is not to be started after all (its init
// is killed and its runtime state deleted).
func (s *Server) forget(req *Request) *Response {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := key(req.ID, req.ExecID)
	p := s.procs[k]
	if p == nil {
		return &Response{}
	}
	if c := p.created; c != nil {
		p.created = nil
		delete(s.procs, k)
		c.Delete(true)
		p.closeStdio()
		go func() {
			p.outputs.Wait() // the killed init's pipes reach EOF
			if p.log != nil {
				p.log.Close()
			}
		}()
		return &Response{}
	}
	if p.exit == nil {
		return &Response{Error: fmt.Sprintf("process %s is running", k), Code: 409}
	}
	delete(s.procs, k)
	os.Remove(s.exitFile(p))
	return &Response{}
}

func (s *Server) exitFile(p *proc) string {
	name := p.id
	if p.execID != "" {
		name += "." + p.execID
	}
	return filepath.Join(s.dir, "exits", name+".json")
}

// exited records p's exit and tells the subscribers.
func (s *Server) exited(p *proc, x Exit) {
	b, _ := json.Marshal(x)
	if p.execID == "" { // execs are not worth a file: the daemon reads them live
		atomicfile.Write(s.exitFile(p), b, 0o600)
	}
	s.mu.Lock()
	p.exit = &x
	for ch := range s.subs {
		select {
		case ch <- x:
		default: // a stuck subscriber re-lists when it reconnects
		}
	}
	s.mu.Unlock()
}

func (s *Server) events(c *net.UnixConn) {
	ch := make(chan Exit, 256)
	s.mu.Lock()
	s.subs[ch] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.subs, ch)
		s.mu.Unlock()
		c.Close()
	}()
	if reply(c, &Response{MonitorPid: os.Getpid()}) != nil {
		return
	}
	// Notice the daemon going away even while nothing exits.
	gone := make(chan struct{})
	go func() {
		var b [1]byte
		c.Read(b[:])
		close(gone)
	}()
	enc := json.NewEncoder(c)
	for {
		select {
		case x := <-ch:
			if enc.Encode(x) != nil {
				return
			}
		case <-gone:
			return
		}
	}
}
