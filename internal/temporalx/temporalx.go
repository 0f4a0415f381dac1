// Package temporalx holds the small Temporal client chores every binary repeats at start:
// dialling a frontend that may still be starting, waiting for a namespace, and making
// sure the custom search attributes exist.
//
// It uses the SDK only, never go.temporal.io/server, so importing it keeps a package's
// binary small and its build fast (the server adds minutes and ~200 MB). Its few messages
// go to slog.Default(), which every binary sets up at start.
package temporalx

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
)

// retryEvery is the pause between attempts while the server is coming up; short, because
// an embedded server answers within a second or two and every pause adds to start-up.
const retryEvery = 250 * time.Millisecond

// Dial connects to the frontend at opts.HostPort and retries until it answers or ctx ends,
// so a process started together with the server (dev stack, compose) does not have to be
// started in order. Without opts.Logger the SDK logs through slog.Default().
func Dial(ctx context.Context, opts client.Options) (client.Client, error) {
	if opts.Logger == nil {
		opts.Logger = sdklog.NewStructuredLogger(slog.Default())
	}
	var lastErr error
	for attempt := 1; ; attempt++ {
		attemptCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		c, err := client.DialContext(attemptCtx, opts)
		cancel()
		if err == nil {
			return c, nil
		}
		lastErr = err
		if attempt == 1 || attempt%20 == 0 {
			slog.Debug("Temporal frontend not answering yet, retrying", "hostPort", opts.HostPort, "attempt", attempt, "err", err)
		}
		if err := sleep(ctx, retryEvery); err != nil {
			return nil, fmt.Errorf("temporalx: dial %s: gave up after %d attempts: %w", opts.HostPort, attempt, lastErr)
		}
	}
}

// WaitForNamespace returns once namespace can be described through c, retrying while it
// is not found or the server is unavailable; any other error is returned at once.
func WaitForNamespace(ctx context.Context, c client.Client, namespace string) error {
	for {
		_, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: namespace})
		if err == nil {
			return nil
		}
		if !retryable(err) {
			return fmt.Errorf("temporalx: describe namespace %q: %w", namespace, err)
		}
		if sleepErr := sleep(ctx, retryEvery); sleepErr != nil {
			return fmt.Errorf("temporalx: namespace %q not available: %w", namespace, err)
		}
	}
}

// EnsureSearchAttributes registers on namespace every attribute of attrs that it lacks and
// returns once all of them are listed, so a workflow started right after can upsert them.
//
// It is safe to call on every start and from several processes at once: present
// attributes are left alone and "already exists" answers are tolerated. An attribute that
// exists with another type, or clashes with a system attribute, is an error, since a type
// cannot be changed in place.
func EnsureSearchAttributes(ctx context.Context, c client.Client, namespace string, attrs map[string]enumspb.IndexedValueType) error {
	began := time.Now()
	added := false
	for {
		resp, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
		if err != nil {
			if retryable(err) && sleep(ctx, retryEvery) == nil {
				continue
			}
			return fmt.Errorf("temporalx: list search attributes of %q: %w", namespace, err)
		}
		missing := map[string]enumspb.IndexedValueType{}
		var conflicts []string
		for _, name := range slices.Sorted(maps.Keys(attrs)) {
			want := attrs[name]
			if _, ok := resp.GetSystemAttributes()[name]; ok {
				conflicts = append(conflicts, name+" is a system attribute")
				continue
			}
			have, ok := resp.GetCustomAttributes()[name]
			switch {
			case !ok:
				missing[name] = want
			case have != want:
				conflicts = append(conflicts, fmt.Sprintf("%s is %s, want %s", name, have, want))
			}
		}
		if len(conflicts) > 0 {
			return fmt.Errorf("temporalx: search attributes of %q cannot be registered: %s", namespace, strings.Join(conflicts, "; "))
		}
		if len(missing) == 0 {
			if added {
				slog.Info("registered search attributes", "namespace", namespace, "count", len(attrs),
					"elapsed", time.Since(began).Round(time.Millisecond))
			}
			return nil
		}
		// Added once already: the server's namespace cache lags the write by a moment; wait
		// for the list to show them rather than adding again.
		if !added {
			_, err = c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
				Namespace:        namespace,
				SearchAttributes: missing,
			})
			var exists *serviceerror.AlreadyExists
			switch {
			case err == nil:
				added = true
			case errors.As(err, &exists):
				// Another process registered some of them first: list again and add the rest.
				slog.Debug("some search attributes were registered concurrently", "namespace", namespace, "err", err)
			case retryable(err):
			default:
				return fmt.Errorf("temporalx: add search attributes %v to %q: %w", slices.Sorted(maps.Keys(missing)), namespace, err)
			}
		}
		if err := sleep(ctx, retryEvery); err != nil {
			return fmt.Errorf("temporalx: search attributes %v of %q not visible: %w", slices.Sorted(maps.Keys(missing)), namespace, err)
		}
	}
}

// retryable reports errors that mean "the server (or this namespace in it) is not ready
// yet" rather than "the request is wrong".
func retryable(err error) bool {
	var (
		unavailable *serviceerror.Unavailable
		notFound    *serviceerror.NamespaceNotFound
		nsUnavail   *serviceerror.NamespaceUnavailable
		deadline    *serviceerror.DeadlineExceeded
	)
	return errors.As(err, &unavailable) || errors.As(err, &notFound) || errors.As(err, &nsUnavail) || errors.As(err, &deadline)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
