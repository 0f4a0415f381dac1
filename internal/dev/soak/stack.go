package soak

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"go.temporal.io/sdk/client"

	"github.com/cloudmarket/orders/internal/dev/pgcluster"
	"github.com/cloudmarket/orders/internal/dev/stack"
	"github.com/cloudmarket/orders/internal/secrets"
)

// namespace and taskQueue of the soak's own Temporal server.
const (
	namespace = "orders-soak"
	taskQueue = "orders-soak"
)

// soakStack is the system the soak runs, started by the one launcher (internal/dev/stack)
// in the topology the options name, every process with a log file of its own in the run's
// folder and a throwaway PostgreSQL without fsync.
type soakStack struct {
	*stack.Stack
	dir string
}

// startStack starts every part in order and waits until each is ready.
func startStack(ctx context.Context, opts Options, log *slog.Logger) (*soakStack, error) {
	dir := opts.Dir
	policyFile := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(policyFile, []byte(soakPolicy), 0o644); err != nil {
		return nil, err
	}
	kek, err := secrets.NewKey("soak-1")
	if err != nil {
		return nil, err
	}
	base := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + os.TempDir(),
		"LOG_LEVEL=info", "LOG_FORMAT=text",
		// A race-detector build (make test's) stops at the first race, which the soak
		// then reports as an unexpected exit.
		"GORACE=halt_on_error=1",
	}
	apis := 1
	if opts.Topology == stack.Cluster {
		apis = 2
	}
	st, err := stack.Start(ctx, stack.Options{
		Topology: opts.Topology, BinDir: opts.BinDir, DataDir: dir, LogDir: filepath.Join(dir, "logs"),
		// Crash-safe: the soak crashes PostgreSQL, and a commit it has seen must survive that.
		PG:  pgcluster.Options{DataDir: filepath.Join(dir, "pg"), CrashSafe: true},
		Env: base, Namespace: namespace, TaskQueue: taskQueue, APIs: apis, Workers: opts.Workers,
		SimEnv: []string{"LOG_LEVEL=warn"},
		OrdersEnv: []string{"POLICY_FILE=" + policyFile, "KEY_ENCRYPTION_KEYS=" + kek,
			"API_TOKENS=web:" + webToken + ",ops:" + opsToken + ",billing:" + billingToken,
			"SELLER_ENDPOINTS=development", "SHUTDOWN_DRAIN_DELAY=0s",
			// The soak's subscriber gets its events soon after they happen.
			"EVENTS_POLL_INTERVAL=100ms",
			// One web token speaks for every buyer and seller of the run.
			"RATE_LIMIT_TOKEN=off", "RATE_LIMIT_ACTOR=off", "RATE_LIMIT_SELLER_API=off"},
		Logger: log,
	})
	if err != nil {
		return nil, err
	}
	return &soakStack{Stack: st, dir: dir}, nil
}

func (s *soakStack) client() client.Client { return s.Client() }

// logProblems scans every process log for what must never happen: data races, panics.
func (s *soakStack) logProblems() []string {
	var out []string
	files, _ := filepath.Glob(filepath.Join(s.dir, "logs", "*.log"))
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		text := string(raw)
		for _, bad := range []string{"WARNING: DATA RACE", "panic: ", "fatal error: "} {
			if n := strings.Count(text, bad); n > 0 {
				out = append(out, fmt.Sprintf("%s: %d× %q", filepath.Base(f), n, strings.TrimSpace(bad)))
			}
		}
	}
	return out
}
