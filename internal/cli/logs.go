package cli

import (
	"fmt"
	"io"

	"github.com/hako-dev/hako/internal/client"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/spf13/cobra"
)

func newLogs(c *CLI) *cobra.Command {
	var o client.LogsOptions
	var since, until string
	cmd := &cobra.Command{
		Use:                   "logs [OPTIONS] CONTAINER",
		Short:                 "fetch the logs of a container",
		Args:                  needArgs(1, 1),
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := ctxOf(cmd)
			var err error
			if o.Since, err = parseCLITime(since); err != nil {
				return fmt.Errorf("--since: %w", err)
			}
			if o.Until, err = parseCLITime(until); err != nil {
				return fmt.Errorf("--until: %w", err)
			}
			cl, err := c.client(ctx)
			if err != nil {
				return err
			}
			ctr, _, err := cl.ContainerInspect(ctx, args[0], false)
			if err != nil {
				return err
			}
			o.Stdout, o.Stderr = true, true
			rc, err := cl.ContainerLogs(ctx, ctr.ID, o)
			if err != nil {
				return err
			}
			defer rc.Close()
			if ctr.Config != nil && ctr.Config.Tty {
				_, err = io.Copy(c.Out, rc)
			} else {
				_, err = stdcopy.StdCopy(c.Out, c.Err, rc)
			}
			return err
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.Follow, "follow", "f", false, "follow log output")
	f.BoolVarP(&o.Timestamps, "timestamps", "t", false, "show timestamps")
	f.BoolVar(&o.Details, "details", false, "show extra details provided to logs")
	f.StringVarP(&o.Tail, "tail", "n", "all", "number of lines to show from the end of the logs")
	f.StringVar(&since, "since", "", `show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)`)
	f.StringVar(&until, "until", "", `show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)`)
	cmd.SetFlagErrorFunc(badFlag)
	return cmd
}
