package cli

import (
	"errors"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
)

func newExport(c *CLI) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "export [OPTIONS] CONTAINER",
		Short: "export a container's filesystem as a tar archive",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) (retErr error) {
			ctx := ctxOf(cmd)
			if output == "" {
				if f, ok := c.Out.(interface{ Fd() uintptr }); ok && isTerminal(f.Fd()) {
					return &StatusError{Status: 1, Err: errors.New("refusing to write a tar archive to a terminal: use -o or redirect the output")}
				}
			}
			cl, err := c.client(ctx)
			if err != nil {
				return err
			}
			rc, err := cl.ContainerExport(ctx, args[0])
			if err != nil {
				return daemonError(c, err)
			}
			defer rc.Close()
			if output == "" {
				_, err := io.Copy(c.Out, rc)
				return err
			}
			// Written beside the target and renamed: never half an archive
			// under the name.
			tmp, err := os.CreateTemp(filepath.Dir(output), "."+filepath.Base(output)+".tmp*")
			if err != nil {
				return &StatusError{Status: 1, Err: err}
			}
			defer func() {
				if retErr != nil {
					os.Remove(tmp.Name())
				}
			}()
			if _, err := io.Copy(tmp, rc); err != nil {
				tmp.Close()
				return &StatusError{Status: 1, Err: err}
			}
			if err := tmp.Close(); err != nil {
				return &StatusError{Status: 1, Err: err}
			}
			if err := os.Chmod(tmp.Name(), 0o644); err != nil {
				return &StatusError{Status: 1, Err: err}
			}
			if err := os.Rename(tmp.Name(), output); err != nil {
				return &StatusError{Status: 1, Err: err}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "write to a file, instead of STDOUT")
	return cmd
}
