# ssegw — high-density SSE gateway. `make help` lists the targets.
GO        ?= go
PKGS      ?= ./...
FUZZTIME  ?= 20s
BIN       ?= bin
# Packages with TestScale* tests (run again at full size, without -race).
SCALE_PKGS = $(sort $(dir $(shell grep -rl --include='*_test.go' '^func TestScale' .)))

.PHONY: help build run test test-race test-stress fuzz bench bench-resume bench-micro bench-peers bench-rabbit lint fmt vet clean test-deps

help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

build: ## build bin/ssegw and bin/ssegw-bench
	$(GO) build -o $(BIN)/ssegw ./cmd/ssegw
	@if [ -d cmd/ssegw-bench ]; then $(GO) build -o $(BIN)/ssegw-bench ./cmd/ssegw-bench; fi

run: build ## run the gateway with the built-in demo backend (open the printed URL)
	./$(BIN)/ssegw --demo

test: lint test-deps ## every test: the race-enabled suite, then the scale tests at full size (what CI runs)
	$(GO) test -race -count=1 $(PKGS)
	$(GO) test -count=1 -run '^TestScale' $(SCALE_PKGS)

test-race: test-deps ## alias of the race-enabled unit and end-to-end tests
	$(GO) test -race -count=1 $(PKGS)

# The real-client tests (clients/) need Chromium from Debian and the npm
# packages pinned in clients/node; .ci/install-deps installs whatever is
# missing (apt-get only when /usr/bin/chromium is absent), so `make test` works
# on a fresh machine.
test-deps: ## install what the tests need (Chromium, npm packages) when missing
	.ci/install-deps

test-stress: ## long stress tests behind the `stress` build tag
	$(GO) test -tags stress -count=1 -timeout 30m $(PKGS)

fuzz: ## run every fuzz target for FUZZTIME each
	@set -e; for pkg in $$($(GO) list $(PKGS)); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; done

# The benchmark suite (bench/suite): builds both binaries, starts the gateway,
# the bench backend, the baseline and the ceiling as child processes on free
# loopback ports, runs every scenario against them in one session and
# regenerates the block between the suite markers of BENCHMARKS.md and the
# charts under bench/results/. Last, the resume storm (two fresh gateways,
# without and with history; make bench-resume has the full runs). About 6-7
# minutes at 15,000 streams.
BENCH_STREAMS ?= 15000
BENCH_OUT     ?= BENCHMARKS.md
BENCH_RESULTS ?= bench/results
NCHAN_PKGS    := nginx libnginx-mod-nchan

bench: ## the benchmark suite: gateway vs baseline vs ceiling, regenerates BENCHMARKS.md (BENCH_STREAMS=15000)
	$(GO) build -o $(BIN)/ssegw ./cmd/ssegw
	$(GO) build -o $(BIN)/ssegw-bench ./cmd/ssegw-bench
	flock /tmp/bench.lock ./$(BIN)/ssegw-bench suite --gateway $(BIN)/ssegw --out $(BENCH_OUT) --results-dir $(BENCH_RESULTS) --streams $(BENCH_STREAMS)

# Resume (issue 14, BENCHMARKS.md "Resume (issue 14)"): 15,000 streams dropped at
# once and back with Last-Event-ID under publishing, against a gateway without and
# one with history; then three clustered gateways (embedded JetStream) restarted in
# turn under publishing. About three minutes; under the shared bench lock.
bench-resume: ## resume storm with vs without history, and the cluster rolling restart (BENCH_STREAMS=15000)
	$(GO) build -o $(BIN)/ssegw ./cmd/ssegw
	$(GO) build -o $(BIN)/ssegw-bench ./cmd/ssegw-bench
	flock /tmp/bench.lock ./$(BIN)/ssegw-bench resume --gateway $(BIN)/ssegw --streams $(BENCH_STREAMS) --procs 3 --json > $(BENCH_RESULTS)/resume.json.tmp
	mv $(BENCH_RESULTS)/resume.json.tmp $(BENCH_RESULTS)/resume.json
	./$(BIN)/ssegw-bench resume --render $(BENCH_RESULTS)/resume.json --results-dir $(BENCH_RESULTS)
	flock /tmp/bench.lock ./$(BIN)/ssegw-bench rolling --gateway $(BIN)/ssegw --streams 3000 --procs 2

bench-micro: ## Go micro-benchmarks for the hot paths
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

bench-peers: ## (not CI) the gateway and nginx+nchan from Debian as deployed (master + 1 worker, + one per core) and tuned (one per core, listen backlog 4096, multi_accept on), same load, plus the gateway's storm with callbacks pipelined (CALLBACK_CONCURRENCY=16, CALLBACK_PIPELINE=32); regenerates the peers block of BENCHMARKS.md
	DEBIAN_FRONTEND=noninteractive apt-get install -y $(NCHAN_PKGS) || \
	  { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y $(NCHAN_PKGS); }
	$(GO) build -o $(BIN)/ssegw ./cmd/ssegw
	$(GO) build -o $(BIN)/ssegw-bench ./cmd/ssegw-bench
	flock /tmp/bench.lock ./$(BIN)/ssegw-bench peers --gateway $(BIN)/ssegw --out $(BENCH_OUT) --results-dir $(BENCH_RESULTS) --streams $(BENCH_STREAMS)

# RabbitMQ fan-out through the broker (issue 16, phase 2): a private broker
# (Debian's rabbitmq-server: `make test-deps`), a gateway with RABBITMQ_URL
# and one without, BENCH_STREAMS streams with a queue each; the raw report is
# kept in bench/results/rabbit-fanout.json. About 2 minutes at 15,000.
bench-rabbit: ## RabbitMQ mode: N queues, publishes fanned out by the broker vs /internal/publish; gateway and broker memory (BENCH_STREAMS=15000)
	$(GO) build -o $(BIN)/ssegw ./cmd/ssegw
	$(GO) build -o $(BIN)/ssegw-bench ./cmd/ssegw-bench
	flock /tmp/bench.lock ./$(BIN)/ssegw-bench rabbit-fanout --gateway $(BIN)/ssegw --streams $(BENCH_STREAMS) --json > $(BENCH_RESULTS)/rabbit-fanout.json.tmp
	mv $(BENCH_RESULTS)/rabbit-fanout.json.tmp $(BENCH_RESULTS)/rabbit-fanout.json
	./$(BIN)/ssegw-bench rabbit-fanout --render $(BENCH_RESULTS)/rabbit-fanout.json --results-dir $(BENCH_RESULTS)

lint: fmt vet ## gofmt and go vet

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null; git ls-files -o --exclude-standard '*.go' 2>/dev/null)); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

clean:
	rm -rf $(BIN)
