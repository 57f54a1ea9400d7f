package api

import (
	"net/http"
	"testing"

	"sealvault/internal/identity"
	"sealvault/seal"
)

// TestSealApplyRecordsAllOrNothing: the statements that record a use (the register row, its
// verification address, its first archive version, the request consumed, the signed copy
// filed as a document, the case's sealed document and the audit event) commit together. When
// one of them fails, none is left: the approval is still unused and there is no seal.apply
// event; once the failure is gone the same approval seals, and every record is there.
func TestSealApplyRecordsAllOrNothing(t *testing.T) {
	w := newSealWorld(t)
	b := w.b
	ctx := t.Context()
	req := w.approvedRequest(t)
	// The signed copy's document row, the last statement of the batch, fails.
	for _, q := range []string{
		`CREATE FUNCTION refuse_sealed_copy() RETURNS trigger LANGUAGE plpgsql AS $$
		 BEGIN IF NEW.name LIKE 'U-%' THEN RAISE EXCEPTION 'test: no sealed copies'; END IF; RETURN NEW; END $$`,
		`CREATE TRIGGER refuse_sealed_copy BEFORE INSERT ON seal_documents FOR EACH ROW EXECUTE FUNCTION refuse_sealed_copy()`,
	} {
		if _, err := b.pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	rec := b.do(t, http.MethodPost, "/api/v1/seal-requests/"+req.ID.String()+"/apply", b.token[identity.RoleWindow], nil)
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("apply with a failing statement: %d %s", rec.Code, rec.Body)
	}
	nothing := func(what, query string) {
		t.Helper()
		var n int
		if err := b.pool.QueryRow(ctx, query, req.ID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("%d %s after a failed application", n, what)
		}
	}
	nothing("register rows", `SELECT count(*) FROM seal_uses WHERE request_id = $1`)
	nothing("verification addresses", `SELECT count(*) FROM seal_use_links l JOIN seal_uses u ON u.id = l.use_id WHERE u.request_id = $1`)
	nothing("archive versions", `SELECT count(*) FROM seal_use_archives a JOIN seal_uses u ON u.id = a.use_id WHERE u.request_id = $1`)
	nothing("consumed requests", `SELECT count(*) FROM seal_requests WHERE id = $1 AND status <> 'approved'`)
	nothing("sealed case documents", `SELECT count(*) FROM case_documents d JOIN seal_requests r ON r.case_id = d.case_id WHERE r.id = $1 AND d.kind = 'sealed'`)
	nothing("seal.apply events", `SELECT count(*) FROM audit_events WHERE action = 'seal.apply' AND $1::uuid IS NOT NULL`)

	if _, err := b.pool.Exec(ctx, `DROP TRIGGER refuse_sealed_copy ON seal_documents`); err != nil {
		t.Fatal(err)
	}
	use := must[seal.Use](t, b.do(t, http.MethodPost, "/api/v1/seal-requests/"+req.ID.String()+"/apply", b.token[identity.RoleWindow], nil), http.StatusCreated)
	if use.RequestID != req.ID || use.InputDigest != w.doc || use.Archive == nil || use.Archive.Version != 1 ||
		use.Archive.Digest != use.OutputDigest || use.Timestamp == nil {
		t.Fatalf("use %+v", use)
	}
	var name, status string
	var links, sealed, events int
	if err := b.pool.QueryRow(ctx, `SELECT
			(SELECT name FROM seal_documents WHERE digest = $2 AND department_id = $3),
			(SELECT status FROM seal_requests WHERE id = $1),
			(SELECT count(*) FROM seal_use_links WHERE use_id = $4),
			(SELECT count(*) FROM case_documents WHERE digest = $2 AND kind = 'sealed'),
			(SELECT count(*) FROM audit_events WHERE action = 'seal.apply')`,
		req.ID, use.OutputDigest, req.DepartmentID, use.ID).Scan(&name, &status, &links, &sealed, &events); err != nil {
		t.Fatal(err)
	}
	wantLinks := 0
	if w.seal.ScanToVerify {
		wantLinks = 1
	}
	if name != use.Ref+".pdf" || status != seal.RequestApplied || links != wantLinks || sealed != 1 || events != 1 {
		t.Errorf("recorded: document %q (want %s.pdf), request %s, %d links (want %d), %d sealed case documents, %d seal.apply events",
			name, use.Ref, status, links, wantLinks, sealed, events)
	}
}

// TestSealApplyRoundTrips: an application of the ECDSA seal, once the caches (the CRL, the
// signer, the stamp, prepared statements) are warm, takes at most 18 round trips to
// PostgreSQL, the authentication's included: reading and checking before signing, pinning
// the signed copy, and one transaction that checks again, records and reads the row back.
func TestSealApplyRoundTrips(t *testing.T) {
	w := newBenchWorld(t)
	var trips []int64
	for range 3 {
		id, err := w.approved(w.seals["ecdsa"])
		if err != nil {
			t.Fatal(err)
		}
		before := benchTrips.Load()
		if err := w.apply(id); err != nil {
			t.Fatal(err)
		}
		trips = append(trips, benchTrips.Load()-before)
	}
	if n := trips[len(trips)-1]; n > 18 {
		t.Errorf("an application took %d round trips (in turn: %v), want at most 18", n, trips)
	}
	t.Logf("round trips per application: %v", trips)
}
