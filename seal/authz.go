package seal

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"sealvault/audit"
	"sealvault/internal/identity"
	"sealvault/vault"
)

// Powers an authorization letter may delegate.
const (
	PowerReceive = "receive" // 受理
	PowerReview  = "review"  // 审查
	PowerDecide  = "decide"  // 决定
	PowerDeliver = "deliver" // 送达
	PowerSeal    = "seal"    // 用印
)

var allPowers = []string{PowerReceive, PowerReview, PowerDecide, PowerDeliver, PowerSeal}

// itemCode is the form of a service item (事项) code, e.g. 440100-01-001.
var itemCode = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// Authorization is an authorization letter (授权委托书): what was recorded, and its state.
type Authorization struct {
	ID  uuid.UUID `json:"id"`
	Ref string    `json:"ref"` // A-<no>
	NewAuthorization
	// GrantorDepartment, GranteeDepartment and Seals name what the ids point at, for pages.
	GrantorDepartment string     `json:"grantor_department"`
	GranteeDepartment string     `json:"grantee_department"`
	Seals             []SealTag  `json:"seals"`
	CreatedBy         uuid.UUID  `json:"created_by"`
	CreatedAt         time.Time  `json:"created_at"`
	RevokedAt         *time.Time `json:"revoked_at"`
	RevokeReason      *string    `json:"revoke_reason"`
	no                int64
	validFrom         time.Time
	validUntil        time.Time
}

// NewAuthorization is a letter to record.
type NewAuthorization struct {
	GrantorDepartmentID uuid.UUID   `json:"grantor_department_id"`
	GranteeDepartmentID uuid.UUID   `json:"grantee_department_id"`
	Items               []string    `json:"items"`
	Powers              []string    `json:"powers"`
	SealIDs             []uuid.UUID `json:"seal_ids"`
	ValidFrom           string      `json:"valid_from"`
	ValidUntil          string      `json:"valid_until"`
	ApprovalRequired    bool        `json:"approval_required"`
	Note                string      `json:"note"`
}

const authColumns = `a.id, a.no, a.grantor_department_id, a.grantee_department_id, a.items, a.powers,
	coalesce((SELECT array_agg(seal_id ORDER BY seal_id) FROM authorization_seals x WHERE x.authorization_id = a.id), '{}'),
	a.valid_from, a.valid_until, a.approval_required, a.note, a.created_by, a.created_at, a.revoked_at, a.revoke_reason,
	(SELECT name FROM departments WHERE id = a.grantor_department_id), (SELECT name FROM departments WHERE id = a.grantee_department_id),
	coalesce((SELECT array_agg(xs.no ORDER BY x.seal_id) FROM authorization_seals x JOIN seals xs ON xs.id = x.seal_id WHERE x.authorization_id = a.id), '{}'),
	coalesce((SELECT array_agg(xs.name ORDER BY x.seal_id) FROM authorization_seals x JOIN seals xs ON xs.id = x.seal_id WHERE x.authorization_id = a.id), '{}')`

func scanAuthorization(row pgx.Row) (Authorization, error) {
	var a Authorization
	var sealNos []int64
	var sealNames []string
	err := row.Scan(&a.ID, &a.no, &a.GrantorDepartmentID, &a.GranteeDepartmentID, &a.Items, &a.Powers, &a.SealIDs,
		&a.validFrom, &a.validUntil, &a.ApprovalRequired, &a.Note, &a.CreatedBy, &a.CreatedAt, &a.RevokedAt, &a.RevokeReason,
		&a.GrantorDepartment, &a.GranteeDepartment, &sealNos, &sealNames)
	if errors.Is(err, pgx.ErrNoRows) {
		return a, ErrNotFound
	} else if err != nil {
		return a, fmt.Errorf("seal: read authorization: %w", err)
	}
	a.Ref = authRef(a.no)
	a.Seals = make([]SealTag, len(a.SealIDs))
	for i, id := range a.SealIDs {
		a.Seals[i] = SealTag{ID: id, Ref: sealRef(sealNos[i]), Name: sealNames[i]}
	}
	a.validFrom = time.Date(a.validFrom.Year(), a.validFrom.Month(), a.validFrom.Day(), 0, 0, 0, 0, cst)
	a.validUntil = time.Date(a.validUntil.Year(), a.validUntil.Month(), a.validUntil.Day(), 0, 0, 0, 0, cst)
	a.ValidFrom, a.ValidUntil = fmtDate(a.validFrom), fmtDate(a.validUntil)
	return a, nil
}

// GetAuthorization returns one letter.
func (s *Service) GetAuthorization(ctx context.Context, id uuid.UUID) (Authorization, error) {
	return scanAuthorization(s.DB.QueryRow(ctx, `SELECT `+authColumns+` FROM authorizations a WHERE a.id = $1`, id))
}

// ListAuthorizations returns the letters a department grants or holds (all if dept is nil).
func (s *Service) ListAuthorizations(ctx context.Context, dept *uuid.UUID) ([]Authorization, error) {
	rows, err := s.DB.Query(ctx, `SELECT `+authColumns+` FROM authorizations a
		WHERE $1::uuid IS NULL OR a.grantor_department_id = $1 OR a.grantee_department_id = $1 ORDER BY a.no`, dept)
	if err != nil {
		return nil, fmt.Errorf("seal: list authorizations: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Authorization, error) { return scanAuthorization(r) })
}

// CreateAuthorization records a letter. The seals it covers must belong to the grantor.
func (s *Service) CreateAuthorization(ctx context.Context, a Actor, n NewAuthorization) (Authorization, error) {
	bad := map[string]string{}
	if n.GrantorDepartmentID == uuid.Nil {
		bad["grantor_department_id"] = "is required"
	}
	if n.GranteeDepartmentID == uuid.Nil {
		bad["grantee_department_id"] = "is required"
	} else if n.GranteeDepartmentID == n.GrantorDepartmentID {
		bad["grantee_department_id"] = "must differ from the grantor"
	}
	if len(n.Items) == 0 {
		bad["items"] = "must list at least one service item code"
	}
	for i, it := range n.Items {
		n.Items[i] = strings.TrimSpace(it)
		if !itemCode.MatchString(n.Items[i]) {
			bad[fmt.Sprintf("items[%d]", i)] = "is not a service item code (letters, digits, '.', '_', '-')"
		}
	}
	if len(n.Powers) == 0 {
		bad["powers"] = "must list at least one of receive, review, decide, deliver, seal"
	}
	for i, p := range n.Powers {
		if !slices.Contains(allPowers, p) {
			bad[fmt.Sprintf("powers[%d]", i)] = "must be one of receive, review, decide, deliver, seal"
		}
	}
	if slices.Contains(n.Powers, PowerSeal) && len(n.SealIDs) == 0 {
		bad["seal_ids"] = "must list the seals the seal power covers"
	}
	from, until := parseTerm(n.ValidFrom, n.ValidUntil, bad)
	if len([]rune(n.Note)) > 1000 {
		bad["note"] = "must be at most 1000 characters"
	}
	if len(bad) > 0 {
		return Authorization{}, &InvalidError{Fields: bad}
	}
	for field, d := range map[string]uuid.UUID{"grantor_department_id": n.GrantorDepartmentID, "grantee_department_id": n.GranteeDepartmentID} {
		if _, err := identity.GetDepartment(ctx, s.DB, d); errors.Is(err, identity.ErrNotFound) {
			bad[field] = "no such department"
		} else if err != nil {
			return Authorization{}, err
		}
	}
	for i, id := range n.SealIDs {
		sl, err := s.GetSeal(ctx, id)
		switch {
		case errors.Is(err, ErrNotFound):
			bad[fmt.Sprintf("seal_ids[%d]", i)] = "no such seal"
		case err != nil:
			return Authorization{}, err
		case sl.DepartmentID != n.GrantorDepartmentID:
			bad[fmt.Sprintf("seal_ids[%d]", i)] = fmt.Sprintf("seal %s does not belong to the grantor department", sl.Ref)
		case sl.Status == StatusRevoked:
			bad[fmt.Sprintf("seal_ids[%d]", i)] = fmt.Sprintf("seal %s is revoked", sl.Ref)
		}
	}
	if len(bad) > 0 {
		return Authorization{}, &InvalidError{Fields: bad}
	}
	if err := separated(ctx, s.DB, n); err != nil {
		return Authorization{}, err
	}
	if err := s.manages(ctx, s.DB, a, n.GrantorDepartmentID); err != nil {
		return Authorization{}, err
	}
	var id uuid.UUID
	err := s.withTx(ctx, func(tx pgx.Tx) error {
		var no int64
		if err := tx.QueryRow(ctx, `
			INSERT INTO authorizations (grantor_department_id, grantee_department_id, items, powers, valid_from,
				valid_until, approval_required, note, created_by)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id, no`,
			n.GrantorDepartmentID, n.GranteeDepartmentID, n.Items, n.Powers, from, until, n.ApprovalRequired,
			strings.TrimSpace(n.Note), a.User.ID).Scan(&id, &no); err != nil {
			return err
		}
		for _, sid := range n.SealIDs {
			if _, err := tx.Exec(ctx, `INSERT INTO authorization_seals (authorization_id, seal_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, id, sid); err != nil {
				return err
			}
		}
		return audit.Append(ctx, tx, a.Event(s.now(), "authorization.create", map[string]string{
			audit.SubjectDepartment: n.GranteeDepartmentID.String()}, map[string]any{"ref": authRef(no), "authorization": id.String(),
			"grantor": n.GrantorDepartmentID.String(), "items": n.Items, "powers": n.Powers, "valid_from": n.ValidFrom,
			"valid_until": n.ValidUntil, "approval_required": n.ApprovalRequired}))
	})
	if err != nil {
		return Authorization{}, err
	}
	return s.GetAuthorization(ctx, id)
}

// RevokeAuthorization ends a letter now.
func (s *Service) RevokeAuthorization(ctx context.Context, a Actor, id uuid.UUID, reason string) (Authorization, error) {
	reason = strings.TrimSpace(reason)
	if l := len([]rune(reason)); l == 0 || l > 500 {
		return Authorization{}, &InvalidError{Fields: map[string]string{"reason": "is required, at most 500 characters"}}
	}
	cur, err := s.GetAuthorization(ctx, id)
	if err != nil {
		return Authorization{}, err
	}
	if err := s.manages(ctx, s.DB, a, cur.GrantorDepartmentID); err != nil {
		return Authorization{}, err
	}
	err = s.withTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE authorizations SET revoked_at = $2, revoked_by = $3, revoke_reason = $4
			WHERE id = $1 AND revoked_at IS NULL`, id, s.now(), a.User.ID, reason)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return &ConflictError{Detail: fmt.Sprintf("authorization %s is already revoked", cur.Ref),
				DetailZh: fmt.Sprintf("授权委托书 %s 已被撤销", cur.Ref)}
		}
		return audit.Append(ctx, tx, a.Event(s.now(), "authorization.revoke", map[string]string{
			audit.SubjectDepartment: cur.GranteeDepartmentID.String()}, map[string]any{"ref": cur.Ref,
			"authorization": id.String(), "reason": reason}))
	})
	if err != nil {
		return Authorization{}, err
	}
	return s.GetAuthorization(ctx, id)
}

// lettersFor returns the letters (revoked or not, any term) under which department dept
// might use seal sealID, newest first, for the regime to judge and to name in refusals.
func lettersFor(ctx context.Context, db vault.Querier, dept, sealID uuid.UUID) ([]Authorization, error) {
	rows, err := db.Query(ctx, `SELECT `+authColumns+` FROM authorizations a
		WHERE a.grantee_department_id = $1
		  AND EXISTS (SELECT 1 FROM authorization_seals x WHERE x.authorization_id = a.id AND x.seal_id = $2)
		ORDER BY a.no DESC`, dept, sealID)
	if err != nil {
		return nil, fmt.Errorf("seal: letters: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Authorization, error) { return scanAuthorization(r) })
}

// separated refuses a letter that gives the front desk the decision or the seal of a promised
// item (承诺件): those the owning department decides and seals itself (受审分离, DB44/T 2138
// §6.2.3). Only items the catalog marks instant (即办件) may be delegated so; items the catalog
// does not list are checked when a case is opened for them, which needs a catalog entry.
func separated(ctx context.Context, db vault.Querier, n NewAuthorization) error {
	if !slices.Contains(n.Powers, PowerDecide) && !slices.Contains(n.Powers, PowerSeal) {
		return nil
	}
	rows, err := db.Query(ctx, `SELECT code FROM service_items WHERE code = ANY($1) AND kind = 'promised' ORDER BY code`, n.Items)
	if err != nil {
		return fmt.Errorf("seal: items of letter: %w", err)
	}
	promised, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("seal: items of letter: %w", err)
	}
	if len(promised) == 0 {
		return nil
	}
	list := strings.Join(promised, ", ")
	return refuse("separation-of-duties",
		fmt.Sprintf("item %s is a promised item: its owning department decides and seals it, so a letter may not delegate decide or seal for it (separation of receiving and deciding)", list),
		fmt.Sprintf("事项 %s 为承诺件，由主管部门审批并用印，授权委托书不得将决定或用印权限委托给窗口（受审分离）", list))
}

// LetterGranting returns the newest letter in force on day by which grantor grants power over
// item to grantee, or ErrNotFound. It is how the case regime decides who may accept, decide or
// seal for another department.
func LetterGranting(ctx context.Context, db vault.Querier, grantor, grantee uuid.UUID, item, power string, day time.Time) (Authorization, error) {
	d := time.Date(day.In(cst).Year(), day.In(cst).Month(), day.In(cst).Day(), 0, 0, 0, 0, time.UTC)
	return scanAuthorization(db.QueryRow(ctx, `SELECT `+authColumns+` FROM authorizations a
		WHERE a.grantor_department_id = $1 AND a.grantee_department_id = $2 AND $3 = ANY(a.items) AND $4 = ANY(a.powers)
		  AND a.revoked_at IS NULL AND a.valid_from <= $5 AND a.valid_until >= $5
		ORDER BY a.no DESC LIMIT 1`, grantor, grantee, item, power, d))
}
