package cli

import (
	"context"
	"fmt"
	goruntime "runtime"
	"text/tabwriter"

	"github.com/hako-dev/hako/internal/client"
	"github.com/spf13/cobra"
)

func newVersion(c *CLI) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "show the client's and the daemon's versions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runVersion(cmd.Context(), c)
		},
	}
}

func runVersion(ctx context.Context, c *CLI) error {
	if ctx == nil {
		ctx = context.Background()
	}
	w := tabwriter.NewWriter(c.Out, 0, 8, 1, ' ', 0)
	fmt.Fprintf(w, "Client:\n Version:\t%s\n API version:\t%s\n Go version:\t%s\n OS/Arch:\t%s/%s\n", Version, client.APIVersion, goruntime.Version(), goruntime.GOOS, goruntime.GOARCH)
	w.Flush()
	// Asking for a version does not start a daemon.
	host := c.Host
	if host == "" {
		host = "unix://" + c.RunRoot + "/hako.sock"
	}
	cl, err := client.New(host)
	if err == nil {
		err = cl.Ping(ctx)
	}
	if err != nil {
		return &StatusError{Status: 1, Err: err}
	}
	v, err := cl.Version(ctx)
	if err != nil {
		return &StatusError{Status: 1, Err: err}
	}
	fmt.Fprintf(w, "\nServer: %s\n", v.Platform.Name)
	for _, comp := range v.Components {
		fmt.Fprintf(w, " %s:\n  Version:\t%s\n", comp.Name, comp.Version)
		for _, k := range []string{"ApiVersion", "MinAPIVersion", "GoVersion", "Os", "Arch"} {
			if d, ok := comp.Details[k]; ok {
				fmt.Fprintf(w, "  %s:\t%s\n", map[string]string{"ApiVersion": "API version", "MinAPIVersion": "Minimum API version", "GoVersion": "Go version", "Os": "OS", "Arch": "Arch"}[k], d)
			}
		}
	}
	return w.Flush()
}
