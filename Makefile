# Kaiser Kitchen loyalty points backend. `make help` lists the targets.

GO           ?= go
COGNITO_LOCAL = tools/cognito-local/node_modules/.bin/cognito-local
AXE_CORE      = tools/axe-core/node_modules/axe-core/axe.min.js
TEST_TIMEOUT ?= 20m
BENCHTIME    ?= 1s
# Every package with a benchmark (func Benchmark... in a _test.go file).
BENCH_PKGS   ?= $(sort $(patsubst %/,./%,$(dir $(shell grep -rl --include='*_test.go' '^func Benchmark' functions hasura 2>/dev/null))))
# Go files of the module; .data (the local PostgreSQL) and .git are left out.
GO_FILES      = $(shell find . \( -path ./.data -o -path ./.git \) -prune -o -name '*.go' -print)

.PHONY: help deps dev test vet build lambda bench bench-cpu bench-pool bench-scale bench-all fmt lint migrate docs clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

deps: ## install what make dev and make test need when missing (scripts/install-deps.sh: apt, npm ci)
	@bash scripts/install-deps.sh test

dev: ## local PostgreSQL in .data/postgres (or DATABASE_URL), migrations + seeds, functions on :8080
	@bash scripts/install-deps.sh dev
	@bash scripts/dev.sh

# What tests keep (t.ArtifactDir: the browser tests' screenshots), one folder per test.
TEST_ARTIFACTS ?= .data/test-artifacts

test: deps vet $(COGNITO_LOCAL) $(AXE_CORE) ## go vet, then every test (starts its own PostgreSQL, cognito-local, Chromium); screenshots in .data/test-artifacts
	@rm -rf $(TEST_ARTIFACTS) && mkdir -p $(TEST_ARTIFACTS)
	$(GO) test -timeout $(TEST_TIMEOUT) -artifacts -outputdir $(abspath $(TEST_ARTIFACTS)) ./...

# cognito-local, the Cognito the tests talk to, at the version pinned in its package-lock.json.
$(COGNITO_LOCAL): tools/cognito-local/package.json tools/cognito-local/package-lock.json
	npm ci --prefix tools/cognito-local --no-audit --no-fund
	@touch $@

# axe-core, the accessibility check the browser tests of app/ inject, pinned likewise.
$(AXE_CORE): tools/axe-core/package.json tools/axe-core/package-lock.json
	npm ci --prefix tools/axe-core --no-audit --no-fund
	@touch $@

docs: ## regenerate docs/api.md from hasura/metadata (a test fails while it is stale)
	$(GO) run ./functions/cmd/apidocs -o docs/api.md

vet: ## go vet ./...
	$(GO) vet ./...

build: ## bin/functions and bin/loyaltyctl (the operators' tool, docs/loyaltyctl.md)
	$(GO) build -trimpath -o bin/functions ./functions/cmd/functions
	$(GO) build -trimpath -o bin/loyaltyctl ./functions/cmd/loyaltyctl

# The Pre Token Generation Lambda for the provided.al2023 runtime on arm64 (Graviton), built
# so that the same source gives the same zip (no paths, VCS stamps or file times in it).
# LAMBDA_DIR: where the zip goes (the reproducibility test builds into two).
LAMBDA_DIR ?= bin
lambda: ## bin/cognito-pretoken.zip, the Cognito Pre Token Generation Lambda (docs/identity.md)
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -tags lambda.norpc -trimpath -buildvcs=false -ldflags='-s -w' \
		-o $(LAMBDA_DIR)/cognito-pretoken/bootstrap ./functions/cmd/cognito-pretoken
	$(GO) run ./functions/cmd/lambdazip -o $(LAMBDA_DIR)/cognito-pretoken.zip $(LAMBDA_DIR)/cognito-pretoken/bootstrap

# The side-by-side figures of docs/benchmarks.md: pgbench's ceiling, earn through HTTP and as
# five bare statements at 1 and 32 callers, the hot member's redemptions at 64, and a table of
# their ratios. SIDEBYSIDE_SECONDS (default 5) per figure; about a minute in all.
bench: ## earn/redeem side by side with pgbench's ceiling (docs/benchmarks.md)
	nice -n 10 $(GO) test -run '^$$' -bench '^BenchmarkSideBySide$$' -benchtime 1x -timeout $(TEST_TIMEOUT) ./functions/internal/routes/

bench-cpu: ## CPU per earn (Go and PostgreSQL) through HTTP and as bare statements, 32 callers (docs/benchmarks.md)
	nice -n 10 $(GO) test -run '^$$' -bench '^BenchmarkEarnCPU$$' -benchtime 1x -timeout $(TEST_TIMEOUT) ./functions/internal/routes/

bench-pool: ## earn at 32 callers for pgx pool sizes and statement cache modes (docs/benchmarks.md)
	nice -n 10 $(GO) test -run '^$$' -bench '^BenchmarkEarnPoolSettings$$' -benchtime 1x -timeout $(TEST_TIMEOUT) ./functions/internal/routes/

# Seeds a chain's two years (SCALE_MEMBERS members, 20 ledger entries each; 1,000,000 by
# default) in SQL, then times earn, redeem, the member's history and the nightly crons against
# a small database (docs/scaling.md). Takes a while and several GB under /tmp. PostgreSQL gets
# the shared_buffers RDS gives the instance docs/scaling.md sizes for (a quarter of 16 GB).
# SCALE_KEEP=<dir> keeps PostgreSQL's cluster and the large database in dir: the first run
# seeds it, later runs measure it again without seeding (and leave out the crons).
SCALE_MEMBERS ?= 1000000
SCALE_SHARED_BUFFERS ?= 4GB
SCALE_KEEP ?=
bench-scale: ## cost at a large chain's size vs a small one (docs/scaling.md); slow
	SCALE_MEMBERS=$(SCALE_MEMBERS) PGTEST_SERVER_SETTINGS="shared_buffers=$(SCALE_SHARED_BUFFERS)" \
	$(if $(SCALE_KEEP),SCALE_KEEP=1 PGTEST_DATA_DIR=$(abspath $(SCALE_KEEP))) nice -n 10 $(GO) test -run '^$$' -bench '^BenchmarkScale$$' -benchtime 1x -timeout 3h -v ./functions/internal/routes/

bench-all: ## every benchmark of every package (BENCHTIME=1s by default), e.g. the binary's startup time
	@test -n "$(BENCH_PKGS)" || { echo "no benchmarks found"; exit 1; }
	$(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) -timeout $(TEST_TIMEOUT) $(BENCH_PKGS)

fmt: ## gofmt -w every Go file
	@gofmt -w $(GO_FILES)

lint: vet ## gofmt -l must list nothing, and go vet
	@out=$$(gofmt -l $(GO_FILES)); if [ -n "$$out" ]; then echo "gofmt needed (run make fmt):"; echo "$$out"; exit 1; fi

migrate: ## apply migrations and seeds to DATABASE_URL
	$(GO) run ./functions/cmd/migrate -seeds

clean: ## remove bin/ (the local database in .data/ stays; delete it by hand)
	rm -rf bin
