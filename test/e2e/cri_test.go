package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/random"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

const cniBinDir = "/usr/lib/cni"

// criEnv is a daemon started with its CRI on a CNI network of the test's
// own: a bridge and subnet nobody else uses, no masquerading and no port
// mappings (so no firewall rules); the bridge is deleted at the end.
type criEnv struct {
	*hakoEnv
	rt      runtimeapi.RuntimeServiceClient
	img     runtimeapi.ImageServiceClient
	subnet  string
	daemon  *exec.Cmd
	args    []string
	sockCRI string
}

func newCRIEnv(t *testing.T) *criEnv {
	for _, p := range []string{"bridge", "host-local", "loopback"} {
		if _, err := os.Stat(filepath.Join(cniBinDir, p)); err != nil {
			t.Skipf("needs the CNI plugin %s in %s (apt-get install containernetworking-plugins)", p, cniBinDir)
		}
	}
	e := &criEnv{hakoEnv: newHakoEnv(t)}
	dir := t.TempDir()
	confDir := filepath.Join(dir, "net.d")
	os.MkdirAll(confDir, 0o755)
	cniBridge := fmt.Sprintf("hc%08x", rand.Uint32())
	e.subnet = fmt.Sprintf("10.%d.%d.0/24", 200+rand.IntN(50), rand.IntN(250))
	conf := fmt.Sprintf(`{"cniVersion":"1.0.0","name":"e2e","plugins":[{"type":"bridge","bridge":%q,"isGateway":true,
"ipam":{"type":"host-local","ranges":[[{"subnet":%q}]],"dataDir":%q}}]}`, cniBridge, e.subnet, filepath.Join(dir, "ipam"))
	if err := os.WriteFile(filepath.Join(confDir, "10-e2e.conflist"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { exec.Command("ip", "link", "del", cniBridge).Run() })
	e.sockCRI = filepath.Join(e.runRoot, "cri.sock")
	e.args = []string{"daemon", "--cri-socket", e.sockCRI, "--cni-conf-dir", confDir, "--cni-bin-dir", cniBinDir}
	e.start()
	conn, err := grpc.NewClient("unix://"+e.sockCRI, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	e.rt = runtimeapi.NewRuntimeServiceClient(conn)
	e.img = runtimeapi.NewImageServiceClient(conn)
	// Pods go before the daemon stops (cleanups run last-in first-out).
	t.Cleanup(e.removePods)
	return e
}

// start runs the daemon and waits for its CRI socket.
func (e *criEnv) start() {
	e.t.Helper()
	cmd := e.cmd(e.args...)
	logf, err := os.Create(filepath.Join(e.t.TempDir(), "daemon.log"))
	if err != nil {
		e.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	go cmd.Wait()
	e.daemon = cmd
	for range 400 {
		if c, err := net.Dial("unix", e.sockCRI); err == nil {
			c.Close()
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	b, _ := os.ReadFile(logf.Name())
	e.t.Fatalf("the CRI socket did not appear; daemon log:\n%s", b)
}

func (e *criEnv) removePods() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if list, err := e.rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{}); err == nil {
		for _, p := range list.Items {
			e.rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: p.Id})
		}
	}
}

func codeOf(err error) codes.Code { return status.Code(err) }

// Pods, containers, exec, logs, stats and image pulls through the CRI,
// as kubelet drives them, and the pod still there after a daemon
// restart.
func TestCRIPodLifecycle(t *testing.T) {
	e := newCRIEnv(t)
	e.busybox()
	ctx := context.Background()

	v, err := e.rt.Version(ctx, &runtimeapi.VersionRequest{})
	if err != nil || v.RuntimeName != "hako" || v.RuntimeApiVersion != "v1" {
		t.Fatalf("version: %v %v", v, err)
	}
	st, err := e.rt.Status(ctx, &runtimeapi.StatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range st.Status.Conditions {
		if !c.Status {
			t.Errorf("condition %s is false: %s", c.Type, c.Message)
		}
	}
	rc, err := e.rt.RuntimeConfig(ctx, &runtimeapi.RuntimeConfigRequest{})
	if err != nil || rc.Linux.CgroupDriver != runtimeapi.CgroupDriver_CGROUPFS {
		t.Errorf("runtime config: %v %v", rc, err)
	}

	// Images: pull from a registry on 127.0.0.1, list, status, remove.
	reg := testRegistry(t)
	rimg, _ := random.Image(512, 1)
	push(t, reg+"/cri/app:1", rimg)
	cfgName, _ := rimg.ConfigName()
	pulled, err := e.img.PullImage(ctx, &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: reg + "/cri/app:1"}})
	if err != nil || pulled.ImageRef != cfgName.String() {
		t.Fatalf("pull: %v %v (want %s)", pulled, err, cfgName)
	}
	is, err := e.img.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: reg + "/cri/app:1"}})
	if err != nil || is.Image == nil || is.Image.Id != cfgName.String() || len(is.Image.RepoTags) != 1 || is.Image.RepoTags[0] != reg+"/cri/app:1" {
		t.Fatalf("image status: %v %v", is, err)
	}
	if _, err := e.img.RemoveImage(ctx, &runtimeapi.RemoveImageRequest{Image: &runtimeapi.ImageSpec{Image: pulled.ImageRef}}); err != nil {
		t.Fatal(err)
	}
	if is, err := e.img.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: pulled.ImageRef}}); err != nil || is.Image != nil {
		t.Errorf("image status after remove: %v %v", is, err)
	}
	if _, err := e.img.RemoveImage(ctx, &runtimeapi.RemoveImageRequest{Image: &runtimeapi.ImageSpec{Image: pulled.ImageRef}}); err != nil {
		t.Errorf("removing a removed image: %v", err)
	}

	// A pod on the test's network.
	logDir := t.TempDir()
	podCfg := &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: "web", Namespace: "e2e", Uid: "uid-1"},
		Hostname:     "webhost",
		LogDirectory: logDir,
		DnsConfig:    &runtimeapi.DNSConfig{Servers: []string{"10.0.0.10"}, Searches: []string{"e2e.svc"}},
		Labels:       map[string]string{"app": "web"},
		Linux:        &runtimeapi.LinuxPodSandboxConfig{SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{NamespaceOptions: &runtimeapi.NamespaceOption{Pid: runtimeapi.NamespaceMode_POD}}},
	}
	pod, err := e.rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: podCfg})
	if err != nil {
		t.Fatal(err)
	}
	ps, err := e.rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: pod.PodSandboxId})
	if err != nil || ps.Status.State != runtimeapi.PodSandboxState_SANDBOX_READY {
		t.Fatalf("pod status: %v %v", ps, err)
	}
	_, subnet, _ := net.ParseCIDR(e.subnet)
	if ps.Status.Network == nil || !subnet.Contains(net.ParseIP(ps.Status.Network.Ip)) {
		t.Fatalf("pod address %v is not in %s", ps.Status.Network, e.subnet)
	}

	ctrCfg := &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: "main"},
		Image:    &runtimeapi.ImageSpec{Image: "busybox"},
		Command:  []string{"sh", "-c", "echo hello; echo oops >&2; exec sleep 1000"},
		Envs:     []*runtimeapi.KeyValue{{Key: "GREETING", Value: []byte("hi")}},
		LogPath:  "main/0.log",
		Labels:   map[string]string{"role": "main"},
	}
	os.MkdirAll(filepath.Join(logDir, "main"), 0o755)
	cc, err := e.rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: pod.PodSandboxId, Config: ctrCfg, SandboxConfig: podCfg})
	if err != nil {
		t.Fatal(err)
	}
	id := cc.ContainerId
	if _, err := e.rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: id}); err != nil {
		t.Fatal(err)
	}
	cs, err := e.rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: id})
	if err != nil || cs.Status.State != runtimeapi.ContainerState_CONTAINER_RUNNING || cs.Status.Labels["role"] != "main" {
		t.Fatalf("container status: %v %v", cs, err)
	}

	execSync := func(cmd ...string) *runtimeapi.ExecSyncResponse {
		t.Helper()
		r, err := e.rt.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: id, Cmd: cmd, Timeout: 30})
		if err != nil {
			t.Fatalf("exec %q: %v", cmd, err)
		}
		return r
	}
	if r := execSync("sh", "-c", "echo $GREETING; hostname; cat /etc/resolv.conf; exit 3"); r.ExitCode != 3 ||
		!strings.Contains(string(r.Stdout), "hi\nwebhost\n") || !strings.Contains(string(r.Stdout), "nameserver 10.0.0.10") || !strings.Contains(string(r.Stdout), "search e2e.svc") {
		t.Errorf("exec: code %d, stdout %q, stderr %q", r.ExitCode, r.Stdout, r.Stderr)
	}
	// The pod shares a PID namespace: the pause process is PID 1.
	if r := execSync("cat", "/proc/1/cmdline"); !strings.HasPrefix(string(r.Stdout), "/pause") {
		t.Errorf("PID 1 of the pod: %q", r.Stdout)
	}
	if r := execSync("sh", "-c", "echo err >&2"); r.ExitCode != 0 || string(r.Stderr) != "err\n" {
		t.Errorf("exec stderr: %d %q", r.ExitCode, r.Stderr)
	}

	// The log, in the CRI format, where kubelet asked.
	logPath := filepath.Join(logDir, "main", "0.log")
	var logText string
	for range 200 {
		b, _ := os.ReadFile(logPath)
		if logText = string(b); strings.Contains(logText, " stderr F oops\n") && strings.Contains(logText, " stdout F hello\n") {
			break
		}
		time.Sleep(25 * time.Millisecond)
	}
	if !strings.Contains(logText, " stdout F hello\n") || !strings.Contains(logText, " stderr F oops\n") {
		t.Errorf("CRI log %s:\n%s", logPath, logText)
	}
	if err := os.Rename(logPath, logPath+".1"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.rt.ReopenContainerLog(ctx, &runtimeapi.ReopenContainerLogRequest{ContainerId: id}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(logPath); err != nil {
		t.Errorf("reopened log: %v", err)
	}

	stats, err := e.rt.ContainerStats(ctx, &runtimeapi.ContainerStatsRequest{ContainerId: id})
	if err != nil || stats.Stats.Memory.WorkingSetBytes.GetValue() == 0 || stats.Stats.Cpu.UsageCoreNanoSeconds == nil {
		t.Errorf("stats: %v %v", stats, err)
	}

	// A restarted daemon still knows the pod and its container.
	e.stopDaemonOnly()
	e.start()
	ps, err = e.rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: pod.PodSandboxId})
	if err != nil || ps.Status.State != runtimeapi.PodSandboxState_SANDBOX_READY || ps.Status.Metadata.Name != "web" {
		t.Fatalf("pod status after a restart: %v %v", ps, err)
	}
	if r := execSync("echo", "again"); string(r.Stdout) != "again\n" {
		t.Errorf("exec after a restart: %q", r.Stdout)
	}

	if _, err := e.rt.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: id, Timeout: 1}); err != nil {
		t.Fatal(err)
	}
	cs, err = e.rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: id})
	if err != nil || cs.Status.State != runtimeapi.ContainerState_CONTAINER_EXITED || cs.Status.FinishedAt == 0 {
		t.Errorf("status after stop: %v %v", cs, err)
	}
	if _, err := e.rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: pod.PodSandboxId}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: pod.PodSandboxId}); err != nil {
		t.Fatal(err)
	}
	list, err := e.rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{})
	if err != nil || len(list.Containers) != 0 {
		t.Errorf("containers after the pod's removal: %v %v", list, err)
	}

	// Idempotence and errors, as the CRI says.
	if _, err := e.rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: pod.PodSandboxId}); err != nil {
		t.Errorf("stopping a removed pod: %v", err)
	}
	if _, err := e.rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: "nosuchpod"}); err != nil {
		t.Errorf("removing an unknown pod: %v", err)
	}
	if _, err := e.rt.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: id}); err != nil {
		t.Errorf("stopping a removed container: %v", err)
	}
	if _, err := e.rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: pod.PodSandboxId}); codeOf(err) != codes.NotFound {
		t.Errorf("status of a removed pod: %v", err)
	}
	if _, err := e.rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: id}); codeOf(err) != codes.NotFound {
		t.Errorf("status of a removed container: %v", err)
	}
}

// stopDaemonOnly ends the daemon by its pid, leaving containers and the
// monitor running.
func (e *criEnv) stopDaemonOnly() {
	e.t.Helper()
	pid := e.daemonPid()
	if pid <= 0 {
		e.t.Fatal("no daemon pid")
	}
	e.daemon.Process.Signal(os.Interrupt)
	for range 400 {
		if !alive(pid) {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	e.t.Fatal("the daemon did not stop")
}

// crictl, the CRI's own command line, drives hako as it drives
// containerd: image pull and list, a pod on the test's CNI network, a
// container in it, exec, logs, stats, inspect, stop and removal. crictl
// comes from test/conformance/critest.sh build (hack/test.sh runs it
// first); CRICTL names another one.
func TestCRICrictl(t *testing.T) {
	crictl := os.Getenv("CRICTL")
	if crictl == "" {
		crictl = "/var/tmp/critest-work/bin/crictl"
	}
	if _, err := os.Stat(crictl); err != nil {
		t.Skipf("needs crictl (test/conformance/critest.sh build makes it, or set CRICTL): %v", err)
	}
	e := newCRIEnv(t)
	e.busybox()
	dir := t.TempDir()
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(crictl, append([]string{"--config", "/dev/null", "--timeout", "60s",
			"--runtime-endpoint", "unix://" + e.sockCRI, "--image-endpoint", "unix://" + e.sockCRI}, args...)...)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Run(); err != nil {
			t.Fatalf("crictl %s: %v\n%s%s", strings.Join(args, " "), err, out.String(), errOut.String())
		}
		return out.String()
	}
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}

	reg := testRegistry(t)
	img, _ := random.Image(256, 1)
	push(t, reg+"/crictl/tool:1", img)
	cfgName, _ := img.ConfigName()
	if out := run("pull", reg+"/crictl/tool:1"); !strings.Contains(out, cfgName.String()) {
		t.Errorf("crictl pull: %q", out)
	}
	if out := run("images", "-q"); !strings.Contains(out, cfgName.String()) {
		t.Errorf("crictl images -q: %q", out)
	}
	run("rmi", reg+"/crictl/tool:1")

	logDir := filepath.Join(dir, "logs")
	pod := write("pod.json", `{"metadata":{"name":"tool","namespace":"e2e","uid":"crictl-1"},"hostname":"toolbox",
"log_directory":`+strconv.Quote(logDir)+`,"linux":{}}`)
	ctr := write("ctr.json", `{"metadata":{"name":"main"},"image":{"image":"busybox"},
"command":["sh","-c","echo started; exec sleep 1000"],"envs":[{"key":"WHO","value":"crictl"}],"log_path":"main.log","linux":{}}`)
	podID := strings.TrimSpace(run("runp", pod))
	var inspected struct {
		Status struct {
			State   string `json:"state"`
			Network struct {
				IP string `json:"ip"`
			} `json:"network"`
		} `json:"status"`
	}
	if err := json.Unmarshal([]byte(run("inspectp", podID)), &inspected); err != nil {
		t.Fatal(err)
	}
	_, subnet, _ := net.ParseCIDR(e.subnet)
	if inspected.Status.State != "SANDBOX_READY" || !subnet.Contains(net.ParseIP(inspected.Status.Network.IP)) {
		t.Errorf("crictl inspectp: %+v (subnet %s)", inspected.Status, e.subnet)
	}
	id := strings.TrimSpace(run("create", podID, ctr, pod))
	run("start", id)
	if out := run("ps", "-q", "--pod", podID, "--state", "Running"); strings.TrimSpace(out) != id {
		t.Errorf("crictl ps: %q, want %s", out, id)
	}
	if out := run("exec", id, "sh", "-c", "echo $WHO; hostname"); out != "crictl\ntoolbox\n" {
		t.Errorf("crictl exec: %q", out)
	}
	var logs string
	for range 200 {
		if logs = run("logs", id); strings.Contains(logs, "started") {
			break
		}
		time.Sleep(25 * time.Millisecond)
	}
	if logs != "started\n" {
		t.Errorf("crictl logs: %q", logs)
	}
	var stats struct {
		Stats []struct {
			Memory struct {
				WorkingSetBytes struct {
					Value string `json:"value"`
				} `json:"workingSetBytes"`
			} `json:"memory"`
		} `json:"stats"`
	}
	if err := json.Unmarshal([]byte(run("stats", "-o", "json", "--id", id)), &stats); err != nil || len(stats.Stats) != 1 || stats.Stats[0].Memory.WorkingSetBytes.Value == "" {
		t.Errorf("crictl stats: %+v %v", stats, err)
	}
	run("stop", "--timeout", "1", id)
	if out := run("ps", "-a", "-q", "--state", "Exited"); strings.TrimSpace(out) != id {
		t.Errorf("crictl ps -a --state Exited: %q", out)
	}
	run("rm", id)
	run("stopp", podID)
	run("rmp", podID)
	if out := run("pods", "-q"); strings.TrimSpace(out) != "" {
		t.Errorf("pods left: %q", out)
	}
}
