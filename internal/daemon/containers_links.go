package daemon

import (
	"cmp"
	"fmt"
	"net/netip"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/hako-dev/hako/internal/daemon/container"
	"github.com/hako-dev/hako/internal/errdefs"
)

// link is a --link of a starting container, resolved: the container it
// names, running, and its address on a network both are on.
type link struct {
	alias    string
	name     string // the linked container's name, without "/"
	hostname string
	ip       netip.Addr
	// legacy says the network is the default bridge, where docker also
	// gives the linking container the linked one's address, ports and
	// environment as variables.
	legacy bool
	env    []string
	ports  []linkPort
}

type linkPort struct {
	num   uint16
	proto string
}

// resolveLinks resolves c's --link entries ("name" or "name:alias"). A
// linked container must run and share a network with c. c's lock is held;
// the linked containers' fields are read as namespaceJoins reads them.
func (d *Daemon) resolveLinks(c *container.Container) ([]link, error) {
	var out []link
	for _, l := range c.HostConfig.Links {
		name, alias, ok := strings.Cut(l, ":")
		if !ok {
			alias = name
		}
		name, alias = strings.TrimPrefix(name, "/"), path.Base(alias)
		other, err := d.containers.Get(name)
		if err != nil {
			return nil, fmt.Errorf("could not get container for %s: %w", name, err)
		}
		if other.ID == c.ID {
			return nil, fmt.Errorf("a container cannot link to itself: %w", errdefs.ErrInvalidArgument)
		}
		if !other.Running() {
			return nil, fmt.Errorf("cannot link to a non running container: %s AS %s/%s: %w", other.Name, c.Name, alias, errdefs.ErrConflict)
		}
		lk := link{alias: alias, name: strings.TrimPrefix(other.Name, "/"), hostname: other.Config.Hostname}
		if lk.hostname == "" {
			lk.hostname = other.ID[:12]
		}
		if other.NetworkSettings != nil {
			for _, n := range d.endpointNames(c) {
				if es := other.NetworkSettings.Networks[n]; es != nil && es.IPAddress.IsValid() {
					lk.ip, lk.legacy = es.IPAddress, n == "bridge"
					break
				}
			}
		}
		if !lk.ip.IsValid() {
			return nil, fmt.Errorf("cannot link to %s: it is on none of %s's networks: %w", other.Name, c.Name, errdefs.ErrInvalidArgument)
		}
		if lk.legacy {
			lk.env = other.Config.Env
			for p := range other.Config.ExposedPorts {
				lk.ports = append(lk.ports, linkPort{p.Num(), string(p.Proto())})
			}
			slices.SortFunc(lk.ports, func(a, b linkPort) int {
				return cmp.Or(cmp.Compare(a.num, b.num), strings.Compare(a.proto, b.proto))
			})
		}
		out = append(out, lk)
	}
	return out, nil
}

// hostsLine is a link's /etc/hosts line: address, alias, hostname, name.
func (l link) hostsLine() string {
	names := []string{l.alias}
	for _, n := range []string{l.hostname, l.name} {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return l.ip.String() + "\t" + strings.Join(names, " ") + "\n"
}

// linkEnv is the variables docker's legacy links give on the default
// bridge: ALIAS_NAME, ALIAS_PORT (the lowest exposed port) and
// ALIAS_PORT_<num>_<PROTO>[_ADDR|_PORT|_PROTO] per exposed port, and
// ALIAS_ENV_<name> per variable of the linked container (but HOME and
// PATH).
func (l link) linkEnv(parent string) []string {
	if !l.legacy {
		return nil
	}
	prefix := strings.ToUpper(strings.ReplaceAll(l.alias, "-", "_"))
	env := []string{prefix + "_NAME=/" + strings.TrimPrefix(parent, "/") + "/" + l.alias}
	for i, p := range l.ports {
		url := p.proto + "://" + netip.AddrPortFrom(l.ip, p.num).String()
		if i == 0 {
			env = append(env, prefix+"_PORT="+url)
		}
		k := prefix + "_PORT_" + strconv.Itoa(int(p.num)) + "_" + strings.ToUpper(p.proto)
		env = append(env, k+"="+url, k+"_ADDR="+l.ip.String(), k+"_PORT="+strconv.Itoa(int(p.num)), k+"_PROTO="+p.proto)
	}
	for _, kv := range l.env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "HOME" || k == "PATH" {
			continue
		}
		env = append(env, prefix+"_ENV_"+k+"="+v)
	}
	return env
}
