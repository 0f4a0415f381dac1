package check

import (
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/discovery/dns"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

// wantAlerts are the alert names docs/operations.md (written in parallel) has a runbook
// section for: renaming one breaks the runbook links and on-call's muscle memory.
var wantAlerts = []string{
	"APIErrors", "AppealsEscalated", "EventSubscriberFailing", "LedgerPostingErrors", "OrdersNeedAttention",
	"ScheduleToStartBacklog", "SellerFailureRate", "SellerKeyRotationStale", "WorkflowTaskFailures",
}

var promql = parser.NewParser(parser.Options{})

// seriesNames parses a PromQL expression and returns the metric name of every selector in
// it (a range selector's too: Inspect visits the vector selector inside it).
func seriesNames(expr string) ([]string, error) {
	node, err := promql.ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	var names []string
	parser.Inspect(node, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			name := vs.Name
			for _, m := range vs.LabelMatchers {
				if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
					name = m.Value
				}
			}
			names = append(names, name)
		}
		return nil
	})
	return names, nil
}

// checkQuery fails the test for an expression that does not parse or that names a metric
// the processes do not expose (a typo, or a metric renamed in the code).
func checkQuery(t *testing.T, where, expr string, known map[string]bool) {
	t.Helper()
	names, err := seriesNames(expr)
	if err != nil {
		t.Errorf("%s: %v", where, err)
		return
	}
	if len(names) == 0 {
		t.Errorf("%s: no metric in %q", where, expr)
	}
	for _, n := range names {
		if n == "" || !metricExists(known, n) {
			t.Errorf("%s: metric %q is not in deploy/observability/metric-names.txt", where, n)
		}
	}
}

// TestAlertRules parses alerts.yaml as `promtool check rules` does (unknown fields,
// invalid PromQL and invalid annotation templates are errors), then checks the alert names,
// their annotations and every metric they read.
func TestAlertRules(t *testing.T) {
	rgs, errs := rulefmt.ParseFile(deployPath("prometheus", "alerts.yaml"), false, model.LegacyValidation, promql, slog.New(slog.DiscardHandler))
	for _, err := range errs {
		t.Error(err)
	}
	if rgs == nil {
		t.FailNow()
	}
	known := metricNames(t)
	var names []string
	for _, g := range rgs.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				t.Errorf("group %s: recording rule %s: only alerts belong here", g.Name, r.Record)
				continue
			}
			names = append(names, r.Alert)
			checkQuery(t, "alert "+r.Alert, r.Expr, known)
			for _, a := range []string{"summary", "description", "runbook_url"} {
				if strings.TrimSpace(r.Annotations[a]) == "" {
					t.Errorf("alert %s: no %s annotation", r.Alert, a)
				}
			}
			if want := "docs/operations.md#" + strings.ToLower(r.Alert); r.Annotations["runbook_url"] != want {
				t.Errorf("alert %s: runbook_url %q, want %q", r.Alert, r.Annotations["runbook_url"], want)
			}
			if !slices.Contains([]string{"critical", "warning", "info"}, r.Labels["severity"]) {
				t.Errorf("alert %s: severity %q, want critical, warning or info", r.Alert, r.Labels["severity"])
			}
		}
	}
	slices.Sort(names)
	if !slices.Equal(names, wantAlerts) {
		t.Errorf("alerts %v, want exactly %v", names, wantAlerts)
	}
}

// TestRunbookAnchors: every runbook_url anchor is a heading of docs/operations.md, once
// that file exists (it is being written in parallel).
func TestRunbookAnchors(t *testing.T) {
	doc, err := os.ReadFile(repoPath("docs", "operations.md"))
	if os.IsNotExist(err) {
		t.Skip("docs/operations.md does not exist yet: runbook anchors not checked")
	}
	if err != nil {
		t.Fatal(err)
	}
	anchors := headingAnchors(string(doc))
	for _, name := range wantAlerts {
		if !anchors[strings.ToLower(name)] {
			t.Errorf("docs/operations.md has no heading for alert %s (anchor #%s)", name, strings.ToLower(name))
		}
	}
}

// headingAnchors returns the anchors GitHub gives the Markdown headings of doc: lower case,
// punctuation other than - and _ dropped, spaces as -.
func headingAnchors(doc string) map[string]bool {
	drop := regexp.MustCompile(`[^\p{L}\p{N}\- _]`)
	anchors := map[string]bool{}
	fence := false
	for _, line := range strings.Split(doc, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fence = !fence
		}
		if fence || !strings.HasPrefix(line, "#") {
			continue
		}
		text := strings.TrimSpace(strings.TrimLeft(line, "#"))
		text = strings.ReplaceAll(strings.ToLower(drop.ReplaceAllString(text, "")), " ", "-")
		anchors[text] = true
	}
	return anchors
}

// TestPrometheusConfig loads prometheus.yml with Prometheus's own config package (what the
// server does at start), then checks it loads the alert rules and scrapes the API and the
// worker on the port compose gives METRICS_ADDR.
func TestPrometheusConfig(t *testing.T) {
	cfg, err := config.LoadFile(deployPath("prometheus", "prometheus.yml"), false, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	// LoadFile resolves rule_files against the config file's folder.
	if !slices.ContainsFunc(cfg.RuleFiles, func(f string) bool {
		return filepath.Clean(f) == filepath.Clean(deployPath("prometheus", "alerts.yaml"))
	}) {
		t.Errorf("rule_files %v do not load alerts.yaml next to prometheus.yml", cfg.RuleFiles)
	}
	// Every replica of a compose service: DNS A records of the service name.
	scraped := map[string]string{} // job -> "name:port"
	for _, sc := range cfg.ScrapeConfigs {
		for _, sd := range sc.ServiceDiscoveryConfigs {
			if d, ok := sd.(*dns.SDConfig); ok && d.Type == "A" && len(d.Names) == 1 {
				scraped[sc.JobName] = d.Names[0] + ":" + strconv.Itoa(d.Port)
			}
		}
	}
	for job, want := range map[string]string{"orders-api": "api:9464", "orders-worker": "worker:9464"} {
		if scraped[job] != want {
			t.Errorf("job %s scrapes %q by DNS, want %q", job, scraped[job], want)
		}
	}
}
