package builder

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestIsGitURL(t *testing.T) {
	for s, want := range map[string]bool{
		"git://host/repo":                       true,
		"git@github.com:user/repo.git":          true,
		"github.com/user/repo":                  true,
		"https://example.com/repo.git":          true,
		"https://example.com/repo.git#main:sub": true,
		"https://example.com/context.tar":       false,
		"http://example.com/Dockerfile":         false,
		"./dir":                                 false,
	} {
		if got := IsGitURL(s); got != want {
			t.Errorf("IsGitURL(%q) = %v, want %v", s, got, want)
		}
	}
}

// What a crash leaves of writable binds (mounted) and remote contexts is
// removed; nothing else is.
func TestRemoveLeftovers(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount")
	}
	dir := t.TempDir()
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "keep"), []byte("x"), 0o644)
	fi, _ := os.Stat(src)
	merged, _, err := writableCopy(src, fi, dir) // its release never runs: a crash
	if err != nil {
		t.Fatal(err)
	}
	os.Mkdir(filepath.Join(dir, gitContextPrefix+"1"), 0o700)
	os.Mkdir(filepath.Join(dir, "other"), 0o700)
	if err := RemoveLeftovers(dir); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 || ents[0].Name() != "other" {
		t.Errorf("left: %v", ents)
	}
	if _, err := os.Stat(filepath.Join(src, "keep")); err != nil {
		t.Errorf("the source was harmed: %v", err)
	}
	if b, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(b), merged) || strings.Contains(string(b), dir+"/") {
		t.Errorf("mounts left under %s", dir)
	}
}
