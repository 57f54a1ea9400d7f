package audit_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"sealvault/audit"
)

// TestEditedQueryColumn: a DBA who changes only an event's query column (so a search by
// action or seal no longer finds it) leaves the bytes alone, and the online verifier still
// names the event.
func TestEditedQueryColumn(t *testing.T) {
	for _, col := range []string{"action", "seal_id", "actor_id", "at"} {
		t.Run(col, func(t *testing.T) {
			tr := tamperedTrail(t)
			wantOK(t, "online before", tr.verifyOnline(t))
			tr.asDBA(t, func(ctx context.Context, tx pgx.Tx) {
				mustExec(t, ctx, tx, 1, `UPDATE audit_events SET `+col+` = 'hidden' WHERE id = $1`, eventAt(t, ctx, tx, 23))
			})
			r := tr.verifyOnline(t)
			wantDamage(t, "online", r, audit.DamageEdited, 23)
			// The bytes, and so the export, are untouched: offline finds nothing to say.
			wantOK(t, "offline", tr.verifyOffline(t, tr.dbNotes(t)))
		})
	}
}
