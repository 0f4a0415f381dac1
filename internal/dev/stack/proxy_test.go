package stack

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestProxyFailsOver: with one of two API processes gone (its port refusing connections),
// every request through the proxy is answered by the other, a POST without an
// Idempotency-Key included (it never reached the dead one), with its body intact.
func TestProxyFailsOver(t *testing.T) {
	backend := func(name string) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			_, _ = io.WriteString(w, name+":"+r.Method+":"+string(body))
		}))
	}
	alive, dead := backend("alive"), backend("dead")
	defer alive.Close()
	deadHost := strings.TrimPrefix(dead.URL, "http://")
	dead.Close()

	p, err := StartProxy("127.0.0.1:0", []string{deadHost, strings.TrimPrefix(alive.URL, "http://")}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for i := range 6 {
		method, body := http.MethodGet, ""
		if i%2 == 1 {
			method, body = http.MethodPost, "order-"+string(rune('a'+i))
		}
		req, _ := http.NewRequest(method, "http://"+p.Addr()+"/v1/orders", strings.NewReader(body))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if want := "alive:" + method + ":" + body; res.StatusCode != http.StatusOK || string(got) != want {
			t.Errorf("request %d: %d %q, want 200 %q", i, res.StatusCode, got, want)
		}
	}
}

// TestProxyAllDown: with no API process left the proxy answers 502 with a problem body.
func TestProxyAllDown(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	host := strings.TrimPrefix(dead.URL, "http://")
	dead.Close()
	p, err := StartProxy("127.0.0.1:0", []string{host}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	res, err := http.Post("http://"+p.Addr()+"/v1/orders", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusBadGateway {
		t.Errorf("status %d, want 502", res.StatusCode)
	}
}
