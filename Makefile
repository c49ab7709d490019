# Micro: one Makefile over every module of the workspace (go.work).
#
#   make run        builds micro and the greeter into bin/, runs micro server with the greeter
#   make test       every module's tests with the race detector (what CI runs)
#   make test-deps  installs and starts what the tests need (engines, tools)
#   make lint       gofmt, go vet and staticcheck over every module
#   make build      builds every module
#   make fmt        gofmt -w
#   make tidy       go mod tidy in every module
#   make fuzz       runs every fuzz target for FUZZTIME (default 30s) each
#   make generate   regenerates every .pb.go and .pb.micro.go (protoc, pinned plugins)
#   make check-generate  fails when regenerating changes a checked-in file (CI)
#   make bench      go-micro beside grpc-go and the other peers (benchmarks/)

SHELL       := /bin/bash
GO          ?= go
MODULES     := $(shell $(GO) list -m -f '{{.Dir}}')
GOBIN       := $(shell $(GO) env GOPATH)/bin
STATICCHECK := $(GOBIN)/staticcheck
TESTFLAGS   ?= -race -timeout 20m
FUZZTIME    ?= 30s

.PHONY: all run build test test-deps lint fmt tidy fuzz generate check-generate bench

all: build

# micro server in the foreground (Ctrl-C stops both), the greeter example in
# the background registering with it; its log goes to bin/greeter.log.
run:
	@mkdir -p bin
	$(GO) build -o bin/micro ./micro
	$(GO) build -o bin/greeter ./examples/greeter/srv
	@echo; echo "micro server is starting with the greeter example. In another terminal, try:"; \
	echo "  ./bin/micro list services"; \
	echo "  ./bin/micro get service greeter"; \
	echo "  ./bin/micro call greeter Say.Hello '{\"name\": \"Ann\"}'"; \
	echo "  ./bin/micro stream greeter Say.Stream '{\"name\": \"Ann\", \"count\": 3}'"; \
	echo "  ./bin/micro health greeter"; \
	echo "  curl -s localhost:8080/rpc -d '{\"service\": \"greeter\", \"endpoint\": \"Say.Hello\", \"request\": {\"name\": \"Ann\"}}'"; echo
	@trap 'kill $$greeter 2>/dev/null; wait $$greeter 2>/dev/null' EXIT INT TERM; \
	./bin/greeter >bin/greeter.log 2>&1 & greeter=$$!; \
	./bin/micro server

build:
	@set -e; for m in $(MODULES); do echo "== build $$m"; (cd $$m && $(GO) build ./...); done

# Allocation guards (TestXxxAllocs) are built only without the race
# detector, which changes allocation counts, so they get a run of their own.
# Every module runs even after one fails; the failed ones are listed at the end.
test:
	@failed=""; for m in $(MODULES); do echo "== test $$m"; (cd $$m && $(GO) test $(TESTFLAGS) ./...) || failed="$$failed $$m"; done; \
	for m in $(MODULES); do echo "== allocation guards $$m"; (cd $$m && $(GO) test -count=1 -run 'Allocs$$' ./...) || failed="$$failed $$m(allocs)"; done; \
	if [ -n "$$failed" ]; then echo "FAILED:$$failed"; exit 1; fi

test-deps:
	@./scripts/test-deps.sh

lint:
	@set -e; unformatted=$$(gofmt -l $(MODULES)); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	@set -e; for m in $(MODULES); do echo "== vet $$m"; (cd $$m && $(GO) vet ./...); done
	@test -x $(STATICCHECK) || { echo "staticcheck missing: run make test-deps"; exit 1; }
	@set -e; for m in $(MODULES); do echo "== staticcheck $$m"; (cd $$m && $(STATICCHECK) ./...); done

fmt:
	gofmt -w $(MODULES)

tidy:
	@set -e; for m in $(MODULES); do echo "== tidy $$m"; (cd $$m && $(GO) mod tidy); done

fuzz:
	@set -e; for m in $(MODULES); do (cd $$m && \
	  for p in $$($(GO) list ./...); do \
	    for f in $$($(GO) test -list '^Fuzz' $$p | grep '^Fuzz' || true); do \
	      echo "== fuzz $$p $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 5s $$p; \
	    done; \
	  done); done

generate:
	@./scripts/generate.sh

check-generate: generate
	@git diff --exit-code -- '*.pb.go' '*.pb.micro.go' || { echo "generated files are stale: run make generate and commit"; exit 1; }
	@untracked=$$(git ls-files --others --exclude-standard -- '*.pb.go' '*.pb.micro.go'); \
	if [ -n "$$untracked" ]; then echo "generated files not checked in:"; echo "$$untracked"; exit 1; fi

# BENCHFLAGS=-quick for one short run.
bench:
	cd benchmarks && $(GO) run ./cmd/bench $(BENCHFLAGS)
