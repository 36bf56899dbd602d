# vbproxy: build, test, benchmark, fuzz and demo targets.
# `make run` starts the demo (cbsim + vbproxy; `make run TLS=1` with TLS on both sides); `make test` runs every check CI runs.

GO          ?= go
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS     := -s -w -X main.version=$(VERSION)
BIN         := bin
TOOLS       := $(CURDIR)/.tools
STATICCHECK := $(TOOLS)/staticcheck
BENCHSTAT   := $(TOOLS)/benchstat
FUZZTIME    ?= 15s
BENCHCOUNT  ?= 1
BINARIES    := vbproxy cbsim vbbench

export PATH := $(PATH):/usr/local/go/bin

.PHONY: all build test check vet staticcheck race tidy-check deploy-test bench bench-compare bench-ab latency-floor fuzz run clean docker soak

all: build

## build: all binaries into bin/
build:
	@mkdir -p $(BIN)
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ $(addprefix ./cmd/,$(BINARIES))

## test: vet, staticcheck, go mod tidy diff, race-enabled tests (with the real-server integration tests), deploy manifests
test: vet staticcheck tidy-check race deploy-test

check: test

vet:
	$(GO) vet ./...

$(STATICCHECK):
	GOBIN=$(TOOLS) $(GO) install honnef.co/go/tools/cmd/staticcheck@v0.8.2

$(BENCHSTAT):
	GOBIN=$(TOOLS) $(GO) install golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da

staticcheck: $(STATICCHECK)
	$(STATICCHECK) ./...

tidy-check:
	@cp go.mod /tmp/vbproxy-go.mod.bak && cp go.sum /tmp/vbproxy-go.sum.bak
	@$(GO) mod tidy
	@if ! diff -q go.mod /tmp/vbproxy-go.mod.bak >/dev/null || ! diff -q go.sum /tmp/vbproxy-go.sum.bak >/dev/null; then \
		cp /tmp/vbproxy-go.mod.bak go.mod; cp /tmp/vbproxy-go.sum.bak go.sum; \
		echo "go.mod/go.sum are not tidy: run 'go mod tidy' and commit"; exit 1; fi

race:
	$(GO) test -race -count=1 -timeout 8m ./...

deploy-test:
	cd deploy && $(GO) test -count=1 ./...

## bench: the go test -bench suite with allocations (BENCHCOUNT=6 for benchstat input)
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count $(BENCHCOUNT) ./... | tee bench.out

benchstat: $(BENCHSTAT)
	$(BENCHSTAT) $(BENCHSTAT_ARGS) bench.out

## bench-compare: vbproxy vs twemproxy vs direct memcached, writes BENCHMARKS.md
bench-compare: build
	bash scripts/bench-compare.sh

## bench-ab: bench-compare with vbproxy built at BASELINE (a git revision, default HEAD) as one more target; the report goes to BENCH_OUT (default: a new temporary directory)
BASELINE ?= HEAD
bench-ab: build
	BENCH_BASELINE=$(BASELINE) bash scripts/bench-compare.sh

## latency-floor: p50 at 1x1 of direct memcached against a bare relay (blocking and polling), vbproxy and twemproxy, with CPU per request
latency-floor:
	bash scripts/latency-floor.sh

## fuzz: a short run of every fuzz target (FUZZTIME each)
fuzz:
	FUZZTIME=$(FUZZTIME) bash scripts/fuzz.sh

## soak: vbproxy under 64 clients (32 binary, 32 text) while the cluster's topology changes and faults come (root: network namespaces); SOAK=10m
SOAK ?= 10m
soak:
	$(GO) run ./cmd/vbsoak -duration $(SOAK)

## run: the demo: a simulated 3-node Couchbase cluster with vbproxy in front; TLS=1: TLS on both sides (clients and cluster)
TLS ?=
run: build
	bash scripts/demo.sh $(if $(filter 1 yes true,$(TLS)),--tls)

docker:
	docker build -f deploy/Dockerfile --build-arg VERSION=$(VERSION) -t vbproxy:$(VERSION) .

clean:
	rm -rf $(BIN) $(TOOLS) bench.out
	$(GO) clean -testcache
