package image

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/hako-dev/hako/internal/errdefs"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// ApplyChanges applies Dockerfile instructions given with import's and
// commit's -c (CMD, ENTRYPOINT, ENV, WORKDIR, USER, EXPOSE, LABEL,
// STOPSIGNAL, VOLUME) to cfg.
func ApplyChanges(cfg *ocispec.ImageConfig, changes []string) error {
	for _, c := range changes {
		c = strings.TrimSpace(c)
		if c == "" {
			continue
		}
		instr, rest, _ := strings.Cut(c, " ")
		rest = strings.TrimSpace(rest)
		bad := func(why string) error {
			return fmt.Errorf("change %q: %s: %w", c, why, errdefs.ErrInvalidArgument)
		}
		switch strings.ToUpper(instr) {
		case "CMD":
			cfg.Cmd = cmdForm(rest)
		case "ENTRYPOINT":
			cfg.Entrypoint = cmdForm(rest)
		case "ENV":
			kvs, err := keyValues(rest)
			if err != nil {
				return bad(err.Error())
			}
			for _, kv := range kvs {
				cfg.Env = setEnv(cfg.Env, kv)
			}
		case "LABEL":
			kvs, err := keyValues(rest)
			if err != nil {
				return bad(err.Error())
			}
			if cfg.Labels == nil {
				cfg.Labels = map[string]string{}
			}
			for _, kv := range kvs {
				k, v, _ := strings.Cut(kv, "=")
				cfg.Labels[k] = v
			}
		case "WORKDIR":
			if !strings.HasPrefix(rest, "/") {
				return bad("WORKDIR must be absolute")
			}
			cfg.WorkingDir = rest
		case "USER":
			if rest == "" {
				return bad("USER needs a user")
			}
			cfg.User = rest
		case "EXPOSE":
			if cfg.ExposedPorts == nil {
				cfg.ExposedPorts = map[string]struct{}{}
			}
			for _, p := range strings.Fields(rest) {
				if !strings.Contains(p, "/") {
					p += "/tcp"
				}
				cfg.ExposedPorts[p] = struct{}{}
			}
		case "VOLUME":
			if cfg.Volumes == nil {
				cfg.Volumes = map[string]struct{}{}
			}
			// ["/a", "/b"], or paths separated by spaces: no shell.
			var vols []string
			if !strings.HasPrefix(rest, "[") || json.Unmarshal([]byte(rest), &vols) != nil {
				vols = strings.Fields(rest)
			}
			if len(vols) == 0 {
				return bad("VOLUME needs a path")
			}
			for _, v := range vols {
				cfg.Volumes[v] = struct{}{}
			}
		case "STOPSIGNAL":
			cfg.StopSignal = rest
		default:
			return bad("unsupported instruction (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR)")
		}
	}
	return nil
}

// cmdForm reads the exec form ["a", "b"] or the shell form "a b", which
// runs under /bin/sh -c as in a Dockerfile.
func cmdForm(s string) []string {
	var l []string
	if strings.HasPrefix(s, "[") && json.Unmarshal([]byte(s), &l) == nil {
		return l
	}
	return []string{"/bin/sh", "-c", s}
}

// keyValues reads "K=V K2=V2" or the legacy "K V".
func keyValues(s string) ([]string, error) {
	if !strings.Contains(s, "=") {
		k, v, ok := strings.Cut(s, " ")
		if !ok || k == "" {
			return nil, fmt.Errorf("want KEY=VALUE")
		}
		return []string{k + "=" + strings.TrimSpace(v)}, nil
	}
	var out []string
	for _, f := range strings.Fields(s) {
		if len(f) >= 2 && f[0] == '"' && f[len(f)-1] == '"' {
			f = f[1 : len(f)-1]
		}
		k, v, ok := strings.Cut(f, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%q: want KEY=VALUE", f)
		}
		out = append(out, k+"="+strings.Trim(v, `"`))
	}
	return out, nil
}

func setEnv(env []string, kv string) []string {
	k, _, _ := strings.Cut(kv, "=")
	for i, e := range env {
		if strings.HasPrefix(e, k+"=") {
			env[i] = kv
			return env
		}
	}
	return append(env, kv)
}
