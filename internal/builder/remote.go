package builder

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"

	"github.com/hako-dev/hako/internal/archive"
)

// IsGitURL reports whether a build context names a git repository, as
// docker decides it: git://, git@, github.com/, or an http(s) URL whose
// path ends in .git (a #ref:subdir fragment aside).
func IsGitURL(s string) bool {
	if strings.HasPrefix(s, "git://") || strings.HasPrefix(s, "git@") || strings.HasPrefix(s, "github.com/") {
		return true
	}
	u, _, _ := strings.Cut(s, "#")
	return (strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://")) && strings.HasSuffix(u, ".git")
}

// gitContextPrefix starts the names of the directories gitContext clones
// into.
const gitContextPrefix = "git-context-"

// RemoteContext fetches the build context POST /build's remote names, as
// a tar stream: a git repository (IsGitURL; "#ref:subdir" picks a branch,
// tag or commit and a directory of it), or an http(s) URL of a tar (plain
// or gzip-compressed) or of a Dockerfile alone. Close removes what it
// fetched.
// A repository is cloned into a directory of tempDir ("": the system's).
func RemoteContext(ctx context.Context, remote, tempDir string) (io.ReadCloser, error) {
	if IsGitURL(remote) {
		return gitContext(ctx, remote, tempDir)
	}
	if !strings.HasPrefix(remote, "http://") && !strings.HasPrefix(remote, "https://") {
		return nil, fmt.Errorf("remote build context %q: want a git repository or an http(s) URL", remote)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, remote, nil)
	if err != nil {
		return nil, fmt.Errorf("remote build context: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("remote build context: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("remote build context %s: the server answered %s", remote, resp.Status)
	}
	br := bufio.NewReader(resp.Body)
	head, _ := br.Peek(512)
	if isTar(head) || bytes.HasPrefix(head, []byte{0x1f, 0x8b}) {
		return readCloser{br, resp.Body.Close}, nil
	}
	// Anything else is the Dockerfile alone.
	defer resp.Body.Close()
	df, err := io.ReadAll(io.LimitReader(br, 1<<20+1))
	if err != nil {
		return nil, fmt.Errorf("remote build context: %w", err)
	}
	if len(df) > 1<<20 {
		return nil, fmt.Errorf("remote build context %s: neither a tar nor a Dockerfile of 1 MiB or less", remote)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "Dockerfile", Mode: 0o644, Size: int64(len(df)), Typeflag: tar.TypeReg})
	tw.Write(df)
	tw.Close()
	return io.NopCloser(&buf), nil
}

func isTar(head []byte) bool {
	return len(head) >= 262 && string(head[257:262]) == "ustar"
}

type readCloser struct {
	io.Reader
	close func() error
}

func (r readCloser) Close() error { return r.close() }

// gitContext fetches one commit of a repository (its ref, or HEAD) with
// git, without history, into a temporary directory, and streams the
// directory the fragment names (the whole tree without .git by default).
// Only the git, http(s) and ssh transports are allowed: no file:// and no
// ext:: command.
func gitContext(ctx context.Context, remote, tempDir string) (io.ReadCloser, error) {
	repo, frag, _ := strings.Cut(remote, "#")
	ref, sub, _ := strings.Cut(frag, ":")
	if strings.HasPrefix(repo, "github.com/") {
		repo = "https://" + repo
	}
	if strings.HasPrefix(repo, "-") || strings.HasPrefix(ref, "-") {
		return nil, fmt.Errorf("remote build context %q: not a repository", remote)
	}
	if _, err := exec.LookPath("git"); err != nil {
		return nil, fmt.Errorf("remote build context %s: git is not installed on the daemon's host", remote)
	}
	dir, err := os.MkdirTemp(tempDir, gitContextPrefix)
	if err != nil {
		return nil, err
	}
	cleanup := func() error { return os.RemoveAll(dir) }
	git := func(args ...string) error {
		cmd := exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_ALLOW_PROTOCOL=git:http:https:ssh")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("git %s: %v: %s", args[0], err, strings.TrimSpace(string(out)))
		}
		return nil
	}
	if ref == "" {
		ref = "HEAD"
	}
	for _, args := range [][]string{
		{"init", "-q"},
		{"remote", "add", "origin", repo},
		{"fetch", "-q", "--depth", "1", "--", "origin", ref},
		{"checkout", "-q", "FETCH_HEAD"},
	} {
		if err := git(args...); err != nil {
			cleanup()
			return nil, fmt.Errorf("remote build context %s: %w", remote, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, ".gitmodules")); err == nil {
		if err := git("submodule", "update", "-q", "--init", "--recursive", "--depth", "1"); err != nil {
			cleanup()
			return nil, fmt.Errorf("remote build context %s: %w", remote, err)
		}
	}
	root := dir
	if sub != "" {
		host, fi, err := resolveIn(dir, sub)
		if err != nil || !fi.IsDir() {
			cleanup()
			return nil, fmt.Errorf("remote build context %s: no directory %q in the repository", remote, sub)
		}
		root = host
	}
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(archive.WriteDir(pw, root, func(rel string, d fs.DirEntry) bool { return path.Base(rel) == ".git" }))
	}()
	return readCloser{pr, func() error {
		pr.Close()
		return cleanup()
	}}, nil
}
