package system

import (
	"encoding/json"
	"testing"
	"time"

	eventtypes "github.com/moby/moby/api/types/events"
)

func TestParseTime(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Time
		bad  bool
	}{
		{in: "1700000000", want: time.Unix(1700000000, 0)},
		{in: "1700000000.5", want: time.Unix(1700000000, 500000000)},
		{in: "2023-11-14T22:13:20Z", want: time.Unix(1700000000, 0)},
		{in: "yesterday", bad: true},
	} {
		got, err := parseTime(tc.in)
		if tc.bad != (err != nil) || !tc.bad && !got.Equal(tc.want) {
			t.Errorf("%q: %v %v", tc.in, got, err)
		}
	}
}

func TestFilters(t *testing.T) {
	pull := eventtypes.Message{Type: eventtypes.ImageEventType, Action: "pull", Actor: eventtypes.Actor{ID: "busybox:latest", Attributes: map[string]string{"name": "busybox"}}}
	exec := eventtypes.Message{Type: eventtypes.ContainerEventType, Action: "exec_start: sh", Actor: eventtypes.Actor{ID: "abc123", Attributes: map[string]string{"name": "web", "app": "x"}}}
	for _, tc := range []struct {
		f    string
		m    eventtypes.Message
		want bool
	}{
		{`{"type":{"image":true}}`, pull, true},
		{`{"type":{"image":true}}`, exec, false},
		{`{"type":["container"]}`, exec, true},
		{`{"event":{"exec_start":true}}`, exec, true},
		{`{"container":{"web":true}}`, exec, true},
		{`{"container":{"abc":true}}`, exec, true},
		{`{"image":{"busybox":true},"event":{"pull":true}}`, pull, true},
		{`{"label":{"app=x":true}}`, exec, true},
		{`{"label":{"app=y":true}}`, exec, false},
	} {
		f, err := parseFilters(tc.f)
		if err != nil {
			t.Fatal(err)
		}
		if got := f.match(tc.m); got != tc.want {
			t.Errorf("%s on %s %s: %v", tc.f, tc.m.Type, tc.m.Action, got)
		}
	}
	if _, err := parseFilters("{bad"); err == nil {
		t.Error("bad filters accepted")
	}
}

// API 1.51 and older clients get docker's legacy fields (status, id,
// from) on container and image events; newer ones do not.
func TestLegacyEvent(t *testing.T) {
	m := eventtypes.Message{Type: eventtypes.ContainerEventType, Action: eventtypes.ActionDie,
		Actor: eventtypes.Actor{ID: "abc", Attributes: map[string]string{"image": "busybox", "exitCode": "0"}}}
	b, _ := json.Marshal(legacyEvent(m))
	var got map[string]any
	json.Unmarshal(b, &got)
	if got["status"] != "die" || got["id"] != "abc" || got["from"] != "busybox" || got["Action"] != "die" || got["Type"] != "container" {
		t.Fatalf("legacy: %s", b)
	}
	for v, want := range map[string]bool{"1.51": true, "1.24": true, "1.52": false, "": false, "2.0": false} {
		if apiBefore(v, 1, 52) != want {
			t.Errorf("apiBefore(%q) != %t", v, want)
		}
	}
}
