package api

import (
	"net/http"
	"testing"

	"github.com/jackc/pgx/v5"

	"sealvault/internal/identity"
)

// TestAuditVerifyRoute: the auditor asks whether the log verifies and is told it does, over
// every event and checkpoint; the window clerk may not ask.
func TestAuditVerifyRoute(t *testing.T) {
	b := setup(t)
	aud := b.token[identity.RoleAuditor]
	// An export is itself an audited act: the log has an event to check.
	b.do(t, http.MethodGet, "/api/v1/audit/export", aud, nil)
	cp := must[checkpointResponse](t, b.do(t, http.MethodPost, "/api/v1/audit/checkpoint", aud, nil), http.StatusOK)
	rec := b.do(t, http.MethodGet, "/api/v1/audit/verify", aud, nil)
	r := must[auditVerifyResponse](t, rec, http.StatusOK)
	if !r.OK || r.Events < cp.Size || r.Checkpoints < 1 || r.Newest == nil || r.Newest.Size != cp.Size || len(r.Damage) != 0 {
		t.Errorf("verify: %s", rec.Body)
	}
	// An event edited by someone who turned the triggers off is found, with its position.
	err := pgx.BeginFunc(t.Context(), b.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(t.Context(), `SET LOCAL session_replication_role = replica`); err != nil {
			return err
		}
		tag, err := tx.Exec(t.Context(), `UPDATE audit_events SET body = replace(body, '"v":1', '"v":2') WHERE id = (SELECT event_id FROM audit_log ORDER BY seq LIMIT 1)`)
		if err == nil && tag.RowsAffected() != 1 {
			t.Fatalf("tampering changed %d events", tag.RowsAffected())
		}
		return err
	})
	if err != nil {
		t.Fatalf("tampering: %v", err)
	}
	rec = b.do(t, http.MethodGet, "/api/v1/audit/verify", aud, nil)
	if r := must[auditVerifyResponse](t, rec, http.StatusOK); r.OK || len(r.Damage) == 0 || r.Damage[0].Kind != "edited" {
		t.Errorf("an edited event verifies: %s", rec.Body)
	}
	if rec := b.do(t, http.MethodGet, "/api/v1/audit/verify", b.token[identity.RoleWindow], nil); rec.Code != http.StatusForbidden {
		t.Errorf("window clerk: %d", rec.Code)
	}
}
