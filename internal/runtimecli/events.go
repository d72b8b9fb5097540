package runtimecli

import (
	"encoding/json"
	"os"
	"time"

	"github.com/hako-dev/hako/internal/runtime"
)

type event struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	Data any    `json:"data,omitempty"`
}

func newEvents(g *globals) *command {
	var interval time.Duration
	var stats bool
	cmd := &command{
		name:  "events",
		usage: "[flags] ID",
		short: "print a container's resource usage as JSON events (once with --stats)",
		flags: newFlagSet(),
		args:  exactArgs("events", 1, "a container ID"),
		run: func(args []string) error {
			c, err := g.load(args[0])
			if err != nil {
				return err
			}
			enc := json.NewEncoder(os.Stdout)
			emit := func() error {
				s, err := c.Stats()
				if err != nil {
					return err
				}
				return enc.Encode(event{Type: "stats", ID: c.ID(), Data: s})
			}
			if stats {
				return emit()
			}
			var lastOOM uint64
			for {
				s, err := c.Stats()
				if err != nil {
					if c.State().Status == runtime.StatusStopped {
						return nil
					}
					return err
				}
				if s.OOMKills > lastOOM {
					if err := enc.Encode(event{Type: "oom", ID: c.ID()}); err != nil {
						return err
					}
					lastOOM = s.OOMKills
				}
				if err := enc.Encode(event{Type: "stats", ID: c.ID(), Data: s}); err != nil {
					return err
				}
				time.Sleep(interval)
			}
		},
	}
	cmd.flags.DurationVar(&interval, "interval", 5*time.Second, "time between stats events")
	cmd.flags.BoolVar(&stats, "stats", false, "print the current stats once and exit")
	return cmd
}
