package audit_test

// Benchmarks of the audit trail. None of them runs in a plain `go test`; see
// docs/BENCHMARKS.md for the commands and the results.
//
//	BenchmarkAppend/c=N          one transaction with one audit.Append, committed, at
//	                             concurrency N, on a durable cluster (fsync on), with the
//	                             server's integrator loop running in the background
//	BenchmarkAppend/integrate-backlog=100k
//	                             IntegrateAll over a 100k-event backlog (durable cluster)
//	BenchmarkPlainInsert/c=N     the peer: one transaction with one INSERT of the same bytes
//	                             into a plain table (id bigserial, body text), same cluster
//	                             settings
//	BenchmarkInclusionProof      ProveInclusion latency on a 1M-event log (fsync-off test
//	                             cluster); builds the log only when selected by name
//	BenchmarkVerifyOffline       audit.VerifyExport over a 1M-event export; ditto
//
// SEALVAULT_BENCH_EVENTS overrides the size of the large log (default 1,000,000);
// SEALVAULT_BENCH_INTEGRATOR=off leaves the background integrator out of BenchmarkAppend
// (for telling its cost apart; everything is still integrated and checked afterwards).

import (
	"bytes"
	"context"
	"encoding/hex"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"sealvault/audit"
	"sealvault/internal/dbtest"
	"sealvault/internal/localpg"
	"sealvault/internal/testkit"
	"sealvault/migrations"
)

const benchOrigin = "bench.sealvault.example/audit"

// ---------------------------------------------------------------------------------------
// Events

// benchIDs are the fixed populations events draw their actors and subjects from, so the
// indexed columns have realistic cardinalities.
type benchIDs struct {
	users, depts, seals, cases []string
	roles                      [][]string
}

var benchIDPool = sync.OnceValue(func() *benchIDs {
	r := rand.New(rand.NewPCG(7, 11))
	mk := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = benchUUID(r)
		}
		return out
	}
	return &benchIDs{
		users: mk(500), depts: mk(40), seals: mk(2000), cases: mk(20000),
		roles: [][]string{{"seal_operator"}, {"seal_operator", "case_officer"}, {"case_officer"}, {"dept_admin"}},
	}
})

func benchUUID(r *rand.Rand) string {
	var u uuid.UUID
	hi, lo := r.Uint64(), r.Uint64()
	for i := range 8 {
		u[i], u[8+i] = byte(hi>>(8*i)), byte(lo>>(8*i))
	}
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return u.String()
}

var benchActions = []string{"seal.apply", "seal.apply", "seal.apply", "material.download", "material.download",
	"case.view", "seal.apply.denied"}

// benchGen makes realistic events: an actor with roles, a seal, a case and a material, small
// details, a request id and a client address (about 520 bytes canonical). Not safe for
// concurrent use; each goroutine has its own.
type benchGen struct {
	r   *rand.Rand
	ids *benchIDs
}

func newBenchGen(seed uint64) *benchGen {
	return &benchGen{r: rand.New(rand.NewPCG(seed, 0x5ea1)), ids: benchIDPool()}
}

func (g *benchGen) event(at time.Time) audit.Event {
	r, ids := g.r, g.ids
	u := r.IntN(len(ids.users))
	var rid [8]byte
	for i := range rid {
		rid[i] = byte(r.Uint32())
	}
	return audit.Event{
		Time: at,
		Actor: audit.Actor{UserID: ids.users[u], DepartmentID: ids.depts[u%len(ids.depts)],
			Roles: ids.roles[u%len(ids.roles)]},
		Action: benchActions[r.IntN(len(benchActions))],
		Subjects: map[string]string{
			audit.SubjectSeal:     ids.seals[r.IntN(len(ids.seals))],
			audit.SubjectCase:     ids.cases[r.IntN(len(ids.cases))],
			audit.SubjectMaterial: benchUUID(r),
		},
		Details: map[string]any{
			"page": 1 + r.IntN(40), "pages": 40, "method": "ukey", "reason": "approval",
			"position": map[string]int{"x": r.IntN(600), "y": r.IntN(800)},
		},
		RequestID: hex.EncodeToString(rid[:]),
		ClientIP:  fmt.Sprintf("10.%d.%d.%d", r.IntN(256), r.IntN(256), 1+r.IntN(254)),
	}
}

func (g *benchGen) body(b testing.TB, at time.Time) string {
	c, err := audit.Canonical(g.event(at))
	if err != nil {
		b.Fatal(err)
	}
	return string(c)
}

// benchBulkAppend appends n events with the statement Append uses, made multi-row (chunk
// events a statement and a transaction), from two goroutines so that generating the events
// overlaps inserting them. Event times start at start and step by 50 ms.
func benchBulkAppend(b testing.TB, ctx context.Context, pool *pgxpool.Pool, n, chunk int, start time.Time, seed uint64) {
	const workers = 2
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			g := newBenchGen(seed + uint64(w))
			bodies := make([]string, 0, chunk)
			for {
				lo := int(next.Add(int64(chunk))) - chunk
				if lo >= n {
					return
				}
				bodies = bodies[:0]
				for i := lo; i < min(lo+chunk, n); i++ {
					c, err := audit.Canonical(g.event(start.Add(time.Duration(i) * 50 * time.Millisecond)))
					if err != nil {
						errs <- err
						return
					}
					bodies = append(bodies, string(c))
				}
				if _, err := pool.Exec(ctx, `
					WITH e AS (INSERT INTO audit_events (body) SELECT unnest($1::text[]) RETURNING id)
					INSERT INTO audit_pending (event_id) SELECT id FROM e`, bodies); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatalf("bulk append: %v", err)
	}
}

// ---------------------------------------------------------------------------------------
// Clusters and logs

// benchDurablePool starts a fresh durable cluster (fsync, synchronous_commit and
// full_page_writes at their defaults, i.e. on) in a temporary directory under var/, applies
// the migrations to its "sealvault" database and returns a pool of up to 48 connections.
// The cluster is stopped and its directory removed when b ends.
func benchDurablePool(b *testing.B) *pgxpool.Pool {
	b.Helper()
	ctx := context.Background()
	varDir, err := filepath.Abs(filepath.Join("..", "var"))
	if err != nil {
		b.Fatal(err)
	}
	if err := os.MkdirAll(varDir, 0o755); err != nil {
		b.Fatal(err)
	}
	parent, err := os.MkdirTemp(varDir, "benchpg-")
	if err != nil {
		b.Fatal(err)
	}
	// As root the server runs as user postgres, which must reach the data directory.
	if err := os.Chmod(parent, 0o755); err != nil {
		b.Fatal(err)
	}
	cl := &localpg.Cluster{Dir: filepath.Join(parent, "pg"), Port: 0, Fsync: true, MaxConnections: 200}
	b.Cleanup(func() {
		if err := cl.Stop(context.Background()); err != nil {
			b.Errorf("stopping benchmark cluster: %v", err)
			return
		}
		_ = os.RemoveAll(parent)
	})
	url, _, err := cl.Start(ctx)
	if err != nil {
		b.Fatal(err)
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		b.Fatal(err)
	}
	cfg.MaxConns = 48
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	if _, err := migrations.Up(ctx, db, nil); err != nil {
		b.Fatal(err)
	}
	var fsync, syncCommit string
	if err := pool.QueryRow(ctx, `SELECT current_setting('fsync'), current_setting('synchronous_commit')`).Scan(&fsync, &syncCommit); err != nil {
		b.Fatal(err)
	}
	b.Logf("durable cluster %s: fsync=%s synchronous_commit=%s", cl.Dir, fsync, syncCommit)
	return pool
}

func benchOpenLog(b *testing.B, pool *pgxpool.Pool, batch int) *audit.Log {
	b.Helper()
	dir := b.TempDir()
	l, err := audit.Open(pool, audit.Config{Origin: benchOrigin, KeyDir: filepath.Join(dir, "keys"),
		CheckpointDir: filepath.Join(dir, "checkpoints"), Batch: batch})
	if err != nil {
		b.Fatal(err)
	}
	return l
}

// benchCheckIntegrated fails b unless every appended event has a sequence number and the
// sequence is gapless.
func benchCheckIntegrated(b *testing.B, ctx context.Context, pool *pgxpool.Pool, size int64) {
	b.Helper()
	var events, pending, logged int64
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM audit_events), (SELECT count(*) FROM audit_pending),
		(SELECT count(*) FROM audit_log)`).Scan(&events, &pending, &logged); err != nil {
		b.Fatal(err)
	}
	if pending != 0 || events != size || logged != size {
		b.Fatalf("after IntegrateAll: tree size %d, %d events, %d sequenced, %d pending", size, events, logged, pending)
	}
}

// ---------------------------------------------------------------------------------------
// Concurrent transactions

var benchConcurrency = []int{1, 8, 32}

// benchRunConcurrent runs b.N calls of op from c goroutines, each with its own generator,
// and reports events/s and the p50 and p99 latency of one op (one committed transaction).
func benchRunConcurrent(b *testing.B, pool *pgxpool.Pool, c int, op func(ctx context.Context, g *benchGen) error) {
	ctx := context.Background()
	gens := make([]*benchGen, c)
	for w := range c {
		gens[w] = newBenchGen(uint64(time.Now().UnixNano()) + uint64(w))
	}
	// Open the c connections beforehand, so the timed part does not pay for connecting.
	conns := make([]*pgxpool.Conn, c)
	for i := range conns {
		var err error
		if conns[i], err = pool.Acquire(ctx); err != nil {
			b.Fatal(err)
		}
	}
	for _, cn := range conns {
		cn.Release()
	}
	testkit.RunConcurrent(b, c, "events/s", func(w, _ int) error { return op(ctx, gens[w]) })
}

func benchPercentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}

// BenchmarkAppend: each op is one transaction holding one audit.Append, committed, on a
// durable cluster, while the server's integrator loop (Log.Run every 100 ms: IntegrateAll,
// then a checkpoint when due) runs in the background. After the timed part everything is
// integrated and checked.
func BenchmarkAppend(b *testing.B) {
	pool := benchDurablePool(b)
	l := benchOpenLog(b, pool, 0)
	ctx := context.Background()
	for _, c := range benchConcurrency {
		b.Run(fmt.Sprintf("c=%d", c), func(b *testing.B) {
			rctx, stop := context.WithCancel(ctx)
			done := make(chan struct{})
			if os.Getenv("SEALVAULT_BENCH_INTEGRATOR") == "off" {
				close(done)
			} else {
				go func() { defer close(done); l.Run(rctx, 100*time.Millisecond) }()
			}
			benchRunConcurrent(b, pool, c, func(ctx context.Context, g *benchGen) error {
				e := g.event(time.Now())
				return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return audit.Append(ctx, tx, e) })
			})
			var backlog int64
			if err := pool.QueryRow(ctx, `SELECT count(*) FROM audit_pending`).Scan(&backlog); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(backlog), "pending-at-end")
			stop()
			<-done
			n, err := l.IntegrateAll(ctx)
			if err != nil {
				b.Fatal(err)
			}
			benchCheckIntegrated(b, ctx, pool, n)
		})
	}

	// Integration throughput: IntegrateAll (default batch, 5000) over a backlog of 100k
	// events appended beforehand. One op integrates the whole backlog.
	const backlog = 100_000
	b.Run("integrate-backlog=100k", func(b *testing.B) {
		b.StopTimer()
		for i := range b.N {
			benchBulkAppend(b, ctx, pool, backlog, 5000, time.Now(), uint64(1000+i))
			b.StartTimer()
			n, err := l.IntegrateAll(ctx)
			b.StopTimer()
			if err != nil {
				b.Fatal(err)
			}
			benchCheckIntegrated(b, ctx, pool, n)
		}
		b.ReportMetric(float64(b.N*backlog)/b.Elapsed().Seconds(), "events/s")
	})
}

// BenchmarkPlainInsert is BenchmarkAppend's peer: one transaction holding one INSERT of the
// same canonical event bytes (made by audit.Canonical, as Append makes them) into
// plain_events (id bigserial PRIMARY KEY, body text NOT NULL; no generated column, no
// other index), on a durable cluster started the same way.
func BenchmarkPlainInsert(b *testing.B) {
	pool := benchDurablePool(b)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `CREATE TABLE plain_events (id bigserial PRIMARY KEY, body text NOT NULL)`); err != nil {
		b.Fatal(err)
	}
	for _, c := range benchConcurrency {
		b.Run(fmt.Sprintf("c=%d", c), func(b *testing.B) {
			benchRunConcurrent(b, pool, c, func(ctx context.Context, g *benchGen) error {
				body, err := audit.Canonical(g.event(time.Now()))
				if err != nil {
					return err
				}
				return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
					_, err := tx.Exec(ctx, `INSERT INTO plain_events (body) VALUES ($1)`, string(body))
					return err
				})
			})
		})
	}
}

// ---------------------------------------------------------------------------------------
// The large log

// benchLargeSize is the number of events of the log the proof and verification benchmarks
// build: 1,000,000 unless SEALVAULT_BENCH_EVENTS says otherwise.
func benchLargeSize(b *testing.B) int {
	if s := os.Getenv("SEALVAULT_BENCH_EVENTS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			b.Fatalf("SEALVAULT_BENCH_EVENTS=%q is not a positive number", s)
		}
		return n
	}
	return 1_000_000
}

// benchSelected reports whether the -bench pattern names the benchmark explicitly.
func benchSelected(name string) bool {
	f := flag.Lookup("test.bench")
	return f != nil && strings.Contains(f.Value.String(), name)
}

// benchRequireSelected skips the large benchmarks unless they were asked for by name, so
// that -bench . does not spend minutes building a million-event log.
func benchRequireSelected(b *testing.B, name string) {
	if testing.Short() || !benchSelected(name) {
		b.Skipf("builds a %d-event log; select it by name: -bench %s", benchLargeSize(b), name)
	}
}

// benchLarge builds a log of n events on a fresh database of the test cluster (fsync off):
// events appended in multi-row statements, then sequenced and hashed by the real integrator
// (IntegrateAll, Batch 100,000), then a forced checkpoint.
func benchLarge(b *testing.B, n int) (*pgxpool.Pool, *audit.Log, audit.Checkpoint) {
	ctx := context.Background()
	pool := dbtest.Pool(b)
	l := benchOpenLog(b, pool, 100_000)
	t0 := time.Now()
	benchBulkAppend(b, ctx, pool, n, 20_000, time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC), 42)
	t1 := time.Now()
	size, err := l.IntegrateAll(ctx)
	if err != nil {
		b.Fatal(err)
	}
	t2 := time.Now()
	if size != int64(n) {
		b.Fatalf("tree size %d after integrating %d events", size, n)
	}
	cp, err := l.Checkpoint(ctx, true)
	if err != nil {
		b.Fatal(err)
	}
	var total int64
	if err := pool.QueryRow(ctx, `SELECT sum(octet_length(body)) FROM audit_events`).Scan(&total); err != nil {
		b.Fatal(err)
	}
	b.Logf("large log: %d events (%.0f bytes each on average); append %v (%.0f events/s), IntegrateAll with Batch 100000 %v (%.0f events/s)",
		n, float64(total)/float64(n), t1.Sub(t0).Round(time.Millisecond), float64(n)/t1.Sub(t0).Seconds(),
		t2.Sub(t1).Round(time.Millisecond), float64(n)/t2.Sub(t1).Seconds())
	return pool, l, cp
}

// benchExport is the large log exported, kept for BenchmarkVerifyOffline when
// BenchmarkInclusionProof has already built the log in the same run.
var benchExport struct {
	data        []byte
	checkpoints [][]byte
	verifier    note.Verifier
	events      int64
}

func benchExportLarge(b *testing.B, l *audit.Log, cp audit.Checkpoint) {
	var buf bytes.Buffer
	buf.Grow(int(cp.Size) * 560)
	t0 := time.Now()
	if err := l.Export(context.Background(), &buf, 0, cp.Size); err != nil {
		b.Fatal(err)
	}
	d := time.Since(t0)
	b.Logf("export: %d events, %d bytes in %v (%.0f events/s)", cp.Size, buf.Len(), d.Round(time.Millisecond), float64(cp.Size)/d.Seconds())
	benchExport.data = buf.Bytes()
	benchExport.checkpoints = [][]byte{[]byte(cp.Note)}
	benchExport.verifier = l.Verifier()
	benchExport.events = cp.Size
}

// BenchmarkInclusionProof measures ProveInclusion(random seq, size = tree size) on the
// large log and reports the p50 and p99 latency. Every proof is checked against the signed
// checkpoint's root after the timed part.
func BenchmarkInclusionProof(b *testing.B) {
	benchRequireSelected(b, "InclusionProof")
	n := benchLargeSize(b)
	_, l, cp := benchLarge(b, n)
	ctx := context.Background()
	b.Run(fmt.Sprintf("events=%d", n), func(b *testing.B) {
		r := rand.New(rand.NewPCG(uint64(b.N), 3))
		seqs := make([]int64, b.N)
		for i := range seqs {
			seqs[i] = r.Int64N(cp.Size)
		}
		proofs := make([]audit.InclusionProof, b.N)
		lats := make([]time.Duration, b.N)
		b.ResetTimer()
		for i := range b.N {
			t0 := time.Now()
			p, err := l.ProveInclusion(ctx, seqs[i], cp.Size)
			lats[i] = time.Since(t0)
			if err != nil {
				b.Fatal(err)
			}
			proofs[i] = p
		}
		b.StopTimer()
		for i, p := range proofs {
			if p.RootHash != cp.Root {
				b.Fatalf("proof %d: root %v, checkpoint root %v", i, p.RootHash, cp.Root)
			}
			if err := tlog.CheckRecord(p.Proof, p.Size, p.RootHash, p.Seq, p.LeafHash); err != nil {
				b.Fatalf("proof of seq %d: %v", p.Seq, err)
			}
		}
		slices.Sort(lats)
		b.ReportMetric(benchPercentile(lats, 0.50).Seconds()*1e6, "p50-us")
		b.ReportMetric(benchPercentile(lats, 0.99).Seconds()*1e6, "p99-us")
	})
	if benchSelected("VerifyOffline") {
		benchExportLarge(b, l, cp)
	}
}

// BenchmarkVerifyOffline measures audit.VerifyExport over the export of the large log, held
// in memory, against its signed checkpoint; one op verifies the whole export.
func BenchmarkVerifyOffline(b *testing.B) {
	benchRequireSelected(b, "VerifyOffline")
	n := benchLargeSize(b)
	if benchExport.events != int64(n) {
		_, l, cp := benchLarge(b, n)
		benchExportLarge(b, l, cp)
	}
	ex := benchExport
	b.Run(fmt.Sprintf("events=%d", n), func(b *testing.B) {
		b.SetBytes(int64(len(ex.data)))
		for range b.N {
			rep, err := audit.VerifyExport(bytes.NewReader(ex.data), ex.checkpoints, ex.verifier, nil)
			if err != nil {
				b.Fatal(err)
			}
			if !rep.OK() || rep.Events != ex.events || rep.Newest == nil || rep.Newest.Size != ex.events {
				b.Fatalf("verification of an intact export: %+v", rep)
			}
		}
		b.ReportMetric(float64(int64(b.N)*ex.events)/b.Elapsed().Seconds(), "events/s")
	})
}
