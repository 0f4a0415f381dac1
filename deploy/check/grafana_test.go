package check

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// dashboard is the part of Grafana's dashboard JSON the checks read.
type dashboard struct {
	UID    string  `json:"uid"`
	Title  string  `json:"title"`
	Panels []panel `json:"panels"`
}

type panel struct {
	ID         int         `json:"id"`
	Type       string      `json:"type"`
	Title      string      `json:"title"`
	Datasource *datasource `json:"datasource"`
	Targets    []struct {
		RefID      string      `json:"refId"`
		Expr       string      `json:"expr"`
		Datasource *datasource `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // a collapsed row's panels
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// wantPanels are what the dashboard must show; each is matched (case-insensitively) by a
// panel title containing it.
var wantPanels = []string{
	"orders by status", "transitions/s", "needing attention", "escalated appeals",
	"seller call latency p50/p95", "seller call result codes",
	"workflow task schedule-to-start", "activity schedule-to-start",
	"api request rate", "api latency", "api 5xx",
}

// grafanaMacros are replaced before a query is parsed as PromQL: Grafana expands them.
var grafanaMacros = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h")

// TestDashboard parses the provisioned dashboard, checks that every panel queries the
// provisioned Prometheus data source, that every query parses as PromQL and reads only
// metrics that exist, and that the required panels are there.
func TestDashboard(t *testing.T) {
	var d dashboard
	if err := json.Unmarshal([]byte(readFile(t, deployPath("grafana", "dashboards", "orders.json"))), &d); err != nil {
		t.Fatal(err)
	}
	if d.UID == "" || d.Title == "" {
		t.Errorf("dashboard uid %q, title %q: both are required", d.UID, d.Title)
	}
	dsUID := provisionedDatasource(t)
	known := metricNames(t)
	ids := map[int]bool{}
	var titles []string
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if ids[p.ID] {
				t.Errorf("panel id %d used twice", p.ID)
			}
			ids[p.ID] = true
			if p.Type == "row" || p.Type == "text" {
				walk(p.Panels)
				continue
			}
			titles = append(titles, strings.ToLower(p.Title))
			where := fmt.Sprintf("panel %q", p.Title)
			if p.Title == "" {
				t.Errorf("panel %d has no title", p.ID)
			}
			if p.Datasource == nil || p.Datasource.Type != "prometheus" || p.Datasource.UID != dsUID {
				t.Errorf("%s: datasource %+v, want the provisioned prometheus (uid %s)", where, p.Datasource, dsUID)
			}
			if len(p.Targets) == 0 {
				t.Errorf("%s: no target", where)
			}
			for _, tg := range p.Targets {
				if tg.Datasource != nil && tg.Datasource.UID != dsUID {
					t.Errorf("%s target %s: datasource uid %s", where, tg.RefID, tg.Datasource.UID)
				}
				checkQuery(t, where+" target "+tg.RefID, grafanaMacros.Replace(tg.Expr), known)
			}
		}
	}
	walk(d.Panels)
	for _, want := range wantPanels {
		found := false
		for _, title := range titles {
			found = found || strings.Contains(title, want)
		}
		if !found {
			t.Errorf("no panel titled like %q", want)
		}
	}
}

// provisionedDatasource returns the uid of the Prometheus data source Grafana provisions.
func provisionedDatasource(t *testing.T) string {
	t.Helper()
	var prov struct {
		APIVersion  int `json:"apiVersion"`
		Datasources []struct {
			Name, UID, Type, Access, URL string
			IsDefault, Editable          bool
		} `json:"datasources"`
	}
	b, err := os.ReadFile(deployPath("grafana", "provisioning", "datasources", "prometheus.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(b, &prov); err != nil {
		t.Fatal(err)
	}
	for _, ds := range prov.Datasources {
		if ds.Type == "prometheus" && ds.UID != "" && ds.URL == "http://prometheus:9090" {
			return ds.UID
		}
	}
	t.Fatal("no provisioned prometheus data source with a uid at http://prometheus:9090")
	return ""
}
