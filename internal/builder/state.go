package builder

import (
	"slices"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
)

var defaultShell = []string{"/bin/sh", "-c"}

// build is the state of a build: what holds for all of it, then the
// stage being built.
type build struct {
	be     Backend
	rep    Reporter
	ctxDir string
	o      Options

	stages []instructions.Stage
	// stageImages are the images of the stages built so far.
	stageImages map[int]string
	step, total int
	// metaArgs are the ARGs before the first FROM, with their values.
	metaArgs []string
	lex      *shell.Lex

	// The stage being built, cur: its image ("" while it is scratch with no
	// layer yet) and that image's configuration.
	cur   int
	image string
	cfg   dockerspec.DockerOCIImageConfig
	// args are the ARGs the stage declared so far with their values, in
	// order.
	args []string
	// cmdSet says the stage has a CMD: an ENTRYPOINT keeps it.
	cmdSet bool
	// usedArgs are the --build-args some ARG declared.
	usedArgs map[string]bool
}

// proxyArgs are the build args RUN sees without an ARG, as docker's; they
// stay out of the history and the cache key.
var proxyArgs = []string{"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"}

// shell is what shell-form instructions run with.
func (b *build) shell() []string {
	if len(b.cfg.Shell) > 0 {
		return b.cfg.Shell
	}
	return defaultShell
}

// declareArg records an ARG: a --build-arg overrides its default, and a
// bare ARG takes the value of the ARG of that name before FROM.
func (b *build) declareArg(kv instructions.KeyValuePairOptional) {
	v, ok := "", false
	for _, m := range b.metaArgs {
		if mv, found := strings.CutPrefix(m, kv.Key+"="); found {
			v, ok = mv, true
		}
	}
	if kv.Value != nil {
		v, ok = *kv.Value, true
	}
	if ba, found := b.o.BuildArgs[kv.Key]; found && ba != nil {
		v, ok = *ba, true
		if b.usedArgs == nil {
			b.usedArgs = map[string]bool{}
		}
		b.usedArgs[kv.Key] = true
	}
	b.args = slices.DeleteFunc(b.args, func(e string) bool { return strings.HasPrefix(e, kv.Key+"=") })
	if ok {
		b.args = append(b.args, kv.Key+"="+v)
	}
}

// env is what $VAR expands against and what RUN sees: the ARGs, then the
// image's ENV overriding them.
func (b *build) env() []string {
	env := append([]string(nil), b.args...)
	return b.overlayEnv(env)
}

// runEnv is what RUN sees: env, with the proxy build args.
func (b *build) runEnv() []string {
	var env []string
	for _, k := range proxyArgs {
		if v, ok := b.o.BuildArgs[k]; ok && v != nil && !slices.ContainsFunc(b.args, func(a string) bool { return strings.HasPrefix(a, k+"=") }) {
			env = append(env, k+"="+*v)
		}
	}
	return b.overlayEnv(append(env, b.args...))
}

// unusedArgs are the --build-args no ARG declared, but for the proxy
// ones, sorted.
func (b *build) unusedArgs() []string {
	var out []string
	for k := range b.o.BuildArgs {
		if !b.usedArgs[k] && !slices.Contains(proxyArgs, k) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

func (b *build) overlayEnv(env []string) []string {
	for _, e := range b.cfg.Env {
		k, _, _ := strings.Cut(e, "=")
		env = slices.DeleteFunc(env, func(a string) bool { return strings.HasPrefix(a, k+"=") })
		env = append(env, e)
	}
	return env
}

func (b *build) expand(word string) (string, error) {
	return b.expandIn(word, b.env())
}

func (b *build) expandIn(word string, env []string) (string, error) {
	if b.lex == nil {
		b.lex = shell.NewLex(parser.DefaultEscapeToken)
	}
	s, _, err := b.lex.ProcessWord(word, shell.EnvsFromSlice(env))
	return s, err
}

func setEnv(env []string, k, v string) []string {
	env = slices.Clone(env)
	for i, e := range env {
		if name, _, _ := strings.Cut(e, "="); name == k {
			env[i] = k + "=" + v
			return env
		}
	}
	return append(env, k+"="+v)
}
