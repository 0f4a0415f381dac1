package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cloudmarket/orders/internal/dev/sellersim"
)

const (
	testSeller = "seller-cli"
	testKey    = "sk-cli-0123456789abcdef"
)

func TestSellerCheckCommand(t *testing.T) {
	sim := sellersim.New(sellersim.Options{Sellers: map[string]string{testSeller: testKey}})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	endpoint := srv.URL + sellersim.ProducePath(testSeller)
	keyFile := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(keyFile, []byte(testKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(name string) string {
		if name == defaultKeyEnv {
			return testKey
		}
		return ""
	}
	fast := []string{"-timeout", "500ms", "-async-bound", "1s", "-poll", "50ms"}
	tests := []struct {
		name      string
		args      []string
		getenv    func(string) string
		breakMode string
		wantCode  int
		wantOut   string
	}{
		{"passes from env", append([]string{"-endpoint", endpoint, "-seller", testSeller, "-development"}, fast...), env, "", 0, "PASSED"},
		{"passes from file as JSON", append([]string{"-endpoint", endpoint, "-seller", testSeller, "-development", "-key-file", keyFile, "-json"}, fast...), func(string) string { return "" }, "", 0, `"passed": true`},
		{"fails on a break", append([]string{"-endpoint", endpoint, "-seller", testSeller, "-development", "-billing", "one_time"}, fast...), env, sellersim.NCAcceptWrongSignature, 1, "FAILED (wrong_signature_refused)"},
		{"public policy refuses loopback", append([]string{"-endpoint", endpoint, "-seller", testSeller}, fast...), env, "", 1, "endpoint_allowed"},
		{"no key", []string{"-endpoint", endpoint, "-seller", testSeller}, func(string) string { return "" }, "", 2, ""},
		{"key as an argument", []string{"-endpoint", endpoint, "-seller", testSeller, testKey}, env, "", 2, ""},
		{"missing endpoint", []string{"-seller", testSeller}, env, "", 2, ""},
		{"unknown call", []string{"-endpoint", endpoint, "-seller", testSeller, "-calls", "nope"}, env, "", 2, ""},
		{"bad timeout", []string{"-endpoint", endpoint, "-seller", testSeller, "-timeout", "0s"}, env, "", 2, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			put(t, srv.URL+"/admin/sellers/"+testSeller+"/behaviour", `{"nonConformance":["`+tt.breakMode+`"]}`, tt.breakMode != "")
			var out, errOut bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			code := sellerCheck(ctx, tt.args, &out, &errOut, tt.getenv)
			if code != tt.wantCode || !strings.Contains(out.String(), tt.wantOut) {
				t.Fatalf("exit %d, want %d; stdout:\n%s\nstderr:\n%s", code, tt.wantCode, out.String(), errOut.String())
			}
			if strings.Contains(out.String()+errOut.String(), testKey) {
				t.Error("the access key was printed")
			}
		})
	}
}

// put sets the simulator's behaviour; an empty mode list resets it to conforming.
func put(t *testing.T, url, body string, set bool) {
	t.Helper()
	if !set {
		body = `{"nonConformance":[]}`
	}
	req, _ := http.NewRequest(http.MethodPut, url, strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT %s: HTTP %d", body, resp.StatusCode)
	}
}
