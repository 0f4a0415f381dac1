package check

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The folders the checks read, relative to this package (deploy/check).
const (
	deployDir = ".."
	repoDir   = "../.."
)

func deployPath(elem ...string) string {
	return filepath.Join(append([]string{deployDir}, elem...)...)
}

func repoPath(elem ...string) string {
	return filepath.Join(append([]string{repoDir}, elem...)...)
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// metricNames reads deploy/observability/metric-names.txt: the metric families the running
// processes really expose, one per line (histograms by base name); # starts a comment.
func metricNames(t *testing.T) map[string]bool {
	t.Helper()
	f, err := os.Open(deployPath("observability", "metric-names.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	names := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" && !strings.HasPrefix(line, "#") {
			names[line] = true
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(names) == 0 {
		t.Fatal("metric-names.txt lists no metric")
	}
	return names
}

// metricExists reports whether a series name used in a query belongs to a listed family:
// the name itself, or a histogram's _bucket, _count or _sum series of a listed base name.
func metricExists(names map[string]bool, series string) bool {
	if names[series] {
		return true
	}
	for _, suffix := range []string{"_bucket", "_count", "_sum"} {
		if base, ok := strings.CutSuffix(series, suffix); ok && names[base] {
			return true
		}
	}
	return false
}

// secretLike reports whether an environment variable carries a secret, so that its value
// must come from a Secret (Kubernetes) or the env file (compose), never be written inline.
func secretLike(name string) bool {
	for _, s := range []string{"PASSWORD", "PWD", "TOKEN", "SECRET", "ENCRYPTION_KEYS", "DATABASE_URL", "SELLERSIM_SELLERS"} {
		if strings.Contains(name, s) {
			return true
		}
	}
	return false
}
