# kvtrace — `make test` is the one command that checks everything CI checks.
GO       ?= go
PKGS     := ./...
FUZZTIME ?= 10s

.PHONY: all build test vet fmt-check unit fuzz-short fuzz demo notebooks clean debug bench bench-compare test-robustness vulncheck

all: build

build:
	$(GO) build -o bin/ ./cmd/...

## test: formatting, vet, all tests with the race detector, short fuzz runs
test: fmt-check vet unit fuzz-short

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

unit:
	$(GO) test -race -count=1 -timeout 20m $(PKGS)

## fuzz-short: every fuzz target briefly (their seed corpora also run in `unit`)
fuzz-short:
	@set -e; for pkg in $$($(GO) list ./internal/...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "fuzz $$pkg $$f ($(FUZZTIME))"; \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

## fuzz: longer fuzz runs, e.g. FUZZTIME=5m make fuzz
fuzz: fuzz-short

## demo: the README's first command: a traced local 3-member cluster, one
## write, and the tracer on it (text output when there is no terminal)
demo: build
	bin/tracer demo --kvd bin/kvd

## debug: kvd built for delve (-N -l) and a local 3-member cluster with MEMBERS under headless dlv
##        (docs/debugging.md), e.g. make debug MEMBERS=m2 PROFILE=follower
MEMBERS ?= m2
PROFILE ?= follower
debug:
	$(GO) build -gcflags='all=-N -l' -o bin/kvd-debug ./cmd/kvd
	$(GO) build -o bin/ ./cmd/tracer
	bin/tracer debug cluster --kvd bin/kvd-debug --dlv "$$($(GO) tool -n dlv)" --members $(MEMBERS) --profile $(PROFILE)

## notebooks: execute every lab notebook headless, in place (outputs are
## committed). Needs Debian's jupyter-nbconvert, python3-nbclient,
## python3-ipykernel and python3-matplotlib (.ci/run installs them).
JUPYTER        ?= /usr/bin/jupyter
NOTEBOOK_TIMEOUT ?= 300
notebooks: build
	$(GO) tool -n etcdctl >/dev/null
	@set -e; for nb in notebooks/[0-9][0-9]-*.ipynb; do \
	  start=$$(date +%s); \
	  $(JUPYTER) nbconvert --execute --to notebook --inplace \
	    --ExecutePreprocessor.timeout=$(NOTEBOOK_TIMEOUT) --ExecutePreprocessor.kernel_name=python3 "$$nb"; \
	  echo "notebook $$nb: ok in $$(( $$(date +%s) - start ))s"; \
	done

## bench: Go benchmarks (tracing off vs on on a real 3-member cluster, transport, instrument)
bench:
	$(GO) test -run '^$$' -bench . -benchtime 3000x ./e2e/ ./internal/transport/ ./instrument/

## bench-compare: real etcd (built from bench/etcd, its own module) vs kvd vs kvd with
## tracing, same flags, same disk, same kvload workloads; prints the table of
## docs/performance.md, e.g. make bench-compare BENCH_ARGS='--reps 3 --duration 10s'
BENCH_ARGS ?= --reps 3 --duration 10s
bench-compare:
	$(GO) run ./bench/compare $(BENCH_ARGS)

## test-robustness: the long robustness run (tests/robustness, docs/reliability.md):
## ROUNDS fault rounds on a 3-member and on a 1-member cluster, e.g.
## make test-robustness ROUNDS=300 SEED=42 (`make test` runs the short one)
ROUNDS ?= 220
SEED   ?= 0
test-robustness:
	$(GO) test -count=1 -timeout 4h -v -run TestRobustness ./tests/robustness \
	  -robustness.rounds=$(ROUNDS) -robustness.seed=$(SEED)

## vulncheck: govulncheck on every package (known vulnerabilities in code kvd
## and tracer call). Its database is vuln.go.dev; where that is not reachable
## (machines that reach only the module proxy) it says so and passes.
GOVULNCHECK ?= golang.org/x/vuln/cmd/govulncheck@v1.9.0
vulncheck:
	@out=$$($(GO) run $(GOVULNCHECK) ./... 2>&1); rc=$$?; echo "$$out"; \
	if [ $$rc -ne 0 ] && echo "$$out" | grep -q 'fetching vulnerabilities'; then \
	  echo "vulncheck: SKIPPED: the vulnerability database (vuln.go.dev) is not reachable from this machine"; exit 0; fi; \
	exit $$rc

clean:
	rm -rf bin
