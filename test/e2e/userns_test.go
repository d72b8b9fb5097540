package e2e

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// --userns-remap (here hako's UID:GID:SIZE form): every container gets a
// user namespace whose root is UID 300000 on the host; its image layers
// are mounted idmapped, so the image's files are its root's; what it
// writes is stored with host IDs and leaves it (export, cp, commit) with
// its own; --userns=host opts out.
func TestContainerUsernsRemap(t *testing.T) {
	e := newHakoEnv(t)
	e.env = append(e.env, "HAKO_USERNS_REMAP=300000:300000:65536")
	// The remapped root reaches the files the runtime bind-mounts through
	// the daemon's directories (0711 as /var/lib/hako is), not through a
	// test's private temporary directory.
	for _, d := range []string{filepath.Dir(e.root), filepath.Dir(filepath.Dir(e.root))} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	e.busybox()
	out := e.must("run", "--rm", "busybox", "sh", "-c", "id -u; cat /proc/self/uid_map; touch /new && stat -c '%u %g' / /new /etc/passwd /etc/hosts; echo x > /etc/passwd")
	if f := strings.Fields(out); strings.Join(f, " ") != "0 0 300000 65536 0 0 0 0 0 0 0 0" {
		t.Fatalf("in a remapped container: %q", out)
	}
	if got := e.must("info", "--format", "{{.SecurityOptions}}"); !strings.Contains(got, "name=userns") {
		t.Errorf("info's security options: %q", got)
	}
	id := strings.TrimSpace(e.must("run", "-d", "--name", "web", "-v", "uvol:/data", "busybox", "sh", "-c", "echo hi > /data/f; mkdir /www; echo page > /www/index.html; exec httpd -f -p 8080 -h /www"))
	pid := e.format("web", "{{.State.Pid}}")
	status, _ := os.ReadFile("/proc/" + pid + "/status")
	if !strings.Contains(string(status), "\nUid:\t300000\t300000\t300000\t300000\n") {
		t.Fatalf("the container's process on the host:\n%s", status)
	}
	if mine, _ := os.Readlink("/proc/self/ns/user"); mine == "" || func() bool { theirs, _ := os.Readlink("/proc/" + pid + "/ns/user"); return theirs == mine }() {
		t.Fatal("the container shares the host's user namespace")
	}
	if got := e.must("exec", "web", "sh", "-c", "id -u; cat /proc/self/uid_map"); strings.Join(strings.Fields(got), " ") != "0 0 300000 65536" {
		t.Fatalf("exec: %q", got)
	}
	// Reached over the network by another remapped container.
	ip := e.format("web", "{{.NetworkSettings.IPAddress}}")
	var page string
	for range 20 {
		if page, _, _ = e.hako("run", "--rm", "busybox", "wget", "-qO-", "http://"+ip+":8080/"); page == "page\n" {
			break
		}
	}
	if page != "page\n" {
		t.Fatalf("wget: %q", page)
	}
	// The volume and the upper layer hold host IDs.
	var st [2]os.FileInfo
	vol := strings.TrimSpace(e.must("volume", "inspect", "-f", "{{.Mountpoint}}", "uvol"))
	upper := e.format("web", "{{.GraphDriver.Data.UpperDir}}")
	for i, p := range []string{filepath.Join(vol, "f"), filepath.Join(upper, "www", "index.html")} {
		var err error
		if st[i], err = os.Stat(p); err != nil {
			t.Fatal(err)
		}
		if owner := ownerOf(st[i]); owner != "300000:300000" {
			t.Errorf("%s on the host: %s", p, owner)
		}
	}
	// Leaving the container: its own IDs.
	exp := e.cmd("export", "web")
	var expOut bytes.Buffer
	exp.Stdout = &expOut
	if err := exp.Run(); err != nil {
		t.Fatal(err)
	}
	if owners := tarOwners(t, &expOut, "www/index.html", "etc/passwd"); owners != "0:0 0:0" {
		t.Errorf("export: %s", owners)
	}
	cpOut := e.cmd("cp", "web:/www/index.html", "-")
	var cpBuf bytes.Buffer
	cpOut.Stdout = &cpBuf
	if err := cpOut.Run(); err != nil {
		t.Fatal(err)
	}
	if owners := tarOwners(t, &cpBuf, "index.html"); owners != "0:0" {
		t.Errorf("cp out: %s", owners)
	}
	src := filepath.Join(t.TempDir(), "in.txt")
	os.WriteFile(src, []byte("in\n"), 0o644)
	e.must("cp", src, "web:/www/")
	if got := e.must("exec", "web", "stat", "-c", "%u:%g", "/www/in.txt"); got != "0:0\n" {
		t.Errorf("cp in: owned by %q in the container", got)
	}
	e.must("commit", "web", "webimg")
	if got := e.must("run", "--rm", "--userns", "host", "webimg", "stat", "-c", "%u:%g", "/www/index.html", "/www/in.txt"); got != "0:0\n0:0\n" {
		t.Errorf("the committed layer's owners: %q", got)
	}
	// Opting out, and what cannot go with a user namespace.
	if got := e.must("run", "--rm", "--userns", "host", "busybox", "cat", "/proc/self/uid_map"); strings.Join(strings.Fields(got), " ") != "0 0 4294967295" {
		t.Errorf("--userns=host: %q", got)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--privileged"}, "privileged mode is incompatible with user namespaces"},
		{[]string{"--pid", "host"}, "cannot share the host's PID or IPC namespace"},
	} {
		if _, errOut, code := e.hako(append(append([]string{"run", "--rm"}, c.args...), "busybox", "true")...); code == 0 || !strings.Contains(errOut, c.want) {
			t.Errorf("run %v: exit %d: %q, want %q", c.args, code, errOut, c.want)
		}
	}
	// Joining another remapped container's namespaces: its user
	// namespace is joined, the rest made inside it (a PID namespace of
	// its own too).
	if got := e.must("run", "--rm", "--net", "container:web", "busybox", "sh", "-c", "echo $$; wget -qO- localhost:8080; cat /proc/self/uid_map"); strings.Join(strings.Fields(got), " ") != "1 page 0 300000 65536" {
		t.Errorf("joining web's network namespace: %q", got)
	}
	if got := e.must("run", "--rm", "--pid", "container:web", "--net", "container:web", "busybox", "sh", "-c", "wget -qO- localhost:8080; ps -o pid,comm | grep -c httpd; cat /proc/self/uid_map"); strings.Join(strings.Fields(got), " ") != "page 1 0 300000 65536" {
		t.Errorf("joining web's namespaces: %q", got)
	}
	e.must("rm", "-f", "web")
	e.must("volume", "rm", "uvol")
	e.assertClean(id)
}

func ownerOf(fi os.FileInfo) string {
	st := fi.Sys().(*syscall.Stat_t)
	return strconv.Itoa(int(st.Uid)) + ":" + strconv.Itoa(int(st.Gid))
}

// tarOwners lists uid:gid of the named entries of a tar stream.
func tarOwners(t *testing.T, r io.Reader, names ...string) string {
	t.Helper()
	found := map[string]string{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		found[strings.TrimPrefix(h.Name, "./")] = strconv.Itoa(h.Uid) + ":" + strconv.Itoa(h.Gid)
	}
	var out []string
	for _, n := range names {
		out = append(out, found[n])
	}
	return strings.Join(out, " ")
}
