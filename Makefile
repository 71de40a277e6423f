SHELL := /bin/bash
# swarmctl — see README.md. `make test` is what CI runs (.ci/run).
GO        ?= go
BIN       ?= bin/swarmctl
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X github.com/swarmctl/swarmctl/internal/cli.version=$(VERSION)
E2E_TIMEOUT ?= 75m
# make demo ENGINE=28.5 IMAGE_STORE=containerd: the demo on another engine.
ENGINE      ?= 20.10
IMAGE_STORE ?= classic

export CGO_ENABLED ?= 0

.PHONY: all build test unit labtest e2e fuzz vet lint demo bench clean

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/swarmctl

# Remote scripts (internal/*/scripts/*.sh) are plain sh without a shebang;
# the repository's own shell scripts say what they are.
vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	shellcheck --shell=sh $$(find internal -path '*/scripts/*.sh' | sort)
	shellcheck .ci/run .ci/*.sh test/*.sh

# golangci-lint (.golangci.yml), the pinned version, installed with go
# install when missing. Not in `make test`: a run takes about 20 s, but
# building the tool on a fresh machine took 22 minutes of wall time on
# this project's 2 cores under load (several minutes when quiet), which
# CI's 45-minute budget cannot spare on every run.
GOLANGCI_LINT_VERSION ?= v2.15.0
GOLANGCI_LINT         ?= $(shell $(GO) env GOPATH)/bin/golangci-lint
lint:
	@$(GOLANGCI_LINT) version --short 2>/dev/null | grep -qx '$(GOLANGCI_LINT_VERSION:v%=%)' || \
	  { echo "installing golangci-lint $(GOLANGCI_LINT_VERSION)"; $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION); }
	$(GOLANGCI_LINT) run ./...

# Unit tests (race detector needs cgo), then bounded fuzzing, then the lab.
unit:
	CGO_ENABLED=1 $(GO) test -race ./internal/... ./cmd/...

# Bounded fuzzing by execution count, not wall time: go1.26's fuzz
# coordinator can fail a target with "context deadline exceeded" when a
# duration -fuzztime expires (golang/go#75804, fixed in go1.27). Counts are
# sized to a few seconds each on 2 cores; FUZZTIME=<N>x or a duration
# overrides them all.
FUZZTIME ?=
fuzz:
	@for t in $$(grep -rhoE '^func (Fuzz[A-Za-z0-9_]+)' --include='*_test.go' internal | sed 's/func //'); do \
	  pkg=$$(dirname $$(grep -rlE "^func $$t\(" --include='*_test.go' internal | head -1)); \
	  case $$t in FuzzQuote) n=10000x;; FuzzRenderValues) n=15000x;; FuzzApplyRemove) n=30000x;; FuzzParseStackFile) n=10000x;; FuzzParseProxyMetrics) n=20000x;; FuzzSplitWords) n=50000x;; FuzzParseTraefikServices) n=50000x;; FuzzClosest) n=50000x;; FuzzEscapeControls) n=50000x;; *) n=200000x;; esac; \
	  n=$${FUZZTIME:-$$n}; \
	  echo "fuzz $$t in ./$$pkg for $$n"; \
	  $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $$n ./$$pkg || exit 1; \
	done

e2e: build
	SWARMCTL_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 -timeout $(E2E_TIMEOUT) -v ./test/e2e/... 2>&1 | tee e2e.log | grep -E '^(=== RUN|--- |PASS|FAIL|ok|panic|\s+\S+_test.go)' ; exit $${PIPESTATUS[0]}

# The lab's and the bench's own tests (loopback only; TestPushBusyboxToRealRegistry
# needs Debian's docker-registry, from .ci/install-lab-deps.sh).
labtest:
	$(GO) test -count=1 ./test/lab/... ./test/bench/...

# lab-images builds every engine's machine image and registry:3 up front, in
# parallel (the e2e engine matrix needs them all; built lazily they would
# queue one after the other). It runs before the unit tests so that
# internal/warm's real-registry test finds the registry:3 binary it builds.
test: vet lab-images unit fuzz labtest e2e

demo: build
	ENGINE=$(ENGINE) IMAGE_STORE=$(IMAGE_STORE) ./test/demo.sh

bench: build
	./test/bench.sh

clean:
	rm -rf bin e2e.log

-include mk/*.mk
