package monitor

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hako-dev/hako/internal/runtime"
	"github.com/hako-dev/hako/internal/runtime/initproc"
	"github.com/hako-dev/hako/internal/testutil"
)

// The runtime re-executes this test binary as the containers' init.
func TestMain(m *testing.M) {
	if initproc.Mode() != "" {
		initproc.Main()
	}
	code := m.Run()
	testutil.Cleanup()
	os.Exit(code)
}

// startMonitor runs a monitor in this process and returns a client.
func startMonitor(t *testing.T) (*Client, *runtime.Runtime) {
	t.Helper()
	dir := t.TempDir()
	mdir, rdir := filepath.Join(dir, "monitor"), filepath.Join(dir, "runtime")
	go Serve(mdir, rdir, slog.New(slog.NewTextHandler(io.Discard, nil)))
	c := NewClient(mdir, rdir)
	for i := 0; ; i++ {
		if _, err := os.Stat(filepath.Join(mdir, SocketName)); err == nil {
			if _, err := c.Ping(); err == nil {
				return c, runtime.New(runtime.Options{Root: rdir})
			}
		}
		if i > 200 {
			t.Fatal("the monitor did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// demux splits stdcopy frames into stdout and stderr.
func demux(t *testing.T, r io.Reader) (string, string) {
	var out, errOut bytes.Buffer
	hdr := make([]byte, 8)
	for {
		if _, err := io.ReadFull(r, hdr); err != nil {
			return out.String(), errOut.String()
		}
		n := binary.BigEndian.Uint32(hdr[4:])
		w := &out
		if hdr[0] == 2 {
			w = &errOut
		}
		if _, err := io.CopyN(w, r, int64(n)); err != nil {
			t.Errorf("short frame: %v", err)
			return out.String(), errOut.String()
		}
	}
}

// Several containers at once: each one's stdin, stdout and stderr go
// through an attach stream made before it starts, its output lands in
// its json-file log, and its exit code comes as an event.
func TestMonitorContainers(t *testing.T) {
	testutil.RequireRoot(t)
	c, rt := startMonitor(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events, err := c.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}
	exits := map[string]Exit{}
	var exitsMu sync.Mutex
	exitSeen := make(chan struct{}, 16)
	go func() {
		for x := range events {
			exitsMu.Lock()
			exits[x.ID] = x
			exitsMu.Unlock()
			exitSeen <- struct{}{}
		}
	}()

	const n = 4
	logDir := t.TempDir()
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("mon-test-%d-%d", os.Getpid(), i)
			s := testutil.Spec(t, "sh", "-c", "echo out; echo err >&2; read x; echo got $x; exit 3")
			bundle := testutil.Bundle(t, s)
			logPath := filepath.Join(logDir, id+".log")
			if _, err := c.Create(id, CreateOptions{Bundle: bundle, OpenStdin: true, StdinOnce: true, LogPath: logPath}); err != nil {
				t.Errorf("create: %v", err)
				return
			}
			st, err := c.Attach(id, "", true, true, true)
			if err != nil {
				t.Errorf("attach: %v", err)
				return
			}
			defer st.Close()
			if err := c.Begin(id); err != nil {
				t.Errorf("begin: %v", err)
				return
			}
			fmt.Fprintf(st, "hi%d\n", i)
			st.CloseWrite()
			out, errOut := demux(t, st)
			if out != fmt.Sprintf("out\ngot hi%d\n", i) || errOut != "err\n" {
				t.Errorf("%s: stdout %q stderr %q", id, out, errOut)
			}
			b, _ := os.ReadFile(logPath)
			if strings.Count(string(b), `"stream":"stdout"`) != 2 || strings.Count(string(b), `"stream":"stderr"`) != 1 {
				t.Errorf("%s: log %s", id, b)
			}
		}()
	}
	wg.Wait()
	deadline := time.After(10 * time.Second)
	for {
		exitsMu.Lock()
		got := len(exits)
		exitsMu.Unlock()
		if got >= n {
			break
		}
		select {
		case <-exitSeen:
		case <-deadline:
			t.Fatalf("%d exits of %d", got, n)
		}
	}
	exitsMu.Lock()
	defer exitsMu.Unlock()
	for id, x := range exits {
		if x.ExitCode != 3 || x.Unknown {
			t.Errorf("%s: exit %+v", id, x)
		}
		c.Forget(id, "")
		// The runtime state stays until the daemon deletes it.
		if rc, err := rt.Load(id); err == nil {
			rc.Delete(true)
		} else {
			t.Errorf("%s: runtime state: %v", id, err)
		}
	}
}

// An attach that races the process's end (the streams just closed, the
// exit not yet recorded) ends at once: it used to register after the
// streams were closed and wait forever (docker-compose run hung on it).
func TestMonitorAttachAtExit(t *testing.T) {
	testutil.RequireRoot(t)
	c, _ := startMonitor(t)
	bundle := testutil.Bundle(t, testutil.Spec(t, "true"))
	for i := range 10 {
		id := fmt.Sprintf("mon-exit-%d-%d", os.Getpid(), i)
		if _, err := c.Create(id, CreateOptions{Bundle: bundle, OpenStdin: true}); err != nil {
			t.Fatal(err)
		}
		if err := c.Begin(id); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				st, err := c.Attach(id, "", true, true, true)
				if err != nil {
					return // gone already
				}
				defer st.Close()
				ended := make(chan struct{})
				go func() { io.Copy(io.Discard, st); close(ended) }()
				select {
				case <-ended:
				case <-time.After(5 * time.Second):
					t.Errorf("%s: an attach at the exit never ended", id)
				}
			}()
		}
		wg.Wait()
		// Forget it once its exit is recorded (the record is a file in the
		// test's directory, which must be gone at the end).
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			ps, _, _ := c.List()
			recorded := false
			for _, p := range ps {
				recorded = recorded || p.ID == id && p.Exit != nil
			}
			if recorded {
				break
			}
		}
		if err := c.Forget(id, ""); err != nil {
			t.Fatal(err)
		}
	}
}
