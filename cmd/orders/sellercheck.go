package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/cloudmarket/orders/internal/sellerapi"
	"github.com/cloudmarket/orders/internal/sellercheck"
)

// defaultKeyEnv is the environment variable seller-check reads the access key from.
const defaultKeyEnv = "SELLER_ACCESS_KEY"

const sellerCheckUsage = `usage: orders seller-check -endpoint URL -seller ID [options]
Checks a seller's production endpoint against seller-protocol.md with debug calls
(testFlag "1") about mock orders, prints a table of checks, exits 1 if any fails.
The access key is read from an environment variable (-key-env, default SELLER_ACCESS_KEY)
or a file (-key-file), never from the command line.`

// sellerCheck runs `orders seller-check` and returns the exit status: 0 when every check
// passed, 1 when one failed, 2 for a usage error. It needs no database, Temporal or
// configuration: a seller runs it against its own endpoint before going live.
func sellerCheck(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	fs := flag.NewFlagSet("seller-check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, sellerCheckUsage); fs.PrintDefaults() }
	endpoint := fs.String("endpoint", "", "the seller's production endpoint URL (https)")
	seller := fs.String("seller", "", "the seller ID (shown in the report)")
	keyEnv := fs.String("key-env", defaultKeyEnv, "environment variable holding the access key")
	keyFile := fs.String("key-file", "", "file holding the access key (instead of -key-env)")
	calls := fs.String("calls", "all", "calls to check, comma-separated: newInstance, queryInstance, updateInstanceStatus, refreshInstance, releaseInstance, and the optional upgradeInstance, changeInstanceCheck, orderNotify, refreshLicenseCode, updateLicenseCodeStatus, releaseLicenseCode (create, query and release are always checked); all: the first five; every: all of them")
	billing := fs.String("billing", "", "billing modes of the seller's products instead of -calls, comma-separated: yearly, monthly, one_time, pay_per_use")
	timeout := fs.Duration("timeout", sellerapi.DefaultTimeout, "how long one call may take")
	asyncBound := fs.Duration("async-bound", sellercheck.DefaultAsyncBound, "how long an instance answered 000004 may take to become ready")
	poll := fs.Duration("poll", sellercheck.DefaultPollInterval, "pause between queryInstance polls")
	noBodySign := fs.Bool("no-body-sign", false, "the seller does not sign its answers (skip the Body-Sign check)")
	dev := fs.Bool("development", false, "allow plain http and loopback or private addresses (a seller's test setup)")
	asJSON := fs.Bool("json", false, "print the report as JSON instead of a table")
	verbose := fs.Bool("v", false, "log every call to stderr")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	usageErr := func(msg string) int {
		fmt.Fprintln(stderr, "orders seller-check:", msg)
		fmt.Fprintln(stderr, sellerCheckUsage)
		return 2
	}
	if fs.NArg() > 0 {
		return usageErr(fmt.Sprintf("%d unexpected argument(s), not shown (the access key is never an argument: use -key-env or -key-file)", fs.NArg()))
	}
	if *endpoint == "" || *seller == "" {
		return usageErr("-endpoint and -seller are required")
	}
	if *timeout <= 0 || *asyncBound <= 0 || *poll <= 0 {
		return usageErr("-timeout, -async-bound and -poll must be positive")
	}
	key, err := readKey(*keyEnv, *keyFile, getenv)
	if err != nil {
		return usageErr(err.Error())
	}
	opts := sellercheck.Options{
		Timeout: *timeout, AsyncBound: *asyncBound, PollInterval: *poll,
		Policy: sellerapi.EndpointPolicy{Development: *dev},
		Logger: slog.New(slog.DiscardHandler),
	}
	if *verbose {
		opts.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if *billing != "" {
		opts.Calls, err = sellercheck.CallsFor(splitList(*billing))
	} else {
		opts.Calls, err = sellercheck.ParseCalls(*calls)
	}
	if err != nil {
		return usageErr(err.Error())
	}
	// The whole run is bounded: every call, the async polls, and some slack.
	ctx, cancel := context.WithTimeout(ctx, *asyncBound+20**timeout)
	defer cancel()
	rep, err := sellercheck.Run(ctx, sellercheck.Target{SellerID: *seller, Endpoint: *endpoint, AccessKey: key, VerifyBodySign: !*noBodySign}, opts)
	if err != nil {
		fmt.Fprintln(stderr, "orders seller-check:", err)
		return 2
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(rep)
	} else {
		err = rep.WriteTable(stdout)
	}
	if err != nil {
		fmt.Fprintln(stderr, "orders seller-check:", err)
		return 2
	}
	if !rep.Passed {
		return 1
	}
	return 0
}

// readKey reads the access key from a file (trailing newline dropped) or an environment
// variable: never from a flag, which would land in shell history and process listings.
// Errors name the variable or file, never the key.
func readKey(env, file string, getenv func(string) string) (string, error) {
	var key string
	if file != "" {
		raw, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("read access key file: %w", err)
		}
		key = strings.TrimRight(string(raw), "\r\n")
	} else {
		if env == "" {
			return "", errors.New("-key-env is empty")
		}
		key = getenv(env)
		if key == "" {
			return "", fmt.Errorf("no access key: set %s (or use -key-file)", env)
		}
	}
	if key == "" || strings.ContainsAny(key, " \t\r\n") {
		return "", errors.New("the access key is empty or contains whitespace")
	}
	return key, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
