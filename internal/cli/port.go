package cli

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/spf13/cobra"
)

func newPort(c *CLI) *cobra.Command {
	return &cobra.Command{
		Use:   "port CONTAINER [PRIVATE_PORT[/PROTO]]",
		Short: "list port mappings or a specific mapping for the container",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := ctxOf(cmd)
			cl, err := c.client(ctx)
			if err != nil {
				return err
			}
			r, _, err := cl.ContainerInspect(ctx, args[0], false)
			if err != nil {
				return daemonError(c, err)
			}
			private := ""
			if len(args) == 2 {
				private = args[1]
			}
			lines, err := portLines(r, args[0], private)
			if err != nil {
				return &StatusError{Status: 1, Err: err}
			}
			for _, l := range lines {
				fmt.Fprintln(c.Out, l)
			}
			return nil
		},
	}
}

// portLines is port's output: "80/tcp -> 0.0.0.0:8080" for every
// published port, or the host addresses of one ("0.0.0.0:8080").
func portLines(r container.InspectResponse, name, private string) ([]string, error) {
	var ports network.PortMap
	if r.NetworkSettings != nil {
		ports = r.NetworkSettings.Ports
	}
	hostAddr := func(b network.PortBinding) string {
		ip := ""
		if b.HostIP.IsValid() {
			ip = b.HostIP.String()
		}
		return net.JoinHostPort(ip, b.HostPort)
	}
	var out []string
	if private != "" {
		p, err := network.ParsePort(private)
		if err != nil {
			return nil, err
		}
		bs := ports[p]
		if len(bs) == 0 {
			return nil, fmt.Errorf("no public port '%s' published for %s", private, name)
		}
		for _, b := range bs {
			out = append(out, hostAddr(b))
		}
	} else {
		for p, bs := range ports {
			for _, b := range bs {
				out = append(out, p.String()+" -> "+hostAddr(b))
			}
		}
	}
	slices.SortFunc(out, naturalCompare)
	return out, nil
}

// naturalCompare orders strings with their digit runs compared as
// numbers: "80/tcp" before "443/tcp", "[::]:80" after "0.0.0.0:80".
func naturalCompare(a, b string) int {
	for a != "" && b != "" {
		da, db := digitPrefix(a), digitPrefix(b)
		if da != "" && db != "" {
			na, _ := strconv.ParseUint(da, 10, 64)
			nb, _ := strconv.ParseUint(db, 10, 64)
			if na != nb {
				if na < nb {
					return -1
				}
				return 1
			}
			a, b = a[len(da):], b[len(db):]
			continue
		}
		if a[0] != b[0] {
			return int(a[0]) - int(b[0])
		}
		a, b = a[1:], b[1:]
	}
	return len(a) - len(b)
}

func digitPrefix(s string) string {
	i := strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' })
	if i < 0 {
		return s
	}
	return s[:i]
}
