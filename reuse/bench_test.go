package reuse_test

// Benchmarks of reuse-plan resolution over generated data. None of them runs in a plain
// `go test`; see docs/BENCHMARKS.md ("Reuse benchmarks") for the commands and the results.
//
//	BenchmarkPlan/c=N       one Service.GetCase (the case row, then its plan) of a case of a
//	                        random holder for a 10-material item, from N goroutines
//	BenchmarkLookups/c=N    the peer: for the same cases, only the 10 candidate queries by
//	                        holder_lookup and type_code, as plain pgx queries
//	BenchmarkTypeIndex/{plan,lookups}/c=N
//	                        both again after creating an index on (holder_lookup, type_code,
//	                        captured_at DESC); run only when named, after the others
//
// The data set is made once per process by reuse.Generate into one fresh database of the
// test cluster (internal/dbtest), kept until the process ends; its size comes from
// SEALVAULT_BENCH_MATERIALS (default 10,000,000) and SEALVAULT_BENCH_HOLDERS (default
// 1,000,000), with 50 types, 200 rules and 100 items. The pool has 40 connections.

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"sealvault/internal/dbtest"
	"sealvault/internal/identity"
	"sealvault/internal/testkit"
	"sealvault/reuse"
)

// benchCases is how many cases the setup opens; the benchmarks walk them in order.
const benchCases = 20000

var benchConcurrency = []int{1, 16}

// benchCase is a case to plan and what its candidate lookups need.
type benchCase struct {
	id     uuid.UUID
	actor  reuse.Actor
	lookup string
	types  []string // the item's material types, in position order
}

type benchData struct {
	pool  *pgxpool.Pool
	svc   *reuse.Service
	cases []benchCase
}

var (
	benchOnce     sync.Once
	bench         *benchData
	benchCleanups []func()
	typeIndexOnce sync.Once
	typeIndexErr  error
)

// processTB lends dbtest the first benchmark's testing.TB but keeps its cleanups until the
// process ends (TestMain), so every benchmark of a run plans against the one generated
// database instead of generating it again.
type processTB struct{ testing.TB }

func (processTB) Cleanup(f func())         { benchCleanups = append(benchCleanups, f) }
func (processTB) Context() context.Context { return context.Background() }

func TestMain(m *testing.M) {
	code := m.Run()
	for _, f := range slices.Backward(benchCleanups) {
		f()
	}
	os.Exit(code)
}

func envInt(b *testing.B, name string, def int) int {
	b.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		b.Fatalf("%s=%q: want a positive number", name, v)
	}
	return n
}

// setup generates the data set and opens the cases, once per process.
func setup(b *testing.B) *benchData {
	b.Helper()
	benchOnce.Do(func() {
		spec := reuse.GenSpec{
			Materials: envInt(b, "SEALVAULT_BENCH_MATERIALS", 10_000_000),
			Holders:   envInt(b, "SEALVAULT_BENCH_HOLDERS", 1_000_000),
			Types:     50, Rules: 200, Items: 100, Seed: 1,
		}
		cfg, err := pgxpool.ParseConfig(dbtest.URL(processTB{b}))
		if err != nil {
			b.Fatal(err)
		}
		cfg.MaxConns = 40
		pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		benchCleanups = append(benchCleanups, pool.Close)
		ctx := context.Background()

		start := time.Now()
		fmt.Fprintf(os.Stderr, "reuse bench: generating %d materials over %d holders\n", spec.Materials, spec.Holders)
		err = reuse.Generate(ctx, pool, spec, func(done, total int64) {
			fmt.Fprintf(os.Stderr, "reuse bench: %d/%d materials, %s\n", done, total, time.Since(start).Round(time.Second))
		})
		if err != nil {
			b.Fatal(err)
		}
		fmt.Fprintf(os.Stderr, "reuse bench: generated in %s (indexes and VACUUM ANALYZE included)\n",
			time.Since(start).Round(time.Second))

		// Cases of random holders (every holder has materials when Materials >= Holders),
		// for random items, opened in random departments; half with consent recorded.
		if _, err := pool.Exec(ctx, `
			INSERT INTO cases (case_no, item_code, department_id, holder_kind, holder_lookup, holder_sealed, holder_masked,
				consent_at, created_by)
			SELECT 'BENCH' || i, items[1 + r % cardinality(items)], depts[1 + r / 1000 % cardinality(depts)], 'id_card',
				encode(sha256(convert_to('holder-' || (r / 1000000 % $2), 'UTF8')), 'hex'), '\x00'::bytea,
				'1101**********000X', CASE WHEN r % 2 = 0 THEN now() END, (SELECT id FROM users WHERE username = 'gen-creator')
			FROM generate_series(1, $1) i,
				LATERAL (SELECT hashint8extended(i, 7) & 9223372036854775807 AS r) h,
				(SELECT array_agg(code ORDER BY code) AS items FROM service_items) s,
				(SELECT array_agg(id ORDER BY code) AS depts FROM departments) d`, benchCases, spec.Holders); err != nil {
			b.Fatal(err)
		}
		if _, err := pool.Exec(ctx, `VACUUM (ANALYZE) cases`); err != nil {
			b.Fatal(err)
		}
		rows, err := pool.Query(ctx, `SELECT c.id, c.department_id, c.created_by, c.holder_lookup,
				array_agg(m.type_code ORDER BY m.position)
			FROM cases c JOIN item_materials m ON m.item_code = c.item_code
			GROUP BY c.id ORDER BY min(c.no)`)
		if err != nil {
			b.Fatal(err)
		}
		cases, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (benchCase, error) {
			var c benchCase
			var user identity.User
			err := r.Scan(&c.id, &user.DepartmentID, &user.ID, &c.lookup, &c.types)
			user.Roles = []identity.Role{identity.RoleWindow}
			c.actor = reuse.Actor{User: user, RequestID: "bench"}
			return c, err
		})
		if err != nil {
			b.Fatal(err)
		}
		bench = &benchData{pool: pool, svc: &reuse.Service{DB: pool}, cases: cases}
		bench.describe(b)
	})
	if bench == nil {
		b.Fatal("reuse bench: setup failed")
	}
	return bench
}

// describe prints what the plans of the first 1,000 cases come to, so the results can be
// read against the work each plan does.
func (d *benchData) describe(b *testing.B) {
	b.Helper()
	status := map[string]int{}
	reasons := map[string]int{}
	n := min(1000, len(d.cases))
	for _, c := range d.cases[:n] {
		got, err := d.svc.GetCase(context.Background(), c.actor, c.id)
		if err != nil {
			b.Fatal(err)
		}
		if len(got.Plan) != len(c.types) {
			b.Fatalf("case %s: %d plan entries, want %d", c.id, len(got.Plan), len(c.types))
		}
		for _, e := range got.Plan {
			status[e.Status]++
			if e.Status == "must_submit" {
				reasons[reasonKind(e.Reason)]++
			}
		}
	}
	fmt.Fprintf(os.Stderr, "reuse bench: plans of %d cases: %v; must_submit because: %v\n", n, status, reasons)
}

// reasonKind is the reason without its dates and names.
func reasonKind(r string) string {
	for i, ch := range r {
		if ch == '(' || (ch >= '0' && ch <= '9') {
			return r[:i]
		}
	}
	return r
}

// lookupsSQL is the candidate query of one material type without the status filters: the
// index lookup a plan cannot do without.
const lookupsSQL = `SELECT id, department_id, captured_at, issued_on, valid_until, long_term, original_verified
	FROM materials WHERE holder_lookup = $1 AND type_code = $2
	ORDER BY captured_at DESC, id DESC LIMIT 20`

func lookups(ctx context.Context, db *pgxpool.Pool, c benchCase) error {
	for _, t := range c.types {
		rows, err := db.Query(ctx, lookupsSQL, c.lookup, t)
		if err != nil {
			return err
		}
		for rows.Next() {
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return nil
}

// runCases runs op b.N times from c goroutines over the cases in order (wrapping), and
// reports plans/s and the p50 and p99 latency of op.
func runCases(b *testing.B, d *benchData, c int, op func(ctx context.Context, bc benchCase) error) {
	b.Helper()
	ctx := b.Context()
	testkit.RunConcurrent(b, c, "plans/s", func(_, i int) error { return op(ctx, d.cases[i%len(d.cases)]) })
}

func planOp(d *benchData) func(ctx context.Context, c benchCase) error {
	return func(ctx context.Context, c benchCase) error {
		got, err := d.svc.GetCase(ctx, c.actor, c.id)
		if err == nil && len(got.Plan) != len(c.types) {
			err = fmt.Errorf("case %s: %d plan entries, want %d", c.id, len(got.Plan), len(c.types))
		}
		return err
	}
}

func lookupsOp(d *benchData) func(ctx context.Context, c benchCase) error {
	return func(ctx context.Context, c benchCase) error { return lookups(ctx, d.pool, c) }
}

// BenchmarkPlan: one op = Service.GetCase of one case: the case row, then the plan of its
// item's 10 materials against the holder's materials and the rules in force.
func BenchmarkPlan(b *testing.B) {
	d := setup(b)
	for _, c := range benchConcurrency {
		b.Run(fmt.Sprintf("c=%d", c), func(b *testing.B) { runCases(b, d, c, planOp(d)) })
	}
}

// BenchmarkLookups: one op = the 10 candidate queries of the same cases' plans, alone.
func BenchmarkLookups(b *testing.B) {
	d := setup(b)
	for _, c := range benchConcurrency {
		b.Run(fmt.Sprintf("c=%d", c), func(b *testing.B) { runCases(b, d, c, lookupsOp(d)) })
	}
}

// BenchmarkTypeIndex: Plan and Lookups again with an index on (holder_lookup, type_code,
// captured_at DESC), which the migrations do not have. Creating it changes the data set
// for every benchmark that runs later in the process, so it runs only when named.
func BenchmarkTypeIndex(b *testing.B) {
	d := setup(b)
	typeIndexOnce.Do(func() {
		start := time.Now()
		_, typeIndexErr = d.pool.Exec(context.Background(),
			`CREATE INDEX IF NOT EXISTS materials_holder_type_bench_idx ON materials (holder_lookup, type_code, captured_at DESC)`)
		if typeIndexErr == nil {
			_, typeIndexErr = d.pool.Exec(context.Background(), `ANALYZE materials`)
		}
		fmt.Fprintf(os.Stderr, "reuse bench: type index built in %s\n", time.Since(start).Round(time.Second))
	})
	if typeIndexErr != nil {
		b.Fatal(typeIndexErr)
	}
	for _, op := range []struct {
		name string
		f    func(context.Context, benchCase) error
	}{{"plan", planOp(d)}, {"lookups", lookupsOp(d)}} {
		for _, c := range benchConcurrency {
			b.Run(fmt.Sprintf("%s/c=%d", op.name, c), func(b *testing.B) { runCases(b, d, c, op.f) })
		}
	}
}
