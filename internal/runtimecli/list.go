package runtimecli

import (
	"encoding/json"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/hako-dev/hako/internal/errdefs"
	"github.com/hako-dev/hako/internal/runtime"
)

func newList(g *globals) *command {
	var format string
	var quiet bool
	cmd := &command{
		name:    "list",
		aliases: []string{"ls"},
		usage:   "[flags]",
		short:   "list containers",
		flags:   newFlagSet(),
		args:    exactArgs("list", 0, "no arguments"),
		run: func(args []string) error {
			cs, err := g.runtime().List()
			if err != nil {
				return err
			}
			states := make([]*runtime.State, 0, len(cs))
			for _, c := range cs {
				states = append(states, c.State())
			}
			if quiet {
				for _, s := range states {
					fmt.Println(s.ID)
				}
				return nil
			}
			switch format {
			case "json":
				return json.NewEncoder(os.Stdout).Encode(states)
			case "table", "":
			default:
				return fmt.Errorf("--format %q: must be table or json: %w", format, errdefs.ErrInvalidArgument)
			}
			w := tabwriter.NewWriter(os.Stdout, 12, 1, 3, ' ', 0)
			fmt.Fprint(w, "ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER\n")
			for _, s := range states {
				fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\n", s.ID, s.Pid, s.Status, s.Bundle, s.Created.Format(time.RFC3339Nano), s.Owner)
			}
			return w.Flush()
		},
	}
	cmd.flags.StringVarP(&format, "format", "f", "table", "table or json")
	cmd.flags.BoolVarP(&quiet, "quiet", "q", false, "print only the IDs")
	return cmd
}
