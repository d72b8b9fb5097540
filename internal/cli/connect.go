package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/hako-dev/hako/internal/client"
)

// startTimeout bounds how long the CLI waits for a daemon it started.
const startTimeout = 15 * time.Second

// connect returns a client for the daemon: at --host when given (never
// starting anything there), else at <runroot>/hako.sock, where a daemon is
// started in the background if none answers, so that no set-up step is
// ever needed.
func connect(ctx context.Context, c *CLI) (*client.Client, error) {
	if c.Host != "" {
		cl, err := client.New(c.Host)
		if err != nil {
			return nil, err
		}
		return cl, cl.Ping(ctx)
	}
	sock := filepath.Join(c.RunRoot, "hako.sock")
	cl, err := client.New("unix://" + sock)
	if err != nil {
		return nil, err
	}
	err = cl.Ping(ctx)
	// A daemon that is exiting (killed, stopping) may still accept and
	// then drop connections for a moment: wait until it is gone.
	for i := 0; i < 50 && errors.Is(err, client.ErrDaemonGone); i++ {
		time.Sleep(50 * time.Millisecond)
		err = cl.Ping(ctx)
	}
	if err == nil || !errors.Is(err, client.ErrNoDaemon) {
		return cl, err
	}
	if err := startDaemon(c); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(startTimeout)
	for {
		if err = cl.Ping(ctx); err == nil {
			return cl, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("started a daemon, but it does not answer on %s after %s; see %s", sock, startTimeout, logPath(c))
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func logPath(c *CLI) string { return filepath.Join(c.RunRoot, "hako.log") }

// startDaemon runs "hako daemon" detached: its own session, stdio to the
// log file, not a child the CLI waits for.
func startDaemon(c *CLI) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("start the daemon: %w", err)
	}
	if err := os.MkdirAll(c.RunRoot, 0o711); err != nil {
		return fmt.Errorf("start the daemon: %w", err)
	}
	logf, err := os.OpenFile(logPath(c), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("start the daemon: %w", err)
	}
	defer logf.Close()
	cmd := exec.Command(exe, "daemon", "--root", c.Root, "--runroot", c.RunRoot)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	// The daemon must not inherit a client's -H.
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "HAKO_HOST=") {
			cmd.Env = append(cmd.Env, e)
		}
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start the daemon: %w", err)
	}
	// Reap it if it dies early, so the wait loop can report the log.
	go cmd.Wait()
	return nil
}
