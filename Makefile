# The two commands: `make run` and `make test`. Both install what is missing first.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
GO ?= go
BIN := bin/sealvault

.PHONY: run test bench bench-table fuzz build prereqs prereqs-test prereqs-bench vet clean versitygw

build:
	$(GO) build -o $(BIN) ./cmd/sealvault

prereqs:
	@tools/prereqs.sh run

prereqs-test:
	@tools/prereqs.sh test

# What `make test` needs, plus a JDK, PDFBox 2 and Bouncy Castle for BenchmarkPdfbox.
prereqs-bench:
	@tools/prereqs.sh bench

# The service on the embedded default: project-local PostgreSQL under ./var/pg (or
# DATABASE_URL), migrations, demo data, http://127.0.0.1:8080. Ctrl-C stops it cleanly.
run: prereqs build
	exec ./$(BIN) serve --demo

vet:
	$(GO) vet ./...

# Everything, against real PostgreSQL: a throw-away cluster (fsync off) is started for the
# run and stopped afterwards; each test clones its own database from a migrated template.
test: prereqs-test build vet versitygw
	tools/with-testdb.sh $(GO) test -race -count=1 -timeout 40m ./...

# The benchmarks of docs/BENCHMARKS.md, each with its floor or peer in the same run, against
# the same kind of throw-away cluster and S3 server as the tests (17–21 minutes on 2 cores, 10 of
# them the audit trail's and the reuse plan's, which build a log of a million events and a
# catalog of ten million materials; SEALVAULT_BENCH_EVENTS and SEALVAULT_BENCH_MATERIALS
# make them smaller): ingest against its floor and raw Put on both backends, the page
# worker's job against a full decode and its PDF writer against pdfcpu, the memory of
# large uploads, `sealvault ingest` of 10,000 pages, the seal engine against its floor,
# pdfsign and Apache PDFBox 2 with its JIT warm (tools/pdfbox-bench: 1,000 signatures before
# the measured ones), B-T/B-LT/B-LTA against B-B, SM2 against its floor, the TSA, key
# custody, seal applications over HTTP, the memory of sealing a 200 MB document through the
# service, the audit log and the reuse plan. Not part of `make test`. tools/bench.sh fails
# when a pattern runs no benchmark. Every result is appended to BENCH_OUT (default bench-results/, ignored by git; not under var/, whose contents the data-dir rule checks), and the ratio
# table (cmd/benchtable) is printed from it at the end; `make bench-table BENCH_OUT=FILE`
# prints it again. BENCH_ROUNDS=3 runs every line three times, interleaved, for medians.
BENCH_STAMP := $(shell date -u +%Y%m%dT%H%M%SZ)
BENCH_OUT ?= bench-results/bench-$(BENCH_STAMP).txt
export BENCH_OUT

bench: prereqs-bench build versitygw
	mkdir -p $(dir $(BENCH_OUT))
	: >$(BENCH_OUT)
	tools/with-testdb.sh tools/bench.sh ./vault/ '^Benchmark(Ingest|RawPut)$$' -benchtime=48x
	tools/with-testdb.sh tools/bench.sh ./vault/ '^Benchmark(IngestScans|IngestFloor)$$' -benchtime=100x
	tools/bench.sh ./vault/pages/ '^Benchmark(PageJob|Assemble)$$' -benchtime=200x
	tools/with-testdb.sh tools/bench.sh ./vault/ '^BenchmarkIngestMemory$$' -benchtime=3x
	tools/with-testdb.sh tools/bench.sh ./cmd/sealvault/ '^BenchmarkBulkIngest$$' -benchtime=10000x
	tools/bench.sh ./seal/pades/ '^Benchmark(Sign|Floor|Pdfsign)$$' -benchtime=200x
	tools/bench.sh ./seal/pades/ '^Benchmark(Sign|SignTo|Floor|Pdfbox)$$' -benchtime=200x
	tools/bench.sh ./seal/pades/ '^Benchmark(Sign|SignBT|SignLT|SignLTA|Floor)$$' -benchtime=300x
	tools/bench.sh ./seal/tsa/ '^BenchmarkToken' -benchtime=2000x
	tools/bench.sh ./seal/keys/ '^BenchmarkCustodySign$$' -benchtime=2000x
	tools/bench.sh ./seal/ses/ '^BenchmarkAlgorithms$$' -benchtime=5000x
	tools/bench.sh ./seal/pades/ '^Benchmark(Sign|SignSM2|Floor|FloorSM2)$$' -benchtime=300x
	tools/with-testdb.sh tools/bench.sh ./api/ '^BenchmarkSealApplyHTTP$$' -benchtime=1000x
	tools/with-testdb.sh tools/bench.sh ./api/ '^BenchmarkSealRequestApproveApplyHTTP$$' -benchtime=200x
	tools/with-testdb.sh tools/bench.sh ./api/ '^BenchmarkSealApplyMemory$$' -benchtime=3x
	tools/with-testdb.sh tools/bench.sh ./audit/ '^Benchmark(Append|PlainInsert)$$/^c=' -benchtime=3s
	tools/with-testdb.sh tools/bench.sh ./audit/ '^BenchmarkAppend$$/^integrate' -benchtime=3x
	tools/with-testdb.sh tools/bench.sh ./audit/ '^Benchmark(InclusionProof|VerifyOffline)$$' -benchtime=5s -timeout 30m
	tools/with-testdb.sh tools/bench.sh ./reuse/ '^Benchmark(Plan|Lookups|TypeIndex)$$' -benchtime=2000x -timeout 60m
	$(GO) run ./cmd/benchtable $(BENCH_OUT)

# The table of the file named by BENCH_OUT, else of the newest bench-results/bench-*.txt.
bench-table:
	$(GO) run ./cmd/benchtable $(if $(filter command line environment,$(origin BENCH_OUT)),$(BENCH_OUT),$(lastword $(sort $(wildcard bench-results/bench-*.txt))))

# Every fuzz target of docs/FUZZING.md, one after another, each for FUZZTIME (go test takes
# one -fuzz target per package run). FUZZFLAGS passes more flags, such as -parallel 1 on a
# shared machine. A crasher is written under the package's testdata/fuzz/ and fails the run
# after the remaining targets; `make test` runs every seed and crasher as an ordinary test.
FUZZTIME ?= 60s
FUZZFLAGS ?=
FUZZ_TARGETS := \
	seal/pades:FuzzReader seal/pades:FuzzVerify seal/pades:FuzzTimestampToken \
	seal/tsa:FuzzRespond \
	seal/ses:FuzzParseSeal seal/ses:FuzzVerifyOFD \
	vault/pages:FuzzInspect vault/pages:FuzzCheckPDF \
	vault:FuzzMaterialMetadata vault:FuzzNormalizeHolder \
	reuse/catalogfile:FuzzParse \
	audit:FuzzParseExportLine audit:FuzzVerifyExport
fuzz:
	@failed=""; for t in $(FUZZ_TARGETS); do \
		pkg=./$${t%%:*}/ name=$${t##*:}; \
		echo "fuzz: $$name in $$pkg for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $(FUZZFLAGS) $$pkg || failed="$$failed $$name"; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz: crashers in$$failed" >&2; exit 1; fi

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
