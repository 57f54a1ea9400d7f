package audit_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"sealvault/audit"
)

// sequenced returns the request ids of the sequenced events, in seq order, after checking
// that seqs run 0..n-1 and that each leaf is the hash of its event.
func (tr *trail) sequenced(t *testing.T) []string {
	t.Helper()
	rows, err := tr.pool.Query(t.Context(), `
		SELECT l.seq, e.body FROM audit_log l JOIN audit_events e ON e.id = l.event_id ORDER BY l.seq`)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		seq  int64
		body string
	}
	rs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
		var x row
		return x, r.Scan(&x.seq, &x.body)
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := tr.count(t, `SELECT count(*) FROM audit_log`); n != int64(len(rs)) {
		t.Fatalf("audit_log has %d rows but %d join an event", n, len(rs))
	}
	out := make([]string, len(rs))
	for i, r := range rs {
		if r.seq != int64(i) {
			t.Fatalf("sequence has a gap: position %d holds seq %d", i, r.seq)
		}
		var b struct {
			RequestID string `json:"request_id"`
		}
		if err := json.Unmarshal([]byte(r.body), &b); err != nil {
			t.Fatalf("seq %d: %v", r.seq, err)
		}
		out[i] = b.RequestID
	}
	return out
}

// TestAppendCommitsWithItsAction: an event exists if and only if the transaction of its
// action commits, and the sequence over committed events has no gap where a rolled-back
// one was.
func TestAppendCommitsWithItsAction(t *testing.T) {
	tr := newTrail(t, nil)
	ctx := t.Context()
	if _, err := tr.pool.Exec(ctx, `CREATE TABLE action_probe (request_id text PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	// act performs an action (a row in action_probe) and audits it in one transaction,
	// then commits or rolls back.
	act := func(id string, commit bool) {
		t.Helper()
		tx, err := tr.pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(context.WithoutCancel(ctx))
		if _, err := tx.Exec(ctx, `INSERT INTO action_probe VALUES ($1)`, id); err != nil {
			t.Fatal(err)
		}
		e := trailEvent(0)
		e.RequestID = id
		if err := audit.Append(ctx, tx, e); err != nil {
			t.Fatalf("Append %s: %v", id, err)
		}
		if commit {
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	stored := func() []string {
		t.Helper()
		rows, err := tr.pool.Query(ctx, `SELECT body::jsonb->>'request_id' FROM audit_events ORDER BY id`)
		if err != nil {
			t.Fatal(err)
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		return ids
	}

	act("a", true)
	act("b", false)
	act("c", true)
	if got, want := stored(), []string{"a", "c"}; !equalStrings(got, want) {
		t.Fatalf("events before integration: %q, want %q (a rolled-back action left its event)", got, want)
	}
	if n := tr.count(t, `SELECT count(*) FROM audit_pending`); n != 2 {
		t.Fatalf("audit_pending has %d rows, want 2", n)
	}
	if n := tr.count(t, `SELECT count(*) FROM audit_events e JOIN action_probe a ON a.request_id = e.body::jsonb->>'request_id'`); n != 2 {
		t.Fatalf("%d events match a committed action, want 2", n)
	}
	tr.integrate(t, 2)
	if got, want := tr.sequenced(t), []string{"a", "c"}; !equalStrings(got, want) {
		t.Fatalf("sequence %q, want %q", got, want)
	}

	act("d", true)
	act("e", false)
	act("f", false)
	act("g", true)
	tr.integrate(t, 4)
	if got, want := tr.sequenced(t), []string{"a", "c", "d", "g"}; !equalStrings(got, want) {
		t.Fatalf("sequence %q, want %q", got, want)
	}
	if n := tr.count(t, `SELECT count(*) FROM audit_pending`); n != 0 {
		t.Fatalf("audit_pending still has %d rows after IntegrateAll", n)
	}
	if got, want := stored(), []string{"a", "c", "d", "g"}; !equalStrings(got, want) {
		t.Fatalf("events %q, want %q", got, want)
	}
	tr.checkpoint(t, 4)
	wantOK(t, "online", tr.verifyOnline(t))
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestConcurrentAppendAndIntegrate: many writers, some rolling back, and two integrators in
// separate Log instances produce one gapless sequence holding each committed event once.
func TestConcurrentAppendAndIntegrate(t *testing.T) {
	const writers, perWriter = 16, 50
	tr := newTrail(t, func(c *audit.Config) { c.CheckpointEvery = 100; c.Batch = 37 })
	logs := []*audit.Log{tr.log, tr.reopen(t, nil)}
	if logs[0].VerifierKey() != logs[1].VerifierKey() {
		t.Fatal("two logs opened on one key directory have different verifier keys")
	}
	ctx := t.Context()
	rolledBack := func(w, i int) bool { return (w*perWriter+i)%7 == 3 }

	done := make(chan struct{})
	var integrators sync.WaitGroup
	for k, l := range logs {
		integrators.Go(func() {
			for {
				if _, err := l.Integrate(ctx); err != nil {
					t.Errorf("integrator %d: %v", k, err)
					return
				}
				if _, err := l.Checkpoint(ctx, false); err != nil && !errors.Is(err, audit.ErrNoCheckpoint) {
					t.Errorf("integrator %d: checkpoint: %v", k, err)
					return
				}
				select {
				case <-done:
					return
				default:
				}
			}
		})
	}
	var writersWG sync.WaitGroup
	for w := range writers {
		writersWG.Go(func() {
			for i := range perWriter {
				err := pgx.BeginFunc(ctx, tr.pool, func(tx pgx.Tx) error {
					e := trailEvent(w*perWriter + i)
					e.RequestID = fmt.Sprintf("w%d-%d", w, i)
					if err := audit.Append(ctx, tx, e); err != nil {
						return err
					}
					if rolledBack(w, i) {
						return errRollback
					}
					return nil
				})
				if err != nil && !errors.Is(err, errRollback) {
					t.Errorf("writer %d: %v", w, err)
					return
				}
			}
		})
	}
	writersWG.Wait()
	close(done)
	integrators.Wait()
	if t.Failed() {
		t.FailNow()
	}

	want := map[string]bool{}
	for w := range writers {
		for i := range perWriter {
			if !rolledBack(w, i) {
				want[fmt.Sprintf("w%d-%d", w, i)] = true
			}
		}
	}
	tr.integrate(t, int64(len(want)))
	seen := map[string]int64{}
	for seq, id := range tr.sequenced(t) {
		if prev, dup := seen[id]; dup {
			t.Errorf("event %s sequenced twice, at %d and %d", id, prev, seq)
		}
		seen[id] = int64(seq)
		if !want[id] {
			t.Errorf("seq %d holds %s, whose transaction rolled back", seq, id)
		}
	}
	for id := range want {
		if _, ok := seen[id]; !ok {
			t.Errorf("committed event %s was never sequenced", id)
		}
	}
	if n := tr.count(t, `SELECT count(*) FROM audit_events`); n != int64(len(want)) {
		t.Errorf("audit_events has %d rows, want %d committed", n, len(want))
	}
	if n := tr.count(t, `SELECT count(*) FROM audit_pending`); n != 0 {
		t.Errorf("audit_pending still has %d rows", n)
	}
	if n := tr.count(t, `SELECT count(*) FROM audit_checkpoints`); n == 0 {
		t.Error("no checkpoint was issued although the tree grew by far more than CheckpointEvery")
	}
	for _, l := range logs {
		if _, err := l.Checkpoint(ctx, true); err != nil {
			t.Fatal(err)
		}
	}
	r := tr.verifyOnline(t)
	wantOK(t, "online", r)
	if r.Events != int64(len(want)) {
		t.Errorf("Verify checked %d events, want %d", r.Events, len(want))
	}
	if r.Newest == nil || r.Newest.Size != int64(len(want)) {
		t.Errorf("newest checkpoint %+v, want size %d", r.Newest, len(want))
	}
	wantOK(t, "offline", tr.verifyOffline(t, tr.fileNotes(t)))
}

var errRollback = errors.New("roll back")

// TestAppendOnly: even the connection's own role, which owns the tables, cannot update,
// delete or truncate the trail while the triggers are in place.
func TestAppendOnly(t *testing.T) {
	tr := newTrail(t, nil)
	tr.appendEvents(t, 0, 3)
	tr.integrate(t, 3)
	tr.checkpoint(t, 3)
	ctx := t.Context()
	var super bool
	if err := tr.pool.QueryRow(ctx, `SELECT rolsuper FROM pg_roles WHERE rolname = current_user`).Scan(&super); err != nil {
		t.Fatal(err)
	}
	tables := map[string]string{
		"audit_events":      "body = body || ' '",
		"audit_log":         "leaf = leaf",
		"audit_hashes":      "hash = hash",
		"audit_checkpoints": "note = note",
	}
	before := map[string]int64{}
	for table := range tables {
		before[table] = tr.count(t, `SELECT count(*) FROM `+table)
		if before[table] == 0 {
			t.Fatalf("%s is empty; nothing to protect", table)
		}
	}
	for table, set := range tables {
		for _, stmt := range []string{
			"UPDATE " + table + " SET " + set,
			"DELETE FROM " + table,
			"DELETE FROM " + table + " WHERE ctid = (SELECT min(ctid) FROM " + table + ")",
			"TRUNCATE " + table + " CASCADE",
		} {
			_, err := tr.pool.Exec(ctx, stmt)
			var pgErr *pgconn.PgError
			switch {
			case err == nil:
				t.Errorf("%s succeeded (connection role superuser=%v)", stmt, super)
			case !errors.As(err, &pgErr) || pgErr.Code != "42501" || !strings.Contains(pgErr.Message, "append-only"):
				t.Errorf("%s: failed, but not by the append-only trigger: %v", stmt, err)
			}
		}
	}
	for table, n := range before {
		if got := tr.count(t, `SELECT count(*) FROM `+table); got != n {
			t.Errorf("%s has %d rows, had %d", table, got, n)
		}
	}
	wantOK(t, "online", tr.verifyOnline(t))
}

// TestAppendRefuses: malformed events and events holding personal identifiers are refused
// and leave nothing behind.
func TestAppendRefuses(t *testing.T) {
	tr := newTrail(t, nil)
	ctx := t.Context()
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	ok := audit.Event{Time: now, Action: "seal.apply", Subjects: map[string]string{audit.SubjectSeal: "s1"}}
	with := func(f func(*audit.Event)) audit.Event {
		e := ok
		f(&e)
		return e
	}
	details := func(d any) audit.Event { return with(func(e *audit.Event) { e.Details = d }) }

	const id = "440106199001011234"
	const credit = "91440101MA5CK2QX3B" // 2 + 6 digits + 10 code characters
	cases := []struct {
		name     string
		e        audit.Event
		personal bool
	}{
		{"action with a space and capitals", with(func(e *audit.Event) { e.Action = "Seal Apply" }), false},
		{"action without a dot", with(func(e *audit.Event) { e.Action = "seal" }), false},
		{"action with a capital", with(func(e *audit.Event) { e.Action = "seal.Apply" }), false},
		{"empty action", with(func(e *audit.Event) { e.Action = "" }), false},
		{"zero time", with(func(e *audit.Event) { e.Time = time.Time{} }), false},
		{"unmarshalable details", details(map[string]any{"f": func() {}}), false},
		{"ID number as details", details(id), true},
		{"ID number in a field", details(map[string]string{"applicant": id}), true},
		{"ID number with lower-case x", details(map[string]string{"applicant": "44010619900101123x"}), true},
		{"ID number as a JSON number", details(map[string]any{"applicant": int64(440106199001011234)}), true},
		{"ID number after Chinese text", details(map[string]string{"text": "身份证号" + id + "。"}), true},
		{"ID number as a key", details(map[string]int{id: 1}), true},
		{"ID number in a list", details([]string{"a", "b " + id}), true},
		{"ID number after a newline", details(map[string]string{"text": "applicant:\n" + id}), true},
		{"ID number after a tab", details(map[string]string{"text": "\t" + id}), true},
		{"ID number in angle brackets", details(map[string]string{"text": "<" + id + ">"}), true},
		{"ID number after an ampersand", details(map[string]string{"text": "a&" + id}), true},
		{"credit code", details(map[string]string{"company": credit}), true},
		{"credit code in text", details(map[string]string{"text": "统一社会信用代码：" + credit}), true},
		{"credit code after a newline", details(map[string]string{"text": "code\n" + credit}), true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, cerr := audit.Canonical(c.e)
			if cerr == nil {
				t.Fatal("Canonical accepted it")
			}
			if c.personal != errors.Is(cerr, audit.ErrPersonalData) {
				t.Errorf("Canonical: %v; ErrPersonalData expected: %v", cerr, c.personal)
			}
			if strings.Contains(cerr.Error(), id) || strings.Contains(cerr.Error(), credit) {
				t.Errorf("the error repeats the identifier: %v", cerr)
			}
			if err := audit.Append(ctx, tr.pool, c.e); err == nil {
				t.Fatal("Append accepted it")
			}
		})
	}
	if n := tr.count(t, `SELECT count(*) FROM audit_events`); n != 0 {
		t.Errorf("refused events left %d rows in audit_events", n)
	}
	if n := tr.count(t, `SELECT count(*) FROM audit_pending`); n != 0 {
		t.Errorf("refused events left %d rows in audit_pending", n)
	}

	// Ordinary details, including long digit runs that are not identifiers, pass, and what
	// is stored is exactly the canonical form.
	fine := []any{
		nil,
		map[string]any{"reason": "contract", "pages": 3},
		map[string]any{"digest": "sha256:ab440106199001011234cd0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a"},
		map[string]any{"timestamp_ms": int64(1719800000000), "phone_tail": "1234"},
		map[string]any{"long_number": "4401061990010112345"},
		map[string]any{"text": "证件号已脱敏：440106********1234"},
		[]int{1, 2, 3},
		"plain text with a newline\nand <brackets>",
	}
	for i, d := range fine {
		e := details(d)
		e.RequestID = fmt.Sprintf("fine-%d", i)
		want, err := audit.Canonical(e)
		if err != nil {
			t.Errorf("Canonical refused ordinary details %#v: %v", d, err)
			continue
		}
		if err := audit.Append(ctx, tr.pool, e); err != nil {
			t.Errorf("Append refused ordinary details %#v: %v", d, err)
			continue
		}
		var body string
		if err := tr.pool.QueryRow(ctx, `SELECT body FROM audit_events WHERE body::jsonb->>'request_id' = $1`, e.RequestID).Scan(&body); err != nil {
			t.Fatal(err)
		}
		if body != string(want) {
			t.Errorf("stored body\n%s\nis not the canonical form\n%s", body, want)
		}
	}
}

// TestCanonicalGolden pins the byte form the tree commits to: any change to it breaks every
// existing log.
func TestCanonicalGolden(t *testing.T) {
	shanghai := time.FixedZone("CST", 8*3600)
	cases := []struct {
		name string
		e    audit.Event
		want string
	}{
		{
			"full",
			audit.Event{
				Time:      time.Date(2024, 3, 1, 8, 30, 15, 123456789, shanghai),
				Actor:     audit.Actor{UserID: "u-1", DepartmentID: "d-7", Roles: []string{"clerk", "sealer"}},
				Action:    "seal.apply",
				Subjects:  map[string]string{audit.SubjectSeal: "s-42", audit.SubjectCase: "c-9", audit.SubjectMaterial: "m-3"},
				Details:   map[string]any{"reason": "合同 <盖章> & 归档", "pages": 3, "copies": []int{1, 2}},
				RequestID: "req-1",
				ClientIP:  "10.0.0.1",
			},
			`{"v":1,"time":"2024-03-01T00:30:15.123456Z","action":"seal.apply",` +
				`"actor":{"user_id":"u-1","department_id":"d-7","roles":["clerk","sealer"]},` +
				`"subjects":{"case":"c-9","material":"m-3","seal":"s-42"},` +
				`"details":{"copies":[1,2],"pages":3,"reason":"合同 \u003c盖章\u003e \u0026 归档"},` +
				`"request_id":"req-1","client_ip":"10.0.0.1"}`,
		},
		{
			"minimal",
			audit.Event{Time: time.Date(2025, 12, 31, 23, 59, 59, 999999999, time.UTC), Action: "auth.login"},
			`{"v":1,"time":"2025-12-31T23:59:59.999999Z","action":"auth.login","actor":{},"subjects":{},"details":{}}`,
		},
		{
			"struct details",
			audit.Event{
				Time:   time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
				Action: "material.download",
				Details: struct {
					B string `json:"b"`
					A int    `json:"a"`
				}{"x", 1},
			},
			`{"v":1,"time":"2025-01-02T03:04:05.000000Z","action":"material.download","actor":{},"subjects":{},"details":{"b":"x","a":1}}`,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for range 3 {
				got, err := audit.Canonical(c.e)
				if err != nil {
					t.Fatal(err)
				}
				if string(got) != c.want {
					t.Fatalf("Canonical:\n got %s\nwant %s", got, c.want)
				}
			}
		})
	}
}
