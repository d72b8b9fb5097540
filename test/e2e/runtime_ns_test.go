package e2e

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/hako-dev/hako/internal/testutil"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// nsLinks returns /proc/PID/ns/KIND of each kind.
func nsLinks(t *testing.T, pid int, kinds []string) []string {
	t.Helper()
	var out []string
	for _, k := range kinds {
		l, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/ns/" + k)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, l)
	}
	return out
}

// TestRuntimeJoinNamespaces: a container configured with namespace paths
// starts in those namespaces (the forked init enters all but the pid
// namespace itself; the runtime enters that one around the fork), and has
// its own of the rest.
func TestRuntimeJoinNamespaces(t *testing.T) {
	r := newRT(t)
	a := id(t)
	sa := testutil.Spec(t, "sleep", "1000")
	r.must("run", "-d", "--bundle", testutil.Bundle(t, sa), a)
	apid := r.state(a).Pid

	joined := map[specs.LinuxNamespaceType]string{specs.NetworkNamespace: "net", specs.IPCNamespace: "ipc", specs.UTSNamespace: "uts", specs.PIDNamespace: "pid"}
	sb := testutil.Spec(t, "sleep", "1000")
	sb.Hostname = ""
	var nss []specs.LinuxNamespace
	for _, n := range sb.Linux.Namespaces {
		if _, ok := joined[n.Type]; !ok {
			nss = append(nss, n)
		}
	}
	for typ, k := range joined {
		nss = append(nss, specs.LinuxNamespace{Type: typ, Path: "/proc/" + strconv.Itoa(apid) + "/ns/" + k})
	}
	sb.Linux.Namespaces = nss
	b := id(t)
	r.must("run", "-d", "--bundle", testutil.Bundle(t, sb), b)
	bpid := r.state(b).Pid

	kinds := []string{"net", "ipc", "uts", "pid"}
	want, got := nsLinks(t, apid, kinds), nsLinks(t, bpid, kinds)
	for i, k := range kinds {
		if got[i] != want[i] {
			t.Errorf("%s: the joining container is in %s, want %s", k, got[i], want[i])
		}
	}
	if m := nsLinks(t, bpid, []string{"mnt"}); m[0] == nsLinks(t, apid, []string{"mnt"})[0] {
		t.Errorf("the joining container shares the other's mount namespace %s", m[0])
	}
	// In a's pid namespace, b's init is not pid 1.
	if out := r.must("exec", b, "sh", "-c", "echo $PPID; ps -o pid,comm | grep -c sleep"); strings.Fields(out)[1] != "2" {
		t.Errorf("b does not see both sleeps in the shared pid namespace: %q", out)
	}
	// The runtime is back in its own pid namespace: what it starts next
	// gets a pid namespace of its own.
	c := id(t)
	r.must("run", "-d", "--bundle", testutil.Bundle(t, testutil.Spec(t, "sleep", "1000")), c)
	if p := nsLinks(t, r.state(c).Pid, []string{"pid"}); p[0] == want[3] {
		t.Errorf("a container made after the join is in the joined pid namespace %s", p[0])
	}
	for _, x := range []string{c, b, a} {
		r.must("delete", "-f", x)
	}
}

// TestRuntimeExecNamespaces: an exec'd process is in every namespace of
// the container's init (the forked child enters all but the pid
// namespace itself; the runtime enters that one around the fork), and
// the runtime is back in its own pid namespace for what it forks next.
func TestRuntimeExecNamespaces(t *testing.T) {
	r := newRT(t)
	s := testutil.Spec(t, "sleep", "1000")
	have := map[specs.LinuxNamespaceType]bool{}
	for _, n := range s.Linux.Namespaces {
		have[n.Type] = true
	}
	for _, n := range []specs.LinuxNamespaceType{specs.NetworkNamespace, specs.CgroupNamespace} {
		if !have[n] {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: n})
		}
	}
	cid := id(t)
	r.must("run", "-d", "--bundle", testutil.Bundle(t, s), cid)
	pid := r.state(cid).Pid
	kinds := []string{"mnt", "pid", "net", "ipc", "uts", "cgroup"}
	var want []string
	for _, k := range kinds {
		l, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/ns/" + k)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, l)
	}
	for i := 0; i < 2; i++ { // twice: the second exec starts from wherever the first left the runtime
		out := r.must("exec", cid, "sh", "-c", "for n in "+strings.Join(kinds, " ")+"; do readlink /proc/self/ns/$n; done; echo $$")
		got := strings.Fields(out)
		if len(got) != len(kinds)+1 {
			t.Fatalf("exec output %q", out)
		}
		for j := range kinds {
			if got[j] != want[j] {
				t.Errorf("exec'd process in %s, the init in %s", got[j], want[j])
			}
		}
		if n, err := strconv.Atoi(got[len(kinds)]); err != nil || n > 100 {
			t.Errorf("exec'd process has pid %s in the container, want a small pid of its pid namespace", got[len(kinds)])
		}
	}
	r.must("delete", "-f", cid)
}

// TestRuntimeJoinUserNamespace: a container that joins another's user
// namespace by path makes its other new namespaces inside it (they are
// that user namespace's, so its root may change its mounts and name its
// host), as runc's do; a new PID namespace there has the container's
// process as its PID 1.
func TestRuntimeJoinUserNamespace(t *testing.T) {
	r := newRT(t)
	a := id(t)
	sa := testutil.Spec(t, "sleep", "1000")
	sa.Linux.Namespaces = append(sa.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
	sa.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 400000, Size: 65536}}
	sa.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 400000, Size: 65536}}
	r.must("run", "-d", "--bundle", testutil.Bundle(t, sa), a)
	apid := r.state(a).Pid
	ns := func(pid int, k string) string { return nsLinks(t, pid, []string{k})[0] }

	join := func(kinds map[specs.LinuxNamespaceType]string) *specs.Spec {
		s := testutil.Spec(t, "sleep", "1000")
		s.Hostname = "joiner"
		var nss []specs.LinuxNamespace
		for _, n := range s.Linux.Namespaces {
			if _, ok := kinds[n.Type]; !ok {
				nss = append(nss, n)
			}
		}
		for typ, k := range kinds {
			nss = append(nss, specs.LinuxNamespace{Type: typ, Path: "/proc/" + strconv.Itoa(apid) + "/ns/" + k})
		}
		s.Linux.Namespaces = nss
		return s
	}
	b := id(t)
	r.must("run", "-d", "--bundle", testutil.Bundle(t, join(map[specs.LinuxNamespaceType]string{specs.UserNamespace: "user", specs.PIDNamespace: "pid"})), b)
	bpid := r.state(b).Pid
	if ns(bpid, "user") != ns(apid, "user") || ns(bpid, "pid") != ns(apid, "pid") {
		t.Fatalf("b is not in a's user and pid namespaces")
	}
	for _, k := range []string{"mnt", "net", "uts", "ipc"} {
		if ns(bpid, k) == ns(apid, k) || ns(bpid, k) == ns(os.Getpid(), k) {
			t.Errorf("b's %s namespace is not its own", k)
		}
	}
	if out := r.must("exec", b, "sh", "-c", "cat /proc/self/uid_map; hostname"); strings.Join(strings.Fields(out), " ") != "0 400000 65536 joiner" {
		t.Errorf("in b: %q", out)
	}
	// A new PID namespace too: its PID 1 is the container's process, a
	// child of the holder that made it, whose exit is the process's.
	sc := join(map[specs.LinuxNamespaceType]string{specs.UserNamespace: "user"})
	sc.Process.Args = []string{"sh", "-c", "echo $$; cat /proc/self/uid_map; exit 7"}
	c := id(t)
	out, errOut, code := r.run("run", "--bundle", testutil.Bundle(t, sc), c)
	if code != 7 || strings.Join(strings.Fields(out), " ") != "1 0 400000 65536" {
		t.Errorf("a new PID namespace in a joined user namespace: exit %d: %q %q", code, out, errOut)
	}
	r.assertGone(c)
	d := id(t)
	r.must("run", "-d", "--bundle", testutil.Bundle(t, join(map[specs.LinuxNamespaceType]string{specs.UserNamespace: "user"})), d)
	dpid := r.state(d).Pid
	if ns(dpid, "user") != ns(apid, "user") || ns(dpid, "pid") == ns(apid, "pid") || ns(dpid, "pid") == ns(os.Getpid(), "pid") {
		t.Errorf("d's user namespace is not a's, or its pid namespace is not its own")
	}
	if out := r.must("exec", d, "sh", "-c", "ps -o pid,comm | grep sleep"); strings.Fields(out)[0] != "1" {
		t.Errorf("d's process is not its PID 1: %q", out)
	}
	r.must("delete", "-f", d)
	r.assertGone(d)
	for _, x := range []string{b, a} {
		r.must("delete", "-f", x)
	}
}
