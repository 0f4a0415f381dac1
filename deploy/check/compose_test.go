package check

import (
	"context"
	"encoding/base64"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/dotenv"
	"github.com/compose-spec/compose-go/v2/types"
)

// loadCompose loads compose.yaml as `docker compose -f deploy/compose.yaml --profile demo`
// does: schema validation on, ${...} interpolated from env (the project's .env by default),
// nothing taken from this process's environment.
func loadCompose(t *testing.T, env ...string) *types.Project {
	t.Helper()
	opts := []cli.ProjectOptionsFn{cli.WithName("orders"), cli.WithProfiles([]string{"demo"})}
	if env == nil {
		opts = append(opts, cli.WithEnvFiles(deployPath(".env")), cli.WithDotEnv)
	} else {
		opts = append(opts, cli.WithEnv(env))
	}
	po, err := cli.NewProjectOptions([]string{deployPath("compose.yaml")}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	p, err := po.LoadProject(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func env(s types.ServiceConfig, name string) string {
	if v := s.Environment[name]; v != nil {
		return *v
	}
	return ""
}

// TestCompose checks the services of the stack and how they start: the schema and the
// namespace before the server's clients, `orders migrate` to completion before the API and
// the worker, each role in its own service, healthchecks the images can run.
func TestCompose(t *testing.T) {
	p := loadCompose(t)
	for _, name := range []string{
		"temporal-db", "temporal-schema", "temporal", "temporal-setup", "temporal-ui",
		"orders-db", "migrate", "api", "worker", "sellersim", "prometheus", "grafana", "demo-catalogue",
	} {
		if _, ok := p.Services[name]; !ok {
			t.Errorf("no service %s", name)
		}
	}
	dependsOn := []struct{ service, on, condition string }{
		{"temporal-schema", "temporal-db", types.ServiceConditionHealthy},
		{"temporal", "temporal-schema", types.ServiceConditionCompletedSuccessfully},
		{"temporal-setup", "temporal", types.ServiceConditionHealthy},
		{"migrate", "orders-db", types.ServiceConditionHealthy},
		{"api", "migrate", types.ServiceConditionCompletedSuccessfully},
		{"api", "temporal-setup", types.ServiceConditionCompletedSuccessfully},
		{"worker", "migrate", types.ServiceConditionCompletedSuccessfully},
		{"worker", "temporal-setup", types.ServiceConditionCompletedSuccessfully},
	}
	for _, d := range dependsOn {
		if got := p.Services[d.service].DependsOn[d.on].Condition; got != d.condition {
			t.Errorf("%s depends on %s with condition %q, want %q", d.service, d.on, got, d.condition)
		}
	}

	roles := []struct{ service, roles string }{{"api", "api"}, {"worker", "worker"}}
	for _, r := range roles {
		s := p.Services[r.service]
		for k, want := range map[string]string{
			"ORDERS_ROLES": r.roles, "MIGRATE_ON_START": "false", "METRICS_ADDR": "0.0.0.0:9464",
			"SELLER_ENDPOINTS": "development", "TEMPORAL_ADDRESS": "temporal:7233",
		} {
			if got := env(s, k); got != want {
				t.Errorf("%s: %s=%q, want %q", r.service, k, got, want)
			}
		}
		if !slices.Equal(s.Command, types.ShellCommand{"serve"}) {
			t.Errorf("%s: command %v, want [serve]", r.service, s.Command)
		}
	}
	if env(p.Services["api"], "API_TOKENS") == "" || env(p.Services["worker"], "API_TOKENS") != "" {
		t.Error("API_TOKENS belongs to the api service only")
	}
	if c := p.Services["migrate"].Command; !slices.Equal(c, types.ShellCommand{"migrate"}) {
		t.Errorf("migrate: command %v, want [migrate]", c)
	}
	if e := p.Services["sellersim"].Entrypoint; len(e) == 0 || !strings.HasSuffix(e[0], "/sellersim") {
		t.Errorf("sellersim: entrypoint %v, want the sellersim binary", e)
	}
	for _, name := range []string{"temporal", "temporal-schema", "temporal-setup"} {
		if img := p.Services[name].Image; !regexp.MustCompile(`^temporalio/(server|admin-tools):1\.32\.\d+$`).MatchString(img) {
			t.Errorf("%s: image %s, want temporalio/server or admin-tools pinned to 1.32.x", name, img)
		}
	}
	if e := p.Services["temporal"].Environment; e["DB"] == nil || *e["DB"] != "postgres12" {
		t.Error("temporal: DB must be postgres12")
	}

	// The orders image is distroless: a healthcheck can only run a binary it ships.
	for _, name := range []string{"api", "worker", "sellersim"} {
		hc := p.Services[name].HealthCheck
		if hc == nil || len(hc.Test) < 3 || hc.Test[0] != "CMD" || hc.Test[1] != "/usr/local/bin/httpprobe" {
			t.Errorf("%s: healthcheck %v, want [CMD /usr/local/bin/httpprobe URL]", name, hc)
		}
	}

	// Every bind-mounted folder exists in deploy/.
	for name, s := range p.Services {
		for _, v := range s.Volumes {
			if v.Type != types.VolumeTypeBind {
				continue
			}
			if _, err := os.Stat(v.Source); err != nil {
				t.Errorf("%s: bind mount source: %v", name, err)
			}
			if !v.ReadOnly {
				t.Errorf("%s: bind mount %s is writable", name, v.Source)
			}
		}
	}
}

// TestComposeSecretsFromEnvFile loads compose.yaml again with every variable of .env set to
// a marker: every secret-like container variable must carry a marker, i.e. its value comes
// from the env file and none is written in compose.yaml.
func TestComposeSecretsFromEnvFile(t *testing.T) {
	vars, err := dotenv.Read(deployPath(".env"))
	if err != nil {
		t.Fatal(err)
	}
	var marked []string
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		marked = append(marked, k+"=MARKER-"+k)
	}
	p := loadCompose(t, marked...)
	checked := 0
	for _, name := range slices.Sorted(maps.Keys(p.Services)) {
		for k, v := range p.Services[name].Environment {
			if !secretLike(k) {
				continue
			}
			checked++
			if v == nil || !strings.Contains(*v, "MARKER-") {
				t.Errorf("%s: %s is not taken from the env file", name, k)
			}
		}
	}
	if checked < 10 {
		t.Errorf("only %d secret variables found: is secretLike still right?", checked)
	}
}

// TestDevEnvFile: deploy/.env holds development placeholders only, and valid ones, so the
// stack starts (orders refuses a malformed key or token at start).
func TestDevEnvFile(t *testing.T) {
	vars, err := dotenv.Read(deployPath(".env"))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range vars {
		if l := strings.ToLower(v); !strings.Contains(l, "dev") && !strings.Contains(l, "demo") {
			t.Errorf(".env: %s does not look like a development placeholder (no dev or demo in it)", k)
		}
	}
	for _, k := range []string{"TEMPORAL_DB_PASSWORD", "ORDERS_DB_PASSWORD"} {
		if !regexp.MustCompile(`^[A-Za-z0-9._~-]{8,}$`).MatchString(vars[k]) {
			t.Errorf(".env: %s must be 8+ URL-safe characters (it goes into DATABASE_URL)", k)
		}
	}
	for _, pair := range strings.Split(vars["API_TOKENS"], ",") {
		role, token, _ := strings.Cut(pair, ":")
		if !slices.Contains([]string{"web", "ops", "billing"}, role) || len(token) < 8 {
			t.Errorf(".env: API_TOKENS entry for role %q: want role:token with a token of 8+ characters", role)
		}
	}
	for _, pair := range strings.Split(vars["KEY_ENCRYPTION_KEYS"], ",") {
		id, b64, _ := strings.Cut(pair, ":")
		if key, err := base64.StdEncoding.DecodeString(b64); err != nil || len(key) != 32 {
			t.Errorf(".env: KEY_ENCRYPTION_KEYS key %q: want 32 bytes in standard base64", id)
		}
	}
}
