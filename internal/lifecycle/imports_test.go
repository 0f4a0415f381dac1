package lifecycle

import (
	"go/build"
	"strings"
	"testing"
)

// TestMachinesImportOnlyTheVocabulary: the pure machines and the books (and what they
// import, all the way down) use the standard library and the domain vocabulary only: no Temporal SDK, no
// database, no HTTP, no activities. That is what lets the simulation drive them without a
// server, and what keeps a workflow's decisions free of I/O. Go cannot forbid an import by
// itself; this test does, for every package listed.
func TestMachinesImportOnlyTheVocabulary(t *testing.T) {
	const module = "github.com/cloudmarket/orders/"
	allowed := map[string]bool{module + "internal/order": true, module + "internal/usage": true}
	for _, pkg := range []string{"internal/order", "internal/usage", "internal/lifecycle", "internal/arrears", "internal/books"} {
		seen := map[string]bool{}
		var walk func(path, from string)
		walk = func(path, from string) {
			if seen[path] {
				return
			}
			seen[path] = true
			p, err := build.Import(path, ".", 0)
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			if p.Goroot {
				return
			}
			if path != module+pkg && !allowed[path] {
				t.Errorf("%s imports %s (via %s): a pure machine imports the standard library and the domain (internal/order, internal/usage) only", pkg, path, from)
				return
			}
			for _, imp := range p.Imports {
				if imp == "C" || strings.HasPrefix(imp, "vendor/") {
					continue
				}
				walk(imp, path)
			}
		}
		walk(module+pkg, module+pkg)
	}
}
