# Developer entry points. README.md explains each; .ci/run calls `make test`.

GO ?= go
# The dev stack runs on a demo time scale: one day of an order's life passes in 2 seconds.
# `TIME_SCALE=1 make run` runs in real time.
TIME_SCALE ?= 43200
# Orders the benchmark pushes through the full path (and as many bare workflows).
BENCH_ORDERS ?= 200

# How many inputs `make test` tries on each fuzz target beyond its corpus (a count, not a
# duration: see scripts/fuzz-smoke.sh).
FUZZTIME ?= 20000x

# Steps `make simulate` runs (every invariant after each); SIM_SEED repeats a run (default: a
# fresh seed each time, printed).
SIM_STEPS ?= 1000000

# Orders the fault soak drives (`make soak`), spread over every product type and billing mode.
SOAK_ORDERS ?= 1000

.PHONY: build run test fuzz-smoke deps bench soak simulate demo record-histories replay-release

# Every command under cmd/ into bin/, where devstack finds its children (orders, sellersim).
build:
	$(GO) build -o bin/ ./cmd/...

# PostgreSQL, Temporal + UI, the API/worker and the seller simulator; Ctrl-C stops all.
# Data lives in .data/ and survives restarts.
run: build
	@./scripts/ensure-debian-packages.sh run
	TIME_SCALE=$(TIME_SCALE) ./bin/devstack

# Every test, then every fuzz target briefly. Only internal/e2e and internal/dev/devserver
# link the Temporal server (the slow, ~200 MB builds); everything else builds in seconds.
# The short soak (internal/dev/soak) runs the race-detector builds of the three binaries made
# first here, so that their compilation is shared with the tests' instead of racing it.
test:
	@./scripts/ensure-debian-packages.sh test
	$(GO) vet ./...
	$(GO) build -race -o bin/race/ ./cmd/devstack ./cmd/orders ./cmd/sellersim
	SOAK_BIN_DIR=$(CURDIR)/bin/race $(GO) test -race -timeout 25m ./...
	cd deploy/check && $(GO) vet ./... && $(GO) test ./...
	FUZZTIME=$(FUZZTIME) GO=$(GO) ./scripts/fuzz-smoke.sh

# Each fuzz target for FUZZTIME (FUZZTIME=1000000x make fuzz-smoke to explore longer).
fuzz-smoke:
	FUZZTIME=$(FUZZTIME) GO=$(GO) ./scripts/fuzz-smoke.sh

# History events of every recorded path, full-path throughput, API latency and a mass freeze,
# each against a baseline of the same run; writes docs/benchmarks.md (scripts/bench.sh).
bench: build
	BENCH_ORDERS=$(BENCH_ORDERS) GO=$(GO) ./scripts/bench.sh

# The deterministic simulation of the order machine, the account machine and the books
# (internal/sim): SIM_STEPS steps of seeded random interleavings of every event, the
# invariants of money, cases, holds, clocks and events after every step. Prints the steps,
# the distinct order histories and steps/s, and each violation with its seed and a shrunk
# sequence (replay one with ./bin/simulate -replay FILE); exits 1 on any. make test runs a
# bounded run (TestSimulation).
simulate:
	$(GO) build -o bin/simulate ./cmd/simulate
	./bin/simulate -steps $(SIM_STEPS) $(if $(SIM_SEED),-seed $(SIM_SEED))

# The fault soak: SOAK_ORDERS orders of every type and billing mode through the API while
# workers are SIGKILLed and PostgreSQL and Temporal restarted; prints the table of checks
# (also into docs/soak.md) and exits non-zero on any violation. Data and logs stay in
# .data/soak-<time>/.
soak: build
	@./scripts/ensure-debian-packages.sh run
	./bin/soak -orders $(SOAK_ORDERS) -report docs/soak.md

# Replays the histories a release kept (REF, default the newest v* tag) or a folder of
# histories exported from a cluster (REF=path) against this tree's workflow code.
replay-release:
	GO=$(GO) ./scripts/replay-release.sh $(REF)

# Takes one order from purchase to release against a running `make run`.
demo:
	./scripts/demo.sh

# Re-record the workflow histories the replay test uses (after a versioned workflow change,
# add new files rather than overwrite the ones running orders still have).
record-histories:
	RECORD_HISTORIES=1 $(GO) test -count=1 -run 'TestSaaSOrderEndToEnd|TestAcceptanceInWrongState|TestSellerRefusal|TestRefund|TestLicense|TestPackage|TestHardware|TestService|TestAppeal|TestRenewal|TestTenYears|TestArrears|TestMonthlyStatement|TestProductHealthSchedule|TestSeam|TestOps|TestOrderNotify|TestTrial|TestChange|TestRenewalWithAChange' ./internal/e2e/
