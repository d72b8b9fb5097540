package runtimecli

func newStart(g *globals) *command {
	return &command{
		name:  "start",
		usage: "ID",
		short: "start the process of a created container",
		args:  exactArgs("start", 1, "a container ID"),
		run: func(args []string) error {
			c, err := g.load(args[0])
			if err != nil {
				return err
			}
			return c.Start()
		},
	}
}
