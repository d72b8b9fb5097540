package jsonfile

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/hako-dev/hako/internal/errdefs"
)

func TestParseOptions(t *testing.T) {
	tests := []struct {
		in   map[string]string
		want Options
	}{
		{nil, Options{MaxFiles: 1}},
		{map[string]string{"max-size": "10m", "max-file": "3"}, Options{MaxSize: 10 << 20, MaxFiles: 3}},
		{map[string]string{"max-size": "512k"}, Options{MaxSize: 512 << 10, MaxFiles: 1}},
		{map[string]string{"max-size": "1g", "compress": "true", "labels": "a,b", "env": "X", "tag": "{{.Name}}"}, Options{MaxSize: 1 << 30, MaxFiles: 1}},
		{map[string]string{"max-size": "100"}, Options{MaxSize: 100, MaxFiles: 1}},
		{map[string]string{"mode": "non-blocking", "max-buffer-size": "4m"}, Options{MaxFiles: 1}},
	}
	for _, tt := range tests {
		got, err := ParseOptions(tt.in)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseOptions(%v) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

func TestParseOptionsErrors(t *testing.T) {
	for _, in := range []map[string]string{
		{"max-size": "ten"},
		{"max-size": "0"},
		{"max-size": "-1m"},
		{"max-size": ""},
		{"max-file": "0"},
		{"max-file": "two"},
		{"max-file": "-3"},
		{"compress": "maybe"},
		{"mode": "fast"},
		{"max-buffer-size": "lots"},
		{"syslog-address": "udp://1.2.3.4:514"},
	} {
		_, err := ParseOptions(in)
		if !errdefs.IsInvalidArgument(err) {
			t.Errorf("ParseOptions(%v) = %v, want an invalid-argument error", in, err)
		}
	}
}

// Attrs picks labels and env by name or pattern and renders the tag, as
// docker's json-file driver; its entries carry them and read back.
func TestAttrs(t *testing.T) {
	info := Info{ID: "0123456789abcdef0123", Name: "/web", ImageName: "busybox", ImageID: "sha256:feedfacecafe0000",
		Labels: map[string]string{"tier": "front", "team": "a", "other": "x"}, Env: []string{"REGION=eu", "SECRET=s", "REPLICA=2"}}
	got, err := Attrs(map[string]string{"labels": "tier,missing", "labels-regex": "^te", "env": "REGION", "env-regex": "^REP", "tag": "{{.Name}}/{{.ID}}/{{.ImageName}}"}, info)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"tier": "front", "team": "a", "REGION": "eu", "REPLICA": "2", "tag": "web/0123456789ab/busybox"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Attrs = %v, want %v", got, want)
	}
	if a, err := Attrs(map[string]string{"max-size": "1m"}, info); a != nil || err != nil {
		t.Fatalf("no attrs: %v %v", a, err)
	}
	for _, bad := range []map[string]string{{"labels-regex": "("}, {"tag": "{{.Nope"}, {"tag": "{{.Nope}}"}} {
		if _, err := Attrs(bad, info); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	// The entries carry them.
	p := filepath.Join(t.TempDir(), "log")
	w, err := NewWriter(p, Options{MaxFiles: 1, Attrs: want})
	if err != nil {
		t.Fatal(err)
	}
	w.Write("stdout", []byte("hello\n"))
	w.Close()
	b, _ := os.ReadFile(p)
	if !strings.Contains(string(b), `"stream":"stdout","attrs":{"REGION":"eu","REPLICA":"2","tag":"web/0123456789ab/busybox","team":"a","tier":"front"},"time":"`) {
		t.Fatalf("entry: %s", b)
	}
	var msgs []Message
	Read(context.Background(), p, ReadConfig{Tail: -1, Stdout: true, Stderr: true}, nil, func(m Message) error { msgs = append(msgs, m); return nil })
	if len(msgs) != 1 || string(msgs[0].Line) != "hello\n" || !reflect.DeepEqual(msgs[0].Attrs, want) {
		t.Fatalf("read back: %+v", msgs)
	}
}
