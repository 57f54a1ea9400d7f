# The two commands: `make run` and `make test`. Both install what is missing first.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
GO ?= go
BIN := bin/sealvault

.PHONY: run test build prereqs prereqs-test vet clean versitygw

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
test: prereqs-test build vet versitygw
	@if [ -n "$${SEALVAULT_TEST_DATABASE_URL:-}" ]; then \
		$(GO) test -race -count=1 ./...; \
	else \
		dir=$$(tools/testpg-dir.sh); \
		url=$$(./$(BIN) localdb start --dir "$$dir" --port 0 --fsync=false --max-connections 500); \
		trap './$(BIN) localdb stop --dir "'"$$dir"'"' EXIT; \
		SEALVAULT_TEST_DATABASE_URL="$$url" $(GO) test -race -count=1 ./...; \
	fi

# The S3 server the tests run against (internal/s3test): versitygw at the version pinned in
# tools/go.mod, a module of its own so it stays out of the main go.mod. Built into
# bin/versitygw when missing or of another version (a few minutes the first time).
versitygw:
	@want=$$(cd tools && $(GO) list -m -f '{{.Version}}' github.com/versity/versitygw); \
	have=$$([ -x bin/versitygw ] && $(GO) version -m bin/versitygw | awk '$$1 == "mod" && $$2 == "github.com/versity/versitygw" { print $$3 }' || true); \
	if [ "$$have" != "$$want" ]; then \
		echo "building versitygw $$want into bin/versitygw (a few minutes the first time)" >&2; \
		cd tools && GOBIN=$(CURDIR)/bin $(GO) install github.com/versity/versitygw/cmd/versitygw; \
	fi

clean:
	rm -rf bin
