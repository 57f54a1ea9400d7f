package casework

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"sealvault/audit"
	"sealvault/internal/identity"
	"sealvault/reuse"
)

// Notice is a one-time notice (一次性告知书) as issued: numbered on its case and kept.
type Notice struct {
	reuse.NoticeData
	IssuedBy       uuid.UUID  `json:"issued_by"`
	IssuedAt       time.Time  `json:"issued_at"`
	OverrideReason *string    `json:"override_reason,omitempty"`
	OverrideBy     *uuid.UUID `json:"override_by,omitempty"`
}

// IssueNotice issues the case's next one-time notice: every material still to submit, with
// the reason and the requirements, and the case becomes incomplete (补正). A notice after the
// first may list only what the first listed, or a material the applicant supplied that was
// found invalid since (named, with the reason): one notice means once (一次性告知). Anything
// else is refused unless a supervisor of the center overrides it with a written reason
// (overrideReason), itself an audit event.
func (s *Service) IssueNotice(ctx context.Context, a Actor, id uuid.UUID, overrideReason string) (Notice, error) {
	overrideReason = strings.TrimSpace(overrideReason)
	if overrideReason != "" {
		var bad map[string]string
		if overrideReason, bad = text("override_reason", overrideReason, 500); bad != nil {
			return Notice{}, &InvalidError{Fields: bad}
		}
	}
	var out Notice
	_, err := s.act(ctx, a, id, "notice", []string{Received, Incomplete}, func(tx pgx.Tx, r row) error {
		if a.User.DepartmentID != r.dept || !a.User.HasRole(identity.RoleWindow, identity.RoleSupervisor) {
			return atReceivingDesk(a.User, r, "notice")
		}
		c, err := s.Reuse.LoadCase(ctx, tx, id, false)
		if err != nil {
			return err
		}
		n, err := s.Reuse.ComposeNotice(ctx, tx, a, c)
		if err != nil {
			return err
		}
		if !slices.ContainsFunc(n.Missing, func(m reuse.NoticeMaterial) bool { return !m.Optional }) {
			return refuse("nothing-missing", fmt.Sprintf("case %s lacks no required material: there is nothing to notify", r.caseNo),
				fmt.Sprintf("办件 %s 必需材料齐全，无需出具一次性告知书", r.caseNo))
		}
		// Materials found invalid: named in the notice with the reason.
		rejected, err := rejections(ctx, tx, id)
		if err != nil {
			return err
		}
		types := make([]string, len(n.Missing))
		for i, m := range n.Missing {
			types[i] = m.TypeCode
			if why, ok := rejected[m.TypeCode]; ok {
				n.Missing[i].Reason = "您提交的该材料经审核无效：" + why.reason
				n.Missing[i].ReasonEn = "the material supplied was found invalid: " + why.reason
			}
		}
		var first []string
		var firstAt time.Time
		err = tx.QueryRow(ctx, `SELECT types, issued_at FROM case_notices WHERE case_id = $1 AND no = 1`, id).Scan(&first, &firstAt)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		var added []string
		if err == nil {
			for _, m := range n.Missing {
				if slices.Contains(first, m.TypeCode) {
					continue
				}
				if why, ok := rejected[m.TypeCode]; ok && why.at.After(firstAt) {
					continue
				}
				added = append(added, m.Name)
			}
		}
		override := len(added) > 0
		if override {
			list := strings.Join(added, "、")
			switch {
			case overrideReason == "":
				return refuse("notice-not-once",
					fmt.Sprintf("the first notice of case %s did not ask for %s: a later notice may ask only for what the first listed or for a supplied material found invalid (a supervisor may override with a written reason)", r.caseNo, list),
					fmt.Sprintf("办件 %s 的首次告知未列明 %s：再次告知只能列首次告知过的材料或经审核无效的材料（如确需补充，须由中心负责人书面说明理由）", r.caseNo, list))
			case !a.User.HasRole(identity.RoleSupervisor):
				return refuse("override-needs-supervisor",
					fmt.Sprintf("only a supervisor of the center may let a notice of case %s ask for %s", r.caseNo, list),
					fmt.Sprintf("只有中心负责人可以批准办件 %s 的告知新增 %s", r.caseNo, list))
			}
		} else if overrideReason != "" {
			return &InvalidError{Fields: map[string]string{"override_reason": "is given only when a notice asks for a material the first notice did not list"}}
		}
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(no), 0) + 1 FROM case_notices WHERE case_id = $1`, id).Scan(&n.No); err != nil {
			return err
		}
		now := s.now()
		body, err := json.Marshal(n)
		if err != nil {
			return err
		}
		var reason *string
		var by *uuid.UUID
		if override {
			reason, by = &overrideReason, &a.User.ID
		}
		if _, err := tx.Exec(ctx, `INSERT INTO case_notices (case_id, no, types, body, issued_by, issued_at, override_reason, override_by)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, id, n.No, types, body, a.User.ID, now, reason, by); err != nil {
			return err
		}
		out = Notice{NoticeData: n, IssuedBy: a.User.ID, IssuedAt: now, OverrideReason: reason, OverrideBy: by}
		if override {
			if err := audit.Append(ctx, tx, a.Event(now, "case.notice.override", map[string]string{audit.SubjectCase: r.caseNo},
				map[string]any{"no": n.No, "added": added, "reason": overrideReason})); err != nil {
				return err
			}
		}
		details := map[string]any{"no": n.No, "missing": types}
		if r.state == Incomplete {
			return audit.Append(ctx, tx, a.Event(now, "case.notice", map[string]string{audit.SubjectCase: r.caseNo}, details))
		}
		return s.transition(ctx, tx, a, r, Incomplete, "", "case.notice", details)
	})
	return out, err
}

type rejection struct {
	reason string
	at     time.Time
}

// rejections returns, by type, the newest rejection of a material supplied for the case.
func rejections(ctx context.Context, db pgx.Tx, id uuid.UUID) (map[string]rejection, error) {
	rows, err := db.Query(ctx, `SELECT type_code, reason, at FROM case_material_rejections WHERE case_id = $1 ORDER BY id`, id)
	if err != nil {
		return nil, fmt.Errorf("casework: rejections: %w", err)
	}
	out := map[string]rejection{}
	var code string
	var r rejection
	_, err = pgx.ForEachRow(rows, []any{&code, &r.reason, &r.at}, func() error {
		out[code] = r
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("casework: rejections: %w", err)
	}
	return out, nil
}

// Notices returns the notices issued on a case the actor may see, in order.
func (s *Service) Notices(ctx context.Context, a Actor, id uuid.UUID) ([]Notice, error) {
	r, err := getRow(ctx, s.DB, id, "")
	if err != nil {
		return nil, err
	}
	if !visibleTo(a.User, r) {
		return nil, ErrNotFound
	}
	rows, err := s.DB.Query(ctx, `SELECT body, issued_by, issued_at, override_reason, override_by FROM case_notices WHERE case_id = $1 ORDER BY no`, id)
	if err != nil {
		return nil, fmt.Errorf("casework: notices: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Notice, error) {
		var n Notice
		var body []byte
		if err := row.Scan(&body, &n.IssuedBy, &n.IssuedAt, &n.OverrideReason, &n.OverrideBy); err != nil {
			return n, err
		}
		if err := json.Unmarshal(body, &n.NoticeData); err != nil {
			return n, err
		}
		n.NoticeData = n.NoticeData.IssuedAt(n.IssuedAt)
		return n, nil
	})
	if err != nil {
		return nil, fmt.Errorf("casework: notices: %w", err)
	}
	if out == nil {
		out = []Notice{}
	}
	return out, nil
}

// GetNotice returns notice no of a case the actor may see.
func (s *Service) GetNotice(ctx context.Context, a Actor, id uuid.UUID, no int) (Notice, error) {
	all, err := s.Notices(ctx, a, id)
	if err != nil {
		return Notice{}, err
	}
	for _, n := range all {
		if n.No == no {
			return n, nil
		}
	}
	return Notice{}, ErrNotFound
}
