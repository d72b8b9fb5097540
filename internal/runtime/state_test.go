package runtime

import (
	"os"
	"path/filepath"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestStateConfigRoundTrip(t *testing.T) {
	dir := t.TempDir()
	sp := &specs.Spec{
		Version:     "1.2.0",
		Process:     &specs.Process{Args: []string{"sh"}, Cwd: "/"},
		Hostname:    "box",
		Annotations: map[string]string{"a": "b"},
		Hooks:       &specs.Hooks{Poststop: []specs.Hook{{Path: "/bin/true"}}},
		Mounts:      []specs.Mount{{Destination: "/proc", Type: "proc"}},
		Linux: &specs.Linux{
			Personality: &specs.LinuxPersonality{Domain: specs.PerLinux},
			Resources:   &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr(int64(5))}},
		},
	}
	st := &savedState{ID: "c1", Pid: 42}
	if st.hasConfig() {
		t.Fatal("a state without a configuration has one")
	}
	if err := st.setSpec(sp); err != nil {
		t.Fatal(err)
	}
	if err := writeState(dir, st); err != nil {
		t.Fatal(err)
	}
	got, err := readState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !got.hasConfig() || got.decoded != nil {
		t.Fatalf("read back: config %q decoded %v", got.Config, got.decoded)
	}
	m := got.meta()
	if m.Hostname != "box" || m.Annotations["a"] != "b" || m.Hooks == nil || len(m.Hooks.Poststop) != 1 ||
		m.Process == nil || m.Process.Args[0] != "sh" || m.Linux == nil || m.Linux.Personality == nil {
		t.Errorf("part: %+v", m)
	}
	if got.decoded != nil {
		t.Error("the part decoded the whole configuration")
	}
	full, err := got.spec()
	if err != nil || full == nil || len(full.Mounts) != 1 || *full.Linux.Resources.Pids.Limit != 5 {
		t.Fatalf("whole: %+v, %v", full, err)
	}
	c := &Container{dir: dir, st: got}
	if b := c.ExecBase(); b.Hostname != "box" || b.Process.Cwd != "/" || b.Linux.Personality == nil || len(b.Mounts) != 0 {
		t.Errorf("exec base: %+v", b)
	}
}

func TestStateWithoutConfig(t *testing.T) {
	dir := t.TempDir()
	if err := writeState(dir, &savedState{ID: "c1"}); err != nil {
		t.Fatal(err)
	}
	got, err := readState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.hasConfig() {
		t.Errorf("config %q", got.Config)
	}
	if s, err := got.spec(); s != nil || err != nil {
		t.Errorf("spec of none: %v, %v", s, err)
	}
	if m := got.meta(); m.Hooks != nil || m.Annotations != nil {
		t.Errorf("part of none: %+v", m)
	}
	c := &Container{dir: dir, st: got}
	if c.ExecBase() != nil || c.Config() != nil {
		t.Error("a container being created has a configuration")
	}
	// A corrupt configuration is reported, not taken as none.
	os.WriteFile(filepath.Join(dir, stateFile), []byte(`{"id":"c1","config":{"process":7}}`), 0o600)
	got, err = readState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := got.spec(); err == nil {
		t.Error("corrupt configuration decoded")
	}
}

func ptr[T any](v T) *T { return &v }
