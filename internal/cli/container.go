package cli

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/hako-dev/hako/internal/client"
	"github.com/spf13/cobra"
)

// newContainerVerbs returns the top-level container verbs of this file's
// family, registered by NewRoot.
func newContainerVerbs(c *CLI) []*cobra.Command {
	return []*cobra.Command{newPs(c), newInspect(c, ""), newRm(c), newStop(c), newRestart(c), newKill(c), newRename(c),
		newPause(c), newUnpause(c), newTop(c), newStats(c), newCp(c), newDiff(c), newCommit(c), newExport(c), newUpdate(c),
		newPort(c), newNs(c), newContainer(c)}
}

// newContainer is `hako container VERB`, docker's management command: a
// fresh instance of each container verb, `ls` (list, ps) for ps, `prune`.
func newContainer(c *CLI) *cobra.Command {
	cmd := &cobra.Command{Use: "container", Short: "manage containers", Args: cobra.NoArgs}
	ls := newPs(c)
	ls.Use, ls.Aliases, ls.Short = "ls [OPTIONS]", []string{"list", "ps"}, "list containers"
	rm := newRm(c)
	rm.Aliases = []string{"remove"}
	cmd.AddCommand(ls, rm, newInspect(c, "container"), newStop(c), newRestart(c), newKill(c), newRename(c), newPause(c),
		newUnpause(c), newTop(c), newStats(c), newCp(c), newDiff(c), newCommit(c), newExport(c), newUpdate(c), newPort(c),
		newContainerPrune(c),
		// Written beside these, registered at the top level by root.go too.
		newRun(c), newCreate(c), newStart(c), newAttach(c), newExec(c), newLogs(c), newWait(c))
	return cmd
}

// daemonError reports an error as docker does ("Error response from
// daemon: No such container: x" for the daemon's) and exits with 1.
func daemonError(c *CLI, err error) error {
	printError(c, err)
	return &StatusError{Status: 1}
}

func printError(c *CLI, err error) {
	var ae *client.Error
	if errors.As(err, &ae) {
		fmt.Fprintf(c.Err, "Error response from daemon: %s\n", ae.Msg)
		return
	}
	fmt.Fprintf(c.Err, "hako: %v\n", err)
}

// eachName runs op on every named object (several at a time), printing
// each name that succeeded, in order, and each error. skip tells errors
// that are no failure (rm -f of a missing container).
func eachName(ctx context.Context, c *CLI, names []string, op func(ctx context.Context, name string) error, skip func(error) bool) error {
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i, n := range names {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			errs[i] = op(ctx, n)
		}()
	}
	wg.Wait()
	failed := false
	for i, n := range names {
		switch err := errs[i]; {
		case err == nil:
			fmt.Fprintln(c.Out, n)
		case skip != nil && skip(err):
		default:
			failed = true
			printError(c, err)
		}
	}
	if failed {
		return &StatusError{Status: 1}
	}
	return nil
}
