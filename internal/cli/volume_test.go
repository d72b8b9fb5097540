package cli

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/volume"
)

// The volume verbs against a fake daemon: the requests they send and
// docker's output.
func TestVolumeVerbs(t *testing.T) {
	var query, body string
	host := fakeDaemon(t, func(w http.ResponseWriter, r *http.Request, p string) {
		b, _ := io.ReadAll(r.Body)
		query, body = r.URL.RawQuery, string(b)
		switch {
		case p == "/volumes/create":
			var req volume.CreateRequest
			json.Unmarshal(b, &req)
			if req.Name == "" {
				req.Name = "0a1b"
			}
			w.WriteHeader(http.StatusCreated)
			json.NewEncoder(w).Encode(volume.Volume{Name: req.Name, Driver: "local", Scope: "local"})
		case p == "/volumes":
			io.WriteString(w, `{"Volumes":[{"Name":"zeta","Driver":"local","Scope":"local","Mountpoint":"/r/volumes/zeta/_data","Labels":{"b":"2","a":"1"}},`+
				`{"Name":"alpha","Driver":"local","Scope":"local","Mountpoint":"/r/volumes/alpha/_data","Labels":null}],"Warnings":null}`)
		case p == "/volumes/alpha" && r.Method == http.MethodGet:
			io.WriteString(w, `{"Name":"alpha","Driver":"local","Scope":"local","Mountpoint":"/r/volumes/alpha/_data","CreatedAt":"2024-01-02T03:04:05Z","Labels":null,"Options":null}`)
		case p == "/volumes/alpha" && r.Method == http.MethodDelete:
			w.WriteHeader(http.StatusNoContent)
		case p == "/volumes/busy":
			w.WriteHeader(http.StatusConflict)
			io.WriteString(w, `{"message":"remove busy: volume is in use - [0123, 4567]"}`)
		case p == "/volumes/prune":
			io.WriteString(w, `{"VolumesDeleted":["v1","v2"],"SpaceReclaimed":2048}`)
		case strings.HasPrefix(p, "/volumes/"):
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"message":"get `+strings.TrimPrefix(p, "/volumes/")+`: no such volume"}`)
		}
	})

	out, _, err := run(t, "", "-H", host, "volume", "create", "--label", "a=b", "-o", "type=tmpfs", "--opt", "device=tmpfs", "data")
	var req volume.CreateRequest
	json.Unmarshal([]byte(body), &req)
	if err != nil || out != "data\n" || req.Name != "data" || req.Driver != "local" || req.Labels["a"] != "b" || req.DriverOpts["type"] != "tmpfs" || req.DriverOpts["device"] != "tmpfs" {
		t.Errorf("create: %q %v %s", out, err, body)
	}
	if out, _, err := run(t, "", "-H", host, "volume", "create"); err != nil || out != "0a1b\n" {
		t.Errorf("create anonymous: %q %v", out, err)
	}

	out, _, err = run(t, "", "-H", host, "volume", "ls")
	if err != nil || out != "DRIVER    VOLUME NAME\nlocal     alpha\nlocal     zeta\n" {
		t.Errorf("ls:\n%s%v", out, err)
	}
	out, _, _ = run(t, "", "-H", host, "volume", "ls", "-q", "--filter", "dangling=true", "-f", "label=a")
	f, _ := url.ParseQuery(query)
	if out != "alpha\nzeta\n" || !strings.Contains(f.Get("filters"), `"dangling":{"true":true}`) || !strings.Contains(f.Get("filters"), `"label":{"a":true}`) {
		t.Errorf("ls -q: %q, query %s", out, f.Get("filters"))
	}
	out, _, _ = run(t, "", "-H", host, "volume", "ls", "--format", "table {{.Name}}\t{{.Labels}}\t{{.Label \"b\"}}\t{{.Links}}")
	if out != "VOLUME NAME   LABELS    LABEL B   LINKS\nalpha                             N/A\nzeta          a=1,b=2   2         N/A\n" {
		t.Errorf("ls --format table:\n%s", out)
	}
	out, _, _ = run(t, "", "-H", host, "volume", "ls", "--format", "json")
	if !strings.HasPrefix(out, `{"Availability":"N/A","Driver":"local","Group":"N/A","Labels":"","Links":"N/A","Mountpoint":"/r/volumes/alpha/_data","Name":"alpha","Scope":"local","Size":"N/A","Status":"N/A"}`) {
		t.Errorf("ls --format json:\n%s", out)
	}

	out, errOut, err := run(t, "", "-H", host, "volume", "inspect", "alpha", "nope")
	var se *StatusError
	if !errors.As(err, &se) || se.Status != 1 || !strings.HasPrefix(out, "[\n    {\n        \"Name\": \"alpha\",") || errOut != "Error response from daemon: get nope: no such volume\n" {
		t.Errorf("inspect: %q %q %v", out, errOut, err)
	}
	if out, _, _ := run(t, "", "-H", host, "volume", "inspect", "-f", "{{.Mountpoint}}", "alpha"); out != "/r/volumes/alpha/_data\n" {
		t.Errorf("inspect -f: %q", out)
	}
	if out, _, _ := run(t, "", "-H", host, "inspect", "--type", "volume", "-f", "{{.Name}}", "alpha"); out != "alpha\n" {
		t.Errorf("inspect --type volume: %q", out)
	}

	out, errOut, err = run(t, "", "-H", host, "volume", "rm", "alpha", "busy")
	if !errors.As(err, &se) || se.Status != 1 || out != "alpha\n" || errOut != "Error response from daemon: remove busy: volume is in use - [0123, 4567]\n" {
		t.Errorf("rm: %q %q %v", out, errOut, err)
	}
	run(t, "", "-H", host, "volume", "rm", "-f", "alpha")
	if query != "force=1" {
		t.Errorf("rm -f query %q", query)
	}

	out, _, _ = run(t, "n\n", "-H", host, "volume", "prune")
	if out != "WARNING! This will remove anonymous local volumes not used by at least one container.\nAre you sure you want to continue? [y/N] " {
		t.Errorf("prune declined: %q", out)
	}
	out, _, err = run(t, "", "-H", host, "volume", "prune", "-af", "--filter", "label=x")
	f, _ = url.ParseQuery(query)
	if err != nil || out != "Deleted Volumes:\nv1\nv2\n\nTotal reclaimed space: 2.048kB\n" || !strings.Contains(f.Get("filters"), `"all":{"true":true}`) || !strings.Contains(f.Get("filters"), `"label":{"x":true}`) {
		t.Errorf("prune -af: %q %v, query %s", out, err, f.Get("filters"))
	}
}
