package cli

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"golang.org/x/sys/unix"
)

// engine is a fake Engine API daemon on a unix socket that plays one
// container's life: create, attach, wait, start, exit with a status.
type engine struct {
	t    *testing.T
	sock string

	mu          sync.Mutex
	calls       []string // "METHOD /path?query", in order
	creates     []container.CreateRequest
	execCreates []container.ExecCreateRequest
	missing     int    // creates to answer "No such image" first
	startErr    string // the start's error message, if any
	status      int    // the exit status
	tty         bool   // the container's Config.Tty for inspect
	stdinEcho   bool   // attach: echo stdin back before exiting
	started     chan struct{}
	exited      chan struct{}
}

func newEngine(t *testing.T) *engine {
	e := &engine{t: t, started: make(chan struct{}), exited: make(chan struct{})}
	e.sock = filepath.Join(t.TempDir(), "hako.sock")
	l, err := net.Listen("unix", e.sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: e}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return e
}

func (e *engine) host() string { return "unix://" + e.sock }

func (e *engine) called(prefix string) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, c := range e.calls {
		if strings.HasPrefix(c, prefix) {
			out = append(out, c)
		}
	}
	return out
}

func (e *engine) index(prefix string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i, c := range e.calls {
		if strings.HasPrefix(c, prefix) {
			return i
		}
	}
	return -1
}

func testFrame(stream stdcopy.StdType, payload string) []byte {
	b := []byte{byte(stream), 0, 0, 0}
	b = binary.BigEndian.AppendUint32(b, uint32(len(payload)))
	return append(b, payload...)
}

func apiErr(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"message": msg})
}

func (e *engine) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	if i := strings.Index(path[1:], "/"); strings.HasPrefix(path, "/v1.") && i > 0 {
		path = path[i+1:]
	}
	if path == "/_ping" {
		w.Header().Set("Api-Version", "1.51")
		w.Write([]byte("OK"))
		return
	}
	e.mu.Lock()
	e.calls = append(e.calls, r.Method+" "+path+"?"+r.URL.RawQuery)
	e.mu.Unlock()
	switch {
	case path == "/containers/create":
		var req container.CreateRequest
		json.NewDecoder(r.Body).Decode(&req)
		e.mu.Lock()
		e.creates = append(e.creates, req)
		missing := e.missing > 0
		e.missing--
		e.mu.Unlock()
		if missing {
			apiErr(w, http.StatusNotFound, "No such image: busybox:latest")
			return
		}
		w.WriteHeader(http.StatusCreated)
		w.Write([]byte(`{"Id":"c0ffee","Warnings":["your kernel does not support swap limit capabilities"]}`))
	case path == "/images/create":
		w.Write([]byte(`{"status":"Pulling from library/busybox","id":"latest"}` + "\n" + `{"status":"Pull complete","id":"abc"}` + "\n" + `{"status":"Status: Downloaded newer image for busybox:latest"}` + "\n"))
	case path == "/containers/c0ffee/attach":
		e.attach(w, r)
	case path == "/containers/c0ffee/resize":
		w.WriteHeader(http.StatusOK)
	case path == "/containers/c0ffee/wait":
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		select {
		case <-e.exited:
		case <-r.Context().Done():
			return
		}
		json.NewEncoder(w).Encode(container.WaitResponse{StatusCode: int64(e.status)})
	case path == "/containers/c0ffee/start":
		if e.startErr != "" {
			close(e.exited) // the daemon removes a --rm container
			apiErr(w, http.StatusBadRequest, e.startErr)
			return
		}
		close(e.started)
		if len(e.called("POST /containers/c0ffee/attach")) == 0 {
			close(e.exited) // nobody attached: it runs and exits
		}
		w.WriteHeader(http.StatusNoContent)
	case path == "/containers/c0ffee/json" || path == "/containers/web/json":
		json.NewEncoder(w).Encode(map[string]any{"Id": "c0ffee", "State": map[string]any{"Running": true, "Status": "running"}, "Config": map[string]any{"Tty": e.tty, "OpenStdin": true}, "HostConfig": map[string]any{}})
	case path == "/containers/c0ffee/logs":
		if e.tty {
			w.Write([]byte("raw\r\n"))
			return
		}
		w.Write(testFrame(stdcopy.Stdout, "out\n"))
		w.Write(testFrame(stdcopy.Stderr, "err\n"))
	case path == "/containers/web/exec":
		var req container.ExecCreateRequest
		json.NewDecoder(r.Body).Decode(&req)
		e.mu.Lock()
		e.execCreates = append(e.execCreates, req)
		e.mu.Unlock()
		w.WriteHeader(http.StatusCreated)
		w.Write([]byte(`{"Id":"x1"}`))
	case path == "/exec/x1/start":
		io.Copy(io.Discard, r.Body)
		e.hijack(w, func(rw *bufio.ReadWriter) {
			in, _ := io.ReadAll(rw)
			rw.Write(testFrame(stdcopy.Stdout, "exec got "+string(in)))
		})
	case path == "/exec/x1/json":
		json.NewEncoder(w).Encode(map[string]any{"ID": "x1", "Running": false, "ExitCode": e.status})
	case path == "/containers/a/wait" || path == "/containers/b/wait":
		w.Write([]byte(`{"StatusCode":` + map[string]string{"/containers/a/wait": "0", "/containers/b/wait": "137"}[path] + `}`))
	case path == "/containers/nope/wait":
		apiErr(w, http.StatusNotFound, "No such container: nope")
	default:
		apiErr(w, http.StatusNotFound, "page not found: "+path)
	}
}

// attach plays the container's output once it starts: a line on each
// stream (or stdin echoed back), then the exit.
func (e *engine) attach(w http.ResponseWriter, r *http.Request) {
	if e.tty {
		e.hijackRaw(w, func(rw *bufio.ReadWriter) {
			<-e.started
			for {
				b, err := rw.ReadByte()
				if err != nil || b == 'x' {
					break
				}
			}
			rw.WriteString("got x\r\n")
			rw.Flush()
			close(e.exited)
		})
		return
	}
	e.hijack(w, func(rw *bufio.ReadWriter) {
		<-e.started
		if e.stdinEcho {
			in, _ := io.ReadAll(rw)
			rw.Write(testFrame(stdcopy.Stdout, "echo "+string(in)))
		} else {
			rw.Write(testFrame(stdcopy.Stdout, "hello\n"))
			rw.Write(testFrame(stdcopy.Stderr, "oops\n"))
		}
		rw.Flush()
		close(e.exited)
	})
}

func (e *engine) hijackRaw(w http.ResponseWriter, fn func(rw *bufio.ReadWriter)) {
	conn, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		e.t.Error(err)
		return
	}
	defer conn.Close()
	rw.WriteString("HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
	rw.Flush()
	fn(rw)
	rw.Flush()
}

func (e *engine) hijack(w http.ResponseWriter, fn func(rw *bufio.ReadWriter)) {
	conn, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		e.t.Error(err)
		return
	}
	defer conn.Close()
	rw.WriteString("HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.multiplexed-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
	rw.Flush()
	fn(rw)
	rw.Flush()
}

func wantStatus(t *testing.T, err error, status int) {
	t.Helper()
	var se *StatusError
	if !errors.As(err, &se) || se.Status != status {
		t.Fatalf("error %v (%T), want exit status %d", err, err, status)
	}
}

// run attaches and registers the wait before the start, relays the
// output to the right streams and exits with the container's status.
func TestRunAttachWaitStart(t *testing.T) {
	e := newEngine(t)
	e.status = 3
	out, errOut, err := run(t, "", "-H", e.host(), "run", "--name", "web", "busybox", "sh", "-c", "echo hello")
	wantStatus(t, err, 3)
	if out != "hello\n" || !strings.Contains(errOut, "oops\n") {
		t.Errorf("stdout %q stderr %q", out, errOut)
	}
	if !strings.Contains(errOut, "WARNING: your kernel does not support swap limit capabilities") {
		t.Errorf("no warning in %q", errOut)
	}
	attach, wait, start := e.index("POST /containers/c0ffee/attach"), e.index("POST /containers/c0ffee/wait"), e.index("POST /containers/c0ffee/start")
	if attach < 0 || wait < 0 || start < 0 || attach > start || wait > start {
		t.Errorf("order of calls: %v", e.calls)
	}
	if w := e.called("POST /containers/c0ffee/wait"); !strings.Contains(w[0], "condition=next-exit") {
		t.Errorf("wait %v", w)
	}
	if a := e.called("POST /containers/c0ffee/attach")[0]; !strings.Contains(a, "stdout=1") || strings.Contains(a, "stdin=1") {
		t.Errorf("attach %s", a)
	}
	if c := e.called("POST /containers/create")[0]; !strings.Contains(c, "name=web") {
		t.Errorf("create %s", c)
	}
	cr := e.creates[0]
	if cr.Image != "busybox" || strings.Join(cr.Cmd, " ") != "sh -c echo hello" || !cr.AttachStdout || cr.AttachStdin {
		t.Errorf("create request %+v", cr.Config)
	}
}

func TestRunStdin(t *testing.T) {
	e := newEngine(t)
	e.stdinEcho = true
	out, _, err := run(t, "some input", "-H", e.host(), "run", "-i", "busybox", "cat")
	if err != nil {
		t.Fatal(err)
	}
	if out != "echo some input" {
		t.Errorf("stdout %q", out)
	}
	cr := e.creates[0]
	if !cr.OpenStdin || !cr.AttachStdin || !cr.StdinOnce {
		t.Errorf("create %+v", cr.Config)
	}
}

func TestRunDetached(t *testing.T) {
	e := newEngine(t)
	out, _, err := run(t, "", "-H", e.host(), "run", "-d", "--rm", "busybox", "sleep", "1")
	if err != nil {
		t.Fatal(err)
	}
	if out != "c0ffee\n" {
		t.Errorf("stdout %q", out)
	}
	if len(e.called("POST /containers/c0ffee/attach")) != 0 {
		t.Error("run -d attached")
	}
	cr := e.creates[0]
	if cr.AttachStdout || cr.AttachStderr || !cr.HostConfig.AutoRemove {
		t.Errorf("create %+v %+v", cr.Config, cr.HostConfig)
	}
}

func TestRunPullsMissingImage(t *testing.T) {
	e := newEngine(t)
	e.missing = 1
	out, errOut, err := run(t, "", "-H", e.host(), "run", "busybox")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(errOut, "Unable to find image 'busybox:latest' locally\n") || !strings.Contains(errOut, "Status: Downloaded newer image for busybox:latest") {
		t.Errorf("stderr %q", errOut)
	}
	if out != "hello\n" {
		t.Errorf("stdout %q", out)
	}
	if p := e.called("POST /images/create"); len(p) != 1 || !strings.Contains(p[0], "fromImage=busybox") {
		t.Errorf("pull %v", p)
	}
	if len(e.creates) != 2 {
		t.Errorf("%d creates", len(e.creates))
	}

	e = newEngine(t)
	e.missing = 1
	_, _, err = run(t, "", "-H", e.host(), "run", "--pull=never", "busybox")
	wantStatus(t, err, 125)
	if !strings.Contains(err.Error(), "No such image: busybox:latest") || len(e.called("POST /images/create")) != 0 {
		t.Errorf("--pull=never: %v, %v", err, e.calls)
	}
}

func TestRunStartErrorStatus(t *testing.T) {
	for msg, status := range map[string]int{
		`failed to create task: exec: "nope": executable file not found in $PATH`: 127,
		`exec /etc: permission denied`:                                            126,
		`cgroup: no space left`:                                                   125,
	} {
		e := newEngine(t)
		e.startErr = msg
		_, _, err := run(t, "", "-H", e.host(), "run", "--rm", "busybox", "nope")
		wantStatus(t, err, status)
		if !strings.Contains(err.Error(), msg) {
			t.Errorf("error %v", err)
		}
		if w := e.called("POST /containers/c0ffee/wait"); len(w) != 1 || !strings.Contains(w[0], "condition=removed") {
			t.Errorf("--rm wait %v", w)
		}
	}
}

func TestRunCLIErrors(t *testing.T) {
	e := newEngine(t)
	_, _, err := run(t, "", "-H", e.host(), "run", "-it", "busybox", "sh")
	wantStatus(t, err, 1)
	if err.Error() != "the input device is not a TTY" {
		t.Errorf("%v", err)
	}
	_, _, err = run(t, "", "-H", e.host(), "run", "--bogus", "busybox")
	wantStatus(t, err, 125)
	if err.Error() != "unknown flag: --bogus\nSee 'hako run --help'." {
		t.Errorf("%q", err)
	}
	_, _, err = run(t, "", "-H", e.host(), "run")
	wantStatus(t, err, 1)
	if !strings.HasPrefix(err.Error(), `"hako run" requires at least 1 argument.`) {
		t.Errorf("%q", err)
	}
	_, _, err = run(t, "", "-H", e.host(), "run", "-m", "lots", "busybox")
	wantStatus(t, err, 125)
	_, _, err = run(t, "", "-H", e.host(), "run", "--rm", "--restart=always", "busybox")
	wantStatus(t, err, 125)
	_, _, err = run(t, "", "-H", e.host(), "run", "-d", "-a", "stdout", "busybox")
	wantStatus(t, err, 125)
	if len(e.creates) != 0 {
		t.Errorf("bad flags created a container: %v", e.calls)
	}
}

func TestCreatePrintsID(t *testing.T) {
	e := newEngine(t)
	cid := filepath.Join(t.TempDir(), "cid")
	out, _, err := run(t, "", "-H", e.host(), "create", "--cidfile", cid, "-e", "A=1", "busybox", "env")
	if err != nil || out != "c0ffee\n" {
		t.Fatalf("%q %v", out, err)
	}
	if b, _ := os.ReadFile(cid); string(b) != "c0ffee" {
		t.Errorf("cidfile %q", b)
	}
	if len(e.called("POST /containers/c0ffee/start")) != 0 {
		t.Error("create started the container")
	}
	if _, _, err := run(t, "", "-H", e.host(), "create", "--cidfile", cid, "busybox"); err == nil || !strings.Contains(err.Error(), "container ID file found") {
		t.Errorf("existing cidfile: %v", err)
	}
}

func TestExecExitCode(t *testing.T) {
	e := newEngine(t)
	e.status = 5
	out, _, err := run(t, "typed", "-H", e.host(), "exec", "-i", "-e", "X=1", "-w", "/tmp", "-u", "nobody", "web", "cat", "-")
	wantStatus(t, err, 5)
	if out != "exec got typed" {
		t.Errorf("stdout %q", out)
	}
	req := e.execCreates[0]
	if !req.AttachStdin || !req.AttachStdout || req.Tty || req.WorkingDir != "/tmp" || req.User != "nobody" || strings.Join(req.Cmd, " ") != "cat -" || req.Env[0] != "X=1" {
		t.Errorf("exec create %+v", req)
	}
}

func TestLogsDemux(t *testing.T) {
	e := newEngine(t)
	out, errOut, err := run(t, "", "-H", e.host(), "logs", "--tail", "5", "-t", "--since", "10m", "web")
	if err != nil || out != "out\n" || errOut != "err\n" {
		t.Errorf("%q %q %v", out, errOut, err)
	}
	q := e.called("GET /containers/c0ffee/logs")[0]
	for _, want := range []string{"tail=5", "timestamps=1", "since=", "stdout=1", "stderr=1"} {
		if !strings.Contains(q, want) {
			t.Errorf("logs query %s lacks %s", q, want)
		}
	}
	e.tty = true
	out, _, _ = run(t, "", "-H", e.host(), "logs", "web")
	if out != "raw\r\n" {
		t.Errorf("tty logs %q", out)
	}
}

func TestWaitPrintsStatuses(t *testing.T) {
	e := newEngine(t)
	out, errOut, err := run(t, "", "-H", e.host(), "wait", "a", "nope", "b")
	wantStatus(t, err, 1)
	if out != "0\n137\n" || !strings.Contains(errOut, "No such container: nope") {
		t.Errorf("%q %q", out, errOut)
	}
}

func TestDetachWatch(t *testing.T) {
	var got strings.Builder
	seen := false
	w := &detachWatch{w: &got, keys: []byte{16, 17}, seen: func() { seen = true }}
	n, err := io.Copy(w, strings.NewReader("ab\x10c\x10\x11ignored"))
	if !errors.Is(err, errDetached) || !seen {
		t.Fatalf("%d %v %v", n, err, seen)
	}
	if got.String() != "ab\x10c\x10\x11" {
		t.Errorf("passed on %q", got.String())
	}
}

// openPTY opens a pseudo-terminal pair (posix_openpt, unlockpt, ptsname).
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(); m.Close() })
	return m, s
}

// run -it on a real terminal: raw mode during the run and restored
// after, the console size sent with the create and as a resize, the
// output passed raw.
func TestRunTTY(t *testing.T) {
	master, slave := openPTY(t)
	if err := unix.IoctlSetWinsize(int(slave.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 30, Col: 100}); err != nil {
		t.Fatal(err)
	}
	e := newEngine(t)
	e.tty = true
	var output strings.Builder
	var mu sync.Mutex
	go func() {
		buf := make([]byte, 256)
		for {
			n, err := master.Read(buf)
			mu.Lock()
			output.Write(buf[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	var errOut strings.Builder
	c := &CLI{Out: slave, Err: &errOut}
	root := NewRoot(c)
	root.SetIn(slave)
	root.SetArgs([]string{"-H", e.host(), "run", "-it", "busybox", "sh"})
	done := make(chan error, 1)
	go func() { done <- root.Execute() }()
	<-e.started
	master.Write([]byte("x"))
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%v (stderr %q)", err, errOut.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run -it did not end")
	}
	time.Sleep(50 * time.Millisecond)
	mu.Lock()
	got := output.String()
	mu.Unlock()
	if !strings.Contains(got, "got x\r\n") {
		t.Errorf("terminal output %q", got)
	}
	if cs := e.creates[0].HostConfig.ConsoleSize; cs != [2]uint{30, 100} {
		t.Errorf("console size %v", cs)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(e.called("POST /containers/c0ffee/resize")) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if r := e.called("POST /containers/c0ffee/resize"); len(r) == 0 || !strings.Contains(r[0], "h=30&w=100") {
		t.Errorf("resize %v", r)
	}
	tio, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
	if err != nil || tio.Lflag&unix.ECHO == 0 || tio.Lflag&unix.ICANON == 0 {
		t.Errorf("the terminal was not restored: %+v %v", tio, err)
	}
}

func TestMakeRaw(t *testing.T) {
	_, slave := openPTY(t)
	restore, err := makeRaw(slave)
	if err != nil {
		t.Fatal(err)
	}
	tio, _ := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
	if tio.Lflag&(unix.ECHO|unix.ICANON|unix.ISIG) != 0 || tio.Oflag&unix.OPOST != 0 {
		t.Errorf("not raw: %+v", tio)
	}
	restore()
	restore()
	tio, _ = unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
	if tio.Lflag&unix.ECHO == 0 {
		t.Errorf("not restored: %+v", tio)
	}
	if r, err := makeRaw(strings.NewReader("")); err != nil || r == nil {
		t.Errorf("a non-terminal: %v", err)
	}
}
