package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Filter selects events; empty fields do not filter. From and To bound the event time
// (From inclusive, To exclusive).
type Filter struct {
	Seal, Case, Material, Actor, Department, Action string
	From, To                                        time.Time
	// Before is a cursor: only events older than it (by append order).
	Before int64
	Limit  int
}

// Record is a stored event: its append id, its sequence number once integrated, and its
// exact bytes.
type Record struct {
	ID    int64           `json:"id"`
	Seq   *int64          `json:"seq"`
	Event json.RawMessage `json:"event"`
}

// Events returns events matching f, newest first, at most f.Limit (default 50, at most
// 500). Every filter uses an index.
func (l *Log) Events(ctx context.Context, f Filter) ([]Record, error) {
	var where []string
	var args []any
	add := func(col string, op string, v any) {
		args = append(args, v)
		where = append(where, col+" "+op+" $"+strconv.Itoa(len(args)))
	}
	for col, v := range map[string]string{"seal_id": f.Seal, "case_id": f.Case, "material_id": f.Material,
		"actor_id": f.Actor, "department_id": f.Department, "action": f.Action} {
		if v != "" {
			add("e."+col, "=", v)
		}
	}
	if !f.From.IsZero() {
		add("e.at", ">=", f.From.UTC().Format(TimeFormat))
	}
	if !f.To.IsZero() {
		add("e.at", "<", f.To.UTC().Format(TimeFormat))
	}
	if f.Before > 0 {
		add("e.id", "<", f.Before)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, 500)
	args = append(args, limit)
	q := `SELECT e.id, l.seq, e.body FROM audit_events e LEFT JOIN audit_log l ON l.event_id = e.id`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY e.id DESC LIMIT $` + strconv.Itoa(len(args))
	rows, err := l.db.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("audit: events: %w", err)
	}
	recs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Record, error) {
		var rec Record
		var body string
		err := r.Scan(&rec.ID, &rec.Seq, &body)
		rec.Event = json.RawMessage(body)
		return rec, err
	})
	if err != nil {
		return nil, fmt.Errorf("audit: events: %w", err)
	}
	return recs, nil
}
