//go:build goexperiment.jsonv2

package runtime

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

func sameState(a, b *savedState) bool {
	a2, b2 := *a, *b
	a2.decoded, a2.part, b2.decoded, b2.part = nil, nil, nil, nil
	if !a2.Created.Equal(b2.Created) {
		return false
	}
	a2.Created, b2.Created = time.Time{}, time.Time{}
	var ac, bc any
	json.Unmarshal(a2.Config, &ac)
	json.Unmarshal(b2.Config, &bc)
	a2.Config, b2.Config = nil, nil
	return reflect.DeepEqual(a2, b2) && reflect.DeepEqual(ac, bc)
}

func TestStateCodecMatchesJSON(t *testing.T) {
	for _, s := range []*savedState{
		{ID: "c1", Bundle: "/b <&>", Rootfs: "/b/rootfs", Pid: 42, PidStart: 1 << 40, Created: time.Now(), Owner: "root",
			CgroupPaths: map[string]string{"cpu": "/sys/fs/cgroup/cpu/c1", "": "/x"}, OwnPIDNS: true,
			Config: json.RawMessage("{\n \"ociVersion\": \"1.2.0\", \"hostname\": \"h\\u00e9\"\n}")},
		{ID: "c2", Created: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)},
		{ID: "c3", Created: time.Now(), Config: json.RawMessage("null")},
	} {
		mine, err := encodeState(s)
		if err != nil {
			t.Fatal(err)
		}
		var viaJSON savedState
		if err := json.Unmarshal(mine, &viaJSON); err != nil {
			t.Fatalf("%s: encoding/json cannot read %s: %v", s.ID, mine, err)
		}
		if !sameState(s, &viaJSON) {
			t.Errorf("%s: encoding/json reads %+v from %s", s.ID, viaJSON, mine)
		}
		theirs, _ := json.Marshal(s)
		for _, b := range [][]byte{mine, theirs} {
			got, ok := decodeState(b)
			if !ok {
				t.Fatalf("%s: not decoded: %s", s.ID, b)
			}
			if !sameState(s, got) {
				t.Errorf("%s: decoded %+v from %s", s.ID, got, b)
			}
		}
	}
	for _, bad := range []string{`{"id":"a","id":"b"}`, `{"pid":null}`, `{"unknown":1}`, `{"pid":-1.5}`, `{}x`} {
		if _, ok := decodeState([]byte(bad)); ok {
			t.Errorf("decoded %s", bad)
		}
	}
}
