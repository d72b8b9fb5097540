package e2e

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hako-dev/hako/internal/client"
	"github.com/hako-dev/hako/internal/errdefs"
	"github.com/hako-dev/hako/internal/testutil"
)

// volumeDir is a volume's directory on the host (docker's layout).
func (e *hakoEnv) volumeDir(name string) string { return filepath.Join(e.root, "volumes", name) }

// cleanVolumeMounts makes sure no mount is left under the test's volumes
// when it ends, even after a failure: the daemon first (its containers
// removed), then whatever is still mounted.
func (e *hakoEnv) cleanVolumeMounts() {
	e.t.Cleanup(func() {
		e.stopDaemon()
		for _, m := range testutil.Mounts(e.t, e.root+"/volumes/") {
			syscall.Unmount(m, syscall.MNT_DETACH)
		}
	})
}

func (e *hakoEnv) assertNoVolumeMounts() {
	e.t.Helper()
	if ms := testutil.Mounts(e.t, e.root+"/volumes/"); len(ms) > 0 {
		e.t.Errorf("volume mounts left: %v", ms)
	}
}

// A named volume keeps its data from one container to the next and
// across a kill -9 of the daemon, in ROOT/volumes/NAME/_data, where the
// host sees it.
func TestVolumeNamedPersists(t *testing.T) {
	e := newHakoEnv(t)
	e.busybox()
	if out := e.must("volume", "create", "--label", "app=db", "data"); out != "data\n" {
		t.Fatalf("volume create: %q", out)
	}
	e.must("run", "--rm", "-v", "data:/data", "busybox", "sh", "-c", "echo first > /data/note")
	if got := e.must("run", "--rm", "-v", "data:/data", "busybox", "cat", "/data/note"); got != "first\n" {
		t.Fatalf("second container sees %q", got)
	}
	if b, err := os.ReadFile(filepath.Join(e.volumeDir("data"), "_data", "note")); string(b) != "first\n" {
		t.Fatalf("on the host: %q %v", b, err)
	}
	if got := strings.TrimSpace(e.must("volume", "inspect", "-f", "{{.Name}} {{.Driver}} {{.Scope}} {{.Mountpoint}} {{.Labels}}", "data")); got != "data local local "+filepath.Join(e.volumeDir("data"), "_data")+" map[app:db]" {
		t.Fatalf("volume inspect: %s", got)
	}
	// A running user, then the daemon killed: the volume is still
	// referenced by the restarted daemon, and the data is there.
	id := strings.TrimSpace(e.must("run", "-d", "-v", "data:/data", "busybox", "sh", "-c", "echo second >> /data/note; exec sleep 1000"))
	time.Sleep(200 * time.Millisecond)
	pid := e.daemonPid()
	syscall.Kill(pid, syscall.SIGKILL)
	for alive(pid) {
		time.Sleep(10 * time.Millisecond)
	}
	_, errOut, code := e.hako("volume", "rm", "data")
	if code != 1 || errOut != "Error response from daemon: remove data: volume is in use - ["+id+"]\n" {
		t.Fatalf("volume rm after restart: %d %q", code, errOut)
	}
	if got := e.must("volume", "ls", "--filter", "dangling=false", "--format", "{{.Name}}"); got != "data\n" {
		t.Fatalf("ls dangling=false: %q", got)
	}
	if got := e.must("exec", id, "cat", "/data/note"); got != "first\nsecond\n" {
		t.Fatalf("after restart: %q", got)
	}
	e.must("rm", "-f", id)
	if got := e.must("run", "--rm", "-v", "data:/data", "busybox", "cat", "/data/note"); got != "first\nsecond\n" {
		t.Fatalf("a new container after restart: %q", got)
	}
	e.must("volume", "rm", "data")
	if _, err := os.Stat(e.volumeDir("data")); !os.IsNotExist(err) {
		t.Fatalf("volume rm left %s: %v", e.volumeDir("data"), err)
	}
	e.assertClean(id)
}

// A new volume is seeded with what the image has at its mount point
// (owners and modes kept), unless nocopy; an image's VOLUME gets an
// anonymous volume, seeded too.
func TestVolumeSeeding(t *testing.T) {
	e := newHakoEnv(t)
	e.busybox()
	if got := e.must("run", "--rm", "-v", "etc:/etc", "busybox", "cat", "/etc/passwd"); !strings.Contains(got, "root:x:0:0") {
		t.Fatalf("/etc from a new volume: %q", got)
	}
	if _, err := os.Stat(filepath.Join(e.volumeDir("etc"), "_data", "passwd")); err != nil {
		t.Fatalf("the volume was not seeded: %v", err)
	}
	if out, _, code := e.hako("run", "--rm", "-v", "bare:/etc:nocopy", "busybox", "ls", "/etc/passwd"); code == 0 {
		t.Fatalf("nocopy seeded the volume: %q", out)
	}
	if _, err := os.Stat(filepath.Join(e.volumeDir("bare"), "_data", "passwd")); !os.IsNotExist(err) {
		t.Fatalf("nocopy volume holds passwd: %v", err)
	}
	// A volume that is not empty is left as it is.
	os.WriteFile(filepath.Join(e.volumeDir("bare"), "_data", "mine"), []byte("x"), 0o644)
	if got := e.must("run", "--rm", "-v", "bare:/etc", "busybox", "ls", "/etc"); strings.Contains(got, "passwd") {
		t.Fatalf("a non-empty volume was seeded: %q", got)
	}

	// An image with a VOLUME over a directory of its own, owned by 1000.
	e.must("run", "--name", "prep", "busybox", "sh", "-c", "mkdir /app && echo s3cret > /app/key && chown -R 1000:1000 /app && chmod 750 /app && chmod 600 /app/key")
	e.must("commit", "-c", "VOLUME /app", "prep", "appimg")
	e.must("rm", "prep")
	if got := e.must("run", "--rm", "-v", "appdata:/app", "appimg", "stat", "-c", "%u:%g %a %n", "/app", "/app/key"); got != "1000:1000 750 /app\n1000:1000 600 /app/key\n" {
		t.Fatalf("seeded owners and modes: %q", got)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(e.volumeDir("appdata"), "_data"), &st); err != nil || st.Uid != 1000 || st.Mode&0o777 != 0o750 {
		t.Fatalf("_data on the host: uid %d mode %o %v", st.Uid, st.Mode&0o777, err)
	}
	id := strings.TrimSpace(e.must("run", "-d", "appimg", "sleep", "1000"))
	if got := e.must("exec", id, "cat", "/app/key"); got != "s3cret\n" {
		t.Fatalf("the image's VOLUME: %q", got)
	}
	mounts := e.format(id, `{{range .Mounts}}{{.Type}} {{.Name}} {{.Destination}} {{.Driver}} {{.RW}}{{end}}`)
	m := regexp.MustCompile(`^volume ([0-9a-f]{64}) /app local true$`).FindStringSubmatch(mounts)
	if m == nil {
		t.Fatalf("inspect Mounts: %q", mounts)
	}
	if got := e.format(m[1], `{{json .Labels}}`); got != `{"com.docker.volume.anonymous":""}` {
		t.Fatalf("anonymous volume's labels: %s", got)
	}
	e.must("rm", "-f", id)
	e.assertClean(id)
}

// Host directories (-v /host:/path:ro) and --tmpfs mounts, and
// --volumes-from, in containers and in inspect.
func TestVolumeBindsTmpfsVolumesFrom(t *testing.T) {
	e := newHakoEnv(t)
	e.busybox()
	host := t.TempDir()
	os.WriteFile(filepath.Join(host, "f"), []byte("from host\n"), 0o644)
	out, errOut, code := e.hako("run", "--name", "bb", "-v", host+":/data:ro", "--tmpfs", "/t", "busybox", "sh", "-c",
		"cat /data/f; echo x > /data/new && echo wrote; grep ' /t ' /proc/mounts | cut -d' ' -f1,3")
	if code != 0 || out != "from host\ntmpfs tmpfs\n" || !strings.Contains(errOut, "Read-only file system") {
		t.Fatalf("bind ro and tmpfs: %d %q %q", code, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(host, "new")); err == nil {
		t.Fatal("wrote through a read-only bind")
	}
	if got := e.format("bb", `{{range .Mounts}}{{.Type}}|{{.Source}}|{{.Destination}}|{{.Mode}}|{{.RW}}|{{.Propagation}};{{end}}`); got != "bind|"+host+"|/data|ro|false|rprivate;tmpfs||/t||true|;" {
		t.Fatalf("inspect Mounts: %s", got)
	}
	// -v creates a missing host directory, as docker does.
	missing := filepath.Join(t.TempDir(), "made")
	e.must("run", "--rm", "-v", missing+":/m", "busybox", "touch", "/m/x")
	if _, err := os.Stat(filepath.Join(missing, "x")); err != nil {
		t.Fatalf("-v with a missing host directory: %v", err)
	}
	e.must("rm", "bb")

	// --volumes-from: the same volumes and binds, read-only with :ro.
	e.must("create", "--name", "store", "-v", "shared:/shared", "-v", "/anon", "-v", host+":/h", "busybox", "true")
	e.must("run", "--rm", "--volumes-from", "store", "busybox", "sh", "-c", "echo hi > /shared/a && echo hi > /anon/b")
	if got := e.must("run", "--rm", "--volumes-from", "store", "busybox", "cat", "/shared/a", "/anon/b", "/h/f"); got != "hi\nhi\nfrom host\n" {
		t.Fatalf("--volumes-from: %q", got)
	}
	if _, errOut, code := e.hako("run", "--rm", "--volumes-from", "store:ro", "busybox", "touch", "/shared/c"); code == 0 || !strings.Contains(errOut, "Read-only file system") {
		t.Fatalf("--volumes-from :ro: %d %q", code, errOut)
	}
	if _, errOut, code := e.hako("create", "--volumes-from", "nosuch", "busybox"); code != 125 || !strings.Contains(errOut, "No such container: nosuch") {
		t.Fatalf("--volumes-from a missing container: %d %q", code, errOut)
	}
	if _, errOut, code := e.hako("create", "-v", "x:/d", "-v", "y:/d", "busybox"); code != 125 || !strings.Contains(errOut, "Duplicate mount point: /d") {
		t.Fatalf("duplicate: %d %q", code, errOut)
	}
	if _, errOut, code := e.hako("create", "-v", "a:/d", "busybox"); code != 125 || !strings.Contains(errOut, `create a: volume name is too short`) {
		t.Fatalf("bad name: %d %q", code, errOut)
	}
	e.must("rm", "-v", "store")
	e.assertClean()
}

// rm -v and --rm remove a container's anonymous volumes, never named
// ones; a volume in use cannot be removed (409, docker's message); prune
// removes unused anonymous volumes, and with -a named ones too.
func TestVolumeRemoveAndPrune(t *testing.T) {
	e := newHakoEnv(t)
	e.busybox()
	id := strings.TrimSpace(e.must("create", "-v", "named:/n", "-v", "/anon", "busybox", "true"))
	anon := e.format(id, `{{range .Mounts}}{{if eq .Destination "/anon"}}{{.Name}}{{end}}{{end}}`)
	if len(anon) != 64 {
		t.Fatalf("anonymous volume %q", anon)
	}
	cl, err := client.New("unix://" + e.sock())
	if err != nil {
		t.Fatal(err)
	}
	err = cl.VolumeRemove(context.Background(), "named", false)
	if !errors.Is(err, errdefs.ErrConflict) || err.Error() != "remove named: volume is in use - ["+id+"]" {
		t.Fatalf("remove in use: %v", err)
	}
	if err := cl.VolumeRemove(context.Background(), "nosuch", false); !errors.Is(err, errdefs.ErrNotFound) || err.Error() != "get nosuch: no such volume" {
		t.Fatalf("remove missing: %v", err)
	}
	if err := cl.VolumeRemove(context.Background(), "nosuch", true); err != nil {
		t.Fatalf("remove -f missing: %v", err)
	}
	e.must("rm", "-v", id)
	if got := e.must("volume", "ls", "-q"); got != "named\n" {
		t.Fatalf("after rm -v: %q", got)
	}
	if _, err := os.Stat(e.volumeDir(anon)); !os.IsNotExist(err) {
		t.Fatalf("rm -v left %s", e.volumeDir(anon))
	}
	if got := e.must("volume", "rm", "named"); got != "named\n" {
		t.Fatalf("volume rm: %q", got)
	}
	// --rm takes the anonymous volumes along, not the named ones.
	e.must("run", "--rm", "-v", "kept:/k", "-v", "/gone", "busybox", "true")
	deadline := time.Now().Add(5 * time.Second)
	for e.must("volume", "ls", "-q") != "kept\n" && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if got := e.must("volume", "ls", "-q"); got != "kept\n" {
		t.Fatalf("after --rm: %q", got)
	}

	// prune: unused anonymous volumes only, unless -a.
	e.must("create", "--name", "stopped", "-v", "/one", "busybox", "true")
	used := e.format("stopped", `{{range .Mounts}}{{.Name}}{{end}}`)
	unused := strings.TrimSpace(e.must("volume", "create"))
	e.must("volume", "create", "--label", "keep=1", "labelled")
	out := e.must("volume", "prune", "-f")
	if out != "Deleted Volumes:\n"+unused+"\n\nTotal reclaimed space: 0B\n" {
		t.Fatalf("prune: %q", out)
	}
	if got := e.must("volume", "ls", "-q"); got != "kept\nlabelled\n"+used+"\n" && got != used+"\nkept\nlabelled\n" {
		t.Fatalf("after prune: %q", got)
	}
	os.WriteFile(filepath.Join(e.volumeDir("kept"), "_data", "f"), bytes.Repeat([]byte("x"), 2000), 0o644)
	out = e.must("volume", "prune", "-af", "--filter", "label!=keep")
	if out != "Deleted Volumes:\nkept\n\nTotal reclaimed space: 2kB\n" {
		t.Fatalf("prune -a: %q", out)
	}
	e.must("rm", "stopped")
	e.must("volume", "prune", "-af")
	if got := e.must("volume", "ls", "-q"); got != "" {
		t.Fatalf("left: %q", got)
	}
	e.assertClean(id)
}

// A volume with the local driver's device options is mounted while a
// container uses it: containers running together share it, and it is
// unmounted (its content gone, as a tmpfs's) when the last one stops.
func TestVolumeTmpfsDevice(t *testing.T) {
	e := newHakoEnv(t)
	e.cleanVolumeMounts()
	e.busybox()
	e.must("volume", "create", "--opt", "type=tmpfs", "--opt", "device=tmpfs", "--opt", "o=size=10m", "scratch")
	id := strings.TrimSpace(e.must("run", "-d", "-v", "scratch:/s", "busybox", "sh", "-c", "echo shared > /s/f; exec sleep 1000"))
	data := filepath.Join(e.volumeDir("scratch"), "_data")
	deadline := time.Now().Add(5 * time.Second)
	for len(testutil.Mounts(t, data)) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	got := e.must("run", "--rm", "-v", "scratch:/s", "busybox", "sh", "-c", "cat /s/f; grep ' /s ' /proc/mounts | cut -d' ' -f3,4")
	if !strings.HasPrefix(got, "shared\ntmpfs rw,") || !strings.Contains(got, "size=10240k") {
		t.Fatalf("second container: %q", got)
	}
	if len(testutil.Mounts(t, data)) == 0 {
		t.Fatal("unmounted while a container runs")
	}
	e.must("rm", "-f", id)
	e.assertNoVolumeMounts()
	if got := e.must("run", "--rm", "-v", "scratch:/s", "busybox", "ls", "/s"); got != "" {
		t.Fatalf("a fresh tmpfs holds %q", got)
	}
	e.assertNoVolumeMounts()
	if _, errOut, code := e.hako("volume", "create", "--opt", "type=tmpfs", "bad"); code != 1 || errOut != "Error response from daemon: create bad: missing required option: \"device\"\n" {
		t.Fatalf("bad options: %d %q", code, errOut)
	}
	e.assertClean(id)
}

// The docker CLI manages hako's volumes and mounts them.
func TestVolumeDockerCLI(t *testing.T) {
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("docker CLI not installed")
	}
	e := newHakoEnv(t)
	e.busybox()
	docker := e.docker
	if out, errOut, code := docker("volume", "create", "--label", "a=b", "dvol"); out != "dvol\n" || code != 0 {
		t.Fatalf("docker volume create: %q %q", out, errOut)
	}
	if out, _, _ := docker("volume", "ls"); out != "DRIVER    VOLUME NAME\nlocal     dvol\n" {
		t.Fatalf("docker volume ls: %q", out)
	}
	if out, _, _ := docker("volume", "inspect", "-f", "{{.Driver}} {{.Labels.a}} {{.Mountpoint}}", "dvol"); out != "local b "+filepath.Join(e.volumeDir("dvol"), "_data")+"\n" {
		t.Fatalf("docker volume inspect: %q", out)
	}
	if _, errOut, code := docker("run", "--rm", "-v", "dvol:/data", "busybox", "sh", "-c", "echo via docker > /data/f"); code != 0 {
		t.Fatalf("docker run -v: %q", errOut)
	}
	if out, _, _ := docker("run", "--rm", "-v", "dvol:/data:ro", "busybox", "cat", "/data/f"); out != "via docker\n" {
		t.Fatalf("docker run -v (second): %q", out)
	}
	id, _, _ := docker("create", "-v", "dvol:/data", "busybox")
	if _, errOut, code := docker("volume", "rm", "dvol"); code != 1 || !strings.Contains(errOut, "remove dvol: volume is in use - ["+strings.TrimSpace(id)+"]") {
		t.Fatalf("docker volume rm in use: %d %q", code, errOut)
	}
	docker("rm", strings.TrimSpace(id))
	if out, errOut, code := docker("volume", "rm", "dvol"); out != "dvol\n" || code != 0 {
		t.Fatalf("docker volume rm: %q %q", out, errOut)
	}
	if _, errOut, code := docker("volume", "inspect", "dvol"); code != 1 || !strings.Contains(errOut, "no such volume") {
		t.Fatalf("docker volume inspect after rm: %d %q", code, errOut)
	}
	e.assertClean()
}
