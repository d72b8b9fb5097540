package client

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/hako-dev/hako/internal/errdefs"
	"github.com/moby/moby/api/types/container"
)

// fakeEngine answers like the Engine API and records the requests.
type fakeEngine struct {
	mu   sync.Mutex
	reqs []string // "METHOD /path?query"
	body []byte   // the last request's body
}

func (f *fakeEngine) client(t *testing.T, h http.HandlerFunc) *Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		path := strings.TrimPrefix(r.URL.Path, "/v"+APIVersion)
		line := r.Method + " " + path
		if r.URL.RawQuery != "" {
			line += "?" + r.URL.RawQuery
		}
		f.reqs = append(f.reqs, line)
		f.body = b
		f.mu.Unlock()
		if strings.HasPrefix(path, "/containers/nosuch/") || path == "/containers/nosuch" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"message":"No such container: nosuch"}`)
			return
		}
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	c, err := New("tcp://" + strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (f *fakeEngine) last() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reqs[len(f.reqs)-1]
}

func TestContainerListQuery(t *testing.T) {
	var f fakeEngine
	c := f.client(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `[{"Id":"abc","Names":["/web"],"State":"running","Status":"Up 3 seconds"}]`)
	})
	l, err := c.ContainerList(context.Background(), true, true, 3, map[string][]string{"status": {"exited"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(l) != 1 || l[0].ID != "abc" || l[0].Names[0] != "/web" || l[0].State != container.StateRunning {
		t.Errorf("list: %+v", l)
	}
	want := "GET /containers/json?all=1&filters=%7B%22status%22%3A%7B%22exited%22%3Atrue%7D%7D&limit=3&size=1"
	if got := f.last(); got != want {
		t.Errorf("request\n got %s\nwant %s", got, want)
	}
}

func TestContainerNotFound(t *testing.T) {
	var f fakeEngine
	c := f.client(t, func(w http.ResponseWriter, r *http.Request) {})
	ctx := context.Background()
	_, _, err := c.ContainerInspect(ctx, "nosuch", false)
	if !errors.Is(err, errdefs.ErrNotFound) || err.Error() != "No such container: nosuch" {
		t.Errorf("inspect: %v", err)
	}
	for name, err := range map[string]error{
		"remove":  c.ContainerRemove(ctx, "nosuch", true, false),
		"stop":    c.ContainerStop(ctx, "nosuch", nil, ""),
		"kill":    c.ContainerKill(ctx, "nosuch", ""),
		"pause":   c.ContainerPause(ctx, "nosuch"),
		"rename":  c.ContainerRename(ctx, "nosuch", "x"),
		"unpause": c.ContainerUnpause(ctx, "nosuch"),
	} {
		if !errors.Is(err, errdefs.ErrNotFound) || !strings.Contains(err.Error(), "No such container: nosuch") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestContainerInspectRaw(t *testing.T) {
	var f fakeEngine
	c := f.client(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"Id":"abc","Name":"/web","State":{"Status":"running","Pid":42},"SizeRw":12,"Extra":true}`)
	})
	r, raw, err := c.ContainerInspect(context.Background(), "web", true)
	if err != nil {
		t.Fatal(err)
	}
	if r.ID != "abc" || r.State.Pid != 42 || r.SizeRw == nil || *r.SizeRw != 12 {
		t.Errorf("decoded: %+v", r)
	}
	if !strings.Contains(string(raw), `"Extra":true`) {
		t.Errorf("raw lost fields: %s", raw)
	}
	if got := f.last(); got != "GET /containers/web/json?size=1" {
		t.Errorf("request %s", got)
	}
}

func TestContainerActions(t *testing.T) {
	var f fakeEngine
	c := f.client(t, func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/stop") {
			w.WriteHeader(http.StatusNotModified) // already stopped
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	ctx := context.Background()
	ten := 10
	steps := []struct {
		do   func() error
		want string
	}{
		{func() error { return c.ContainerStop(ctx, "web", &ten, "SIGINT") }, "POST /containers/web/stop?signal=SIGINT&t=10"},
		{func() error { return c.ContainerStop(ctx, "web", nil, "") }, "POST /containers/web/stop"},
		{func() error { return c.ContainerRestart(ctx, "web", &ten, "") }, "POST /containers/web/restart?t=10"},
		{func() error { return c.ContainerKill(ctx, "web", "HUP") }, "POST /containers/web/kill?signal=HUP"},
		{func() error { return c.ContainerRename(ctx, "web", "www") }, "POST /containers/web/rename?name=www"},
		{func() error { return c.ContainerPause(ctx, "web") }, "POST /containers/web/pause"},
		{func() error { return c.ContainerUnpause(ctx, "web") }, "POST /containers/web/unpause"},
		{func() error { return c.ContainerRemove(ctx, "web", true, true) }, "DELETE /containers/web?force=1&v=1"},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Errorf("%s: %v", s.want, err)
			continue
		}
		if got := f.last(); got != s.want {
			t.Errorf("got %s, want %s", got, s.want)
		}
	}
}

func TestContainerTopStatsDiff(t *testing.T) {
	var f fakeEngine
	c := f.client(t, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/top"):
			io.WriteString(w, `{"Titles":["PID","COMMAND"],"Processes":[["1","sh"]]}`)
		case strings.HasSuffix(r.URL.Path, "/stats"):
			io.WriteString(w, `{"id":"abc","name":"/web","cpu_stats":{"cpu_usage":{"total_usage":200},"system_cpu_usage":1000,"online_cpus":2}}`+"\n")
			io.WriteString(w, `{"id":"abc","name":"/web","cpu_stats":{"cpu_usage":{"total_usage":300},"system_cpu_usage":2000,"online_cpus":2}}`+"\n")
		case strings.HasSuffix(r.URL.Path, "/changes"):
			io.WriteString(w, `[{"Path":"/tmp","Kind":0},{"Path":"/tmp/a","Kind":1},{"Path":"/etc/motd","Kind":2}]`)
		}
	})
	ctx := context.Background()
	top, err := c.ContainerTop(ctx, "web", []string{"-eo", "pid,comm"})
	if err != nil || len(top.Processes) != 1 || top.Titles[1] != "COMMAND" {
		t.Fatalf("top: %+v %v", top, err)
	}
	if got := f.last(); got != "GET /containers/web/top?ps_args=-eo+pid%2Ccomm" {
		t.Errorf("top request %s", got)
	}

	st, err := c.ContainerStats(ctx, "web", true, false)
	if err != nil {
		t.Fatal(err)
	}
	var totals []uint64
	for {
		s, err := st.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		totals = append(totals, s.CPUStats.CPUUsage.TotalUsage)
	}
	st.Close()
	if len(totals) != 2 || totals[1] != 300 {
		t.Errorf("stats samples %v", totals)
	}
	if got := f.last(); got != "GET /containers/web/stats?stream=1" {
		t.Errorf("stats request %s", got)
	}
	st, err = c.ContainerStats(ctx, "web", false, true)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	if got := f.last(); got != "GET /containers/web/stats?one-shot=1&stream=0" {
		t.Errorf("one-shot request %s", got)
	}

	ch, err := c.ContainerDiff(ctx, "web")
	if err != nil || len(ch) != 3 || ch[1].Kind != container.ChangeAdd || ch[2].Kind.String() != "D" {
		t.Errorf("diff: %+v %v", ch, err)
	}
}

func TestContainerArchive(t *testing.T) {
	var f fakeEngine
	stat := container.PathStat{Name: "etc", Size: 4096, Mode: 0o755 | 1<<31}
	b, _ := json.Marshal(stat)
	hdr := base64.StdEncoding.EncodeToString(b)
	c := f.client(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodHead, http.MethodGet:
			if r.URL.Query().Get("path") == "/missing" {
				w.WriteHeader(http.StatusNotFound)
				io.WriteString(w, `{"message":"Could not find the file /missing in container web"}`)
				return
			}
			w.Header().Set("X-Docker-Container-Path-Stat", hdr)
			if r.Method == http.MethodGet {
				io.WriteString(w, "TARDATA")
			}
		case http.MethodPut:
			w.WriteHeader(http.StatusOK)
		}
	})
	ctx := context.Background()
	st, err := c.ContainerStatPath(ctx, "web", "/etc")
	if err != nil || st.Name != "etc" || !st.Mode.IsDir() {
		t.Errorf("stat: %+v %v", st, err)
	}
	if got := f.last(); got != "HEAD /containers/web/archive?path=%2Fetc" {
		t.Errorf("stat request %s", got)
	}
	if _, err := c.ContainerStatPath(ctx, "web", "/missing"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("stat of a missing path: %v", err)
	}
	rc, st, err := c.CopyFromContainer(ctx, "web", "/etc")
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(rc)
	rc.Close()
	if string(data) != "TARDATA" || st.Size != 4096 {
		t.Errorf("copy from: %q %+v", data, st)
	}
	if err := c.CopyToContainer(ctx, "web", "/tmp", strings.NewReader("TAR"), true, true); err != nil {
		t.Fatal(err)
	}
	if got := f.last(); got != "PUT /containers/web/archive?copyUIDGID=true&noOverwriteDirNonDir=true&path=%2Ftmp" || string(f.body) != "TAR" {
		t.Errorf("copy to: %s %q", got, f.body)
	}
}

func TestContainerCommitUpdatePruneNamespaces(t *testing.T) {
	var f fakeEngine
	c := f.client(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path[len("/v"+APIVersion):] {
		case "/commit":
			w.WriteHeader(http.StatusCreated)
			io.WriteString(w, `{"Id":"sha256:0123"}`)
		case "/containers/web/update":
			io.WriteString(w, `{"Warnings":["careful"]}`)
		case "/containers/prune":
			io.WriteString(w, `{"ContainersDeleted":["a","b"],"SpaceReclaimed":2048}`)
		case "/containers/web/namespaces":
			io.WriteString(w, `{"Id":"abc","Name":"/web","Pid":1234,"Namespaces":[{"Type":"net","Inode":4026531840,"Host":true,"SharedWith":[]},{"Type":"pid","Inode":4026532291,"Host":false,"SharedWith":["/db"]}]}`)
		}
	})
	ctx := context.Background()
	id, err := c.ContainerCommit(ctx, "web", CommitOptions{Repo: "me/app", Tag: "v1", Author: "A", Comment: "m", Changes: []string{"ENV A=1", `CMD ["sh"]`}, Pause: true, Config: &container.Config{User: "nobody"}})
	if err != nil || id != "sha256:0123" {
		t.Fatalf("commit: %q %v", id, err)
	}
	want := "POST /commit?author=A&changes=ENV+A%3D1&changes=CMD+%5B%22sh%22%5D&comment=m&container=web&pause=1&repo=me%2Fapp&tag=v1"
	if got := f.last(); got != want {
		t.Errorf("commit request\n got %s\nwant %s", got, want)
	}
	if !strings.Contains(string(f.body), `"User":"nobody"`) {
		t.Errorf("commit body %s", f.body)
	}

	mem := int64(64 << 20)
	u, err := c.ContainerUpdate(ctx, "web", container.UpdateConfig{Resources: container.Resources{Memory: mem}})
	if err != nil || len(u.Warnings) != 1 {
		t.Errorf("update: %+v %v", u, err)
	}
	if !strings.Contains(string(f.body), `"Memory":67108864`) {
		t.Errorf("update body %s", f.body)
	}

	rep, err := c.ContainersPrune(ctx, map[string][]string{"until": {"24h"}})
	if err != nil || len(rep.ContainersDeleted) != 2 || rep.SpaceReclaimed != 2048 {
		t.Errorf("prune: %+v %v", rep, err)
	}
	if got := f.last(); got != "POST /containers/prune?filters=%7B%22until%22%3A%7B%2224h%22%3Atrue%7D%7D" {
		t.Errorf("prune request %s", got)
	}

	ns, err := c.ContainerNamespaces(ctx, "web")
	if err != nil || ns.Pid != 1234 || len(ns.Namespaces) != 2 || !ns.Namespaces[0].Host || ns.Namespaces[1].SharedWith[0] != "/db" {
		t.Errorf("namespaces: %+v %v", ns, err)
	}
}
