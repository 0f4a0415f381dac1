package check

import (
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// cliTypes maps the SDK's indexed value types to the names `temporal operator
// search-attribute create --type` takes.
var cliTypes = map[string]string{
	"INDEXED_VALUE_TYPE_KEYWORD":      "Keyword",
	"INDEXED_VALUE_TYPE_TEXT":         "Text",
	"INDEXED_VALUE_TYPE_INT":          "Int",
	"INDEXED_VALUE_TYPE_DOUBLE":       "Double",
	"INDEXED_VALUE_TYPE_BOOL":         "Bool",
	"INDEXED_VALUE_TYPE_DATETIME":     "Datetime",
	"INDEXED_VALUE_TYPE_KEYWORD_LIST": "KeywordList",
}

// TestSearchAttributes: the compose setup registers exactly the search attributes of
// internal/searchattr/searchattr.go, each with its type; a workflow upserting an unregistered
// attribute fails its workflow task. The Go file is read as source (this module cannot
// import the main module's internal packages, and must not link it).
func TestSearchAttributes(t *testing.T) {
	want := searchAttributesInCode(t)
	script := readFile(t, deployPath("temporal", "setup-namespace.sh"))
	m := regexp.MustCompile(`(?s)\nATTRIBUTES="\n(.*?)"\n`).FindStringSubmatch(script)
	if m == nil {
		t.Fatal(`setup-namespace.sh: no ATTRIBUTES="..." list`)
	}
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(m[1]), "\n") {
		name, typ, _ := strings.Cut(strings.TrimSpace(line), " ")
		got[name] = typ
	}
	for _, name := range slices.Sorted(maps.Keys(want)) {
		if got[name] != want[name] {
			t.Errorf("search attribute %s: setup-namespace.sh registers type %q, code wants %q", name, got[name], want[name])
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("setup-namespace.sh registers %s, which the code does not use", name)
		}
	}
	schema := readFile(t, deployPath("temporal", "setup-schema.sh"))
	for _, dir := range []string{"$schema/$dir/versioned", "/etc/temporal/schema/postgresql/v12", "temporal:temporal", "temporal_visibility:visibility"} {
		if !strings.Contains(schema, dir) {
			t.Errorf("setup-schema.sh does not mention %s: the schema dirs of the admin-tools image", dir)
		}
	}
}

// TestSparseVisibilityIndexes: compose's schema step makes the same visibility indexes
// partial as make cluster does (the devserver package runs its copy of the file and tests
// what it does), so the two files are one text, and setup-schema.sh runs it.
func TestSparseVisibilityIndexes(t *testing.T) {
	deployed := readFile(t, deployPath("temporal", "visibility-sparse-indexes.sql"))
	tested := readFile(t, repoPath("internal", "dev", "devserver", "visibility_sparse_indexes.sql"))
	if deployed != tested {
		t.Error("deploy/temporal/visibility-sparse-indexes.sql differs from internal/dev/devserver/visibility_sparse_indexes.sql")
	}
	if !strings.Contains(readFile(t, deployPath("temporal", "setup-schema.sh")), "-f /scripts/visibility-sparse-indexes.sql") {
		t.Error("setup-schema.sh does not run visibility-sparse-indexes.sql")
	}
}

// searchAttributesInCode reads the map literal returned by searchattr.All().
func searchAttributesInCode(t *testing.T) map[string]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), repoPath("internal", "searchattr", "searchattr.go"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	ast.Inspect(f, func(n ast.Node) bool {
		fn, ok := n.(*ast.FuncDecl)
		if !ok || fn.Name.Name != "All" {
			return true
		}
		ast.Inspect(fn.Body, func(n ast.Node) bool {
			kv, ok := n.(*ast.KeyValueExpr)
			if !ok {
				return true
			}
			key, kok := kv.Key.(*ast.BasicLit)
			val, vok := kv.Value.(*ast.SelectorExpr)
			if !kok || !vok {
				t.Errorf("searchattr.All: unexpected entry at %v", kv.Pos())
				return false
			}
			name, _ := strconv.Unquote(key.Value)
			out[name] = cliTypes[val.Sel.Name]
			if out[name] == "" {
				t.Errorf("searchattr.All: %s has type %s, unknown here", name, val.Sel.Name)
			}
			return false
		})
		return false
	})
	if len(out) == 0 {
		t.Fatal("internal/searchattr/searchattr.go: no entries found in All()")
	}
	return out
}

// deployNamespace is the Temporal namespace of the production shape (compose and
// Kubernetes); the dev stack of `make run` uses `default` (internal/config).
const deployNamespace = "orders"

// TestOneTemporalNamespace: every orders process, the namespace setup and the UI of
// compose, and the orders-config of Kubernetes, name the same Temporal namespace; the
// runbooks say so, and every temporal CLI command they show names it (the CLI's default,
// `default`, is the dev stack's).
func TestOneTemporalNamespace(t *testing.T) {
	p := loadCompose(t)
	seen := 0
	for name, s := range p.Services {
		for _, v := range []string{"TEMPORAL_NAMESPACE", "TEMPORAL_DEFAULT_NAMESPACE"} {
			if _, set := s.Environment[v]; !set {
				continue
			}
			seen++
			if got := env(s, v); got != deployNamespace {
				t.Errorf("compose service %s: %s=%q, want %q", name, v, got, deployNamespace)
			}
		}
	}
	if seen < 4 { // migrate, api, worker, temporal-setup, temporal-ui at least
		t.Errorf("compose: %d services name a Temporal namespace; want the orders processes, temporal-setup and temporal-ui", seen)
	}
	for _, dir := range []string{deployPath("k8s", "base"), deployPath("k8s", "overlays", "production")} {
		if got := build(t, dir).configMapByPrefix(t, "orders-config").Data["TEMPORAL_NAMESPACE"]; got != deployNamespace {
			t.Errorf("%s: orders-config TEMPORAL_NAMESPACE=%q, want %q", dir, got, deployNamespace)
		}
	}
	cli := regexp.MustCompile(`(?m)^\s*temporal (workflow|schedule|operator search-attribute) .*$`)
	for _, doc := range []string{deployPath("README.md"), repoPath("docs", "operations.md")} {
		text := readFile(t, doc)
		for _, want := range []string{"namespace `" + deployNamespace + "`", "namespace `default`"} {
			if !strings.Contains(text, want) {
				t.Errorf("%s does not say %q", doc, want)
			}
		}
		for _, line := range cli.FindAllString(text, -1) {
			if !strings.Contains(line, "--namespace") {
				t.Errorf("%s: %q runs in the CLI's default namespace: add --namespace %s", doc, strings.TrimSpace(line), deployNamespace)
			}
		}
	}
}
