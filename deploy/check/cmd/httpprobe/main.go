// Command httpprobe is the container healthcheck of the orders image. The image is
// distroless (no shell, no curl), so a compose healthcheck cannot run curl in it;
// `httpprobe URL` exits 0 when a GET of URL answers 2xx within the timeout, 1 otherwise.
//
// It lives in the deploy/check module because only deployment uses it, and it imports only
// the standard library, so the image build compiles it without downloading any module.
// Kubernetes does not need it: its probes are HTTP GETs made by the kubelet.
package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

// timeout bounds one probe; compose's healthcheck timeout should be a little longer.
const timeout = 3 * time.Second

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: httpprobe http://127.0.0.1:PORT/PATH")
		os.Exit(2)
	}
	if err := probe(context.Background(), os.Args[1], timeout); err != nil {
		fmt.Fprintln(os.Stderr, "httpprobe:", err)
		os.Exit(1)
	}
}

// probe GETs url and reports an error unless it answers 2xx within timeout.
func probe(ctx context.Context, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("%s answered %s", url, resp.Status)
	}
	return nil
}
