# The two commands: `make run` and `make test`. Both install what is missing first.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
GO ?= go
BIN := bin/sealvault

.PHONY: run test build prereqs prereqs-test vet clean

build:
	$(GO) build -o $(BIN) ./cmd/sealvault

prereqs:
	@tools/prereqs.sh run

prereqs-test:
	@tools/prereqs.sh test

# The service on the embedded default: project-local PostgreSQL under ./var/pg (or
# DATABASE_URL), migrations, demo data, http://127.0.0.1:8080. Ctrl-C stops it cleanly.
run: prereqs build
	exec ./$(BIN) serve --demo

vet:
	$(GO) vet ./...

# Everything, against real PostgreSQL: a throw-away cluster (fsync off) is started for the
# run and stopped afterwards; each test clones its own database from a migrated template.
test: prereqs-test build vet
	@if [ -n "$${SEALVAULT_TEST_DATABASE_URL:-}" ]; then \
		$(GO) test -race -count=1 ./...; \
	else \
		dir=$$(tools/testpg-dir.sh); \
		url=$$(./$(BIN) localdb start --dir "$$dir" --port 0 --fsync=false --max-connections 500); \
		trap './$(BIN) localdb stop --dir "'"$$dir"'"' EXIT; \
		SEALVAULT_TEST_DATABASE_URL="$$url" $(GO) test -race -count=1 ./...; \
	fi

clean:
	rm -rf bin
