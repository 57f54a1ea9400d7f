package audit_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/mod/sumdb/tlog"

	"sealvault/audit"
	"sealvault/internal/dbtest"
)

// trailOrigin is the origin the test logs sign their checkpoints for.
const trailOrigin = "sealvault.test/audit"

// trailEpoch is the time of the first generated event; event i is i minutes later.
var trailEpoch = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)

// trail is an audit log on a fresh database with its own key and checkpoint directories.
type trail struct {
	pool *pgxpool.Pool
	log  *audit.Log
	cfg  audit.Config
}

// newTrail opens a log on a fresh migrated database. mod, if not nil, adjusts the config
// before the log is opened.
func newTrail(t *testing.T, mod func(*audit.Config)) *trail {
	t.Helper()
	pool := dbtest.Pool(t)
	dir := t.TempDir()
	cfg := audit.Config{
		Origin:             trailOrigin,
		KeyDir:             filepath.Join(dir, "keys"),
		CheckpointDir:      filepath.Join(dir, "checkpoints"),
		CheckpointEvery:    1000,
		CheckpointInterval: time.Hour,
	}
	if mod != nil {
		mod(&cfg)
	}
	l, err := audit.Open(pool, cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return &trail{pool: pool, log: l, cfg: cfg}
}

// reopen opens a second log on the same database, key and checkpoint directory.
func (tr *trail) reopen(t *testing.T, mod func(*audit.Config)) *audit.Log {
	t.Helper()
	cfg := tr.cfg
	if mod != nil {
		mod(&cfg)
	}
	l, err := audit.Open(tr.pool, cfg)
	if err != nil {
		t.Fatalf("Open again: %v", err)
	}
	return l
}

// trailEvent is the i-th generated event: every one has distinct bytes.
func trailEvent(i int) audit.Event {
	return audit.Event{
		Time:      trailEpoch.Add(time.Duration(i) * time.Minute),
		Actor:     audit.Actor{UserID: fmt.Sprintf("user-%d", i%3), DepartmentID: "dept-1", Roles: []string{"clerk"}},
		Action:    []string{"seal.apply", "material.download", "seal.apply.denied"}[i%3],
		Subjects:  map[string]string{audit.SubjectSeal: fmt.Sprintf("seal-%d", i%4), audit.SubjectCase: fmt.Sprintf("case-%d", i)},
		Details:   map[string]any{"n": i, "note": "routine"},
		RequestID: fmt.Sprintf("req-%d", i),
		ClientIP:  "10.1.2.3",
	}
}

// appendEvents appends generated events from .. from+n-1, each committed on its own.
func (tr *trail) appendEvents(t *testing.T, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		if err := audit.Append(t.Context(), tr.pool, trailEvent(i)); err != nil {
			t.Fatalf("Append %d: %v", i, err)
		}
	}
}

// integrate sequences everything pending and checks the tree size.
func (tr *trail) integrate(t *testing.T, want int64) {
	t.Helper()
	n, err := tr.log.IntegrateAll(t.Context())
	if err != nil {
		t.Fatalf("IntegrateAll: %v", err)
	}
	if n != want {
		t.Fatalf("IntegrateAll: tree size %d, want %d", n, want)
	}
}

// checkpoint forces a checkpoint and checks its size.
func (tr *trail) checkpoint(t *testing.T, want int64) audit.Checkpoint {
	t.Helper()
	cp, err := tr.log.Checkpoint(t.Context(), true)
	if err != nil {
		t.Fatalf("Checkpoint: %v", err)
	}
	if cp.Size != want {
		t.Fatalf("Checkpoint: size %d, want %d", cp.Size, want)
	}
	return cp
}

// count runs a query returning one number.
func (tr *trail) count(t *testing.T, sql string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := tr.pool.QueryRow(t.Context(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// dbNotes returns the checkpoint notes stored in the database, smallest size first.
func (tr *trail) dbNotes(t *testing.T) [][]byte {
	t.Helper()
	rows, err := tr.pool.Query(t.Context(), `SELECT note FROM audit_checkpoints ORDER BY size`)
	if err != nil {
		t.Fatal(err)
	}
	notes, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) ([]byte, error) {
		var s string
		err := r.Scan(&s)
		return []byte(s), err
	})
	if err != nil {
		t.Fatal(err)
	}
	return notes
}

// fileNotes returns the checkpoint notes in the checkpoint directory.
func (tr *trail) fileNotes(t *testing.T) [][]byte {
	t.Helper()
	notes, err := audit.ExternalCheckpoints(tr.cfg.CheckpointDir)
	if err != nil {
		t.Fatalf("ExternalCheckpoints: %v", err)
	}
	return notes
}

// export returns the whole export of the log.
func (tr *trail) export(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := tr.log.Export(t.Context(), &buf, 0, 1<<62); err != nil {
		t.Fatalf("Export: %v", err)
	}
	return buf.Bytes()
}

// exportEntries parses an export into its entries.
func exportEntries(t *testing.T, export []byte) []audit.Entry {
	t.Helper()
	var out []audit.Entry
	sc := bufio.NewScanner(bytes.NewReader(export))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		e, err := audit.ParseExportLine(bytes.Clone(sc.Bytes()))
		if err != nil {
			t.Fatalf("export line %d: %v", len(out)+1, err)
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// verifyOnline runs Log.Verify.
func (tr *trail) verifyOnline(t *testing.T) *audit.Report {
	t.Helper()
	r, err := tr.log.Verify(t.Context(), nil)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return r
}

// verifyOffline exports the log and checks the export against notes without the database.
func (tr *trail) verifyOffline(t *testing.T, notes [][]byte) *audit.Report {
	t.Helper()
	r, err := audit.VerifyExport(bytes.NewReader(tr.export(t)), notes, tr.log.Verifier(), nil)
	if err != nil {
		t.Fatalf("VerifyExport: %v", err)
	}
	return r
}

// asDBA runs fn in a transaction of the (superuser) connection with every trigger off, as a
// database administrator bent on rewriting the trail would.
func (tr *trail) asDBA(t *testing.T, fn func(ctx context.Context, tx pgx.Tx)) {
	t.Helper()
	err := pgx.BeginFunc(t.Context(), tr.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(t.Context(), `SET LOCAL session_replication_role = replica`); err != nil {
			return err
		}
		fn(t.Context(), tx)
		return nil
	})
	if err != nil {
		t.Fatalf("tampering: %v", err)
	}
}

// mustExec runs sql and checks it touched exactly rows rows, so a tampering that silently
// does nothing cannot make a test pass.
func mustExec(t *testing.T, ctx context.Context, tx pgx.Tx, rows int64, sql string, args ...any) {
	t.Helper()
	tag, err := tx.Exec(ctx, sql, args...)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	if tag.RowsAffected() != rows {
		t.Fatalf("%s: %d rows affected, want %d", sql, tag.RowsAffected(), rows)
	}
}

// memTree is a Merkle tree computed in the test from event bytes alone.
type memTree struct{ hashes []tlog.Hash }

func (m *memTree) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(m.hashes)) {
			return nil, fmt.Errorf("hash %d not computed", x)
		}
		out[i] = m.hashes[x]
	}
	return out, nil
}

// treeOf computes the tree of bodies, in order.
func treeOf(t *testing.T, bodies [][]byte) *memTree {
	t.Helper()
	m := &memTree{}
	for i, b := range bodies {
		hs, err := tlog.StoredHashes(int64(i), b, m)
		if err != nil {
			t.Fatal(err)
		}
		m.hashes = append(m.hashes, hs...)
	}
	return m
}

// rootOf returns the tree hash of the first n leaves of m.
func rootOf(t *testing.T, m *memTree, n int64) tlog.Hash {
	t.Helper()
	h, err := tlog.TreeHash(n, m)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// wantDamage checks that a report names kind at seq as its first finding.
func wantDamage(t *testing.T, mode string, r *audit.Report, kind string, seq int64) {
	t.Helper()
	if r.OK() {
		t.Errorf("%s: report is OK; want %s at seq %d", mode, kind, seq)
		return
	}
	if d := r.First(); d.Kind != kind || d.Seq != seq {
		t.Errorf("%s: first finding is %v; want %s at seq %d (all: %v)", mode, d, kind, seq, r.Damage)
	}
}

// wantOK checks that a report found nothing.
func wantOK(t *testing.T, mode string, r *audit.Report) {
	t.Helper()
	if !r.OK() {
		t.Errorf("%s: report has findings on an untampered log: %v", mode, r.Damage)
	}
}
