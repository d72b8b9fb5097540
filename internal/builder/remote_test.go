package builder

import "testing"

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
