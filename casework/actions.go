package casework

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"sealvault/audit"
	"sealvault/internal/identity"
	"sealvault/reuse"
	"sealvault/seal"
	"sealvault/vault"
)

// staffRoles are the roles that work on cases (as opposed to keeping seals or auditing).
var staffRoles = []identity.Role{identity.RoleWindow, identity.RoleSealer}

// holds checks that u may exercise power over case r: as case staff of the item's owning
// department, or under an authorization letter in force from that department granting the
// power for the item to u's department. Decide and seal are never delegated for a promised
// item (受审分离). It returns the letter's reference ("" for the owning department's staff).
func (s *Service) holds(ctx context.Context, db vault.Querier, u identity.User, r row, power string) (string, error) {
	if !u.HasRole(staffRoles...) {
		return "", refuse("no-power", fmt.Sprintf("only case staff (window or sealer) may %s a case", power),
			fmt.Sprintf("只有办件工作人员（窗口或用印人）可以对办件行使「%s」权限", powerNames[power]))
	}
	if u.DepartmentID == r.owner {
		return "", nil
	}
	// The owning department's name is read only for a refusal, which names it.
	if (power == powerDecide || power == powerSeal) && r.kind == reuse.ItemPromised {
		owner := s.departmentName(ctx, db, r.owner)
		return "", refuse("separation-of-duties",
			fmt.Sprintf("item %s is a promised item: only %s decides and seals it; the front desk receives and delivers (separation of receiving and deciding)", r.item, owner),
			fmt.Sprintf("事项 %s 为承诺件，只能由%s审批并用印，窗口只负责收件和送达（受审分离）", r.item, owner))
	}
	l, err := seal.LetterGranting(ctx, db, r.owner, u.DepartmentID, r.item, power, s.now())
	if errors.Is(err, seal.ErrNotFound) {
		owner := s.departmentName(ctx, db, r.owner)
		return "", refuse("no-power",
			fmt.Sprintf("your department holds no authorization letter in force from %s granting the %s power for item %s", owner, power, r.item),
			fmt.Sprintf("您所在部门没有%s出具的、授予事项 %s「%s」权限且在有效期内的授权委托书", owner, r.item, powerNames[power]))
	} else if err != nil {
		return "", err
	}
	return l.Ref, nil
}

func (s *Service) departmentName(ctx context.Context, db vault.Querier, id uuid.UUID) string {
	d, err := identity.GetDepartment(ctx, db, id)
	if err != nil {
		return id.String()
	}
	return d.Name
}

// atReceivingDesk checks that u works at the department that received case r (the counter
// that delivers results and issues notices) and is window staff.
func atReceivingDesk(u identity.User, r row, action string) error {
	if u.DepartmentID != r.dept || !u.HasRole(identity.RoleWindow) {
		return refuse("not-receiving-desk",
			fmt.Sprintf("only window staff of the department that received case %s may %s it", r.caseNo, action),
			fmt.Sprintf("只有收件部门的窗口工作人员可以%s办件 %s", actionNames[action], r.caseNo))
	}
	return nil
}

// text checks a free text of a case: required, at most max characters, and free of personal
// identifiers (it goes on the audit trail).
func text(field, v string, max int) (string, map[string]string) {
	v = strings.TrimSpace(v)
	switch {
	case v == "":
		return v, map[string]string{field: "is required"}
	case len([]rune(v)) > max:
		return v, map[string]string{field: fmt.Sprintf("must be at most %d characters", max)}
	case audit.Personal(v):
		return v, map[string]string{field: "must not contain an ID-card number or a credit code (it is kept on the audit trail)"}
	}
	return v, nil
}

// Accept accepts a case (受理): every required material is attached and consent is recorded
// where a rule demanded it, checked in the accepting transaction; the due date is fixed from
// the item's time limit on the working-day calendar.
func (s *Service) Accept(ctx context.Context, a Actor, id uuid.UUID) (Case, error) {
	return s.act(ctx, a, id, "accept", []string{Received, Incomplete}, func(tx pgx.Tx, r row) error {
		letter, err := s.holds(ctx, tx, a.User, r, powerReceive)
		if err != nil {
			return err
		}
		c, err := s.Reuse.LoadCase(ctx, tx, id, false)
		if err != nil {
			return err
		}
		var missing, missingZh []string
		for _, e := range c.Plan {
			if e.Required && e.Status != "attached" {
				why, whyZh := e.Reason, e.ReasonZh
				if e.Status == "reusable" {
					why, whyZh = "reusable under "+e.RuleRef+" but not attached", "可按 "+e.RuleRef+" 复用但尚未关联"
				}
				missing = append(missing, fmt.Sprintf("%s (%s)", e.TypeName, why))
				missingZh = append(missingZh, fmt.Sprintf("%s（%s）", e.TypeName, whyZh))
			}
		}
		if len(missing) > 0 {
			return refuse("materials-missing",
				fmt.Sprintf("case %s lacks required materials: %s", r.caseNo, strings.Join(missing, "; ")),
				fmt.Sprintf("办件 %s 缺少必需材料：%s", r.caseNo, strings.Join(missingZh, "；")))
		}
		rows, err := tx.Query(ctx, `SELECT t.name || ' (' || 'RR-' || rr.no || ')' FROM case_materials cm
			JOIN reuse_rules rr ON rr.id = cm.rule_id JOIN material_types t ON t.code = cm.type_code
			JOIN cases c ON c.id = cm.case_id
			WHERE cm.case_id = $1 AND rr.consent_required AND c.consent_at IS NULL ORDER BY t.name`, id)
		if err != nil {
			return err
		}
		unconsented, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		if len(unconsented) > 0 {
			list := strings.Join(unconsented, ", ")
			return refuse("consent-missing",
				fmt.Sprintf("case %s reuses %s under a rule that needs the applicant's consent, which is not recorded", r.caseNo, list),
				fmt.Sprintf("办件 %s 复用的 %s 依规则须经申请人同意，尚未记录同意", r.caseNo, list))
		}
		now := s.now()
		due, provisional := s.calendar().AddWorkingDays(today(now), r.limit)
		if _, err := tx.Exec(ctx, `UPDATE cases SET accepted_at = $2, accepted_by = $3, due_on = $4, due_provisional = $5 WHERE id = $1`,
			id, now, a.User.ID, due.Format(time.DateOnly), provisional); err != nil {
			return err
		}
		details := map[string]any{"due_on": due.Format(time.DateOnly), "time_limit_days": r.limit}
		if letter != "" {
			details["authorization"] = letter
		}
		return s.transition(ctx, tx, a, r, Accepted, "", "case.accept", details)
	})
}

// RefuseIntake refuses a case at intake (不予受理) with the reason given to the applicant.
func (s *Service) RefuseIntake(ctx context.Context, a Actor, id uuid.UUID, reason string) (Case, error) {
	reason, bad := text("reason", reason, 500)
	if bad != nil {
		return Case{}, &InvalidError{Fields: bad}
	}
	return s.act(ctx, a, id, "refuse", []string{Received, Incomplete}, func(tx pgx.Tx, r row) error {
		letter, err := s.holds(ctx, tx, a.User, r, powerReceive)
		if err != nil {
			return err
		}
		return s.transition(ctx, tx, a, r, Refused, reason, "case.refuse", map[string]any{"reason": reason, "authorization": letter})
	})
}

// Withdraw records that the applicant withdrew the case (撤回), before it is decided.
func (s *Service) Withdraw(ctx context.Context, a Actor, id uuid.UUID, reason string) (Case, error) {
	reason, bad := text("reason", reason, 500)
	if bad != nil {
		return Case{}, &InvalidError{Fields: bad}
	}
	return s.act(ctx, a, id, "withdraw", []string{Received, Incomplete, Accepted, Forwarded}, func(tx pgx.Tx, r row) error {
		if err := atReceivingDesk(a.User, r, "withdraw"); err != nil {
			return err
		}
		return s.transition(ctx, tx, a, r, Withdrawn, reason, "case.withdraw", map[string]any{"reason": reason})
	})
}

// Forward forwards an accepted promised case to the item's owning department (转报), which
// decides it.
func (s *Service) Forward(ctx context.Context, a Actor, id uuid.UUID, note string) (Case, error) {
	note = strings.TrimSpace(note)
	if note != "" {
		var bad map[string]string
		if note, bad = text("note", note, 500); bad != nil {
			return Case{}, &InvalidError{Fields: bad}
		}
	}
	return s.act(ctx, a, id, "forward", []string{Accepted}, func(tx pgx.Tx, r row) error {
		if err := atReceivingDesk(a.User, r, "forward"); err != nil {
			return err
		}
		owner := s.departmentName(ctx, tx, r.owner)
		switch {
		case r.kind == reuse.ItemInstant:
			return refuse("instant-not-forwarded", fmt.Sprintf("item %s is an instant item: it is decided at the front desk, not forwarded", r.item),
				fmt.Sprintf("事项 %s 为即办件，由窗口当场办理，无需转报", r.item))
		case r.dept == r.owner:
			return refuse("already-at-owner", fmt.Sprintf("case %s was received by %s itself, which decides it without forwarding", r.caseNo, owner),
				fmt.Sprintf("办件 %s 由%s直接收件，无需转报", r.caseNo, owner))
		}
		if _, err := tx.Exec(ctx, `UPDATE cases SET forwarded_at = $2 WHERE id = $1`, id, s.now()); err != nil {
			return err
		}
		return s.transition(ctx, tx, a, r, Forwarded, note, "case.forward", map[string]any{"to": r.owner.String(), "to_name": owner})
	})
}

// Decision is a decision on a case, and optionally its result document.
type Decision struct {
	Decision string       `json:"decision"` // approved (准予) | denied (不予)
	Text     string       `json:"text"`     // the decision, as told to the applicant
	Document *DocumentRef `json:"document"` // the result or decision letter to seal, if uploaded already
}

// DocumentRef names a document uploaded to be sealed (POST /api/v1/documents) as a case's
// result (result) or decision letter (decision_letter).
type DocumentRef struct {
	Digest string `json:"digest"`
	Kind   string `json:"kind"`
}

// Decide records the decision on a case (准予 or 不予), by whoever holds the decide power
// for its item: the owning department, or for an instant item the front desk under a letter.
// A promised case received by another department must have been forwarded first.
func (s *Service) Decide(ctx context.Context, a Actor, id uuid.UUID, d Decision) (Case, error) {
	bad := map[string]string{}
	if d.Decision != Approved && d.Decision != Denied {
		bad["decision"] = "must be approved (准予) or denied (不予)"
	}
	var tb map[string]string
	if d.Text, tb = text("text", d.Text, 2000); tb != nil {
		bad["text"] = tb["text"]
	}
	if d.Document != nil {
		if _, err := vault.ParseDigest(d.Document.Digest); err != nil {
			bad["document.digest"] = "must be the SHA-256 digest of an uploaded document, 64 hex digits"
		}
		if d.Document.Kind == "" {
			d.Document.Kind = "result"
		}
		if d.Document.Kind != "result" && d.Document.Kind != "decision_letter" {
			bad["document.kind"] = "must be result or decision_letter"
		}
	}
	if len(bad) > 0 {
		return Case{}, &InvalidError{Fields: bad}
	}
	return s.act(ctx, a, id, "decide", []string{Accepted, Forwarded}, func(tx pgx.Tx, r row) error {
		if r.state == Accepted && r.kind == reuse.ItemPromised && r.dept != r.owner {
			return refuse("case-state", fmt.Sprintf("case %s is a promised case received at another department: forward it to %s first", r.caseNo, s.departmentName(ctx, tx, r.owner)),
				fmt.Sprintf("办件 %s 为承诺件，须先转报%s再作决定", r.caseNo, s.departmentName(ctx, tx, r.owner)))
		}
		letter, err := s.holds(ctx, tx, a.User, r, powerDecide)
		if err != nil {
			return err
		}
		now := s.now()
		if _, err := tx.Exec(ctx, `UPDATE cases SET decision = $2, decision_text = $3, decided_by = $4, decided_at = $5 WHERE id = $1`,
			id, d.Decision, d.Text, a.User.ID, now); err != nil {
			return err
		}
		if d.Document != nil {
			if err := s.addDocument(ctx, tx, a, r, *d.Document); err != nil {
				return err
			}
		}
		details := map[string]any{"decision": d.Decision}
		if letter != "" {
			details["authorization"] = letter
		}
		return s.transition(ctx, tx, a, r, Decided, d.Text, "case.decide", details)
	})
}

// AddDocument names a document uploaded by the actor's department as the decided case's
// result or decision letter, the documents its seal requests may seal.
func (s *Service) AddDocument(ctx context.Context, a Actor, id uuid.UUID, ref DocumentRef) (Case, error) {
	if _, err := vault.ParseDigest(ref.Digest); err != nil {
		return Case{}, &InvalidError{Fields: map[string]string{"digest": "must be the SHA-256 digest of an uploaded document, 64 hex digits"}}
	}
	if ref.Kind == "" {
		ref.Kind = "result"
	}
	if ref.Kind != "result" && ref.Kind != "decision_letter" {
		return Case{}, &InvalidError{Fields: map[string]string{"kind": "must be result or decision_letter"}}
	}
	return s.act(ctx, a, id, "add-document", []string{Decided, Sealed}, func(tx pgx.Tx, r row) error {
		if _, err := s.holds(ctx, tx, a.User, r, powerDecide); err != nil {
			if _, serr := s.holds(ctx, tx, a.User, r, powerSeal); serr != nil {
				return err
			}
		}
		if err := s.addDocument(ctx, tx, a, r, ref); err != nil {
			return err
		}
		return audit.Append(ctx, tx, a.Event(s.now(), "case.document", map[string]string{audit.SubjectCase: r.caseNo,
			audit.SubjectObject: ref.Digest}, map[string]any{"kind": ref.Kind}))
	})
}

func (s *Service) addDocument(ctx context.Context, tx pgx.Tx, a Actor, r row, ref DocumentRef) error {
	name, err := seal.UploadedDocument(ctx, tx, ref.Digest, a.User.DepartmentID)
	if errors.Is(err, seal.ErrNotFound) {
		return &InvalidError{Fields: map[string]string{"document.digest": "no document with this digest was uploaded by your department"}}
	} else if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO case_documents (case_id, digest, kind, name, added_by, added_at) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (case_id, digest) DO NOTHING`, r.id, ref.Digest, ref.Kind, name, a.User.ID, s.now())
	return err
}

// Delivery methods.
const (
	DeliverCounter    = "counter"    // 窗口领取
	DeliverPost       = "post"       // 邮寄
	DeliverElectronic = "electronic" // 电子送达
)

var trackingRE = regexp.MustCompile(`^[A-Za-z0-9-]{6,40}$`)

// Deliver records how the sealed result reached the applicant (送达): at the counter, by post
// with its tracking number, or electronically. Window staff deliver, under the deliver power.
func (s *Service) Deliver(ctx context.Context, a Actor, id uuid.UUID, method, tracking string) (Case, error) {
	tracking = strings.TrimSpace(tracking)
	switch method {
	case DeliverCounter, DeliverElectronic:
		if tracking != "" {
			return Case{}, &InvalidError{Fields: map[string]string{"tracking": "is given only for delivery by post"}}
		}
	case DeliverPost:
		if !trackingRE.MatchString(tracking) {
			return Case{}, &InvalidError{Fields: map[string]string{"tracking": "a delivery by post needs its tracking number (6 to 40 letters, digits or '-')"}}
		}
	default:
		return Case{}, &InvalidError{Fields: map[string]string{"method": "must be counter (窗口领取), post (邮寄) or electronic (电子送达)"}}
	}
	return s.act(ctx, a, id, "deliver", []string{Sealed}, func(tx pgx.Tx, r row) error {
		if err := atReceivingDesk(a.User, r, "deliver"); err != nil {
			return err
		}
		letter, err := s.holds(ctx, tx, a.User, r, powerDeliver)
		if err != nil {
			return err
		}
		var tr *string
		if tracking != "" {
			tr = &tracking
		}
		if _, err := tx.Exec(ctx, `UPDATE cases SET delivery_method = $2, delivery_tracking = $3, delivered_at = $4 WHERE id = $1`,
			id, method, tr, s.now()); err != nil {
			return err
		}
		details := map[string]any{"method": method}
		if tr != nil {
			details["tracking"] = tracking
		}
		if letter != "" {
			details["authorization"] = letter
		}
		return s.transition(ctx, tx, a, r, Delivered, "", "case.deliver", details)
	})
}

// Close closes a delivered case (办结).
func (s *Service) Close(ctx context.Context, a Actor, id uuid.UUID) (Case, error) {
	return s.act(ctx, a, id, "close", []string{Delivered}, func(tx pgx.Tx, r row) error {
		if err := atReceivingDesk(a.User, r, "close"); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE cases SET closed_at = $2 WHERE id = $1`, id, s.now()); err != nil {
			return err
		}
		return s.transition(ctx, tx, a, r, Closed, "", "case.close", nil)
	})
}

// RejectMaterial takes a material the applicant supplied off the case because staff found it
// invalid, with the reason: the next one-time notice may ask for it again.
func (s *Service) RejectMaterial(ctx context.Context, a Actor, id uuid.UUID, typeCode, reason string) (Case, error) {
	reason, bad := text("reason", reason, 500)
	if bad != nil {
		return Case{}, &InvalidError{Fields: bad}
	}
	return s.act(ctx, a, id, "reject-material", []string{Received, Incomplete}, func(tx pgx.Tx, r row) error {
		if err := atReceivingDesk(a.User, r, "reject-material"); err != nil {
			return err
		}
		var material uuid.UUID
		err := tx.QueryRow(ctx, `DELETE FROM case_materials WHERE case_id = $1 AND type_code = $2 RETURNING material_id`, id, typeCode).Scan(&material)
		if errors.Is(err, pgx.ErrNoRows) {
			return &InvalidError{Fields: map[string]string{"type_code": "no material of this type is attached to the case"}}
		} else if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO case_material_rejections (case_id, type_code, material_id, reason, by_user, at)
			VALUES ($1, $2, $3, $4, $5, $6)`, id, typeCode, material, reason, a.User.ID, s.now()); err != nil {
			return err
		}
		return audit.Append(ctx, tx, a.Event(s.now(), "case.material.reject", map[string]string{audit.SubjectCase: r.caseNo,
			audit.SubjectMaterial: material.String()}, map[string]any{"type_code": typeCode, "reason": reason}))
	})
}
