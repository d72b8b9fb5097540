package cri

import (
	"testing"

	"github.com/hako-dev/hako/internal/errdefs"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Records survive a reopen (a daemon restart) with their CRI configs.
func TestStoreRoundTrip(t *testing.T) {
	dir := t.TempDir()
	s, err := openStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	sb := &sandbox{ID: "aaaa1111", Config: &runtimeapi.PodSandboxConfig{Metadata: &runtimeapi.PodSandboxMetadata{Name: "p", Attempt: 2}, Labels: map[string]string{"a": "b"}},
		NetNS: "/run/x", IPs: []string{"10.0.0.2"}, CreatedAt: 42}
	c := &ctr{ID: "bbbb2222", SandboxID: sb.ID, Config: &runtimeapi.ContainerConfig{Metadata: &runtimeapi.ContainerMetadata{Name: "c"}, Envs: []*runtimeapi.KeyValue{{Key: "K", Value: []byte("v")}}}, ImageRef: "sha256:1"}
	if err := s.putSandbox(sb); err != nil {
		t.Fatal(err)
	}
	if err := s.putContainer(c); err != nil {
		t.Fatal(err)
	}
	s2, err := openStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s2.sandbox("aaaa")
	if err != nil || got.Config.Metadata.Attempt != 2 || got.Config.Labels["a"] != "b" || got.NetNS != "/run/x" || got.IPs[0] != "10.0.0.2" || got.CreatedAt != 42 {
		t.Errorf("sandbox after reopen: %+v %v", got, err)
	}
	gc, err := s2.container("bbbb2222")
	if err != nil || string(gc.Config.Envs[0].Value) != "v" || gc.SandboxID != sb.ID || gc.ImageRef != "sha256:1" {
		t.Errorf("container after reopen: %+v %v", gc, err)
	}
	if err := s2.delete(sb.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s2.sandbox(sb.ID); !errdefs.IsNotFound(err) {
		t.Errorf("deleted sandbox: %v", err)
	}
	if s3, _ := openStore(dir); len(s3.listSandboxes()) != 0 || len(s3.listContainers()) != 1 {
		t.Errorf("after delete and reopen: %d sandboxes, %d containers", len(s3.listSandboxes()), len(s3.listContainers()))
	}
}
