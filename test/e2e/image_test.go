package e2e

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	goruntime "runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/hako-dev/hako/internal/testutil"
)

// testRegistry runs an OCI registry on 127.0.0.1 for the test.
func testRegistry(t *testing.T) string {
	srv := httptest.NewServer(registry.New())
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func push(t *testing.T, ref string, img v1.Image) v1.Hash {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	return d
}

// Images move from a registry into the daemon and are listed, inspected,
// tagged and removed, as with docker.
func TestImagePullTagRemove(t *testing.T) {
	e := newHakoEnv(t)
	reg := testRegistry(t)
	img, err := random.Image(1024, 3)
	if err != nil {
		t.Fatal(err)
	}
	mdigest := push(t, reg+"/test/app:1", img)
	cfgName, _ := img.ConfigName()

	out, errOut, code := e.hako("pull", reg+"/test/app:1")
	if code != 0 {
		t.Fatalf("pull: %d %s", code, errOut)
	}
	if !strings.Contains(out, "Digest: "+mdigest.String()) || !strings.Contains(out, "Pull complete") {
		t.Errorf("pull output:\n%s", out)
	}
	// Again: nothing to download.
	out, _, _ = e.hako("pull", reg+"/test/app:1")
	if !strings.Contains(out, "Already exists") || !strings.Contains(out, "Image is up to date") {
		t.Errorf("second pull:\n%s", out)
	}
	out, _, _ = e.hako("images", "--format", "{{.Repository}} {{.Tag}} {{.ID}}")
	if strings.TrimSpace(out) != reg+"/test/app 1 "+cfgName.Hex[:12] {
		t.Errorf("images: %q", out)
	}
	out, _, code = e.hako("image", "inspect", "--format", "{{.Id}} {{index .RepoDigests 0}}", reg+"/test/app:1")
	if code != 0 || strings.TrimSpace(out) != cfgName.String()+" "+reg+"/test/app@"+mdigest.String() {
		t.Errorf("inspect: %q", out)
	}
	// By ID prefix, and raw JSON.
	out, _, code = e.hako("image", "inspect", cfgName.Hex[:8])
	var insp []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &insp) != nil || len(insp) != 1 || insp[0]["Id"] != cfgName.String() {
		t.Errorf("inspect by id: %s", out)
	}
	if _, _, code := e.hako("tag", reg+"/test/app:1", "mine:v2"); code != 0 {
		t.Fatal("tag failed")
	}
	out, _, _ = e.hako("images", "--format", "{{.Repository}}:{{.Tag}}")
	if !strings.Contains(out, "mine:v2") {
		t.Errorf("after tag: %s", out)
	}
	for filter, want := range map[string]string{
		"reference=mine":    "mine:v2",
		"reference=mi*:v*":  "mine:v2",
		"reference=nothing": "",
		"dangling=true":     "",
	} {
		out, errOut, code := e.hako("images", "--filter", filter, "--format", "{{.Repository}}:{{.Tag}}")
		if code != 0 || strings.TrimSpace(out) != want {
			t.Errorf("--filter %s: %q %s", filter, out, errOut)
		}
	}
	if _, errOut, code := e.hako("images", "--filter", "bogus=1"); code == 0 || !strings.Contains(errOut, "invalid filter 'bogus'") {
		t.Errorf("bad filter: %q", errOut)
	}
	// Push under another name: the registry gets the same manifest.
	if _, _, code := e.hako("tag", "mine:v2", reg+"/other/app:2"); code != 0 {
		t.Fatal("tag for push failed")
	}
	out, errOut, code = e.hako("push", reg+"/other/app:2")
	if code != 0 || !strings.Contains(out, "digest: "+mdigest.String()) {
		t.Fatalf("push: %d %s %s", code, out, errOut)
	}
	pushed, err := remote.Get(mustRef(t, reg+"/other/app:2"))
	if err != nil || pushed.Digest != mdigest {
		t.Fatalf("pushed manifest: %v %v", pushed, err)
	}
	// Pulled back by digest into a fresh daemon: same image.
	e2 := newHakoEnv(t)
	if _, errOut, code := e2.hako("pull", reg+"/other/app@"+mdigest.String()); code != 0 {
		t.Fatalf("pull by digest: %s", errOut)
	}
	out, _, _ = e2.hako("image", "inspect", "--format", "{{.Id}}", reg+"/other/app@"+mdigest.String())
	if strings.TrimSpace(out) != cfgName.String() {
		t.Errorf("pulled back: %s", out)
	}
	e.hako("rmi", reg+"/other/app:2")
	out, _, code = e.hako("rmi", "mine:v2")
	if code != 0 || strings.TrimSpace(out) != "Untagged: mine:v2" {
		t.Errorf("rmi of one name: %q", out)
	}
	blobs := filepath.Join(e.root, "content", "blobs", "sha256")
	before, _ := os.ReadDir(blobs)
	if len(before) != 5 { // manifest, config, 3 layers
		t.Errorf("%d blobs after pull, want 5", len(before))
	}
	out, _, code = e.hako("rmi", reg+"/test/app:1")
	if code != 0 || !strings.Contains(out, "Deleted: "+cfgName.String()) {
		t.Errorf("rmi: %q", out)
	}
	after, _ := os.ReadDir(blobs)
	if len(after) != 0 {
		t.Errorf("blobs left after rmi: %d", len(after))
	}
	_, errOut, code = e.hako("rmi", "nothing:here")
	if code == 0 || !strings.Contains(errOut, "No such image: nothing:here") {
		t.Errorf("rmi of a missing image: %d %q", code, errOut)
	}
	_, errOut, code = e.hako("pull", reg+"/test/none:1")
	if code == 0 || !strings.Contains(errOut, "not found") {
		t.Errorf("pull of a missing image: %d %q", code, errOut)
	}
}

// A multi-platform index gives the host's platform by default, another
// with --platform; pulling by digest works too.
func TestImagePullPlatformsAndDigest(t *testing.T) {
	e := newHakoEnv(t)
	reg := testRegistry(t)
	amd, _ := random.Image(512, 1)
	arm, _ := random.Image(512, 1)
	amd = withPlatform(t, amd, "amd64")
	arm = withPlatform(t, arm, "arm64")
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}}},
	)
	r, _ := name.ParseReference(reg + "/multi:1")
	if err := remote.WriteIndex(r, idx); err != nil {
		t.Fatal(err)
	}
	host := amd
	if runtimeArch() == "arm64" {
		host = arm
	}
	hostCfg, _ := host.ConfigName()
	armCfg, _ := arm.ConfigName()
	if _, errOut, code := e.hako("pull", reg+"/multi:1"); code != 0 {
		t.Fatal(errOut)
	}
	out, _, _ := e.hako("image", "inspect", "--format", "{{.Id}}", reg+"/multi:1")
	if strings.TrimSpace(out) != hostCfg.String() {
		t.Errorf("default platform: %s, want %s", out, hostCfg)
	}
	if _, errOut, code := e.hako("pull", "--platform", "linux/arm64", reg+"/multi:1"); code != 0 {
		t.Fatal(errOut)
	}
	out, _, _ = e.hako("image", "inspect", "--format", "{{.Id}} {{.Architecture}}", reg+"/multi:1")
	if strings.TrimSpace(out) != armCfg.String()+" arm64" {
		t.Errorf("--platform linux/arm64: %s", out)
	}
	armDigest, _ := arm.Digest()
	if _, errOut, code := e.hako("pull", reg+"/multi@"+armDigest.String()); code != 0 {
		t.Fatal(errOut)
	}
	out, _, _ = e.hako("image", "inspect", "--format", "{{.Id}}", reg+"/multi@"+armDigest.String())
	if strings.TrimSpace(out) != armCfg.String() {
		t.Errorf("by digest: %s", out)
	}
	if _, errOut, code := e.hako("pull", "--platform", "windows/arm", reg+"/multi:1"); code == 0 || !strings.Contains(errOut, "platform") {
		t.Errorf("missing platform: %q", errOut)
	}

	// The docker CLI pulls through hako too.
	if _, err := exec.LookPath("docker"); err == nil {
		cmd := exec.Command("docker", "pull", reg+"/multi:1")
		cmd.Env = append(os.Environ(), "DOCKER_HOST=unix://"+e.sock())
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("docker pull: %v: %s", err, out)
		}
		docker := func(args ...string) string {
			cmd := exec.Command("docker", args...)
			cmd.Env = append(os.Environ(), "DOCKER_HOST=unix://"+e.sock())
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("docker %v: %v: %s", args, err, out)
			}
			return strings.TrimSpace(string(out))
		}
		if out := docker("image", "inspect", "--format", "{{.Id}}", reg+"/multi:1"); out != hostCfg.String() {
			t.Errorf("docker image inspect: %s", out)
		}
		// Tag, push, list and remove with the docker CLI.
		docker("tag", reg+"/multi:1", reg+"/from-docker:1")
		docker("push", reg+"/from-docker:1")
		pushed, err := remote.Get(mustRef(t, reg+"/from-docker:1"))
		hostDigest, _ := host.Digest()
		if err != nil || pushed.Digest != hostDigest {
			t.Errorf("docker push: %v %v", pushed, err)
		}
		if out := docker("images", "--format", "{{.Repository}}:{{.Tag}}", reg+"/from-docker"); out != reg+"/from-docker:1" {
			t.Errorf("docker images: %q", out)
		}
		docker("rmi", reg+"/from-docker:1")
	}
}

// withPlatform sets the config's os and architecture, keeping its layers.
func withPlatform(t *testing.T, img v1.Image, arch string) v1.Image {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", arch
	out, err := mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func mustRef(t *testing.T, s string) name.Reference {
	r, err := name.ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func runtimeArch() string { return goruntime.GOARCH }

// save → load keeps image IDs, in both formats; skopeo reads what hako
// writes, and hako loads what skopeo writes.
func TestImageSaveLoad(t *testing.T) {
	e := newHakoEnv(t)
	reg := testRegistry(t)
	img, _ := random.Image(2048, 2)
	img = withPlatform(t, img, runtimeArch())
	push(t, reg+"/save/me:1", img)
	cfgName, _ := img.ConfigName()
	if _, errOut, code := e.hako("pull", reg+"/save/me:1"); code != 0 {
		t.Fatal(errOut)
	}
	dir := t.TempDir()
	for _, format := range []string{"docker-archive", "oci"} {
		t.Run(format, func(t *testing.T) {
			file := filepath.Join(dir, format+".tar")
			if _, errOut, code := e.hako("save", "--format", format, "-o", file, reg+"/save/me:1"); code != 0 {
				t.Fatal(errOut)
			}
			if _, errOut, code := e.hako("rmi", reg+"/save/me:1"); code != 0 {
				t.Fatal(errOut)
			}
			out, errOut, code := e.hako("load", "-i", file)
			if code != 0 || !strings.Contains(out, "Loaded image: "+reg+"/save/me:1") {
				t.Fatalf("load: %d %q %s", code, out, errOut)
			}
			out, _, _ = e.hako("image", "inspect", "--format", "{{.Id}}", reg+"/save/me:1")
			if strings.TrimSpace(out) != cfgName.String() {
				t.Errorf("ID after save/load: %s, want %s", out, cfgName)
			}
			if _, err := exec.LookPath("skopeo"); err != nil {
				t.Log("no skopeo: skipped its checks")
				return
			}
			target := "docker-archive:" + file
			if format == "oci" {
				ociDir := filepath.Join(dir, "oci-dir")
				os.MkdirAll(ociDir, 0o755)
				if out, err := exec.Command("tar", "-xf", file, "-C", ociDir).CombinedOutput(); err != nil {
					t.Fatalf("untar: %v %s", err, out)
				}
				target = "oci:" + ociDir
			}
			out2, err := exec.Command("skopeo", "inspect", "--config", target).CombinedOutput()
			if err != nil {
				t.Fatalf("skopeo inspect %s: %v: %s", target, err, out2)
			}
			if !strings.Contains(string(out2), `"architecture"`) {
				t.Errorf("skopeo inspect: %s", out2)
			}
			// skopeo writes a docker-archive of it; hako loads it.
			back := filepath.Join(dir, format+"-skopeo.tar")
			if out, err := exec.Command("skopeo", "copy", target, "docker-archive:"+back+":skopeo/copy:1").CombinedOutput(); err != nil {
				t.Fatalf("skopeo copy: %v %s", err, out)
			}
			out, errOut, code = e.hako("load", "-i", back)
			if code != 0 || !strings.Contains(out, "Loaded image: skopeo/copy:1") {
				t.Fatalf("load of skopeo's archive: %q %s", out, errOut)
			}
			out, _, _ = e.hako("image", "inspect", "--format", "{{.Id}}", "skopeo/copy:1")
			if strings.TrimSpace(out) != cfgName.String() {
				t.Errorf("ID through skopeo: %s", out)
			}
		})
	}
	_, errOut, code := e.hako("load", "-i", "/etc/hostname")
	if code == 0 || !strings.Contains(errOut, "load") {
		t.Errorf("load of a non-archive: %d %q", code, errOut)
	}
}

// A rootfs tarball becomes a one-layer image, with -c changes.
func TestImageImport(t *testing.T) {
	e := newHakoEnv(t)
	rootfs := testutil.BusyboxRootfs(t)
	tarball := filepath.Join(t.TempDir(), "rootfs.tar.gz")
	if out, err := exec.Command("tar", "-czf", tarball, "-C", rootfs, ".").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v %s", err, out)
	}
	cmd := e.cmd("import", "-c", `CMD ["sh"]`, "-c", "ENV GREETING=hi", "-m", "from a tarball", "-", "busybox:imported")
	f, _ := os.Open(tarball)
	defer f.Close()
	cmd.Stdin = f
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "sha256:") {
		t.Fatalf("import: %v %s", err, out)
	}
	id := strings.TrimSpace(string(out))
	got, _, _ := e.hako("image", "inspect", "--format", "{{.Id}} {{json .Config.Cmd}} {{index .Config.Env 1}} {{len .RootFS.Layers}}", "busybox:imported")
	if strings.TrimSpace(got) != id+` ["sh"] GREETING=hi 1` {
		t.Errorf("inspect: %q", got)
	}
	hist, _, _ := e.hako("history", "busybox:imported")
	if !strings.Contains(hist, "hako import") || !strings.Contains(hist, "from a tarball") {
		t.Errorf("history:\n%s", hist)
	}
	// A locally made image goes to a registry and comes back by digest.
	reg := testRegistry(t)
	if _, errOut, code := e.hako("tag", "busybox:imported", reg+"/local/box:1"); code != 0 {
		t.Fatal(errOut)
	}
	pushOut, errOut, code := e.hako("push", reg+"/local/box:1")
	if code != 0 {
		t.Fatalf("push: %s", errOut)
	}
	i := strings.Index(pushOut, "digest: ")
	if i < 0 {
		t.Fatalf("push output: %s", pushOut)
	}
	dg := strings.Fields(pushOut[i+len("digest: "):])[0]
	e3 := newHakoEnv(t)
	if _, errOut, code := e3.hako("pull", reg+"/local/box@"+dg); code != 0 {
		t.Fatalf("pull back: %s", errOut)
	}
	back, _, _ := e3.hako("image", "inspect", "--format", "{{.Id}}", reg+"/local/box@"+dg)
	if strings.TrimSpace(back) != id {
		t.Errorf("pulled back %s, pushed %s", back, id)
	}
	e.hako("rmi", reg+"/local/box:1")
	// Importing again under the same name leaves the first image
	// dangling; prune removes it and its blobs.
	f2, _ := os.Open(tarball)
	defer f2.Close()
	cmd = e.cmd("import", "-c", "CMD sh", "-", "busybox:imported")
	cmd.Stdin = f2
	out2, err := cmd.CombinedOutput()
	id2 := strings.TrimSpace(string(out2))
	if err != nil || id2 == id {
		t.Fatalf("second import: %v %s", err, out2)
	}
	ids, _, _ := e.hako("images", "-q")
	if n := len(strings.Fields(ids)); n != 2 {
		t.Errorf("%d images before prune", n)
	}
	got, _, code = e.hako("image", "prune", "-f")
	if code != 0 || !strings.Contains(got, "deleted: "+id) || strings.Contains(got, id2) {
		t.Errorf("prune: %s", got)
	}
	ids, _, _ = e.hako("images", "-q")
	if n := len(strings.Fields(ids)); n != 1 {
		t.Errorf("%d images after prune", n)
	}
	df, _, code := e.hako("system", "df")
	if code != 0 || !strings.Contains(df, "Images") {
		t.Errorf("system df: %s", df)
	}
	if _, errOut, code := e.hako("import", "/etc/hostname"); code == 0 {
		t.Errorf("import of a non-tar accepted")
	} else if !strings.Contains(errOut, "import") {
		t.Errorf("import error: %q", errOut)
	}
}

// kill -9 of the daemon in the middle of a pull leaves no blob that lies
// about its digest, and the pull completes on retry.
func TestImagePullSurvivesDaemonKill(t *testing.T) {
	e := newHakoEnv(t)
	reg := registry.New()
	var slow atomic.Bool
	slow.Store(true)
	started := make(chan struct{}, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if slow.Load() && strings.Contains(r.URL.Path, "/blobs/") && r.Method == http.MethodGet {
			// Send half a layer, then stall until the client goes away.
			rec := httptest.NewRecorder()
			reg.ServeHTTP(rec, r)
			body := rec.Body.Bytes()
			if len(body) > 4096 {
				for k, v := range rec.Header() {
					w.Header()[k] = v
				}
				w.WriteHeader(rec.Code)
				w.Write(body[:len(body)/2])
				w.(http.Flusher).Flush()
				select {
				case started <- struct{}{}:
				default:
				}
				<-r.Context().Done()
				return
			}
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	img, _ := random.Image(1<<20, 3)
	slow.Store(false)
	push(t, host+"/crash/me:1", img)
	slow.Store(true)

	// Start the daemon, then pull in the background and kill the daemon
	// once layers are half downloaded.
	if _, errOut, code := e.hako("info", "--format", "{{.ID}}"); code != 0 {
		t.Fatal(errOut)
	}
	pid := e.daemonPid()
	pullCmd := e.cmd("pull", host+"/crash/me:1")
	if err := pullCmd.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-started:
	case <-time.After(20 * time.Second):
		t.Fatal("the pull never started downloading")
	}
	time.Sleep(100 * time.Millisecond)
	syscall.Kill(pid, syscall.SIGKILL)
	pullCmd.Wait()
	for alive(pid) {
		time.Sleep(10 * time.Millisecond)
	}
	slow.Store(false)
	out, errOut, code := e.hako("pull", host+"/crash/me:1")
	if code != 0 {
		t.Fatalf("pull after kill -9: %s %s", out, errOut)
	}
	// Every stored blob matches its name, and no ingest is left.
	blobs := filepath.Join(e.root, "content", "blobs", "sha256")
	ents, _ := os.ReadDir(blobs)
	if len(ents) != 5 {
		t.Errorf("%d blobs, want 5", len(ents))
	}
	for _, ent := range ents {
		b, _ := os.ReadFile(filepath.Join(blobs, ent.Name()))
		if got := fmt.Sprintf("%x", sha256.Sum256(b)); got != ent.Name() {
			t.Errorf("blob %s holds content %s", ent.Name(), got)
		}
	}
	if ing, _ := os.ReadDir(filepath.Join(e.root, "content", "ingest")); len(ing) != 0 {
		t.Errorf("ingests left: %d", len(ing))
	}
}

// Pulled layers are unpacked once into snapshots, shared between images,
// shown by inspect, and removed with the last image using them.
func TestImageUnpackSnapshots(t *testing.T) {
	for _, driver := range []string{"overlay", "vfs"} {
		t.Run(driver, func(t *testing.T) {
			e := newHakoEnv(t)
			e.env = append(e.env, "HAKO_STORAGE_DRIVER="+driver)
			reg := testRegistry(t)
			base, _ := random.Image(4096, 2)
			child, err := mutate.AppendLayers(base, mustLayer(t))
			if err != nil {
				t.Fatal(err)
			}
			push(t, reg+"/base:1", base)
			push(t, reg+"/child:1", child)
			for _, r := range []string{reg + "/base:1", reg + "/child:1"} {
				if _, errOut, code := e.hako("pull", r); code != 0 {
					t.Fatal(errOut)
				}
			}
			out, _, _ := e.hako("info", "--format", "{{.Driver}}")
			if strings.TrimSpace(out) != driver {
				t.Errorf("driver %q", out)
			}
			snaps := filepath.Join(e.root, driver, "snapshots")
			ents, _ := os.ReadDir(snaps)
			if len(ents) != 3 { // two shared layers + the child's own
				t.Errorf("%d layer snapshots, want 3", len(ents))
			}
			out, _, _ = e.hako("image", "inspect", "--format", "{{.GraphDriver.Name}} {{.GraphDriver.Data.UpperDir}} {{.GraphDriver.Data.LowerDir}}", reg+"/child:1")
			f := strings.Fields(out)
			if len(f) != 3 || f[0] != driver || !strings.HasPrefix(f[1], snaps) || strings.Count(f[2], ":") != 1 {
				t.Fatalf("GraphDriver: %q", out)
			}
			// The child's own layer holds its file, from the host.
			if ents, err := os.ReadDir(f[1]); err != nil || len(ents) == 0 {
				t.Errorf("upper dir %s: %v %v", f[1], ents, err)
			}
			e.hako("rmi", reg+"/child:1")
			if ents, _ := os.ReadDir(snaps); len(ents) != 2 {
				t.Errorf("after rmi of the child: %d snapshots, want 2", len(ents))
			}
			e.hako("rmi", reg+"/base:1")
			if ents, _ := os.ReadDir(snaps); len(ents) != 0 {
				t.Errorf("after rmi of both: %d snapshots", len(ents))
			}
		})
	}
}

func mustLayer(t *testing.T) v1.Layer {
	l, err := random.Layer(4096, "application/vnd.oci.image.layer.v1.tar+gzip")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// A registry named in hosts.toml is reached through its mirror: the
// image's own registry name never resolves (its server is a closed
// local port, so nothing leaves the host).
func TestImagePullThroughMirror(t *testing.T) {
	e := newHakoEnv(t)
	reg := testRegistry(t)
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	mdigest := push(t, reg+"/team/app:1", img)
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "mirror.test"), 0o755); err != nil {
		t.Fatal(err)
	}
	hosts := "server = \"http://127.0.0.1:1\"\n\n[host.\"http://" + reg + "\"]\n  capabilities = [\"pull\", \"resolve\"]\n"
	if err := os.WriteFile(filepath.Join(dir, "mirror.test", "hosts.toml"), []byte(hosts), 0o644); err != nil {
		t.Fatal(err)
	}
	e.env = append(e.env, "HAKO_REGISTRY_HOSTS_DIR="+dir)
	out, errOut, code := e.hako("pull", "mirror.test/team/app:1")
	if code != 0 || !strings.Contains(out, "Digest: "+mdigest.String()) {
		t.Fatalf("pull through the mirror: %d %s %s", code, out, errOut)
	}
	out, _, _ = e.hako("images", "--format", "{{.Repository}}:{{.Tag}}")
	if strings.TrimSpace(out) != "mirror.test/team/app:1" {
		t.Errorf("images: %q", out)
	}
	// Pushing goes to the first host that may push: the server here,
	// which is down, and the error says so.
	if _, errOut, code := e.hako("push", "mirror.test/team/app:1"); code == 0 || !strings.Contains(errOut, "127.0.0.1:1") {
		t.Errorf("push to a host without push capability: %d %s", code, errOut)
	}
}

// system df counts containers (running ones active, the writable layers
// of the others reclaimable) and the images containers use, for hako's
// CLI and docker's.
func TestSystemDF(t *testing.T) {
	e := newHakoEnv(t)
	e.busybox()
	e.must("run", "-d", "--name", "dfrun", "busybox", "sleep", "60")
	e.must("run", "--name", "dfstop", "busybox", "sh", "-c", "head -c 300000 /dev/zero > /blob")
	defer e.hako("rm", "-f", "dfrun", "dfstop")
	row := func(df, name string) []string {
		for _, l := range strings.Split(df, "\n") {
			if strings.HasPrefix(l, name+" ") {
				return strings.Fields(strings.TrimPrefix(l, name))
			}
		}
		return nil
	}
	check := func(who, df string) {
		t.Helper()
		kb := regexp.MustCompile(`^3[0-9][0-9](\.[0-9]+)?kB$`) // the 300 kB file
		if r := row(df, "Containers"); len(r) < 4 || r[0] != "2" || r[1] != "1" || !kb.MatchString(r[2]) || !kb.MatchString(r[3]) {
			t.Errorf("%s: containers row %q:\n%s", who, r, df)
		}
		if r := row(df, "Images"); len(r) < 2 || r[0] != "1" || r[1] != "1" {
			t.Errorf("%s: images row %q:\n%s", who, r, df)
		}
	}
	check("hako", e.must("system", "df"))
	if _, err := exec.LookPath("docker"); err == nil {
		out, _, _ := e.docker("system", "df")
		check("docker", out)
	}
}

// Images in use keep docker's rules: a container's image keeps its last
// tag unless forced, is never deleted while a container runs it or an
// image is built on it, only with force while a stopped one uses it, and
// image prune (even -a) leaves it; prune's until and label filters
// narrow what goes.
func TestImageRemoveInUse(t *testing.T) {
	e := newHakoEnv(t)
	e.busybox()
	id := strings.TrimSpace(e.must("images", "-q", "--no-trunc", "busybox"))
	e.must("tag", "busybox", "bb2")
	e.must("create", "--name", "stopped", "busybox", "true")
	e.must("rmi", "bb2") // another tag stays: just untagged
	expectErr := func(want string, args ...string) {
		t.Helper()
		if _, errOut, code := e.hako(args...); code == 0 || !strings.Contains(errOut, want) {
			t.Fatalf("hako %v: exit %d: %q, want %q", args, code, errOut, want)
		}
	}
	expectErr(`unable to remove repository reference "busybox" (must force) - container`, "rmi", "busybox")
	expectErr("(must be forced) - image is being used by stopped container", "rmi", id[7:19])
	e.must("image", "prune", "-a", "-f")
	if got := e.must("images", "-q", "--no-trunc"); strings.TrimSpace(got) != id {
		t.Fatalf("image prune -a removed an image a container uses: %q", got)
	}
	// A build on it: its child keeps it (cannot be forced).
	e.must("build", "-q", "-t", "child", "--label", "tier=test", buildContext(t, "FROM busybox\nRUN echo 1 > /f\n"))
	e.must("run", "-d", "--name", "running", "busybox", "sleep", "1000")
	expectErr("(cannot be forced) - image has dependent child images", "rmi", "-f", id[7:19])
	// prune's filters: a label no image has, a time before every image.
	e.must("image", "prune", "-a", "-f", "--filter", "label=tier=other")
	e.must("image", "prune", "-a", "-f", "--filter", "until=2000-01-01")
	if got := e.must("images", "--format", "{{.Repository}}"); !strings.Contains(got, "child") {
		t.Fatalf("filtered prunes removed child: %q", got)
	}
	e.must("image", "prune", "-a", "-f", "--filter", "label=tier=test")
	if got := e.must("images", "--format", "{{.Repository}}"); strings.Contains(got, "child") {
		t.Fatalf("prune with its label left child: %q", got)
	}
	expectErr("(cannot be forced) - image is being used by running container", "rmi", "-f", id[7:19])
	// Forced removal of the name of a running container's image leaves
	// the image, nameless.
	e.must("rmi", "-f", "busybox")
	if got := e.must("images", "-a", "-q", "--no-trunc"); strings.TrimSpace(got) != id {
		t.Fatalf("after rmi -f of the name: %q", got)
	}
	e.must("rm", "-f", "running")
	e.must("rmi", "-f", id) // only a stopped container uses it now
	if got := e.must("images", "-a", "-q"); got != "" {
		t.Fatalf("images left: %q", got)
	}
	// The stopped container still starts: its layers stay while it does.
	e.must("start", "-a", "stopped")
	e.must("rm", "stopped")
}

// search asks the index the term names (here a fake one on loopback that
// serves Docker Hub's /v1/search) and prints docker's table; filters
// apply to what it answers.
func TestImageSearch(t *testing.T) {
	e := newHakoEnv(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/search" || r.URL.Query().Get("q") != "app" {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, `{"query":"app","results":[{"name":"team/app","description":"an application image with a description longer than forty-five characters","star_count":12,"is_official":true},{"name":"team/app-dev","description":"dev","star_count":1}]}`)
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	out := e.must("search", host+"/app")
	want := "NAME           DESCRIPTION                                     STARS     OFFICIAL\nteam/app       an application image with a description long…   12        [OK]\nteam/app-dev   dev                                             1         \n"
	if out != want {
		t.Fatalf("search:\n%q\nwant\n%q", out, want)
	}
	if out := e.must("search", "--filter", "stars=5", "--format", "{{.Name}}", host+"/app"); out != "team/app\n" {
		t.Fatalf("search --filter stars=5: %q", out)
	}
	if _, errOut, code := e.hako("search", "--limit", "101", host+"/app"); code == 0 || !strings.Contains(errOut, "outside the range of [1, 100]") {
		t.Fatalf("search --limit 101: %d %q", code, errOut)
	}
	if _, errOut, code := e.hako("search", host+"/nothing"); code == 0 || !strings.Contains(errOut, "no search API") {
		t.Fatalf("search on a registry without the API: %d %q", code, errOut)
	}
}
