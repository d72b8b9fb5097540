package linux

import (
	"os"
	"os/exec"
	"slices"
	"syscall"
	"testing"
)

func TestForeignNamespaces(t *testing.T) {
	own, err := ForeignNamespaces(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if len(own) != 0 {
		t.Errorf("the test's own process is in foreign namespaces: %v", own)
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root for new namespaces")
	}
	cmd := exec.Command("sleep", "60")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUTS | syscall.CLONE_NEWNET}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	kinds, err := ForeignNamespaces(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, k := range kinds {
		names = append(names, k.Spec)
	}
	slices.Sort(names)
	if want := []string{"network", "uts"}; !slices.Equal(names, want) {
		t.Errorf("foreign namespaces of a child in new uts and net namespaces: %v, want %v", names, want)
	}
	if _, err := ForeignNamespaces(1 << 30); err == nil {
		t.Error("no error for a pid that does not exist")
	}
}
