// Package e2e drives the built hako binary as users and other tools do:
// the runc-compatible runtime face first, then the daemon and CLI.
package e2e

import (
	"fmt"
	"os"
	goruntime "runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/hako-dev/hako/internal/runtime/seccomp"
	"github.com/hako-dev/hako/internal/testutil"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestMain(m *testing.M) {
	if calls := os.Getenv(enosysEnv); calls != "" {
		enosysExec(strings.Split(calls, ","), os.Args[1:])
	}
	code := m.Run()
	testutil.Cleanup()
	os.Exit(code)
}

// enosysEnv names system calls (comma-separated) that the test binary,
// started with it set, makes fail with ENOSYS before executing its
// arguments: a kernel older than those calls, for the program it runs and
// that program's children.
const enosysEnv = "HAKO_E2E_ENOSYS"

func enosysExec(calls, argv []string) {
	fail := func(err error) {
		fmt.Fprintf(os.Stderr, "enosys wrapper: %v\n", err)
		os.Exit(125)
	}
	if len(argv) == 0 {
		fail(fmt.Errorf("no program to run"))
	}
	// The filter is the calling thread's, which execve keeps.
	goruntime.LockOSThread()
	errno := uint(syscall.ENOSYS)
	cfg := &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls:      []specs.LinuxSyscall{{Names: calls, Action: specs.ActErrno, ErrnoRet: &errno}},
	}
	if _, err := seccomp.Load(cfg); err != nil {
		fail(err)
	}
	os.Unsetenv(enosysEnv)
	fail(syscall.Exec(argv[0], argv, os.Environ()))
}
