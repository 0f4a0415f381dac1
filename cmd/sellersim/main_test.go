package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cloudmarket/orders/internal/config"
	"github.com/cloudmarket/orders/internal/logging"
	"github.com/cloudmarket/orders/internal/testkit"
)

func TestNewLogger(t *testing.T) {
	tests := []struct {
		level, format string
		debugShown    bool
		json          bool
	}{
		{"debug", "text", true, false},
		{"info", "text", false, false},
		{"info", "json", false, true},
		{"warn", "json", false, true},
		{"error", "text", false, false},
		{"bogus", "bogus", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.level+"/"+tt.format, func(t *testing.T) {
			var buf bytes.Buffer
			log := logging.New(&buf, tt.level, tt.format)
			log.Debug("dbg")
			log.Error("err")
			out := buf.String()
			if got := strings.Contains(out, "dbg"); got != tt.debugShown {
				t.Errorf("debug shown = %v, want %v: %s", got, tt.debugShown, out)
			}
			if got := strings.HasPrefix(out, "{"); got != tt.json {
				t.Errorf("json = %v, want %v: %s", got, tt.json, out)
			}
		})
	}
}

func TestBaseURL(t *testing.T) {
	tests := []struct {
		addr string
		want string
	}{
		{"127.0.0.1:8090", "http://127.0.0.1:8090"},
		{"0.0.0.0:8090", "http://127.0.0.1:8090"},
		{"[::]:8090", "http://127.0.0.1:8090"},
		{"[::1]:8090", "http://[::1]:8090"},
		{"10.1.2.3:80", "http://10.1.2.3:80"},
	}
	for _, tt := range tests {
		addr, err := net.ResolveTCPAddr("tcp", tt.addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := baseURL(addr); got != tt.want {
			t.Errorf("baseURL(%s) = %s, want %s", tt.addr, got, tt.want)
		}
	}
}

// run serves, logs the produce URLs without keys, and stops cleanly when ctx ends, even
// with a request sleeping on injected latency.
func TestRunServesAndShutsDown(t *testing.T) {
	const secret = "sk-very-secret-key-1"
	cfg, err := config.Load(func(name string) (string, bool) {
		switch name {
		case "SELLERSIM_ADDR":
			return "127.0.0.1:0", true
		case "SELLERSIM_SELLERS":
			return "s1:" + secret + ",s2:sk-other-key-2", true
		}
		return "", false
	})
	if err != nil {
		t.Fatal(err)
	}
	logs := &testkit.SyncBuffer{}
	log := logging.New(logs, "info", "text")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, log) }()

	var base string
	for deadline := time.Now().Add(5 * time.Second); base == "" && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if _, rest, ok := strings.Cut(logs.String(), "produce_url="); ok {
			base, _, _ = strings.Cut(rest, "/sellers/")
		}
	}
	if base == "" {
		t.Fatalf("no produce URL logged:\n%s", logs)
	}
	resp, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz: HTTP %d", resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodPut, base+"/admin/sellers/s1/behaviour", strings.NewReader(`{"latencyMs":60000}`))
	if resp, err := http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
	go http.Post(base+"/sellers/s1/produce", "application/json", strings.NewReader(`{}`)) // sleeps 60 s
	time.Sleep(100 * time.Millisecond)

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("run did not stop")
	}
	out := logs.String()
	for _, want := range []string{"seller=s1", base + "/sellers/s1/produce", base + "/sellers/s2/produce", "stopped"} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, secret) || strings.Contains(out, "sk-other-key-2") {
		t.Errorf("logs show a key:\n%s", out)
	}
}

func TestRunListenError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg := &config.Config{SellerSimAddr: ln.Addr().String()}
	var buf bytes.Buffer
	if err := run(context.Background(), cfg, logging.New(&buf, "info", "text")); err == nil || !strings.Contains(err.Error(), "listen on") {
		t.Fatalf("err = %v, want a listen error", err)
	}
}
