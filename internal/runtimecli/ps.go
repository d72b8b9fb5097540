package runtimecli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"github.com/hako-dev/hako/internal/errdefs"
)

func newPs(g *globals) *command {
	var format string
	cmd := &command{
		name:      "ps",
		usage:     "[flags] ID [PS_OPTIONS...]",
		short:     "list the processes of a container (runs ps(1) with PS_OPTIONS, default -ef)",
		flags:     newFlagSet(),
		stopAtArg: true,
		args: func(args []string) error {
			if len(args) < 1 {
				return fmt.Errorf("ps: expects a container ID: %w", errdefs.ErrInvalidArgument)
			}
			return nil
		},
		run: func(args []string) error {
			c, err := g.load(args[0])
			if err != nil {
				return err
			}
			pids, err := c.Processes()
			if err != nil {
				return err
			}
			switch format {
			case "json":
				if pids == nil {
					pids = []int{}
				}
				return json.NewEncoder(os.Stdout).Encode(pids)
			case "table", "":
			default:
				return fmt.Errorf("--format %q: must be table or json: %w", format, errdefs.ErrInvalidArgument)
			}
			psArgs := args[1:]
			if len(psArgs) == 0 {
				psArgs = []string{"-ef"}
			}
			out, err := exec.Command("ps", psArgs...).Output()
			if err != nil {
				return fmt.Errorf("ps %s: %w", strings.Join(psArgs, " "), err)
			}
			return filterPs(out, pids)
		},
	}
	cmd.flags.StringVarP(&format, "format", "f", "table", "table or json")
	return cmd
}

// filterPs prints ps's header and the lines whose PID column is one of pids.
func filterPs(out []byte, pids []int) error {
	lines := bytes.Split(bytes.TrimRight(out, "\n"), []byte("\n"))
	if len(lines) == 0 {
		return nil
	}
	col := -1
	for i, h := range strings.Fields(string(lines[0])) {
		if h == "PID" {
			col = i
			break
		}
	}
	if col < 0 {
		return fmt.Errorf("ps output has no PID column: %w", errdefs.ErrInvalidArgument)
	}
	want := make(map[int]bool, len(pids))
	for _, p := range pids {
		want[p] = true
	}
	fmt.Println(string(lines[0]))
	for _, l := range lines[1:] {
		f := strings.Fields(string(l))
		if len(f) <= col {
			continue
		}
		if p, err := strconv.Atoi(f[col]); err == nil && want[p] {
			fmt.Println(string(l))
		}
	}
	return nil
}
