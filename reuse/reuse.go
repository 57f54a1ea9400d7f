// Package reuse is the material-reuse and shared-library regime: the material catalog and
// service items, reuse rules, cases with their reuse plans, and the one-time notice.
//
// A material reaches a case of another department only through a reuse rule whose scope and
// method allow it, within its validity and age limits, original-verified and with the
// applicant's consent where the rule demands them; every reuse is an audit event.
package reuse

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"sealvault/internal/actor"
	"sealvault/internal/identity"
	"sealvault/vault"
)

// Service is the reuse regime over one database.
type Service struct {
	DB   *pgxpool.Pool
	Keys *vault.HolderKeys
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Actor is the authenticated person acting, and the request it came in.
type Actor = actor.Actor

// Errors.
var (
	ErrNotFound  = errors.New("reuse: not found")
	ErrForbidden = errors.New("reuse: forbidden")
)

// InvalidError lists the invalid fields of a request and why each is invalid.
type InvalidError = vault.InvalidError

// cst is the time zone of the regime's dates (China Standard Time).
var cst = time.FixedZone("CST", 8*3600)

func today(now time.Time) time.Time {
	y, m, d := now.In(cst).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, cst)
}

func fmtDate(t time.Time) string { return t.In(cst).Format(time.DateOnly) }

// dept is what the sharing scopes need of a department.
type dept struct {
	id, parent uuid.UUID
	kind       string
	level      string
	name       string
}

// tree is the department tree, read whole (it is small).
type tree map[uuid.UUID]dept

func loadTree(ctx context.Context, db vault.Querier) (tree, error) {
	rows, err := db.Query(ctx, `SELECT id, coalesce(parent_id, '00000000-0000-0000-0000-000000000000'), kind, level, name FROM departments`)
	if err != nil {
		return nil, fmt.Errorf("reuse: departments: %w", err)
	}
	defer rows.Close()
	t := tree{}
	for rows.Next() {
		var d dept
		if err := rows.Scan(&d.id, &d.parent, &d.kind, &d.level, &d.name); err != nil {
			return nil, err
		}
		t[d.id] = d
	}
	return t, rows.Err()
}

// center returns the nearest service center at or above d (uuid.Nil if none).
func (t tree) center(d uuid.UUID) uuid.UUID {
	for range len(t) + 1 {
		x, ok := t[d]
		if !ok {
			return uuid.Nil
		}
		if x.kind == identity.KindCenter {
			return x.id
		}
		d = x.parent
	}
	return uuid.Nil
}

// shares reports whether scope lets a material of department from serve department to.
func (t tree) shares(scope string, from, to uuid.UUID) bool {
	switch scope {
	case ScopeDepartment:
		return from == to
	case ScopeCenter:
		c := t.center(from)
		return from == to || c != uuid.Nil && c == t.center(to)
	case ScopeLevel:
		return from == to || t[from].level == t[to].level
	case ScopeCrossLevel:
		return true
	}
	return false
}

// mustBeIn refuses an actor who has none of roles.
func mustBeIn(a Actor, roles ...identity.Role) error {
	if a.User.HasRole(roles...) {
		return nil
	}
	return ErrForbidden
}

func isNoRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }
