package testutil

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Mounts returns the mount points of the calling process whose path
// contains sub.
func Mounts(t testing.TB, sub string) []string {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) > 4 && strings.Contains(fields[4], sub) {
			out = append(out, fields[4])
		}
	}
	return out
}

// CgroupDirs returns the cgroup directories (any hierarchy, up to four
// levels deep) whose name contains sub.
func CgroupDirs(t testing.TB, sub string) []string {
	t.Helper()
	var out []string
	for _, pattern := range []string{"/sys/fs/cgroup/*/*", "/sys/fs/cgroup/*/*/*", "/sys/fs/cgroup/*/*/*/*", "/sys/fs/cgroup/*/*/*/*/*"} {
		m, _ := filepath.Glob(pattern)
		for _, p := range m {
			if fi, err := os.Stat(p); err == nil && fi.IsDir() && strings.Contains(filepath.Base(p), sub) {
				out = append(out, p)
			}
		}
	}
	return out
}
