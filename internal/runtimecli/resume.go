package runtimecli

func newResume(g *globals) *command {
	return &command{
		name:  "resume",
		usage: "ID",
		short: "thaw a paused container",
		args:  exactArgs("resume", 1, "a container ID"),
		run: func(args []string) error {
			c, err := g.load(args[0])
			if err != nil {
				return err
			}
			return c.Resume()
		},
	}
}
