// Package cli is hako's docker-like command line: one file per verb, each
// a thin front that turns flags into Engine API calls through the client
// package. It never touches the engine's state directly.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/hako-dev/hako/internal/client"
	"github.com/spf13/cobra"
)

// Version is hako's version, set by main.
var Version = "dev"

// CLI holds the global flags and the streams commands write to.
type CLI struct {
	Host    string
	Root    string
	RunRoot string
	Out     io.Writer
	Err     io.Writer

	cl *client.Client
}

// StatusError carries an exit status through cobra (a container's, or
// 125 for hako's own errors).
type StatusError struct {
	Status int
	Err    error
}

func (e *StatusError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Status)
	}
	return e.Err.Error()
}

// NewRoot returns the root command. Commands given in extra (the runtime
// and daemon faces, wired by main) are added beside the client verbs.
func NewRoot(c *CLI, extra ...*cobra.Command) *cobra.Command {
	root := &cobra.Command{
		Use:           "hako",
		Short:         "hako (箱) is a container engine: docker's model in one small, fast binary",
		Version:       Version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetVersionTemplate("hako version {{.Version}}\n")
	root.SetOut(c.Out)
	root.SetErr(c.Err)
	pf := root.PersistentFlags()
	pf.StringVarP(&c.Host, "host", "H", os.Getenv("HAKO_HOST"), "daemon address: unix:///path or tcp://host:port (env HAKO_HOST; default: the socket in --runroot, starting a daemon if none answers)")
	pf.StringVar(&c.Root, "root", envOr("HAKO_ROOT", "/var/lib/hako"), "the daemon's state directory, when the CLI starts one (env HAKO_ROOT)")
	pf.StringVar(&c.RunRoot, "runroot", envOr("HAKO_RUNROOT", "/run/hako"), "the daemon's runtime directory and socket (env HAKO_RUNROOT)")
	root.AddCommand(newVersion(c), newInfo(c), newEvents(c), newLogin(c), newLogout(c), newManifest(c), newPull(c), newSearch(c), newImages(c), newRmi(c), newTag(c), newImage(c), newPush(c), newSave(c), newLoad(c), newImport(c), newHistory(c), newBuild(c), newBuilder(c), newSystem(c), newVolume(c), newNetwork(c))
	root.AddCommand(newRun(c), newCreate(c), newStart(c), newAttach(c), newExec(c), newLogs(c), newWait(c))
	root.AddCommand(newContainerVerbs(c)...)
	root.AddCommand(extra...)
	return root
}

// Main runs the command line and returns the exit status: the command's,
// or 125 when hako itself failed, as docker does.
func Main(args []string, extra ...*cobra.Command) int {
	c := &CLI{Out: os.Stdout, Err: os.Stderr}
	root := NewRoot(c, extra...)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return 0
	}
	var se *StatusError
	if errors.As(err, &se) {
		if se.Err != nil {
			fmt.Fprintf(c.Err, "hako: %v\n", se.Err)
		}
		return se.Status
	}
	fmt.Fprintf(c.Err, "hako: %v\n", err)
	return 125
}

// client returns a client connected to the daemon, starting one when
// none answers on the default socket.
func (c *CLI) client(ctx context.Context) (*client.Client, error) {
	if c.cl != nil {
		return c.cl, nil
	}
	cl, err := connect(ctx, c)
	if err != nil {
		return nil, err
	}
	c.cl = cl
	return cl, nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
