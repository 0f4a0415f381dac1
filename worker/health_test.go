package worker

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestProbes(t *testing.T) {
	p := &Probes{} // no database, no Temporal: not ready, yet alive
	mux := http.NewServeMux()
	p.Register(mux)
	status := func(path string) int {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		return rec.Code
	}
	for _, tt := range []struct {
		path  string
		drain bool
		want  int
	}{
		{"/healthz", false, http.StatusOK},
		{"/readyz", false, http.StatusServiceUnavailable},
		{"/healthz", true, http.StatusOK},
		{"/readyz", true, http.StatusServiceUnavailable},
		{"/metrics", false, http.StatusNotFound}, // Register adds only the probes
	} {
		if tt.drain {
			p.Drain()
		}
		if got := status(tt.path); got != tt.want {
			t.Errorf("GET %s (draining %v) = %d, want %d", tt.path, tt.drain, got, tt.want)
		}
	}
}
