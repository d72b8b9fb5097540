package depcheck

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/hako-dev/hako"

// imports maps each package directory (module-relative) to the imports of
// its non-test files.
func imports(t *testing.T) map[string][]string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); strings.HasPrefix(name, ".") || name == "testdata" || name == "vendor" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), p, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(p))
		rel = filepath.ToSlash(rel)
		for _, imp := range f.Imports {
			out[rel] = append(out[rel], strings.Trim(imp.Path.Value, `"`))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func isStd(imp string) bool {
	first, _, _ := strings.Cut(imp, "/")
	return !strings.Contains(first, ".")
}

func internal(imp string) (string, bool) {
	rest, ok := strings.CutPrefix(imp, module+"/")
	return rest, ok
}

func under(pkg, dir string) bool { return pkg == dir || strings.HasPrefix(pkg, dir+"/") }

// Rule 1: the runtime imports only mount, errdefs, its own packages, the
// standard library, x/sys and the runtime-spec types.
func TestRuntimeImports(t *testing.T) {
	for pkg, imps := range imports(t) {
		if !under(pkg, "internal/runtime") {
			continue
		}
		for _, imp := range imps {
			if isStd(imp) || strings.HasPrefix(imp, "golang.org/x/sys/") ||
				strings.HasPrefix(imp, "github.com/opencontainers/runtime-spec/") {
				continue
			}
			if in, ok := internal(imp); ok && (under(in, "internal/runtime") || in == "internal/mount" || in == "internal/errdefs") {
				continue
			}
			t.Errorf("%s imports %s: the runtime may import only stdlib, x/sys, runtime-spec, internal/mount, internal/errdefs and internal/runtime/...", pkg, imp)
		}
	}
}

// Rule 2: storage and image packages never reach up into the daemon or
// its fronts.
func TestStorageImports(t *testing.T) {
	lower := []string{"internal/content", "internal/snapshot", "internal/archive", "internal/image", "internal/registry", "internal/builder"}
	upper := []string{"internal/daemon", "internal/api", "internal/cri", "internal/cli"}
	for pkg, imps := range imports(t) {
		for _, l := range lower {
			if !under(pkg, l) {
				continue
			}
			for _, imp := range imps {
				in, ok := internal(imp)
				if !ok {
					continue
				}
				for _, u := range upper {
					if under(in, u) {
						t.Errorf("%s imports %s: storage and image packages must not depend on %s", pkg, imp, u)
					}
				}
			}
		}
	}
}

// Rule 3: API routers see the daemon only through interfaces they declare.
func TestRoutersImports(t *testing.T) {
	for pkg, imps := range imports(t) {
		if !under(pkg, "internal/api/server/router") {
			continue
		}
		for _, imp := range imps {
			if in, ok := internal(imp); ok && under(in, "internal/daemon") {
				t.Errorf("%s imports %s: routers declare the backend interface they need instead", pkg, imp)
			}
		}
	}
}

// Rule 4: the docker-like CLI is an API client.
func TestCLIImports(t *testing.T) {
	for pkg, imps := range imports(t) {
		if !under(pkg, "internal/cli") {
			continue
		}
		for _, imp := range imps {
			in, ok := internal(imp)
			if !ok {
				continue
			}
			if under(in, "internal/cli") || under(in, "internal/client") || under(in, "internal/api/types") || in == "internal/errdefs" {
				continue
			}
			t.Errorf("%s imports %s: the CLI may use only the API client and API types", pkg, imp)
		}
	}
}

// Rule 5: the Engine API and the CRI are sibling adapters.
func TestAdaptersImports(t *testing.T) {
	for pkg, imps := range imports(t) {
		for _, pair := range [][2]string{{"internal/api", "internal/cri"}, {"internal/cri", "internal/api"}} {
			if !under(pkg, pair[0]) {
				continue
			}
			for _, imp := range imps {
				if in, ok := internal(imp); ok && under(in, pair[1]) && !under(in, "internal/api/types") {
					t.Errorf("%s imports %s: %s and %s must not depend on each other", pkg, imp, pair[0], pair[1])
				}
			}
		}
	}
}

// Rule 3, for the CRI: it sees the daemon only through the Backend
// interface it declares.
func TestCRIImports(t *testing.T) {
	for pkg, imps := range imports(t) {
		if !under(pkg, "internal/cri") {
			continue
		}
		for _, imp := range imps {
			if in, ok := internal(imp); ok && under(in, "internal/daemon") {
				t.Errorf("%s imports %s: the CRI declares the backend interface it needs instead", pkg, imp)
			}
		}
	}
}
