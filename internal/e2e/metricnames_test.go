package e2e

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metricNamesFile lists the metric families the dashboards and alert rules in deploy/ may
// query; deploy/check verifies every query against it, and checkMetricNames verifies it
// against what the process really exposes, so a renamed metric breaks `make test`, not a
// dashboard in production.
const metricNamesFile = "../../deploy/observability/metric-names.txt"

// checkMetricNames runs after the whole suite (by then every path has emitted its metrics):
// each listed name must be a family the stack's registry exposes (as cmd/orders builds it:
// plus the Go and process collectors), or a Temporal SDK metric the SDK in go.mod defines
// but that this run had no occasion to emit (failures, mostly). RECORD_METRIC_NAMES=1
// rewrites the file from what was exposed, keeping such SDK names.
func checkMetricNames() error {
	if f := flag.Lookup("test.run"); f != nil && f.Value.String() != "" {
		return nil // a partial run has not emitted everything
	}
	exposed, err := exposedFamilies()
	if err != nil {
		return err
	}
	sdk, err := sdkMetricNames()
	if err != nil {
		return err
	}
	raw, err := os.ReadFile(metricNamesFile)
	if err != nil {
		return err
	}
	var listed, missing []string
	for _, line := range strings.Split(string(raw), "\n") {
		name := strings.TrimSpace(line)
		if name == "" || strings.HasPrefix(name, "#") {
			continue
		}
		listed = append(listed, name)
		if !exposed[name] && !sdk(name) {
			missing = append(missing, name)
		}
	}
	if os.Getenv("RECORD_METRIC_NAMES") == "1" {
		names := slices.Collect(func(yield func(string) bool) {
			for n := range exposed {
				if !yield(n) {
					return
				}
			}
		})
		for _, n := range listed {
			if !exposed[n] && sdk(n) {
				names = append(names, n)
			}
		}
		slices.Sort(names)
		header := "# Metric families /metrics exposes (histograms by base name), checked against the running\n" +
			"# stack by internal/e2e; deploy/check checks every dashboard and alert query against it.\n" +
			"# Re-record: RECORD_METRIC_NAMES=1 go test ./internal/e2e/\n"
		return os.WriteFile(metricNamesFile, []byte(header+strings.Join(slices.Compact(names), "\n")+"\n"), 0o644)
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s lists metrics /metrics does not expose: %s (rename them in deploy/, or re-record with RECORD_METRIC_NAMES=1)",
			filepath.Base(metricNamesFile), strings.Join(missing, ", "))
	}
	return nil
}

// exposedFamilies gathers the family names of the stack's registry and of the collectors
// cmd/orders adds to its own.
func exposedFamilies() (map[string]bool, error) {
	extra := prometheus.NewRegistry()
	extra.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	out := map[string]bool{}
	for _, g := range []prometheus.Gatherer{stack.Registry, extra} {
		families, err := g.Gather()
		if err != nil {
			return nil, err
		}
		for _, f := range families {
			out[f.GetName()] = true
		}
	}
	return out, nil
}

// sdkConstant matches `Name = Other + "suffix"` and `Name = "value"` in the SDK's constants.
var sdkConstant = regexp.MustCompile(`(?m)^\s*(\w+)\s*=\s*(?:(\w+) \+ )?"([a-z_]+)"`)

// sdkMetricNames reads the metric names the Temporal SDK of go.mod defines, as the tally
// bridge's Prometheus naming exposes them (counters end in _total, timers in _seconds).
func sdkMetricNames() (func(string) bool, error) {
	dir, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "go.temporal.io/sdk").Output()
	if err != nil {
		return nil, fmt.Errorf("locate the Temporal SDK module: %w", err)
	}
	src, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(dir)), "internal", "common", "metrics", "constants.go"))
	if err != nil {
		return nil, err
	}
	values := map[string]string{}
	for range 3 { // constants built on constants: resolve a few levels
		for _, m := range sdkConstant.FindAllStringSubmatch(string(src), -1) {
			if m[2] == "" {
				values[m[1]] = m[3]
			} else if prefix, ok := values[m[2]]; ok {
				values[m[1]] = prefix + m[3]
			}
		}
	}
	names := map[string]bool{}
	for _, v := range values {
		if base, ok := strings.CutPrefix(v, "temporal_"); ok && base != "" {
			v = "temporal_" + base
			names[v], names[v+"_total"], names[v+"_seconds"] = true, true, true
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no metric names found in the Temporal SDK's metrics constants")
	}
	return func(n string) bool { return names[n] }, nil
}
