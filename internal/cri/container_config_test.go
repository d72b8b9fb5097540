package cri

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/hako-dev/hako/internal/errdefs"
	mounttypes "github.com/moby/moby/api/types/mount"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func testSandbox() *sandbox {
	return &sandbox{ID: "sb1", Shm: "/run/shm/x", Config: &runtimeapi.PodSandboxConfig{
		Metadata:  &runtimeapi.PodSandboxMetadata{Name: "p", Namespace: "ns", Uid: "u"},
		Hostname:  "podhost",
		DnsConfig: &runtimeapi.DNSConfig{Servers: []string{"10.0.0.10"}, Searches: []string{"svc"}, Options: []string{"ndots:5"}},
		Linux:     &runtimeapi.LinuxPodSandboxConfig{CgroupParent: "/kubepods/pod-u", Sysctls: map[string]string{"kernel.shm_rmid_forced": "1"}},
	}}
}

func TestEngineConfig(t *testing.T) {
	cfg := &runtimeapi.ContainerConfig{
		Metadata:   &runtimeapi.ContainerMetadata{Name: "c"},
		Command:    []string{"/bin/app"},
		Args:       []string{"-v"},
		WorkingDir: "/work",
		Envs:       []*runtimeapi.KeyValue{{Key: "A", Value: []byte("1")}},
		Linux: &runtimeapi.LinuxContainerConfig{
			Resources: &runtimeapi.LinuxContainerResources{CpuShares: 512, MemoryLimitInBytes: 64 << 20, OomScoreAdj: 1000},
			SecurityContext: &runtimeapi.LinuxContainerSecurityContext{
				RunAsUser:          &runtimeapi.Int64Value{Value: 1000},
				RunAsGroup:         &runtimeapi.Int64Value{Value: 2000},
				SupplementalGroups: []int64{3000},
				Capabilities:       &runtimeapi.Capability{AddCapabilities: []string{"NET_ADMIN"}, DropCapabilities: []string{"CHOWN"}},
				NoNewPrivs:         true,
				ReadonlyRootfs:     true,
				NamespaceOptions:   &runtimeapi.NamespaceOption{Pid: runtimeapi.NamespaceMode_POD},
				Seccomp:            &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_RuntimeDefault},
			},
		},
	}
	c, hc, err := engineConfig(cfg, testSandbox(), "sha256:abc")
	if err != nil {
		t.Fatal(err)
	}
	if c.Image != "sha256:abc" || !slices.Equal(c.Entrypoint, []string{"/bin/app"}) || !slices.Equal(c.Cmd, []string{"-v"}) ||
		c.WorkingDir != "/work" || !slices.Equal(c.Env, []string{"A=1"}) || c.User != "1000:2000" || c.Hostname != "podhost" {
		t.Errorf("config: %+v", c)
	}
	if c.Labels[labelKind] != "container" || c.Labels[labelSandbox] != "sb1" {
		t.Errorf("labels: %v", c.Labels)
	}
	for got, want := range map[string]string{
		string(hc.NetworkMode): "container:sb1", string(hc.IpcMode): "container:sb1",
		string(hc.UTSMode): "container:sb1", string(hc.PidMode): "container:sb1", hc.CgroupParent: "/kubepods/pod-u",
	} {
		if got != want {
			t.Errorf("host config: %q, want %q", got, want)
		}
	}
	if !slices.Equal(hc.GroupAdd, []string{"3000"}) || !slices.Equal(hc.CapAdd, []string{"NET_ADMIN"}) || !slices.Equal(hc.CapDrop, []string{"CHOWN"}) ||
		!hc.ReadonlyRootfs || !slices.Equal(hc.SecurityOpt, []string{"no-new-privileges"}) || hc.Sysctls["kernel.shm_rmid_forced"] != "1" {
		t.Errorf("security: %+v", hc)
	}
	if hc.CPUShares != 512 || hc.Memory != 64<<20 || hc.OomScoreAdj != 1000 {
		t.Errorf("resources: %+v", hc.Resources)
	}
	if len(hc.DNS) != 1 || hc.DNS[0].String() != "10.0.0.10" || !slices.Equal(hc.DNSSearch, []string{"svc"}) || !slices.Equal(hc.DNSOptions, []string{"ndots:5"}) {
		t.Errorf("dns: %v %v %v", hc.DNS, hc.DNSSearch, hc.DNSOptions)
	}
	if !slices.Equal(hc.Binds, []string{"/run/shm/x:/dev/shm:rw"}) {
		t.Errorf("binds: %v", hc.Binds)
	}
}

func TestEngineConfigHostNamespaces(t *testing.T) {
	sb := testSandbox()
	sb.Config.Linux.SecurityContext = &runtimeapi.LinuxSandboxSecurityContext{NamespaceOptions: &runtimeapi.NamespaceOption{
		Network: runtimeapi.NamespaceMode_NODE, Ipc: runtimeapi.NamespaceMode_NODE}}
	cfg := &runtimeapi.ContainerConfig{Metadata: &runtimeapi.ContainerMetadata{Name: "c"}, Linux: &runtimeapi.LinuxContainerConfig{
		SecurityContext: &runtimeapi.LinuxContainerSecurityContext{NamespaceOptions: &runtimeapi.NamespaceOption{Pid: runtimeapi.NamespaceMode_NODE}}}}
	c, hc, err := engineConfig(cfg, sb, "img")
	if err != nil {
		t.Fatal(err)
	}
	if hc.NetworkMode != "host" || hc.UTSMode != "host" || hc.IpcMode != "host" || hc.PidMode != "host" || c.Hostname != "" || len(hc.Binds) != 0 {
		t.Errorf("host modes: net %s uts %s ipc %s pid %s hostname %q binds %v", hc.NetworkMode, hc.UTSMode, hc.IpcMode, hc.PidMode, c.Hostname, hc.Binds)
	}
	// CONTAINER: a PID namespace of its own.
	cfg.Linux.SecurityContext.NamespaceOptions.Pid = runtimeapi.NamespaceMode_CONTAINER
	if _, hc, _ := engineConfig(cfg, sb, "img"); hc.PidMode != "" {
		t.Errorf("pid mode CONTAINER: %q", hc.PidMode)
	}
}

func TestEngineConfigErrors(t *testing.T) {
	for name, sc := range map[string]*runtimeapi.LinuxContainerSecurityContext{
		"group without user": {RunAsGroup: &runtimeapi.Int64Value{Value: 1}},
		"bad seccomp path":   {SeccompProfilePath: "somewhere"},
		"relative localhost": {Seccomp: &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Localhost, LocalhostRef: "rel"}},
		"user namespaces":    {NamespaceOptions: &runtimeapi.NamespaceOption{UsernsOptions: &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_POD}}},
	} {
		cfg := &runtimeapi.ContainerConfig{Metadata: &runtimeapi.ContainerMetadata{Name: "c"}, Linux: &runtimeapi.LinuxContainerConfig{SecurityContext: sc}}
		if _, _, err := engineConfig(cfg, testSandbox(), "img"); !errdefs.IsInvalidArgument(err) {
			t.Errorf("%s: %v, want an invalid argument", name, err)
		}
	}
}

func TestSeccompOpt(t *testing.T) {
	prof := filepath.Join(t.TempDir(), "p.json")
	os.WriteFile(prof, []byte(`{"defaultAction":"SCMP_ACT_ALLOW"}`), 0o644)
	for _, tc := range []struct {
		p      *runtimeapi.SecurityProfile
		legacy string
		priv   bool
		want   string
	}{
		{nil, "", false, "seccomp=unconfined"},
		{nil, "runtime/default", false, ""},
		{nil, "docker/default", false, ""},
		{nil, "localhost/" + prof, false, `seccomp={"defaultAction":"SCMP_ACT_ALLOW"}`},
		{&runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_RuntimeDefault}, "", false, ""},
		{&runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Unconfined}, "", false, "seccomp=unconfined"},
		{&runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Localhost, LocalhostRef: prof}, "", false, `seccomp={"defaultAction":"SCMP_ACT_ALLOW"}`},
		{&runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_RuntimeDefault}, "", true, "seccomp=unconfined"},
	} {
		got, err := seccompOpt(tc.p, tc.legacy, tc.priv)
		if err != nil || got != tc.want {
			t.Errorf("seccompOpt(%v, %q, %v) = %q, %v; want %q", tc.p, tc.legacy, tc.priv, got, err, tc.want)
		}
	}
}

func TestBindMount(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "new", "dir")
	m, err := bindMount(&runtimeapi.Mount{ContainerPath: "/data", HostPath: missing, Readonly: true, Propagation: runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER})
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(missing); err != nil || !fi.IsDir() {
		t.Errorf("missing host path not created: %v", err)
	}
	if m.Type != mounttypes.TypeBind || m.Source != missing || m.Target != "/data" || !m.ReadOnly || m.BindOptions.Propagation != mounttypes.PropagationRSlave {
		t.Errorf("mount: %+v %+v", m, m.BindOptions)
	}
	link := filepath.Join(dir, "link")
	os.Symlink(missing, link)
	if m, _ := bindMount(&runtimeapi.Mount{ContainerPath: "/l", HostPath: link}); m.Source != missing {
		t.Errorf("symlinked host path: %q", m.Source)
	}
	for name, bad := range map[string]*runtimeapi.Mount{
		"relative":           {ContainerPath: "data", HostPath: dir},
		"rro, not read-only": {ContainerPath: "/d", HostPath: dir, RecursiveReadOnly: true},
		"rro, rslave":        {ContainerPath: "/d", HostPath: dir, Readonly: true, RecursiveReadOnly: true, Propagation: runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER},
	} {
		if _, err := bindMount(bad); !errdefs.IsInvalidArgument(err) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestEngineName(t *testing.T) {
	got := engineName("c", "app/x", &runtimeapi.PodSandboxMetadata{Name: "web", Namespace: "default", Uid: "1-2"}, 3)
	if got != "k8s_app-x_web_default_1-2_3" {
		t.Errorf("engineName: %q", got)
	}
}
