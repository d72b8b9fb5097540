package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/hako-dev/hako/internal/client"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
)

// fakeDaemon answers the Engine API with handler (paths without the
// version prefix) and returns the -H value for it.
func fakeDaemon(t *testing.T, handler func(w http.ResponseWriter, r *http.Request, path string)) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/_ping" {
			w.Header().Set("Api-Version", client.APIVersion)
			io.WriteString(w, "OK")
			return
		}
		p := r.URL.Path
		if i := strings.Index(p[1:], "/"); strings.HasPrefix(p, "/v") && i > 0 {
			p = p[i+1:]
		}
		if strings.Contains(p, "/nosuch") {
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"message":"No such container: nosuch"}`)
			return
		}
		handler(w, r, p)
	}))
	t.Cleanup(srv.Close)
	return "tcp://" + strings.TrimPrefix(srv.URL, "http://")
}

var summaries = []container.Summary{
	{
		ID: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", Names: []string{"/web"},
		Image: "docker.io/library/busybox:latest", ImageID: "sha256:feed", Command: "sh -c 'while true; do sleep 1; done'",
		Created: time.Now().Add(-2 * time.Minute).Unix(), State: "running", Status: "Up 3 seconds",
		Labels: map[string]string{"b": "2", "a": "1"},
		Ports: []container.PortSummary{
			{PrivatePort: 80, PublicPort: 8080, Type: "tcp", IP: netip.MustParseAddr("0.0.0.0")},
			{PrivatePort: 443, Type: "tcp"}, {PrivatePort: 444, Type: "tcp"},
		},
		SizeRw: 1536, SizeRootFs: 4 << 20,
	},
	{
		ID: "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210", Names: []string{"/db"},
		Image: "sha256:feedfacefeedfacefeedface", ImageID: "sha256:feedfacefeedfacefeedface", Command: "true",
		Created: time.Now().Add(-3 * time.Hour).Unix(), State: "exited", Status: "Exited (0) 2 minutes ago",
	},
}

func TestPs(t *testing.T) {
	var query string
	host := fakeDaemon(t, func(w http.ResponseWriter, r *http.Request, p string) {
		query = r.URL.RawQuery
		json.NewEncoder(w).Encode(summaries)
	})
	out, _, err := run(t, "", "-H", host, "ps", "-a")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("ps:\n%s", out)
	}
	for _, h := range []string{"CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"} {
		if !strings.Contains(lines[0], h) {
			t.Errorf("header lacks %s: %q", h, lines[0])
		}
	}
	for _, want := range []string{"0123456789ab ", "busybox:latest ", `"sh -c 'while true; …"`, "2 minutes ago", "Up 3 seconds",
		"443-444/tcp, 0.0.0.0:8080->80/tcp", " web"} {
		if !strings.Contains(lines[1], want) {
			t.Errorf("row lacks %q: %q", want, lines[1])
		}
	}
	for _, want := range []string{"fedcba987654 ", "feedfacefeed ", `"true"`, "3 hours ago", "Exited (0) 2 minutes ago", " db"} {
		if !strings.Contains(lines[2], want) {
			t.Errorf("row lacks %q: %q", want, lines[2])
		}
	}
	// Columns line up: every row's STATUS starts where the header's does.
	col := strings.Index(lines[0], "STATUS")
	if r1, r2 := []rune(lines[1]), []rune(lines[2]); !strings.HasPrefix(string(r1[col:]), "Up 3 seconds") || !strings.HasPrefix(string(r2[col:]), "Exited (0)") {
		t.Errorf("columns not aligned:\n%s", out)
	}
	if !strings.Contains(query, "all=1") {
		t.Errorf("query %q", query)
	}

	out, _, _ = run(t, "", "-H", host, "ps", "-q", "--no-trunc")
	if out != summaries[0].ID+"\n"+summaries[1].ID+"\n" {
		t.Errorf("ps -q --no-trunc: %q", out)
	}
	out, _, _ = run(t, "", "-H", host, "ps", "--format", `{{.Names}}|{{.Label "a"}}|{{.Labels}}|{{.State}}|{{.Size}}|{{.Command}}`)
	if !strings.HasPrefix(out, `web|1|a=1,b=2|running|1.54kB (virtual 4.19MB)|"sh -c 'while true; …"`+"\n") {
		t.Errorf("ps --format: %q", out)
	}
	if !strings.Contains(query, "size=1") {
		t.Errorf("{{.Size}} did not ask for sizes: %q", query)
	}
	out, _, _ = run(t, "", "-H", host, "ps", "--format", `table {{.Names}}\t{{.Status}}`)
	if !strings.HasPrefix(out, "NAMES     STATUS\nweb       Up 3 seconds\ndb        Exited (0) 2 minutes ago\n") {
		t.Errorf("ps --format table: %q", out)
	}
	out, _, _ = run(t, "", "-H", host, "ps", "--format", "json", "--no-trunc")
	var m map[string]string
	if err := json.Unmarshal([]byte(strings.SplitN(out, "\n", 2)[0]), &m); err != nil || m["ID"] != summaries[0].ID || m["Command"] != `"sh -c 'while true; do sleep 1; done'"` {
		t.Errorf("ps --format json: %q (%v)", out, err)
	}
	if _, _, err := run(t, "", "-H", host, "ps", "-n", "2", "-f", "status=exited", "-f", "label=a=1"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(query, "limit=2") || !strings.Contains(query, "all=1") || !strings.Contains(query, "filters=%7B%22label%22%3A%7B%22a%3D1%22%3Atrue%7D%2C%22status%22%3A%7B%22exited%22%3Atrue%7D%7D") {
		t.Errorf("ps -n 2 --filter: %q", query)
	}
}

func TestDisplayPorts(t *testing.T) {
	ip4, ip6 := netip.MustParseAddr("0.0.0.0"), netip.MustParseAddr("::")
	for _, tc := range []struct {
		ports []container.PortSummary
		want  string
	}{
		{nil, ""},
		{[]container.PortSummary{{PrivatePort: 80, Type: "tcp"}}, "80/tcp"},
		{[]container.PortSummary{{PrivatePort: 82, Type: "tcp"}, {PrivatePort: 80, Type: "tcp"}, {PrivatePort: 81, Type: "tcp"}, {PrivatePort: 53, Type: "udp"}}, "53/udp, 80-82/tcp"},
		{[]container.PortSummary{{IP: ip4, PrivatePort: 80, PublicPort: 8080, Type: "tcp"}, {IP: ip6, PrivatePort: 80, PublicPort: 8080, Type: "tcp"}}, "0.0.0.0:8080->80/tcp, [::]:8080->80/tcp"},
		{[]container.PortSummary{{IP: ip4, PrivatePort: 80, PublicPort: 80, Type: "tcp"}, {IP: ip4, PrivatePort: 81, PublicPort: 81, Type: "tcp"}}, "0.0.0.0:80-81->80-81/tcp"},
	} {
		if got := displayPorts(tc.ports); got != tc.want {
			t.Errorf("%v: got %q, want %q", tc.ports, got, tc.want)
		}
	}
}

func TestEllipsisAndImage(t *testing.T) {
	if got := ellipsis("sh -c 'while true; do sleep 1; done'", 20); got != "sh -c 'while true; …" || len([]rune(got)) != 20 {
		t.Errorf("ellipsis: %q", got)
	}
	if got := ellipsis("short", 20); got != "short" {
		t.Errorf("ellipsis: %q", got)
	}
	for in, want := range map[string]string{
		"docker.io/library/busybox:latest":     "busybox:latest",
		"docker.io/me/app":                     "me/app",
		"127.0.0.1:5000/app:1":                 "127.0.0.1:5000/app:1",
		"sha256:0123456789abcdef0123456789ab":  "0123456789ab",
		"busybox:1@sha256:0123456789abcdef012": "busybox:1",
	} {
		if got := familiarImage(in, ""); got != want {
			t.Errorf("familiarImage(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestStatsMath(t *testing.T) {
	pre := container.CPUStats{CPUUsage: container.CPUUsage{TotalUsage: 1_000_000_000}, SystemUsage: 100_000_000_000, OnlineCPUs: 4}
	cur := container.CPUStats{CPUUsage: container.CPUUsage{TotalUsage: 1_500_000_000}, SystemUsage: 104_000_000_000, OnlineCPUs: 4}
	// 0.5 s of CPU over 4 s of host time (1 s on each of 4 CPUs): half a CPU.
	if got := cpuPercent(pre, cur); got != 50 {
		t.Errorf("cpu %% = %v, want 50", got)
	}
	if got := cpuPercent(cur, cur); got != 0 {
		t.Errorf("no time passed: %v", got)
	}
	noOnline := cur
	noOnline.OnlineCPUs, noOnline.CPUUsage.PercpuUsage = 0, []uint64{1, 2}
	if got := cpuPercent(pre, noOnline); got != 25 {
		t.Errorf("per-CPU count fallback: %v", got)
	}

	s := &container.StatsResponse{
		ID: "0123456789abcdef0123", Name: "/web",
		PreCPUStats: pre, CPUStats: cur,
		MemoryStats: container.MemoryStats{Usage: 2 << 20, Limit: 64 << 20, Stats: map[string]uint64{"inactive_file": 512 << 10}},
		Networks:    map[string]container.NetworkStats{"eth0": {RxBytes: 1200, TxBytes: 648}, "eth1": {RxBytes: 300}},
		BlkioStats:  container.BlkioStats{IoServiceBytesRecursive: []container.BlkioStatEntry{{Op: "read", Value: 4096}, {Op: "Write", Value: 1 << 20}, {Op: "sync", Value: 9}}},
		PidsStats:   container.PidsStats{Current: 3},
	}
	e := entryOf(s)
	e.container = "web"
	r := e.row(true)
	want := statsRow{Container: "web", Name: "web", ID: "0123456789ab", CPUPerc: "50.00%", MemUsage: "1.5MiB / 64MiB",
		MemPerc: "2.34%", NetIO: "1.5kB / 648B", BlockIO: "4.1kB / 1.05MB", PIDs: "3"}
	if *r != want {
		t.Errorf("row\n got %+v\nwant %+v", *r, want)
	}
	// cgroup v1 names the cache total_inactive_file.
	v1 := container.MemoryStats{Usage: 10 << 20, Stats: map[string]uint64{"total_inactive_file": 4 << 20, "inactive_file": 1}}
	if got := memoryNoCache(v1); got != 6<<20 {
		t.Errorf("v1 memory %v", got)
	}
	bad := statsEntry{container: "x", invalid: true}
	if r := bad.row(true); r.CPUPerc != "--" || r.MemUsage != "-- / --" || r.Name != "--" {
		t.Errorf("invalid row %+v", r)
	}

	lf, err := parseListFormat("", statsTable)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	writeStats(&buf, lf, []statsEntry{e}, true)
	lines := strings.Split(buf.String(), "\n")
	if !strings.HasPrefix(lines[0], "CONTAINER ID   NAME      CPU %     MEM USAGE / LIMIT   MEM %     NET I/O        BLOCK I/O        PIDS") ||
		!strings.HasPrefix(lines[1], "0123456789ab   web       50.00%    1.5MiB / 64MiB      2.34%     1.5kB / 648B   4.1kB / 1.05MB   3") {
		t.Errorf("stats table:\n%s", buf.String())
	}
	lf, _ = parseListFormat("{{.Name}}: {{.CPUPerc}} {{.MemPerc}}", statsTable)
	buf.Reset()
	writeStats(&buf, lf, []statsEntry{e}, true)
	if buf.String() != "web: 50.00% 2.34%\n" {
		t.Errorf("stats --format: %q", buf.String())
	}
}

func TestStatsNoStream(t *testing.T) {
	host := fakeDaemon(t, func(w http.ResponseWriter, r *http.Request, p string) {
		switch p {
		case "/containers/json":
			json.NewEncoder(w).Encode(summaries[:1])
		case "/containers/" + summaries[0].ID + "/stats", "/containers/web/stats":
			if r.URL.Query().Get("stream") != "0" {
				t.Errorf("--no-stream asked for a stream: %s", r.URL.RawQuery)
			}
			json.NewEncoder(w).Encode(container.StatsResponse{ID: summaries[0].ID, Name: "/web", PidsStats: container.PidsStats{Current: 7},
				MemoryStats: container.MemoryStats{Usage: 1 << 20, Limit: 1 << 30}})
		}
	})
	out, _, err := run(t, "", "-H", host, "stats", "--no-stream")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "0123456789ab   web ") || !strings.Contains(out, "1MiB / 1GiB") || !strings.HasSuffix(out, "7\n") {
		t.Errorf("stats --no-stream:\n%s", out)
	}
	out, errOut, err := run(t, "", "-H", host, "stats", "--no-stream", "web", "nosuch")
	var se *StatusError
	if !errors.As(err, &se) || se.Status != 1 || !strings.Contains(errOut, "Error response from daemon: No such container: nosuch") || out != "" {
		t.Errorf("stats of a missing container: %q %q %v", out, errOut, err)
	}
}

func TestPortLines(t *testing.T) {
	r := container.InspectResponse{NetworkSettings: &container.NetworkSettings{Ports: network.PortMap{
		network.MustParsePort("80/tcp"):   {{HostIP: netip.MustParseAddr("0.0.0.0"), HostPort: "8080"}, {HostIP: netip.MustParseAddr("::"), HostPort: "8080"}},
		network.MustParsePort("443/tcp"):  {{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: "8443"}},
		network.MustParsePort("9000/tcp"): nil,
		network.MustParsePort("53/udp"):   {{HostPort: "5353"}},
	}}}
	all, err := portLines(r, "web", "")
	want := []string{"53/udp -> :5353", "80/tcp -> 0.0.0.0:8080", "80/tcp -> [::]:8080", "443/tcp -> 127.0.0.1:8443"}
	if err != nil || strings.Join(all, "\n") != strings.Join(want, "\n") {
		t.Errorf("port:\n%s\nwant\n%s", strings.Join(all, "\n"), strings.Join(want, "\n"))
	}
	one, err := portLines(r, "web", "80")
	if err != nil || strings.Join(one, ",") != "0.0.0.0:8080,[::]:8080" {
		t.Errorf("port 80: %v %v", one, err)
	}
	if _, err := portLines(r, "web", "9000/tcp"); err == nil || err.Error() != "no public port '9000/tcp' published for web" {
		t.Errorf("port 9000: %v", err)
	}
}

func TestDiffLines(t *testing.T) {
	var buf bytes.Buffer
	writeChanges(&buf, []container.FilesystemChange{{Kind: container.ChangeModify, Path: "/etc"}, {Kind: container.ChangeAdd, Path: "/etc/new"}, {Kind: container.ChangeDelete, Path: "/etc/motd"}})
	if buf.String() != "C /etc\nA /etc/new\nD /etc/motd\n" {
		t.Errorf("diff: %q", buf.String())
	}
}

func TestNsTable(t *testing.T) {
	ns := func(typ string, ino uint64, host bool, shared ...string) client.Namespace {
		return client.Namespace{Type: typ, Inode: ino, Host: host, SharedWith: shared}
	}
	all := []client.ContainerNamespaces{
		{ID: "a", Name: "/web", Pid: 1234, Namespaces: []client.Namespace{
			ns("cgroup", 4026532301, false), ns("ipc", 4026532299, false), ns("mnt", 4026532297, false),
			ns("net", 4026532302, false, "/db"), ns("pid", 4026532300, false), ns("time", 4026531834, true),
			ns("user", 4026531837, true), ns("uts", 4026532298, false)}},
		{ID: "b", Name: "/db", Pid: 1300, Namespaces: []client.Namespace{
			ns("cgroup", 4026532401, false), ns("ipc", 4026532399, false), ns("mnt", 4026532397, false),
			ns("net", 4026532302, false, "/web"), ns("pid", 4026532400, false),
			ns("user", 4026531837, true), ns("uts", 4026532398, false)}},
	}
	var buf bytes.Buffer
	writeNamespaces(&buf, all)
	want := `NAME   PID    CGROUP       IPC          MNT          NET           PID          TIME   USER   UTS
web    1234   4026532301   4026532299   4026532297   4026532302*   4026532300   host   host   4026532298
db     1300   4026532401   4026532399   4026532397   4026532302*   4026532400   -      host   4026532398

host: the host's namespace (the one of pid 1)
*: shared between containers:
  net:[4026532302]  db, web
`
	if buf.String() != want {
		t.Errorf("ns table\n got:\n%s\nwant:\n%s", buf.String(), want)
	}

	host := fakeDaemon(t, func(w http.ResponseWriter, r *http.Request, p string) {
		switch p {
		case "/containers/json":
			json.NewEncoder(w).Encode([]container.Summary{{ID: "b"}, {ID: "a"}})
		case "/containers/a/namespaces":
			json.NewEncoder(w).Encode(all[0])
		case "/containers/b/namespaces":
			json.NewEncoder(w).Encode(all[1])
		}
	})
	out, _, err := run(t, "", "-H", host, "ns")
	if err != nil || out != want {
		t.Errorf("hako ns: %v\n%s", err, out)
	}
	out, _, err = run(t, "", "-H", host, "ns", "--format", "{{.Name}} {{.Pid}} {{len .Namespaces}}", "a", "b")
	if err != nil || out != "/web 1234 8\n/db 1300 7\n" {
		t.Errorf("hako ns --format: %v %q", err, out)
	}
	out, _, _ = run(t, "", "-H", host, "ns", "--format", "json", "a")
	var back []client.ContainerNamespaces
	if err := json.Unmarshal([]byte(out), &back); err != nil || len(back) != 1 || back[0].Namespaces[3].SharedWith[0] != "/db" {
		t.Errorf("hako ns --format json: %v %s", err, out)
	}
}

func TestInspect(t *testing.T) {
	host := fakeDaemon(t, func(w http.ResponseWriter, r *http.Request, p string) {
		switch p {
		case "/containers/web/json":
			io.WriteString(w, `{"Id":"abc","Name":"/web","State":{"Status":"running","Pid":4026532291},"Config":{"Env":["A=1","B=2"],"Labels":{"x":"y"}},"Custom":"raw"}`)
		case "/containers/busybox/json", "/containers/nothing/json", "/images/nothing/json", "/volumes/nothing", "/networks/nothing":
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"message":"No such container: busybox"}`)
		case "/images/busybox/json":
			io.WriteString(w, `{"Id":"sha256:1","RepoTags":["busybox:latest"]}`)
		}
	})
	out, errOut, err := run(t, "", "-H", host, "inspect", "web", "busybox")
	if err != nil {
		t.Fatalf("%v %s", err, errOut)
	}
	var arr []map[string]any
	if err := json.Unmarshal([]byte(out), &arr); err != nil || len(arr) != 2 || arr[0]["Id"] != "abc" || arr[1]["Id"] != "sha256:1" {
		t.Errorf("inspect: %v\n%s", err, out)
	}
	if !strings.HasPrefix(out, "[\n    {\n        \"Id\": \"abc\",") {
		t.Errorf("inspect is not indented as docker's:\n%s", out)
	}
	for format, want := range map[string]string{
		"{{.State.Pid}}":                          "4026532291",
		"{{json .Config.Env}}":                    `["A=1","B=2"]`,
		`{{join .Config.Env ","}}`:                "A=1,B=2",
		"{{upper .Name}} {{lower .State.Status}}": "/WEB running",
		"{{index .Config.Labels \"x\"}}":          "y",
		"{{.Custom}}":                             "raw", // not in the type: the raw JSON
		`{{range split "a:b" ":"}}{{.}};{{end}}`:  "a;b;",
		"{{title .State.Status}}":                 "Running",
	} {
		out, errOut, err := run(t, "", "-H", host, "inspect", "-f", format, "web")
		if err != nil || out != want+"\n" {
			t.Errorf("inspect -f %s: %q %q %v", format, out, errOut, err)
		}
	}
	out, errOut, err = run(t, "", "-H", host, "inspect", "nothing")
	var se *StatusError
	if !errors.As(err, &se) || se.Status != 1 || out != "[]\n" || errOut != "Error: No such object: nothing\n" {
		t.Errorf("inspect nothing: %q %q %v", out, errOut, err)
	}
	_, errOut, err = run(t, "", "-H", host, "container", "inspect", "busybox")
	if !errors.As(err, &se) || se.Status != 1 || errOut != "Error response from daemon: No such container: busybox\n" {
		t.Errorf("container inspect of an image: %q %v", errOut, err)
	}
	out, _, err = run(t, "", "-H", host, "inspect", "--type", "image", "-f", "{{.ID}}", "busybox")
	if err != nil || out != "sha256:1\n" {
		t.Errorf("inspect --type image: %q %v", out, err)
	}
}

func TestRmStopKillErrors(t *testing.T) {
	var reqs []string
	host := fakeDaemon(t, func(w http.ResponseWriter, r *http.Request, p string) {
		reqs = append(reqs, r.Method+" "+p+"?"+r.URL.RawQuery)
		w.WriteHeader(http.StatusNoContent)
	})
	out, errOut, err := run(t, "", "-H", host, "rm", "-v", "a", "nosuch", "b")
	var se *StatusError
	if !errors.As(err, &se) || se.Status != 1 || out != "a\nb\n" || errOut != "Error response from daemon: No such container: nosuch\n" {
		t.Errorf("rm: %q %q %v", out, errOut, err)
	}
	// -f: a missing container is no failure.
	if out, errOut, err := run(t, "", "-H", host, "rm", "-f", "a", "nosuch"); err != nil || out != "a\n" || errOut != "" {
		t.Errorf("rm -f: %q %q %v", out, errOut, err)
	}
	reqs = nil
	if out, _, err := run(t, "", "-H", host, "stop", "-t", "3", "-s", "SIGINT", "a"); err != nil || out != "a\n" {
		t.Errorf("stop: %q %v", out, err)
	}
	if out, _, err := run(t, "", "-H", host, "container", "restart", "a"); err != nil || out != "a\n" {
		t.Errorf("restart: %q %v", out, err)
	}
	if out, _, err := run(t, "", "-H", host, "kill", "-s", "HUP", "a"); err != nil || out != "a\n" {
		t.Errorf("kill: %q %v", out, err)
	}
	want := []string{"POST /containers/a/stop?signal=SIGINT&t=3", "POST /containers/a/restart?", "POST /containers/a/kill?signal=HUP"}
	if strings.Join(reqs, "\n") != strings.Join(want, "\n") {
		t.Errorf("requests:\n%s", strings.Join(reqs, "\n"))
	}
	if _, errOut, err := run(t, "", "-H", host, "rename", "nosuch", "x"); !errors.As(err, &se) || se.Status != 1 || errOut != "Error response from daemon: No such container: nosuch\n" {
		t.Errorf("rename: %q %v", errOut, err)
	}
}

func TestCommitUpdatePrune(t *testing.T) {
	var query, body string
	host := fakeDaemon(t, func(w http.ResponseWriter, r *http.Request, p string) {
		b, _ := io.ReadAll(r.Body)
		query, body = r.URL.RawQuery, string(b)
		switch p {
		case "/commit":
			w.WriteHeader(http.StatusCreated)
			io.WriteString(w, `{"Id":"sha256:abc"}`)
		case "/containers/web/update":
			io.WriteString(w, `{"Warnings":[]}`)
		case "/containers/prune":
			io.WriteString(w, `{"ContainersDeleted":["1111","2222"],"SpaceReclaimed":1536}`)
		}
	})
	out, _, err := run(t, "", "-H", host, "commit", "-a", "me", "-m", "msg", "-c", "ENV A=1", "-c", "EXPOSE 80", "--pause=false", "web", "app:v2")
	if err != nil || out != "sha256:abc\n" {
		t.Fatalf("commit: %q %v", out, err)
	}
	for _, want := range []string{"author=me", "comment=msg", "changes=ENV+A%3D1", "changes=EXPOSE+80", "container=web", "pause=0", "repo=app", "tag=v2"} {
		if !strings.Contains(query, want) {
			t.Errorf("commit query %q lacks %s", query, want)
		}
	}
	out, _, err = run(t, "", "-H", host, "update", "-m", "64m", "--cpus", "1.5", "--pids-limit", "100", "--restart", "on-failure:3", "web")
	if err != nil || out != "web\n" {
		t.Fatalf("update: %q %v", out, err)
	}
	var u container.UpdateConfig
	json.Unmarshal([]byte(body), &u)
	if u.Memory != 64<<20 || u.NanoCPUs != 1_500_000_000 || u.PidsLimit == nil || *u.PidsLimit != 100 || u.RestartPolicy.Name != "on-failure" || u.RestartPolicy.MaximumRetryCount != 3 {
		t.Errorf("update body %s", body)
	}
	if _, _, err := run(t, "", "-H", host, "update", "web"); err == nil {
		t.Error("update without flags succeeded")
	}
	out, _, _ = run(t, "n\n", "-H", host, "container", "prune")
	if out != "WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] " {
		t.Errorf("prune declined: %q", out)
	}
	out, _, err = run(t, "y\n", "-H", host, "container", "prune", "--filter", "until=24h")
	if err != nil || !strings.HasSuffix(out, "Deleted Containers:\n1111\n2222\n\nTotal reclaimed space: 1.536kB\n") || !strings.Contains(query, "until") {
		t.Errorf("prune: %q %v", out, err)
	}
}

func TestContainerGroup(t *testing.T) {
	root := NewRoot(&CLI{Out: io.Discard, Err: io.Discard})
	grp, _, err := root.Find([]string{"container"})
	if err != nil {
		t.Fatal(err)
	}
	for _, verb := range []string{"ls", "list", "ps", "rm", "prune", "inspect", "stop", "restart", "kill", "rename", "pause", "unpause",
		"top", "stats", "cp", "diff", "commit", "export", "update", "port", "run", "create", "start", "attach", "exec", "logs", "wait"} {
		cmd, _, err := grp.Find([]string{verb})
		if err != nil || cmd == grp {
			t.Errorf("container %s: missing (%v)", verb, err)
		}
	}
}
