package cli

import (
	"archive/tar"
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/docker/go-units"
	"github.com/hako-dev/hako/internal/client"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
	"github.com/spf13/cobra"
)

func newBuild(c *CLI) *cobra.Command {
	var (
		tags, buildArgs, labels []string
		file, target, platform  string
		iidFile                 string
		quiet, noCache, pull    bool
		rm, forceRm             bool
		network, cpusetCPUs     string
		addHosts, cacheFrom     []string
		secrets                 []string
		shmSize, memory         string
		cpuShares               int64
	)
	cmd := &cobra.Command{
		Use:   "build [OPTIONS] PATH | URL | -",
		Short: "build an image from a Dockerfile",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := ctxOf(cmd)
			o := client.BuildOptions{Tags: tags, Dockerfile: file, Quiet: quiet, NoCache: noCache, Pull: pull, CacheFrom: cacheFrom, KeepContainers: !rm, Target: target, Platform: platform, BuildArgs: map[string]*string{}, Labels: map[string]string{},
				NetworkMode: network, ExtraHosts: addHosts, CPUShares: cpuShares, CPUSetCPUs: cpusetCPUs}
			for _, sz := range []struct {
				flag, v string
				dst     *int64
			}{{"--shm-size", shmSize, &o.ShmSize}, {"--memory", memory, &o.Memory}} {
				if sz.v == "" {
					continue
				}
				n, err := units.RAMInBytes(sz.v)
				if err != nil {
					return &StatusError{Status: 125, Err: fmt.Errorf("invalid argument %q for %q flag: %v", sz.v, sz.flag, err)}
				}
				*sz.dst = n
			}
			for _, a := range buildArgs {
				k, v, ok := strings.Cut(a, "=")
				if !ok {
					// docker: a bare name takes its value from the environment.
					ev, set := os.LookupEnv(k)
					if !set {
						continue
					}
					v = ev
				}
				o.BuildArgs[k] = &v
			}
			for _, l := range labels {
				k, v, _ := strings.Cut(l, "=")
				o.Labels[k] = v
			}
			for _, sec := range secrets {
				id, val, err := readSecret(sec)
				if err != nil {
					return &StatusError{Status: 1, Err: err}
				}
				if o.Secrets == nil {
					o.Secrets = map[string][]byte{}
				}
				o.Secrets[id] = val
			}
			var body io.Reader
			if args[0] == "-" {
				var err error
				if body, err = stdinContext(cmd.InOrStdin()); err != nil {
					return &StatusError{Status: 1, Err: fmt.Errorf("unable to prepare context: %w", err)}
				}
			} else if isRemoteContext(args[0]) {
				// The daemon fetches it (docker's CLI fetches it itself).
				o.Remote = args[0]
				body = http.NoBody
			} else {
				st, err := os.Stat(args[0])
				if err != nil {
					return &StatusError{Status: 1, Err: fmt.Errorf("unable to prepare context: %w", err)}
				}
				if !st.IsDir() {
					return &StatusError{Status: 1, Err: fmt.Errorf("unable to prepare context: %s is not a directory", args[0])}
				}
				if file != "" {
					// -f is relative to the working directory, as docker's.
					abs, err := filepath.Abs(file)
					if err != nil {
						return &StatusError{Status: 1, Err: err}
					}
					ctxAbs, err := filepath.Abs(args[0])
					if err != nil {
						return &StatusError{Status: 1, Err: err}
					}
					rel, err := filepath.Rel(ctxAbs, abs)
					if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
						return &StatusError{Status: 1, Err: fmt.Errorf("the Dockerfile (%s) must be within the build context (%s)", file, args[0])}
					}
					o.Dockerfile = filepath.ToSlash(rel)
				}
				pr, pw := io.Pipe()
				go func() { pw.CloseWithError(tarContext(pw, args[0])) }()
				defer pr.Close()
				body = pr
			}
			cl, err := c.client(ctx)
			if err != nil {
				return err
			}
			var id string
			err = cl.ImageBuild(ctx, body, o, func(m client.JSONMessage) {
				if m.Stream != "" && !quiet {
					io.WriteString(c.Out, m.Stream)
				}
				if len(m.Aux) > 0 {
					var a struct{ ID string }
					if json.Unmarshal(m.Aux, &a) == nil && a.ID != "" {
						id = a.ID
					}
				}
			})
			if err != nil {
				return daemonError(c, err)
			}
			if iidFile != "" {
				if err := os.WriteFile(iidFile, []byte(id), 0o644); err != nil {
					return &StatusError{Status: 1, Err: fmt.Errorf("write the image ID file: %w", err)}
				}
			}
			if quiet {
				fmt.Fprintln(c.Out, id)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&tags, "tag", "t", nil, "name and optionally a tag (name:tag) for the image")
	f.StringVarP(&file, "file", "f", "", "name of the Dockerfile (default: PATH/Dockerfile)")
	f.StringArrayVar(&buildArgs, "build-arg", nil, "set a build-time variable (k=v)")
	f.StringArrayVar(&labels, "label", nil, "set metadata for the image (k=v)")
	f.BoolVarP(&quiet, "quiet", "q", false, "suppress the build output and print the image ID on success")
	f.BoolVar(&noCache, "no-cache", false, "do not use cache when building the image")
	f.BoolVar(&rm, "rm", true, "remove the steps' containers after a successful build (--rm=false keeps them)")
	f.BoolVar(&forceRm, "force-rm", false, "always remove the steps' containers (hako's builder removes a failed step's anyway)")
	f.StringArrayVar(&secrets, "secret", nil, "a secret for RUN --mount=type=secret: id=ID,src=FILE or id=ID,env=VAR (id=ID alone: the variable ID), as buildx's (repeatable)")
	f.StringArrayVar(&cacheFrom, "cache-from", nil, "images to consider as cache sources: their history stands in for steps the local cache lacks (repeatable)")
	f.BoolVar(&pull, "pull", false, "always pull the FROM images anew")
	f.StringVar(&target, "target", "", "build this stage (and the stages it needs) of a multi-stage Dockerfile")
	f.StringVar(&platform, "platform", "", "pull FROM images for this platform (os/arch[/variant])")
	f.StringVar(&iidFile, "iidfile", "", "write the image ID to this file")
	f.StringVar(&network, "network", "", "the RUN steps' network: default, none or host")
	f.StringArrayVar(&addHosts, "add-host", nil, "add a host-to-IP mapping (host:ip) to the RUN steps' /etc/hosts")
	f.StringVar(&shmSize, "shm-size", "", "size of the RUN steps' /dev/shm")
	f.StringVarP(&memory, "memory", "m", "", "memory limit of the RUN steps")
	f.Int64Var(&cpuShares, "cpu-shares", 0, "CPU shares (relative weight) of the RUN steps")
	f.StringVar(&cpusetCPUs, "cpuset-cpus", "", "CPUs the RUN steps may use (0-3, 0,1)")
	return cmd
}

// isRemoteContext says a build's PATH is a URL: a git repository
// (git://, git@, github.com/) or an http(s) URL of a tar or a Dockerfile.
func isRemoteContext(s string) bool {
	for _, p := range []string{"http://", "https://", "git://", "git@", "github.com/"} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// tarContext writes the directory dir as a build context, leaving out
// what its .dockerignore excludes (the Dockerfile and .dockerignore are
// always sent, as docker does).
func tarContext(w io.Writer, dir string) error {
	var pm *patternmatcher.PatternMatcher
	if f, err := os.Open(filepath.Join(dir, ".dockerignore")); err == nil {
		patterns, err := ignorefile.ReadAll(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("read .dockerignore: %w", err)
		}
		if pm, err = patternmatcher.New(patterns); err != nil {
			return fmt.Errorf(".dockerignore: %w", err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		if pm != nil && rel != "Dockerfile" && rel != ".dockerignore" {
			skip, err := pm.MatchesOrParentMatches(rel)
			if err != nil {
				return err
			}
			if skip {
				if d.IsDir() && !pm.Exclusions() {
					return filepath.SkipDir
				}
				return nil
			}
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		if info.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		hdr.Name = rel
		if info.IsDir() {
			hdr.Name += "/"
		}
		hdr.Uname, hdr.Gname = "", ""
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if info.Mode().IsRegular() {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			if _, err := io.Copy(tw, f); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// stdinContext is the context `build -` sends: stdin itself when it is a
// tar (plain or gzip), else a context holding stdin as its Dockerfile, as
// docker's `build - < Dockerfile`.
func stdinContext(in io.Reader) (io.Reader, error) {
	br := bufio.NewReaderSize(in, 1024)
	head, err := br.Peek(512)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return nil, err
	}
	if len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b {
		return br, nil
	}
	if len(head) >= 262 && string(head[257:262]) == "ustar" {
		return br, nil
	}
	df, err := io.ReadAll(br)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: "Dockerfile", Mode: 0o644, Size: int64(len(df))}); err != nil {
		return nil, err
	}
	tw.Write(df)
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return &buf, nil
}

// readSecret reads a --secret: "id=ID[,src|source=FILE][,env=VAR]
// [,type=file|env]", buildx's syntax; with neither src nor env, the
// environment variable ID, else the file ID.
func readSecret(spec string) (string, []byte, error) {
	var id, src, env, typ string
	for _, f := range strings.Split(spec, ",") {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return "", nil, fmt.Errorf("invalid --secret %q: want key=value fields", spec)
		}
		switch strings.ToLower(k) {
		case "id":
			id = v
		case "src", "source":
			src = v
		case "env":
			env = v
		case "type":
			typ = v
		default:
			return "", nil, fmt.Errorf("invalid --secret %q: unexpected key %q", spec, k)
		}
	}
	if id == "" {
		return "", nil, fmt.Errorf("invalid --secret %q: no id", spec)
	}
	switch {
	case typ == "env" && env == "" && src == "":
		env = id
	case typ == "file" && src == "" && env == "":
		src = id
	case src == "" && env == "":
		if _, ok := os.LookupEnv(id); ok {
			env = id
		} else {
			src = id
		}
	}
	if env != "" {
		v, ok := os.LookupEnv(env)
		if !ok {
			return "", nil, fmt.Errorf("--secret %s: environment variable %s is not set", id, env)
		}
		return id, []byte(v), nil
	}
	b, err := os.ReadFile(src)
	if err != nil {
		return "", nil, fmt.Errorf("--secret %s: %w", id, err)
	}
	return id, b, nil
}
