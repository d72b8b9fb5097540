package runtimecli

func newPause(g *globals) *command {
	return &command{
		name:  "pause",
		usage: "ID",
		short: "freeze every process of a container",
		args:  exactArgs("pause", 1, "a container ID"),
		run: func(args []string) error {
			c, err := g.load(args[0])
			if err != nil {
				return err
			}
			return c.Pause()
		},
	}
}
