package initproc

import (
	"github.com/hako-dev/hako/internal/runtime/process"
	"golang.org/x/sys/unix"
)

// exec enters a running container (the runtime already placed this process
// in the container's pid, network, ipc, uts and cgroup namespaces, and the
// user namespace, if any, was joined before this binary started; Main
// joined the container's cgroup) and executes the requested process there.
func (c *child) exec() error {
	cfg, err := c.config()
	if err != nil {
		return err
	}
	s := cfg.Spec
	if err := dialListener(s); err != nil {
		return err
	}
	if c.mntFD >= 0 {
		if err := joinMountNS(c.mntFD); err != nil {
			return err
		}
	}
	// Never keep the runtime's working directory: it is outside the
	// container (CVE-2024-21626).
	if err := unix.Chdir("/"); err != nil {
		return err
	}
	pr, err := prepare(cfg, s.Process)
	if err != nil {
		return err
	}
	if err := c.ready(pr); err != nil {
		return err
	}
	return pr.exec()
}

// ready creates the process's terminal if it wants one and tells the
// runtime the process is ready, passing the terminal's master side.
func (c *child) ready(pr *proc) error {
	var fds []int
	if pr.p.Terminal {
		master, err := pr.setupConsole()
		if err != nil {
			return err
		}
		// The runtime has its own copy once the message is sent.
		defer master.Close()
		fds = append(fds, int(master.Fd()))
	}
	return c.conn.Send(&process.Message{Type: process.MsgReady}, fds...)
}
