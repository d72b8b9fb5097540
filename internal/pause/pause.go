// Package pause is the process that holds a Kubernetes pod's namespaces
// (the "infra" or "pause" container), as kubernetes' pause.c: it sleeps
// until SIGINT or SIGTERM and exits 0, and reaps every child re-parented
// to it (it is PID 1 of a pod that shares its PID namespace).
//
// The engine bind-mounts the hako binary at /pause in an empty image, so
// no pause image has to be pulled; the command dispatches on the name it
// was called by ("pause") to Main.
package pause

import (
	"os"
	"os/signal"

	"golang.org/x/sys/unix"
)

// Main runs the pause process; it returns the exit status.
func Main(args []string) int {
	if len(args) > 0 && (args[0] == "-v" || args[0] == "--version") {
		os.Stdout.WriteString("hako pause\n")
		return 0
	}
	return wait(nil)
}

// wait handles signals until SIGINT or SIGTERM; ready is called once
// they are caught.
func wait(ready func()) int {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGCHLD)
	if ready != nil {
		ready()
	}
	for s := range sigs {
		if s != unix.SIGCHLD {
			return 0
		}
		for {
			var ws unix.WaitStatus
			pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
	return 0
}
