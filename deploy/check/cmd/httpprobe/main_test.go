package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestProbe: a healthcheck passes on 2xx only, and a hung endpoint fails within the timeout
// instead of hanging the container runtime's check.
func TestProbe(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
		case "/hang":
			select {
			case <-release:
			case <-r.Context().Done():
			}
		default:
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	for _, tc := range []struct {
		path   string
		wantOK bool
	}{{"/ok", true}, {"/readyz", false}, {"/hang", false}} {
		err := probe(context.Background(), srv.URL+tc.path, 200*time.Millisecond)
		if (err == nil) != tc.wantOK {
			t.Errorf("probe %s: err = %v, want ok = %v", tc.path, err, tc.wantOK)
		}
	}
	if err := probe(context.Background(), "http://127.0.0.1:1/", time.Second); err == nil {
		t.Error("probe of a closed port passed")
	}
}
