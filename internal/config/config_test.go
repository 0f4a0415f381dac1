package config

import (
	"os"
	"strings"
	"testing"
)

func env(kv map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := kv[k]; return v, ok }
}

func TestDefaultsLoad(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !c.RunAPI || !c.RunWorker || c.PGPort != 55432 || len(c.APITokens) != 0 {
		t.Errorf("unexpected defaults: %+v", c)
	}
	dev, err := ParseTokens(DevTokens)
	if err != nil || dev["dev-ops-token"] != RoleOps || len(dev) != 3 {
		t.Errorf("DevTokens = %v, %v", dev, err)
	}
	c.APITokens = dev
	if got := c.TokenFor(RoleOps); got != "dev-ops-token" {
		t.Errorf("TokenFor(ops) = %q", got)
	}
}

func TestLoadReportsEveryProblem(t *testing.T) {
	_, err := Load(env(map[string]string{
		"PG_PORT":        "99999",
		"API_TOKENS":     "root:abcdefghij",
		"ORDERS_ROLES":   "api,cron",
		"TIME_SCALE":     "-1",
		"LOG_LEVEL":      "loud",
		"API_ADDR":       "8080",
		"SELLER_TIMEOUT": "forever",
	}))
	if err == nil {
		t.Fatal("bad configuration accepted")
	}
	for _, name := range []string{"PG_PORT", "API_TOKENS", "ORDERS_ROLES", "TIME_SCALE", "LOG_LEVEL", "API_ADDR", "SELLER_TIMEOUT"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
}

func TestTokensNeverInErrors(t *testing.T) {
	_, err := Load(env(map[string]string{"API_TOKENS": "web:tiny1"}))
	if err == nil || strings.Contains(err.Error(), "tiny1") {
		t.Fatalf("want an error that does not show the token, got %v", err)
	}
}

// TestReadmeDocumentsEveryVariable keeps README's configuration table in step with Vars.
func TestReadmeDocumentsEveryVariable(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Skip("README.md not written yet")
	}
	for _, v := range Vars {
		if !strings.Contains(string(b), "`"+v.Name+"`") {
			t.Errorf("README.md does not document %s", v.Name)
		}
	}
}
