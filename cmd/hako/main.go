// Command hako is a container engine in one binary with several faces:
//
//	hako VERB ...          the docker-like command line
//	hako runtime VERB ...  the runc-compatible OCI runtime
//	hako-runtime VERB ...  the same runtime, when invoked through a link of
//	                       that name (for podman --runtime, containerd, ...)
//	init, docker-init, hako-init -- ARGV...
//	                       the init of "run --init" (tini compatible), when
//	                       bind-mounted into a container at /dev/init
//	pause                  the process holding a Kubernetes pod's namespaces,
//	                       when bind-mounted into a pod's sandbox at /pause
//
// It also re-executes itself as the init of every container it creates;
// that path is taken first and touches nothing else.
//
// The container init must start fast and touch no file of the container's
// cgroup: Go's cgroup-aware GOMAXPROCS (which reads the cgroup's cpu limit
// at startup and rereads it periodically) is turned off.
//
//go:debug containermaxprocs=0
//go:debug updatemaxprocs=0
package main

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/hako-dev/hako/internal/pause"
	"github.com/hako-dev/hako/internal/runtime/initproc"
	"github.com/hako-dev/hako/internal/runtimecli"
	"github.com/hako-dev/hako/internal/tini"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

func main() {
	if initproc.Mode() != "" {
		initproc.Main() // never returns (and already ran, from initproc's init)
	}
	prog := filepath.Base(os.Args[0])
	switch prog {
	case "init", "docker-init", "hako-init": // run --init: bind-mounted at /dev/init
		tini.Version = version
		os.Exit(tini.Main(os.Args[1:]))
	case "pause":
		os.Exit(pause.Main(os.Args[1:]))
	}
	runtimecli.Version = version
	if strings.HasPrefix(prog, "hako-runtime") {
		os.Exit(runtimecli.Main(prog, os.Args[1:]))
	}
	os.Exit(cliMain(os.Args[1:]))
}
