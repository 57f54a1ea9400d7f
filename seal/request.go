package seal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"sealvault/audit"
	"sealvault/internal/identity"
	"sealvault/seal/keys"
	"sealvault/seal/pades"
	"sealvault/vault"
	"sealvault/vault/pages"
)

// Request statuses.
const (
	RequestPending  = "pending"  // awaits a custodian's or the supervisor's decision
	RequestApproved = "approved" // may be applied, once
	RequestRejected = "rejected"
	RequestApplied  = "applied"
)

// Request is a seal-use request (用印申请).
type Request struct {
	ID               uuid.UUID  `json:"id"`
	Ref              string     `json:"ref"` // R-<no>
	SealID           uuid.UUID  `json:"seal_id"`
	SealRef          string     `json:"seal_ref"`  // S-<no>
	SealName         string     `json:"seal_name"` // 天河区市场监督管理局行政审批专用章
	RequesterID      uuid.UUID  `json:"requester_id"`
	RequesterName    string     `json:"requester_name"` // the requester's display name, for the custodian
	DepartmentID     uuid.UUID  `json:"department_id"`
	AuthorizationID  *uuid.UUID `json:"authorization_id"`
	AuthorizationRef string     `json:"authorization_ref,omitempty"` // A-<no>: the letter the request relies on
	CaseID           *uuid.UUID `json:"case_id"`                     // nil only for requests made before cases were required
	CaseRef          string     `json:"case_ref"`                    // the case number (or, before, the free text given)
	ItemCode         string     `json:"item_code"`
	DocumentDigest   string     `json:"document_digest"`
	Placement        Placement  `json:"placement"`
	Reason           string     `json:"reason"`
	ApprovalRequired bool       `json:"approval_required"`
	Status           string     `json:"status"`
	DecidedBy        *uuid.UUID `json:"decided_by"`
	DecidedAt        *time.Time `json:"decided_at"`
	DecisionNote     *string    `json:"decision_note"`
	CreatedAt        time.Time  `json:"created_at"`
	no               int64
}

// Placement is where the stamp goes: page (from 1), the lower-left corner (x, y) and the
// side of the square stamp (size), in PDF points (1/72 inch) from the page's lower left.
type Placement struct {
	Page int     `json:"page"`
	X    float64 `json:"x"`
	Y    float64 `json:"y"`
	Size float64 `json:"size"`
}

// NewRequest is a request to make. The item, the department and the applicant come from the
// case, never from the request.
type NewRequest struct {
	SealID         uuid.UUID `json:"seal_id"`
	CaseID         uuid.UUID `json:"case_id"`
	DocumentDigest string    `json:"document_digest"`
	Placement      Placement `json:"placement"`
	Reason         string    `json:"reason"`
}

const requestColumns = `r.id, r.no, r.seal_id, r.requester_id, r.department_id, r.authorization_id, r.case_id, r.case_ref,
	r.item_code, r.document_digest, r.page, r.x, r.y, r.size, r.reason, r.approval_required, r.status, r.decided_by,
	r.decided_at, r.decision_note, r.created_at,
	(SELECT u.display_name FROM users u WHERE u.id = r.requester_id),
	(SELECT x.no FROM seals x WHERE x.id = r.seal_id), (SELECT x.name FROM seals x WHERE x.id = r.seal_id),
	(SELECT l.no FROM authorizations l WHERE l.id = r.authorization_id)`

func scanRequest(row pgx.Row) (Request, error) { return scanRequestWith(row.Scan) }

// scanRequestWith is scanRequest with the row's Scan, which may take further columns.
func scanRequestWith(scan func(dest ...any) error) (Request, error) {
	var r Request
	var sealNo int64
	var letterNo *int64
	err := scan(&r.ID, &r.no, &r.SealID, &r.RequesterID, &r.DepartmentID, &r.AuthorizationID, &r.CaseID, &r.CaseRef,
		&r.ItemCode, &r.DocumentDigest, &r.Placement.Page, &r.Placement.X, &r.Placement.Y, &r.Placement.Size, &r.Reason,
		&r.ApprovalRequired, &r.Status, &r.DecidedBy, &r.DecidedAt, &r.DecisionNote, &r.CreatedAt,
		&r.RequesterName, &sealNo, &r.SealName, &letterNo)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, ErrNotFound
	} else if err != nil {
		return r, fmt.Errorf("seal: read request: %w", err)
	}
	r.Ref = requestRef(r.no)
	r.SealRef = sealRef(sealNo)
	if letterNo != nil {
		r.AuthorizationRef = authRef(*letterNo)
	}
	return r, nil
}

func getRequest(ctx context.Context, db vault.Querier, id uuid.UUID, lock string) (Request, error) {
	return scanRequest(db.QueryRow(ctx, `SELECT `+requestColumns+` FROM seal_requests r WHERE r.id = $1 `+lock, id))
}

// getRequestAndSeal reads request id and its seal in one round trip; lock is "" or row-lock
// clauses for r and s, such as "FOR UPDATE OF r FOR SHARE OF s".
func getRequestAndSeal(ctx context.Context, db vault.Querier, id uuid.UUID, lock string) (Request, Seal, error) {
	row := db.QueryRow(ctx, `SELECT `+requestColumns+`, `+sealColumns+` FROM seal_requests r
		JOIN seals s ON s.id = r.seal_id JOIN departments d ON d.id = s.department_id WHERE r.id = $1 `+lock, id)
	var sl Seal
	var serr error
	req, err := scanRequestWith(func(dest ...any) error {
		var raw error
		sl, serr = scanSealWith(func(sealDest ...any) error {
			raw = row.Scan(append(dest, sealDest...)...)
			return raw
		})
		return raw
	})
	if err != nil {
		return req, sl, err
	}
	return req, sl, serr
}

// GetRequest returns a request the actor may see: their own, their department's, one for a
// seal they keep or supervise, or any for a seal admin, admin or auditor.
func (s *Service) GetRequest(ctx context.Context, a Actor, id uuid.UUID) (Request, error) {
	r, err := getRequest(ctx, s.DB, id, "")
	if err != nil {
		return r, err
	}
	if a.User.HasRole(identity.RoleAdmin, identity.RoleAuditor, identity.RoleSealAdmin) || r.RequesterID == a.User.ID ||
		r.DepartmentID == a.User.DepartmentID {
		return r, nil
	}
	if ok, err := s.keeps(ctx, s.DB, a.User.ID, r.SealID); err != nil || ok {
		return r, err
	}
	return Request{}, ErrNotFound
}

// ListRequests returns requests the actor may see, newest first: status filters; pending
// requests awaiting the actor's decision come with mine=false when the actor keeps the seal.
func (s *Service) ListRequests(ctx context.Context, a Actor, status string) ([]Request, error) {
	all := a.User.HasRole(identity.RoleAdmin, identity.RoleAuditor, identity.RoleSealAdmin)
	rows, err := s.DB.Query(ctx, `SELECT `+requestColumns+` FROM seal_requests r
		WHERE ($1::text = '' OR r.status = $1)
		  AND ($2 OR r.requester_id = $3 OR r.department_id = $4
		       OR EXISTS (SELECT 1 FROM seals x WHERE x.id = r.seal_id AND x.supervisor_id = $3)
		       OR EXISTS (SELECT 1 FROM seal_custodians c WHERE c.seal_id = r.seal_id AND c.user_id = $3))
		ORDER BY r.no DESC LIMIT 200`, status, all, a.User.ID, a.User.DepartmentID)
	if err != nil {
		return nil, fmt.Errorf("seal: list requests: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Request, error) { return scanRequest(r) })
}

// keeps reports whether user is a custodian or the supervisor of the seal.
func (s *Service) keeps(ctx context.Context, db vault.Querier, user, sealID uuid.UUID) (bool, error) {
	var ok bool
	err := db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM seals WHERE id = $2 AND supervisor_id = $1)
		OR EXISTS (SELECT 1 FROM seal_custodians WHERE seal_id = $2 AND user_id = $1)`, user, sealID).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("seal: custodians: %w", err)
	}
	return ok, nil
}

// verdict is what the regime decided for a use of a seal by a person: under which letter (nil:
// as a sealer of the owning department) and whether each use needs approval.
type verdict struct {
	letter           *Authorization
	approvalRequired bool
}

// judge applies the seal-use regime to user acting on seal for item at time now. It returns
// a *Refusal naming the rule, or the verdict.
func judge(ctx context.Context, db vault.Querier, user identity.User, sl Seal, item string, now time.Time) (verdict, error) {
	day := today(now)
	switch sl.Status {
	case StatusActive:
	case StatusPending:
		return verdict{}, refuse("seal-not-active", fmt.Sprintf("seal %s (%s) has not been activated yet", sl.Ref, sl.Name),
			fmt.Sprintf("印章 %s（%s）尚未启用", sl.Ref, sl.Name))
	default:
		return verdict{}, refuse("seal-not-active",
			fmt.Sprintf("seal %s (%s) is %s since %s", sl.Ref, sl.Name, sl.Status, fmtDate(sl.StatusSince)),
			fmt.Sprintf("印章 %s（%s）自 %s 起%s", sl.Ref, sl.Name, fmtDate(sl.StatusSince), statusNames[sl.Status]))
	}
	if day.Before(sl.validFrom) || day.After(sl.validUntil) {
		return verdict{}, refuse("seal-outside-validity",
			fmt.Sprintf("seal %s (%s) is valid from %s to %s, not on %s", sl.Ref, sl.Name, sl.ValidFrom, sl.ValidUntil, fmtDate(day)),
			fmt.Sprintf("印章 %s（%s）有效期为 %s 至 %s，%s 不在有效期内", sl.Ref, sl.Name, sl.ValidFrom, sl.ValidUntil, fmtDate(day)))
	}
	if user.DepartmentID == sl.DepartmentID {
		if user.HasRole(identity.RoleSealer) {
			return verdict{approvalRequired: true}, nil
		}
		return verdict{}, refuse("not-a-sealer",
			fmt.Sprintf("only the sealers (用印人) of %s may use seal %s", sl.Department, sl.Ref),
			fmt.Sprintf("只有%s的用印人可以使用印章 %s", sl.Department, sl.Ref))
	}
	letters, err := lettersFor(ctx, db, user.DepartmentID, sl.ID)
	if err != nil {
		return verdict{}, err
	}
	if len(letters) == 0 {
		return verdict{}, refuse("no-authorization",
			fmt.Sprintf("your department holds no authorization letter from %s covering seal %s", sl.Department, sl.Ref),
			fmt.Sprintf("您所在部门没有%s出具的涵盖印章 %s 的授权委托书", sl.Department, sl.Ref))
	}
	// The first letter that allows the use wins; otherwise the refusal names the most
	// relevant letter's failing condition (checked in this order).
	var first *Refusal
	for _, l := range letters {
		var r *Refusal
		switch {
		case l.RevokedAt != nil:
			r = refuse("authorization-revoked", fmt.Sprintf("authorization %s was revoked on %s", l.Ref, fmtDate(*l.RevokedAt)),
				fmt.Sprintf("授权委托书 %s 已于 %s 撤销", l.Ref, fmtDate(*l.RevokedAt)))
		case day.Before(l.validFrom):
			r = refuse("authorization-not-yet-valid", fmt.Sprintf("authorization %s is valid only from %s", l.Ref, l.ValidFrom),
				fmt.Sprintf("授权委托书 %s 自 %s 起生效", l.Ref, l.ValidFrom))
		case day.After(l.validUntil):
			r = refuse("authorization-expired", fmt.Sprintf("authorization %s expired on %s", l.Ref, l.ValidUntil),
				fmt.Sprintf("授权委托书 %s 已于 %s 到期", l.Ref, l.ValidUntil))
		case !slices.Contains(l.Powers, PowerSeal):
			r = refuse("authorization-lacks-seal-power", fmt.Sprintf("authorization %s does not delegate the seal power", l.Ref),
				fmt.Sprintf("授权委托书 %s 未授予用印权限", l.Ref))
		case !slices.Contains(l.Items, item):
			r = refuse("item-not-covered", fmt.Sprintf("authorization %s does not cover item %s", l.Ref, item),
				fmt.Sprintf("授权委托书 %s 不涵盖事项 %s", l.Ref, item))
		default:
			return verdict{letter: &l, approvalRequired: l.ApprovalRequired}, nil
		}
		if first == nil {
			first = r
		}
	}
	return verdict{}, first
}

// CreateRequest files a seal-use request. The regime is checked now (and again when the seal
// is applied); a refusal is recorded as a "seal.apply.denied" audit event. Under a letter that
// needs no approval the request is approved at once.
func (s *Service) CreateRequest(ctx context.Context, a Actor, n NewRequest) (Request, error) {
	bad := map[string]string{}
	n.Reason = strings.TrimSpace(n.Reason)
	if n.SealID == uuid.Nil {
		bad["seal_id"] = "is required"
	}
	if n.CaseID == uuid.Nil {
		bad["case_id"] = "is required: the case (办件) the document is sealed for"
	}
	if l := len([]rune(n.Reason)); l == 0 || l > 500 {
		bad["reason"] = "is required, at most 500 characters"
	}
	doc, err := vault.ParseDigest(n.DocumentDigest)
	if err != nil {
		bad["document_digest"] = "must be the SHA-256 digest of an uploaded document, 64 hex digits"
	}
	p := n.Placement
	switch {
	case p.Page < 1:
		bad["placement.page"] = "must be 1 or more"
	case !(p.Size >= 20 && p.Size <= 400):
		bad["placement.size"] = "must be 20 to 400 points"
	case !(p.X >= 0 && p.Y >= 0):
		bad["placement"] = "x and y must be 0 or more"
	}
	if len(bad) > 0 {
		return Request{}, &InvalidError{Fields: bad}
	}
	sl, err := s.GetSeal(ctx, n.SealID)
	if errors.Is(err, ErrNotFound) {
		return Request{}, &InvalidError{Fields: map[string]string{"seal_id": "no such seal"}}
	} else if err != nil {
		return Request{}, err
	}
	pageCount, err := documentPages(ctx, s.DB, doc, a.User.DepartmentID)
	if errors.Is(err, ErrNotFound) {
		return Request{}, &InvalidError{Fields: map[string]string{"document_digest": "no document with this digest was uploaded by your department"}}
	} else if err != nil {
		return Request{}, err
	}
	if p.Page > pageCount {
		return Request{}, &InvalidError{Fields: map[string]string{"placement.page": fmt.Sprintf("the document has %d pages", pageCount)}}
	}
	if err := s.checkPlacement(ctx, doc, p, sl); err != nil {
		return Request{}, err
	}
	now := s.now()
	facts, caseErr := s.cases().Sealable(ctx, s.DB, n.CaseID, a.User, doc.String())
	var refusal *Refusal
	if errors.Is(caseErr, ErrNotFound) {
		return Request{}, &InvalidError{Fields: map[string]string{"case_id": "no such case, or not one your department may see"}}
	} else if caseErr != nil && !errors.As(caseErr, &refusal) {
		return Request{}, caseErr
	}
	// The seal's own rules first (they name the seal and the letter), then the case's.
	v, err := judge(ctx, s.DB, a.User, sl, facts.ItemCode, now)
	if err == nil {
		err = caseErr
	}
	if err != nil {
		return Request{}, s.denied(ctx, a, err, "request", sl, nil, facts.CaseNo, facts.ItemCode)
	}
	var id uuid.UUID
	err = s.withTx(ctx, func(tx pgx.Tx) error {
		var letter *uuid.UUID
		if v.letter != nil {
			letter = &v.letter.ID
		}
		status := RequestApproved
		if v.approvalRequired {
			status = RequestPending
		}
		var no int64
		if err := tx.QueryRow(ctx, `
			INSERT INTO seal_requests (seal_id, requester_id, department_id, authorization_id, case_id, case_ref, item_code,
				document_digest, page, x, y, size, reason, approval_required, status, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) RETURNING id, no`,
			sl.ID, a.User.ID, a.User.DepartmentID, letter, n.CaseID, facts.CaseNo, facts.ItemCode, doc.String(), p.Page, p.X, p.Y,
			p.Size, n.Reason, v.approvalRequired, status, now).Scan(&id, &no); err != nil {
			return err
		}
		details := map[string]any{"ref": requestRef(no), "seal": sl.Ref, "item": facts.ItemCode, "approval_required": v.approvalRequired}
		if v.letter != nil {
			details["authorization"] = v.letter.Ref
		}
		return audit.Append(ctx, tx, a.Event(now, "seal.request", map[string]string{audit.SubjectSeal: sl.ID.String(),
			audit.SubjectCase: facts.CaseNo, audit.SubjectObject: doc.String()}, details))
	})
	if err != nil {
		return Request{}, err
	}
	return getRequest(ctx, s.DB, id, "")
}

// checkPlacement makes sure the stamp lies within its page, with room beside it for the QR
// panel when seal sl's stamps carry one.
func (s *Service) checkPlacement(ctx context.Context, doc vault.Digest, p Placement, sl Seal) error {
	data, err := s.readObject(ctx, doc.String())
	if err != nil {
		return err
	}
	sizes, err := pages.PageSizes(data)
	if err != nil {
		return err
	}
	if p.Page > len(sizes) {
		return &InvalidError{Fields: map[string]string{"placement.page": fmt.Sprintf("the document has %d pages", len(sizes))}}
	}
	w, h := sizes[p.Page-1][0], sizes[p.Page-1][1]
	if p.X+p.Size > w || p.Y+p.Size > h {
		return &InvalidError{Fields: map[string]string{"placement": fmt.Sprintf(
			"a %.0f pt stamp at (%.0f, %.0f) does not fit on page %d, which is %.0f × %.0f pt", p.Size, p.X, p.Y, p.Page, w, h)}}
	}
	if on, err := scanToVerify(ctx, s.DB, sl); err != nil {
		return err
	} else if on && !panelFits(p, w) {
		return &InvalidError{Fields: map[string]string{"placement": fmt.Sprintf(
			"a %.0f pt stamp at (%.0f, %.0f) leaves no room on page %d (%.0f pt wide) for its scan-to-verify code, %.0f pt beside it on the left or right",
			p.Size, p.X, p.Y, p.Page, w, PanelWidth*p.Size)}}
	}
	return nil
}

// documentPages returns the page count of a document uploaded to be sealed by department dept.
func documentPages(ctx context.Context, db vault.Querier, d vault.Digest, dept uuid.UUID) (int, error) {
	var n int
	err := db.QueryRow(ctx, `SELECT page_count FROM seal_documents WHERE digest = $1 AND department_id = $2`, d.String(), dept).Scan(&n)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, ErrNotFound
	}
	return n, err
}

// denied records a refusal as a "seal.apply.denied" audit event, in a transaction of its own
// (the refused action's, if any, is rolled back), and returns err. Errors that are not
// refusals pass through unrecorded.
func (s *Service) denied(ctx context.Context, a Actor, err error, stage string, sl Seal, req *Request, caseRef, item string) error {
	var r *Refusal
	if !errors.As(err, &r) {
		return err
	}
	subjects := map[string]string{audit.SubjectSeal: sl.ID.String(), audit.SubjectCase: caseRef}
	details := map[string]any{"stage": stage, "rule": r.Rule, "detail": r.Detail, "seal": sl.Ref, "item": item}
	if req != nil {
		details["request"] = req.Ref
	}
	if aerr := audit.Append(ctx, s.DB, a.Event(s.now(), "seal.apply.denied", subjects, details)); aerr != nil {
		return fmt.Errorf("seal: record refusal: %w (refusal: %v)", aerr, err)
	}
	return err
}

// Decide approves or rejects a pending request. Only a custodian or the supervisor of the
// seal who is not the requester may decide (two-person rule). The approval binds the
// request's document digest; it is consumed by one application.
func (s *Service) Decide(ctx context.Context, a Actor, id uuid.UUID, approve bool, note string) (Request, error) {
	note = strings.TrimSpace(note)
	if len([]rune(note)) > 500 {
		return Request{}, &InvalidError{Fields: map[string]string{"note": "must be at most 500 characters"}}
	}
	var refused error
	var sl Seal
	var req Request
	err := s.withTx(ctx, func(tx pgx.Tx) error {
		var err error
		if req, err = getRequest(ctx, tx, id, "FOR UPDATE"); err != nil {
			return err
		}
		if sl, err = getSeal(ctx, tx, req.SealID, "FOR SHARE OF s"); err != nil {
			return err
		}
		keeps, err := s.keeps(ctx, tx, a.User.ID, sl.ID)
		if err != nil {
			return err
		}
		switch {
		case req.RequesterID == a.User.ID:
			refused = refuse("self-approval", fmt.Sprintf("the requester cannot approve their own request %s", req.Ref),
				fmt.Sprintf("申请人不能审批自己的用印申请 %s", req.Ref))
		case !keeps:
			refused = refuse("not-a-custodian", fmt.Sprintf("only a custodian or the supervisor of seal %s may decide request %s", sl.Ref, req.Ref),
				fmt.Sprintf("只有印章 %s 的保管人或监印人可以审批用印申请 %s", sl.Ref, req.Ref))
		case req.Status != RequestPending:
			return &ConflictError{Detail: fmt.Sprintf("request %s is %s, not pending", req.Ref, req.Status),
				DetailZh: fmt.Sprintf("用印申请 %s 当前状态为 %s，不是待审批", req.Ref, req.Status)}
		}
		if refused != nil {
			return refused
		}
		if approve {
			requester := identity.User{ID: req.RequesterID, DepartmentID: req.DepartmentID, Roles: s.rolesOf(ctx, tx, req.RequesterID)}
			if _, err := judge(ctx, tx, requester, sl, req.ItemCode, s.now()); err != nil {
				refused = err
				return err
			}
			if err := s.caseStillSealable(ctx, tx, req, requester); err != nil {
				refused = err
				return err
			}
		}
		status, action := RequestRejected, "seal.reject"
		if approve {
			status, action = RequestApproved, "seal.approve"
		}
		now := s.now()
		if _, err := tx.Exec(ctx, `UPDATE seal_requests SET status = $2, decided_by = $3, decided_at = $4, decision_note = $5
			WHERE id = $1`, id, status, a.User.ID, now, note); err != nil {
			return err
		}
		return audit.Append(ctx, tx, a.Event(now, action, map[string]string{audit.SubjectSeal: sl.ID.String(),
			audit.SubjectCase: req.CaseRef, audit.SubjectObject: req.DocumentDigest}, map[string]any{"request": req.Ref,
			"seal": sl.Ref, "note": note}))
	})
	if refused != nil {
		return Request{}, s.denied(ctx, a, refused, "approve", sl, &req, req.CaseRef, req.ItemCode)
	}
	if err != nil {
		return Request{}, err
	}
	return getRequest(ctx, s.DB, id, "")
}

func (s *Service) rolesOf(ctx context.Context, db vault.Querier, user uuid.UUID) []identity.Role {
	var roles []string
	_ = db.QueryRow(ctx, `SELECT roles FROM users WHERE id = $1`, user).Scan(&roles)
	out := make([]identity.Role, len(roles))
	for i, r := range roles {
		out[i] = identity.Role(r)
	}
	return out
}

// Use is one row of the seal-use register (用印登记台账).
type Use struct {
	ID              uuid.UUID  `json:"id"`
	Ref             string     `json:"ref"` // U-<no>
	RequestID       uuid.UUID  `json:"request_id"`
	SealID          uuid.UUID  `json:"seal_id"`
	SealRef         string     `json:"seal_ref"`
	SealName        string     `json:"seal_name"`
	ImageVersion    int        `json:"image_version"`
	CertSerial      string     `json:"certificate_serial"`
	RequesterID     uuid.UUID  `json:"requester_id"`
	ApproverID      *uuid.UUID `json:"approver_id"`
	DepartmentID    uuid.UUID  `json:"department_id"`
	AuthorizationID *uuid.UUID `json:"authorization_id"`
	CaseID          *uuid.UUID `json:"case_id"`
	CaseRef         string     `json:"case_ref"`
	ItemCode        string     `json:"item_code"`
	InputDigest     string     `json:"input_digest"`
	OutputDigest    string     `json:"output_digest"`
	OutputSize      int64      `json:"output_size"`
	Placement       Placement  `json:"placement"`
	AppliedAt       time.Time  `json:"applied_at"`
	// Timestamp is the signature's trusted time; nil for uses sealed before timestamps.
	Timestamp *UseTimestamp `json:"timestamp"`
	// Archive is the newest archive version of the sealed document (PAdES B-LTA), which
	// downloads serve; nil for uses sealed before archive timestamps and not renewed since.
	Archive *UseArchive `json:"archive"`
}

const useColumns = `u.id, u.no, u.request_id, u.seal_id, s.no, s.name, u.image_version, u.cert_serial, u.requester_id,
	u.approver_id, u.department_id, u.authorization_id, u.case_id, u.case_ref, u.item_code, u.input_digest, u.output_digest,
	u.output_size, u.page, u.x, u.y, u.size, u.applied_at, u.timestamp_at, u.tsa_name, u.tsa_serial::text`

func scanUse(row pgx.Row) (Use, error) {
	var u Use
	var no, sealNo int64
	var tsAt *time.Time
	var tsName, tsSerial *string
	var av *int
	var ad, aTSA *string
	var asize *int64
	var aAt, aNotAfter *time.Time
	err := row.Scan(&u.ID, &no, &u.RequestID, &u.SealID, &sealNo, &u.SealName, &u.ImageVersion, &u.CertSerial,
		&u.RequesterID, &u.ApproverID, &u.DepartmentID, &u.AuthorizationID, &u.CaseID, &u.CaseRef, &u.ItemCode, &u.InputDigest,
		&u.OutputDigest, &u.OutputSize, &u.Placement.Page, &u.Placement.X, &u.Placement.Y, &u.Placement.Size, &u.AppliedAt,
		&tsAt, &tsName, &tsSerial, &av, &ad, &asize, &aAt, &aTSA, &aNotAfter)
	if err == nil && tsAt != nil && tsName != nil && tsSerial != nil {
		u.Timestamp = &UseTimestamp{Time: *tsAt, TSA: *tsName, Serial: *tsSerial}
	}
	if err == nil && av != nil {
		u.Archive = &UseArchive{Version: *av, Digest: *ad, Size: *asize, TimestampAt: *aAt, TSA: *aTSA, TSANotAfter: *aNotAfter}
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return u, ErrNotFound
	} else if err != nil {
		return u, fmt.Errorf("seal: read use: %w", err)
	}
	u.Ref, u.SealRef = useRef(no), sealRef(sealNo)
	return u, nil
}

// Apply applies the seal of an approved request. The rules are checked once before signing
// (so a refused use is not signed) and then again, authoritatively, inside the transaction
// that records the use, with the request locked and the seal row shared-locked (a seal
// suspended meanwhile is refused). The signed PDF is stored in the vault before that
// transaction (blob first, row second); the register row and the audit event commit
// together. An approval is consumed by one application: of two concurrent applications
// exactly one succeeds, the other is refused and its signed copy, never referenced, is left
// to GC.
func (s *Service) Apply(ctx context.Context, a Actor, id uuid.UUID) (Use, error) {
	now := s.now()
	req, sl, err := getRequestAndSeal(ctx, s.DB, id, "")
	if err != nil {
		return Use{}, err
	}
	if req.RequesterID != a.User.ID {
		return Use{}, ErrForbidden
	}
	if _, err := s.applicable(ctx, s.DB, a, req, sl, now); err != nil {
		return Use{}, s.denied(ctx, a, err, "apply", sl, &req, req.CaseRef, req.ItemCode)
	}
	if err := s.caseStillSealable(ctx, s.DB, req, a.User); err != nil {
		return Use{}, s.denied(ctx, a, err, "apply", sl, &req, req.CaseRef, req.ItemCode)
	}
	if err := s.checkSealData(ctx, sl, now); err != nil {
		return Use{}, s.denied(ctx, a, err, "apply", sl, &req, req.CaseRef, req.ItemCode)
	}
	link, err := s.newUseLink(sl, req)
	if err != nil {
		return Use{}, err
	}
	out, err := s.sign(ctx, sl, req, now, link)
	if err != nil {
		return Use{}, err
	}
	d, n, stamped := out.digest, out.size, out.timestamp

	var refused error
	var useID uuid.UUID
	var recorded Use
	err = s.withTx(ctx, func(tx pgx.Tx) error {
		var err error
		signedWith := sl
		if req, sl, err = getRequestAndSeal(ctx, tx, id, "FOR UPDATE OF r FOR SHARE OF s"); err != nil {
			return err
		}
		if sl.ImageVersion != signedWith.ImageVersion {
			return &ConflictError{Detail: fmt.Sprintf("the image of seal %s changed while the document was being sealed; apply again", sl.Ref),
				DetailZh: fmt.Sprintf("用印过程中印章 %s 的印模图像已更新，请重新用印", sl.Ref)}
		}
		v, err := s.applicable(ctx, tx, a, req, sl, now)
		if err != nil {
			refused = err
			return err
		}
		if err := s.caseStillSealable(ctx, tx, req, a.User); err != nil {
			refused = err
			return err
		}
		if err := s.Pins.Hold(ctx, tx, s.Blobs, d); err != nil {
			return err
		}
		// The register row and what goes with it, in one round trip: the verification
		// address, the first archive version, the request consumed, and the signed document
		// filed for sealing again (by another seal), like an upload; then the row as read back. The row's id is chosen
		// here so that the statements after it can name it.
		useID = uuid.New()
		var no int64
		b := &pgx.Batch{}
		b.Queue(`
			INSERT INTO seal_uses (id, request_id, seal_id, image_version, cert_serial, requester_id, approver_id, department_id,
				authorization_id, case_id, case_ref, item_code, input_digest, output_digest, output_size, page, x, y, size, applied_at,
				timestamp_at, tsa_name, tsa_serial, signature_digest)
			VALUES ($24, $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22::numeric, $23)
			RETURNING no`,
			req.ID, sl.ID, sl.ImageVersion, sl.CertSerial, req.RequesterID, req.DecidedBy, req.DepartmentID,
			letterID(v.letter), req.CaseID, req.CaseRef, req.ItemCode, req.DocumentDigest, d.String(), n, req.Placement.Page,
			req.Placement.X, req.Placement.Y, req.Placement.Size, now, stamped.Time, stamped.TSA, stamped.Serial,
			fmt.Sprintf("%x", out.signature), useID).QueryRow(func(r pgx.Row) error { return r.Scan(&no) })
		link.queue(b, useID)
		queueArchive(b, useID, 1, d, n, out.archive, &a.User.ID, now)
		b.Queue(`UPDATE seal_requests SET status = 'applied' WHERE id = $1`, id)
		b.Queue(`INSERT INTO seal_documents (digest, department_id, name, size, page_count, uploaded_by, uploaded_at)
			SELECT $1, department_id, (SELECT 'U-' || u.no || '.pdf' FROM seal_uses u WHERE u.id = $3), $4, page_count, $5, $6
			FROM seal_documents WHERE digest = $2 AND department_id = $7
			ON CONFLICT DO NOTHING`, d.String(), req.DocumentDigest, useID, n, a.User.ID, now, req.DepartmentID)
		// The register row as GetUse reads it, from this transaction, which commits it.
		b.Queue(`SELECT `+useColumns+archiveColumns+` FROM seal_uses u JOIN seals s ON s.id = u.seal_id`+archiveJoin+` WHERE u.id = $1`,
			useID).QueryRow(func(r pgx.Row) error {
			var err error
			recorded, err = scanUse(r)
			return err
		})
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		if req.CaseID != nil {
			if err := s.cases().Sealed(ctx, tx, a, *req.CaseID, useRef(no), d.String()); err != nil {
				return err
			}
		}
		details := map[string]any{"use": useRef(no), "request": req.Ref, "seal": sl.Ref, "item": req.ItemCode,
			"certificate_serial": sl.CertSerial, "input": req.DocumentDigest, "image_version": sl.ImageVersion}
		if req.DecidedBy != nil {
			details["approver"] = req.DecidedBy.String()
		}
		if v.letter != nil {
			details["authorization"] = v.letter.Ref
		}
		return audit.Append(ctx, tx, a.Event(now, "seal.apply", map[string]string{audit.SubjectSeal: sl.ID.String(),
			audit.SubjectCase: req.CaseRef, audit.SubjectObject: d.String()}, details))
	})
	if refused != nil {
		return Use{}, s.denied(ctx, a, refused, "apply", sl, &req, req.CaseRef, req.ItemCode)
	}
	if isUnique(err, "seal_uses_request_id_key") {
		return Use{}, s.denied(ctx, a, refuse("approval-consumed", fmt.Sprintf("request %s was already applied; its approval is used up", req.Ref),
			fmt.Sprintf("用印申请 %s 已用印，审批只能使用一次", req.Ref)), "apply", sl, &req, req.CaseRef, req.ItemCode)
	}
	if err != nil {
		return Use{}, err
	}
	return recorded, nil
}

// applicable checks that request req may be applied now by its requester a: its state, the
// regime for seal sl, and an approval where the regime requires one.
func (s *Service) applicable(ctx context.Context, db vault.Querier, a Actor, req Request, sl Seal, now time.Time) (verdict, error) {
	switch req.Status {
	case RequestApplied:
		var used string
		_ = db.QueryRow(ctx, `SELECT 'U-' || no FROM seal_uses WHERE request_id = $1`, req.ID).Scan(&used)
		return verdict{}, refuse("approval-consumed", fmt.Sprintf("request %s was already applied (%s); its approval is used up", req.Ref, used),
			fmt.Sprintf("用印申请 %s 已用印（%s），审批只能使用一次", req.Ref, used))
	case RequestPending:
		return verdict{}, refuse("awaiting-approval", fmt.Sprintf("request %s awaits approval by a custodian or the supervisor of seal %s", req.Ref, sl.Ref),
			fmt.Sprintf("用印申请 %s 尚待印章 %s 的保管人或监印人审批", req.Ref, sl.Ref))
	case RequestRejected:
		return verdict{}, refuse("request-rejected", fmt.Sprintf("request %s was rejected", req.Ref), fmt.Sprintf("用印申请 %s 已被驳回", req.Ref))
	}
	v, err := judge(ctx, db, a.User, sl, req.ItemCode, now)
	if err != nil {
		return v, err
	}
	if v.approvalRequired && req.DecidedBy == nil {
		return v, refuse("awaiting-approval", fmt.Sprintf("request %s needs an approval it does not have", req.Ref),
			fmt.Sprintf("用印申请 %s 需要审批而尚未审批", req.Ref))
	}
	if sl.ImageVersion == 0 || sl.ImageDigest == nil {
		return v, refuse("seal-without-image", fmt.Sprintf("seal %s has no seal image", sl.Ref), fmt.Sprintf("印章 %s 没有印模图像", sl.Ref))
	}
	return v, nil
}

func letterID(l *Authorization) *uuid.UUID {
	if l == nil {
		return nil
	}
	return &l.ID
}

// signed is what sign stored: the sealed document's digest and size, its signature
// timestamp, and the SHA-256 of its signature's /Contents (pades.Signed.SignatureDigest).
type signed struct {
	digest    vault.Digest
	size      int64
	timestamp *UseTimestamp
	signature [32]byte
	archive   archiveStamp // the document timestamp's
}

// signInMemory is the size up to which a document being sealed is read from the vault into
// memory; a larger one is copied to a file in WorkDir, so that the memory an application
// takes does not grow with the document.
const signInMemory = 8 << 20

// sign seals the request's document with seal sl (its stamp carrying link's QR code, unless
// nil), timestamped by the service's TSA and followed by the validation data and a
// document timestamp (PAdES B-LTA;
// without a TSA, or when it does not answer, nothing is signed: a *pades.TimestampError),
// and stores the result in the vault. The document is read from the vault, verified
// against its digest as it is read, into memory when it is at most signInMemory bytes and
// otherwise to a file in WorkDir, and the signer reads it there; the signed document streams
// from the signer into the vault, so a large document is held in memory neither way. A
// failure stores nothing: the upload is aborted unless the signer finished.
func (s *Service) sign(ctx context.Context, sl Seal, req Request, now time.Time, link *useLink) (signed, error) {
	if s.TSA == nil {
		return signed{}, errNoTSA
	}
	ts := &recordingTSA{ts: s.TSA}
	out, err := s.signWith(ctx, sl, req, now, link, ts)
	if err != nil {
		return signed{}, err
	}
	if out.timestamp, err = ts.stamped(); err != nil {
		return signed{}, err
	}
	if out.archive, err = ts.archived(1); err != nil {
		return signed{}, err
	}
	return out, nil
}

// signWith is sign with the timestamper ts.
func (s *Service) signWith(ctx context.Context, sl Seal, req Request, now time.Time, link *useLink, ts pades.Timestamper) (signed, error) {
	signer, err := s.signers.signer(ctx, s.Custody, sl.ID, sl.keyRef, s.SignerTTL)
	if err != nil {
		return signed{}, fmt.Errorf("seal: key of %s: %w", sl.Ref, err)
	}
	chain, err := sl.chain(s.CA.Cert)
	if err != nil {
		return signed{}, err
	}
	vd, err := s.validationData(ctx, sl, chain)
	if err != nil {
		return signed{}, err
	}
	digest, err := vault.ParseDigest(req.DocumentDigest)
	if err != nil {
		return signed{}, err
	}
	in, err := vault.Fetch(ctx, s.Blobs, digest, s.WorkDir, signInMemory)
	if err != nil {
		return signed{}, fmt.Errorf("seal: document of %s: %w", req.Ref, err)
	}
	defer in.Close()
	f := in.ReaderAt
	stamp, place, err := s.stampFor(ctx, sl, req, link, f, in.Size)
	if err != nil {
		return signed{}, err
	}

	preq := pades.Request{Signer: signer, Chain: chain, Stamp: stamp, Place: place,
		Name: sl.Name, Reason: req.Reason, Location: sl.Department, Time: now,
		Field: "Seal-" + req.Ref, Timestamp: ts, DSS: vd, ArchiveTimestamp: true,
		// The document was hashed as it was verified: the signer goes on from there.
		DocumentSHA256: in.SHA256}
	if sl.KeyAlgorithm == string(keys.SM2) {
		// A seal of the national algorithms signs a GB/T 38540 electronic signature carrying
		// its seal data, whose picture is the image the stamp draws (checkSealData holds
		// them equal before every use).
		data, _, err := s.SealData(ctx, sl.ID)
		if err != nil {
			return signed{}, fmt.Errorf("seal: seal data of %s: %w", sl.Ref, err)
		}
		cert, err := sl.SM2Certificate()
		if err != nil {
			return signed{}, fmt.Errorf("seal: certificate of %s: %w", sl.Ref, err)
		}
		preq.Signer, preq.Chain = nil, nil
		preq.ESeal = &pades.ElectronicSeal{Seal: data, Signer: signer, Cert: cert}
	}
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	var res pades.Signed
	go func() {
		var err error
		res, err = pades.SignTo(ctx, pw, f, in.Size, preq)
		pw.CloseWithError(err) // nil: Put reads to the end and commits
		done <- err
	}()
	d, n, err := vault.Put(ctx, s.Blobs, pr, s.Pins)
	pr.CloseWithError(err) // a Put that stopped early stops the signer
	if serr := <-done; serr != nil && (err == nil || errors.Is(err, serr)) {
		return signed{}, fmt.Errorf("seal: sign with %s: %w", sl.Ref, serr)
	}
	if err != nil {
		return signed{}, err
	}
	return signed{digest: d, size: n, signature: res.SignatureDigest}, nil
}

// stamp returns the seal image prepared for stamping, made once per image.
func (s *Service) stamp(ctx context.Context, digest string) (*pades.Stamp, error) {
	if st, ok := s.stamps.Load(digest); ok {
		return st.(*pades.Stamp), nil
	}
	img, err := s.readObject(ctx, digest)
	if err != nil {
		return nil, err
	}
	st, err := pades.NewStamp(img)
	if err != nil {
		return nil, fmt.Errorf("seal: image %s: %w", digest, err)
	}
	s.stamps.Store(digest, st)
	return st, nil
}

// readObject reads a whole object from the vault, verified.
func (s *Service) readObject(ctx context.Context, digest string) ([]byte, error) {
	d, err := vault.ParseDigest(digest)
	if err != nil {
		return nil, err
	}
	return vault.ReadAll(ctx, s.Blobs, d)
}

// GetUse returns one register row.
func (s *Service) GetUse(ctx context.Context, id uuid.UUID) (Use, error) {
	return scanUse(s.DB.QueryRow(ctx, `SELECT `+useColumns+archiveColumns+` FROM seal_uses u JOIN seals s ON s.id = u.seal_id`+archiveJoin+` WHERE u.id = $1`, id))
}

// UseFilter narrows the register.
type UseFilter struct {
	SealID       *uuid.UUID
	DepartmentID *uuid.UUID // the requester's department, or the seal's
	CaseRef      string     // the case number (or a request's free text from before cases were required)
	CaseID       *uuid.UUID
	PersonID     *uuid.UUID // requester or approver
	From, To     *time.Time
	Before       *int64 // cursor: register number
	Limit        int
}

// ListUses returns register rows, newest first.
func (s *Service) ListUses(ctx context.Context, f UseFilter) ([]Use, error) {
	limit := f.Limit
	if limit <= 0 || limit > 500 {
		limit = 100
	}
	rows, err := s.DB.Query(ctx, `SELECT `+useColumns+archiveColumns+` FROM seal_uses u JOIN seals s ON s.id = u.seal_id`+archiveJoin+`
		WHERE ($1::uuid IS NULL OR u.seal_id = $1)
		  AND ($2::uuid IS NULL OR u.department_id = $2 OR s.department_id = $2)
		  AND ($3::text = '' OR u.case_ref = $3)
		  AND ($4::uuid IS NULL OR u.requester_id = $4 OR u.approver_id = $4)
		  AND ($5::timestamptz IS NULL OR u.applied_at >= $5)
		  AND ($6::timestamptz IS NULL OR u.applied_at < $6)
		  AND ($7::bigint IS NULL OR u.no < $7)
		  AND ($9::uuid IS NULL OR u.case_id = $9)
		ORDER BY u.no DESC LIMIT $8`, f.SealID, f.DepartmentID, f.CaseRef, f.PersonID, f.From, f.To, f.Before, limit, f.CaseID)
	if err != nil {
		return nil, fmt.Errorf("seal: list uses: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Use, error) { return scanUse(r) })
}

// UseBySignature returns the register row of the use whose signature is sig (the SHA-256 of
// its /Contents), else of the use whose output is rev, the revision the signature signed
// (uses from before signatures were recorded), or ErrNotFound.
func (s *Service) UseBySignature(ctx context.Context, sig [32]byte, rev vault.Digest) (Use, error) {
	return scanUse(s.DB.QueryRow(ctx, `SELECT `+useColumns+archiveColumns+` FROM seal_uses u JOIN seals s ON s.id = u.seal_id`+archiveJoin+`
		WHERE u.signature_digest = $1 OR (u.signature_digest IS NULL AND u.output_digest = $2)
		ORDER BY u.signature_digest IS NULL, u.no LIMIT 1`, fmt.Sprintf("%x", sig), rev.String()))
}

// Cases is what the seal regime needs of the case (办件) a document is sealed for. The case
// regime implements it; seal never imports it.
type Cases interface {
	// Sealable returns the facts of case id if user may seal document (a digest) for it now:
	// the case is decided, the document is one of its result documents, and user's department
	// may seal for its item. Otherwise it returns a *Refusal naming the rule, or ErrNotFound.
	// On a transaction it locks the case row until the transaction ends (shared when uses
	// of the case may be recorded side by side, exclusively when Sealed will change it).
	Sealable(ctx context.Context, db vault.Querier, id uuid.UUID, user identity.User, document string) (CaseFacts, error)
	// Sealed records on tx, with the use's register row, that use sealed the case and that
	// output (a digest) is one of its documents.
	Sealed(ctx context.Context, tx pgx.Tx, a Actor, id uuid.UUID, use, output string) error
}

// CaseFacts is what a seal request takes from its case.
type CaseFacts struct {
	CaseNo       string
	ItemCode     string
	DepartmentID uuid.UUID // the receiving department
}

func (s *Service) cases() Cases {
	if s.Cases == nil {
		return noCases{}
	}
	return s.Cases
}

// noCases refuses every request: a service without the case regime cannot seal.
type noCases struct{}

func (noCases) Sealable(context.Context, vault.Querier, uuid.UUID, identity.User, string) (CaseFacts, error) {
	return CaseFacts{}, refuse("case-required", "no case regime is configured", "未配置办件管理，不能用印")
}

func (noCases) Sealed(context.Context, pgx.Tx, Actor, uuid.UUID, string, string) error { return nil }

// caseStillSealable checks that the case of req still allows user to seal its document.
// Requests made before cases were required cannot be applied: they name no case.
func (s *Service) caseStillSealable(ctx context.Context, db vault.Querier, req Request, user identity.User) error {
	if req.CaseID == nil {
		return refuse("case-required", fmt.Sprintf("request %s names no case (it was made before requests named their case); file it again for its case", req.Ref),
			fmt.Sprintf("用印申请 %s 未关联办件（系办件管理上线前提交），请针对办件重新申请", req.Ref))
	}
	_, err := s.cases().Sealable(ctx, db, *req.CaseID, user, req.DocumentDigest)
	return err
}

// NewRefusal is a refusal by rule with its English and Chinese details, for the regimes that
// decide for the seal regime (the case's).
func NewRefusal(rule, en, zh string) *Refusal { return refuse(rule, en, zh) }

// Inbox returns the custodian's inbox (status "" or pending): pending requests for the seals
// the actor keeps or supervises, made by someone else (the two-person rule), newest first.
func (s *Service) Inbox(ctx context.Context, a Actor, status string) ([]Request, error) {
	if status != "" && status != RequestPending {
		return []Request{}, nil
	}
	rows, err := s.DB.Query(ctx, `SELECT `+requestColumns+` FROM seal_requests r
		WHERE r.status = 'pending' AND r.requester_id <> $1
		  AND (EXISTS (SELECT 1 FROM seals x WHERE x.id = r.seal_id AND x.supervisor_id = $1)
		       OR EXISTS (SELECT 1 FROM seal_custodians c WHERE c.seal_id = r.seal_id AND c.user_id = $1))
		ORDER BY r.no DESC LIMIT 200`, a.User.ID)
	if err != nil {
		return nil, fmt.Errorf("seal: inbox: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Request, error) { return scanRequest(r) })
}
