// Package casework is the case (办件) as the spine of both regimes: one application by one
// applicant for one service item, from intake to a sealed, delivered result.
//
// A case moves received (收件) → incomplete (补正, after a one-time notice) → accepted (受理,
// every required material attached; the due date fixed on the working-day calendar) → for
// promised items forwarded (转报) to the owning department → decided (准予 or 不予) → sealed
// (the result document sealed, linked by the seal use) → delivered (送达) → closed (办结); or
// refused at intake (不予受理) or withdrawn (撤回). Every transition is one transaction with
// its audit event and names the person.
//
// Who may accept, decide and seal is decided by the authorization letters' powers, not by
// the role alone: the owning department's own staff may; another department (the service
// center's front desk) only under a letter in force granting that power for the item; and
// decide and seal only for instant items (受审分离, DB44/T 2138 §6.2.3). The reuse plan stays
// in reuse; the seal regime asks this package, through seal.Cases, whether a case may be
// sealed, inside the transaction that records the use.
package casework

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"sealvault/audit"
	"sealvault/internal/actor"
	"sealvault/internal/identity"
	"sealvault/reuse"
	"sealvault/vault"
)

// States of a case.
const (
	Received   = "received"   // 收件
	Incomplete = "incomplete" // 补正: a one-time notice was issued
	Accepted   = "accepted"   // 受理
	Forwarded  = "forwarded"  // 转报 to the owning department
	Decided    = "decided"    // 准予 or 不予
	Sealed     = "sealed"     // the result document sealed
	Delivered  = "delivered"  // 送达
	Closed     = "closed"     // 办结
	Refused    = "refused"    // 不予受理
	Withdrawn  = "withdrawn"  // 撤回
)

var stateNames = map[string]string{Received: "已收件", Incomplete: "待补正", Accepted: "已受理", Forwarded: "已转报",
	Decided: "已决定", Sealed: "已用印", Delivered: "已送达", Closed: "已办结", Refused: "不予受理", Withdrawn: "已撤回"}

// Decisions.
const (
	Approved = "approved" // 准予
	Denied   = "denied"   // 不予
)

// Powers of an authorization letter the case regime checks (seal.Power*).
const (
	powerReceive = "receive" // 受理
	powerDecide  = "decide"  // 决定
	powerSeal    = "seal"    // 用印
	powerDeliver = "deliver" // 送达
)

var powerNames = map[string]string{powerReceive: "受理", powerDecide: "决定", powerSeal: "用印", powerDeliver: "送达"}

// Service is the case regime over one database.
type Service struct {
	DB       *pgxpool.Pool
	Reuse    *reuse.Service
	Audit    *audit.Log
	Calendar *Calendar
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) calendar() *Calendar {
	if s.Calendar == nil {
		s.Calendar = DefaultCalendar()
	}
	return s.Calendar
}

// Actor is the authenticated person acting, and the request it came in.
type Actor = actor.Actor

// Errors.
var (
	ErrNotFound = errors.New("casework: not found")
)

// InvalidError lists the invalid fields of a request and why each is invalid.
type InvalidError = vault.InvalidError

// Refusal is an action on a case the regime does not allow, with the rule and a detail that
// names the objects, in English and Chinese.
type Refusal struct {
	Rule     string // stable: "case-state", "no-power", "separation-of-duties", "materials-missing", …
	Detail   string
	DetailZh string
}

func (r *Refusal) Error() string { return "casework: refused (" + r.Rule + "): " + r.Detail }

func refuse(rule, en, zh string) *Refusal { return &Refusal{Rule: rule, Detail: en, DetailZh: zh} }

// cst is the time zone of the regime's dates (China Standard Time).
var cst = time.FixedZone("CST", 8*3600)

func today(now time.Time) time.Time {
	y, m, d := now.In(cst).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, cst)
}

// Case is a case with its life cycle, its plan and what was done on it.
type Case struct {
	reuse.Case
	ItemKind          string     `json:"item_kind"`
	TimeLimitDays     int        `json:"time_limit_days"`
	OwnerDepartmentID uuid.UUID  `json:"owner_department_id"`
	OwnerDepartment   string     `json:"owner_department"`
	Department        string     `json:"department"`
	State             string     `json:"state"`
	StateName         string     `json:"state_name"`
	StateSince        time.Time  `json:"state_since"`
	AcceptedAt        *time.Time `json:"accepted_at"`
	AcceptedBy        *uuid.UUID `json:"accepted_by"`
	DueOn             *string    `json:"due_on"`
	DueProvisional    bool       `json:"due_provisional"`
	// WorkingDaysLeft is the number of working days from today to the due date (negative:
	// overdue by that many), while the case is open.
	WorkingDaysLeft *int       `json:"working_days_left"`
	Overdue         bool       `json:"overdue"`
	ForwardedAt     *time.Time `json:"forwarded_at"`
	Decision        *string    `json:"decision"`
	DecisionText    *string    `json:"decision_text"`
	DecidedBy       *uuid.UUID `json:"decided_by"`
	DecidedAt       *time.Time `json:"decided_at"`
	Delivery        *Delivery  `json:"delivery"`
	ClosedAt        *time.Time `json:"closed_at"`
	Documents       []Document `json:"documents"`
	SealUses        []SealUse  `json:"seal_uses"`
	Notices         []int      `json:"notices"` // the numbers of the notices issued
}

// Delivery is how the result reached the applicant.
type Delivery struct {
	Method   string    `json:"method"` // counter | post | electronic
	Tracking *string   `json:"tracking,omitempty"`
	At       time.Time `json:"at"`
}

// Document is a document of the case that may be sealed: its result, its decision letter,
// or a sealed output.
type Document struct {
	Digest  string    `json:"digest"`
	Kind    string    `json:"kind"` // result | decision_letter | sealed
	Name    string    `json:"name"`
	AddedBy uuid.UUID `json:"added_by"`
	AddedAt time.Time `json:"added_at"`
}

// SealUse is a seal use made for the case.
type SealUse struct {
	Ref          string    `json:"ref"`
	ID           uuid.UUID `json:"id"`
	SealRef      string    `json:"seal_ref"`
	OutputDigest string    `json:"output_digest"`
	AppliedAt    time.Time `json:"applied_at"`
}

// row is the case's life-cycle columns, read with a lock inside an action's transaction.
type row struct {
	id, dept, owner     uuid.UUID
	caseNo, item, state string
	kind                string
	limit               int
	dueOn               *time.Time
}

const rowColumns = `c.id, c.department_id, coalesce(c.owner_department_id, i.department_id), c.case_no, c.item_code,
	c.state, i.kind, i.time_limit_days, c.due_on`

func (r *row) fields() []any {
	return []any{&r.id, &r.dept, &r.owner, &r.caseNo, &r.item, &r.state, &r.kind, &r.limit, &r.dueOn}
}

func getRow(ctx context.Context, db vault.Querier, id uuid.UUID, lock string) (row, error) {
	var r row
	err := db.QueryRow(ctx, `SELECT `+rowColumns+`
		FROM cases c JOIN service_items i ON i.code = c.item_code WHERE c.id = $1 `+lock, id).Scan(r.fields()...)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, ErrNotFound
	} else if err != nil {
		return r, fmt.Errorf("casework: case: %w", err)
	}
	return r, nil
}

// getRowWithDocument is getRow that also returns the kind of document digest among the
// case's documents, nil when it is not one of them, in the same round trip.
func getRowWithDocument(ctx context.Context, db vault.Querier, id uuid.UUID, digest, lock string) (row, *string, error) {
	var r row
	var kind *string
	err := db.QueryRow(ctx, `SELECT `+rowColumns+`,
			(SELECT d.kind FROM case_documents d WHERE d.case_id = c.id AND d.digest = $2)
		FROM cases c JOIN service_items i ON i.code = c.item_code WHERE c.id = $1 `+lock, id, digest).
		Scan(append(r.fields(), &kind)...)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, nil, ErrNotFound
	} else if err != nil {
		return r, nil, fmt.Errorf("casework: case: %w", err)
	}
	return r, kind, nil
}

// visibleTo reports whether u may see case r: its receiving or owning department's staff,
// auditors and admins.
func visibleTo(u identity.User, r row) bool {
	return u.DepartmentID == r.dept || u.DepartmentID == r.owner || u.HasRole(identity.RoleAuditor, identity.RoleAdmin)
}

// Get returns case id if a may see it.
func (s *Service) Get(ctx context.Context, a Actor, id uuid.UUID) (Case, error) {
	r, err := getRow(ctx, s.DB, id, "")
	if err != nil {
		return Case{}, err
	}
	if !visibleTo(a.User, r) {
		return Case{}, ErrNotFound
	}
	return s.load(ctx, s.DB, id, a.User.HasRole(identity.RoleAuditor))
}

// Applicant is case id's applicant as materials keep a holder (looked up, sealed, masked),
// for recording a material captured for the case without its number in clear: only the
// receiving department's staff, who took the number at intake, may.
func (s *Service) Applicant(ctx context.Context, a Actor, id uuid.UUID) (vault.Holder, error) {
	var h vault.Holder
	var dept uuid.UUID
	err := s.DB.QueryRow(ctx, `SELECT department_id, holder_kind, holder_lookup, holder_sealed, holder_masked FROM cases WHERE id = $1`, id).
		Scan(&dept, &h.Kind, &h.Lookup, &h.Sealed, &h.Masked)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && dept != a.User.DepartmentID) {
		return vault.Holder{}, ErrNotFound
	} else if err != nil {
		return vault.Holder{}, fmt.Errorf("casework: case applicant: %w", err)
	}
	return h, nil
}

func (s *Service) load(ctx context.Context, db vault.Querier, id uuid.UUID, reveal bool) (Case, error) {
	base, err := s.Reuse.LoadCase(ctx, db, id, reveal)
	if errors.Is(err, reuse.ErrNotFound) {
		return Case{}, ErrNotFound
	} else if err != nil {
		return Case{}, err
	}
	c := Case{Case: base, Documents: []Document{}, SealUses: []SealUse{}, Notices: []int{}}
	var dueOn *time.Time
	var method, tracking *string
	var deliveredAt *time.Time
	err = db.QueryRow(ctx, `SELECT i.kind, i.time_limit_days, coalesce(c.owner_department_id, i.department_id), o.name, d.name,
			c.state, c.state_since, c.accepted_at, c.accepted_by, c.due_on, c.due_provisional, c.forwarded_at, c.decision,
			c.decision_text, c.decided_by, c.decided_at, c.delivery_method, c.delivery_tracking, c.delivered_at, c.closed_at
		FROM cases c JOIN service_items i ON i.code = c.item_code
		JOIN departments o ON o.id = coalesce(c.owner_department_id, i.department_id) JOIN departments d ON d.id = c.department_id
		WHERE c.id = $1`, id).Scan(&c.ItemKind, &c.TimeLimitDays, &c.OwnerDepartmentID, &c.OwnerDepartment, &c.Department,
		&c.State, &c.StateSince, &c.AcceptedAt, &c.AcceptedBy, &dueOn, &c.DueProvisional, &c.ForwardedAt, &c.Decision,
		&c.DecisionText, &c.DecidedBy, &c.DecidedAt, &method, &tracking, &deliveredAt, &c.ClosedAt)
	if err != nil {
		return Case{}, fmt.Errorf("casework: case: %w", err)
	}
	c.StateName = stateNames[c.State]
	if method != nil && deliveredAt != nil {
		c.Delivery = &Delivery{Method: *method, Tracking: tracking, At: *deliveredAt}
	}
	if dueOn != nil {
		d := dueOn.Format(time.DateOnly)
		c.DueOn = &d
		if open(c.State) {
			left := s.calendar().WorkingDaysBetween(today(s.now()), *dueOn)
			c.WorkingDaysLeft = &left
			c.Overdue = today(s.now()).After(time.Date(dueOn.Year(), dueOn.Month(), dueOn.Day(), 0, 0, 0, 0, cst))
		}
	}
	rows, err := db.Query(ctx, `SELECT digest, kind, name, added_by, added_at FROM case_documents WHERE case_id = $1 ORDER BY added_at, digest`, id)
	if err != nil {
		return Case{}, fmt.Errorf("casework: documents: %w", err)
	}
	if c.Documents, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Document, error) {
		var d Document
		return d, r.Scan(&d.Digest, &d.Kind, &d.Name, &d.AddedBy, &d.AddedAt)
	}); err != nil {
		return Case{}, fmt.Errorf("casework: documents: %w", err)
	}
	rows, err = db.Query(ctx, `SELECT 'U-' || u.no, u.id, 'S-' || s.no, u.output_digest, u.applied_at
		FROM seal_uses u JOIN seals s ON s.id = u.seal_id WHERE u.case_id = $1 ORDER BY u.no`, id)
	if err != nil {
		return Case{}, fmt.Errorf("casework: seal uses: %w", err)
	}
	if c.SealUses, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (SealUse, error) {
		var u SealUse
		return u, r.Scan(&u.Ref, &u.ID, &u.SealRef, &u.OutputDigest, &u.AppliedAt)
	}); err != nil {
		return Case{}, fmt.Errorf("casework: seal uses: %w", err)
	}
	rows, err = db.Query(ctx, `SELECT no FROM case_notices WHERE case_id = $1 ORDER BY no`, id)
	if err != nil {
		return Case{}, fmt.Errorf("casework: notices: %w", err)
	}
	if c.Notices, err = pgx.CollectRows(rows, pgx.RowTo[int]); err != nil {
		return Case{}, fmt.Errorf("casework: notices: %w", err)
	}
	return c, nil
}

// open reports whether a case in state is still running against its time limit.
func open(state string) bool {
	switch state {
	case Accepted, Forwarded, Decided, Sealed:
		return true
	}
	return false
}

// Open opens a case (收件) in the actor's department for an item and an applicant and
// returns it with its reuse plan.
func (s *Service) Open(ctx context.Context, a Actor, n reuse.NewCase) (Case, error) {
	c, err := s.Reuse.CreateCase(ctx, a, n)
	if err != nil {
		return Case{}, err
	}
	return s.load(ctx, s.DB, c.ID, false)
}

// transition moves case r to state to on tx, records the transition with note and appends
// the audit event action with details.
func (s *Service) transition(ctx context.Context, tx pgx.Tx, a Actor, r row, to, note, action string, details map[string]any) error {
	now := s.now()
	if _, err := tx.Exec(ctx, `UPDATE cases SET state = $2, state_since = $3 WHERE id = $1`, r.id, to, now); err != nil {
		return fmt.Errorf("casework: %s: %w", action, err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO case_transitions (case_id, from_state, to_state, note, by_user, at) VALUES ($1, $2, $3, $4, $5, $6)`,
		r.id, r.state, to, note, a.User.ID, now); err != nil {
		return fmt.Errorf("casework: %s: %w", action, err)
	}
	if details == nil {
		details = map[string]any{}
	}
	details["from"], details["to"] = r.state, to
	return audit.Append(ctx, tx, a.Event(now, action, map[string]string{audit.SubjectCase: r.caseNo}, details))
}

// act runs one action on case id: it locks the case row, checks that a may see it and that
// its state is one of from, runs do in the same transaction, and returns the case as it is
// afterwards. A refusal is recorded as a "case.denied" audit event in a transaction of its
// own.
func (s *Service) act(ctx context.Context, a Actor, id uuid.UUID, name string, from []string, do func(tx pgx.Tx, r row) error) (Case, error) {
	var refused *Refusal
	var r row
	err := pgx.BeginFunc(ctx, s.DB, func(tx pgx.Tx) error {
		var err error
		if r, err = getRow(ctx, tx, id, "FOR UPDATE OF c"); err != nil {
			return err
		}
		if !visibleTo(a.User, r) {
			return ErrNotFound
		}
		if !contains(from, r.state) {
			return stateRefusal(r, name, from)
		}
		return do(tx, r)
	})
	if errors.As(err, &refused) {
		if aerr := audit.Append(ctx, s.DB, a.Event(s.now(), "case.denied", map[string]string{audit.SubjectCase: r.caseNo},
			map[string]any{"action": name, "rule": refused.Rule, "detail": refused.Detail, "state": r.state})); aerr != nil {
			return Case{}, fmt.Errorf("casework: record refusal: %w (refusal: %v)", aerr, err)
		}
		return Case{}, err
	}
	if err != nil {
		return Case{}, err
	}
	return s.load(ctx, s.DB, id, a.User.HasRole(identity.RoleAuditor))
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

var actionNames = map[string]string{"accept": "受理", "refuse": "不予受理", "withdraw": "撤回", "forward": "转报",
	"decide": "作出决定", "add-document": "登记结果文书", "deliver": "送达", "close": "办结", "notice": "出具一次性告知书",
	"reject-material": "退回材料", "seal": "用印"}

func stateRefusal(r row, action string, from []string) *Refusal {
	var en, zh string
	for i, f := range from {
		if i > 0 {
			en, zh = en+" or ", zh+"或"
		}
		en, zh = en+f, zh+stateNames[f]
	}
	return refuse("case-state",
		fmt.Sprintf("case %s is %s; %s needs a case that is %s", r.caseNo, r.state, action, en),
		fmt.Sprintf("办件 %s 当前状态为「%s」，只有「%s」的办件可以%s", r.caseNo, stateNames[r.state], zh, actionNames[action]))
}

// Resolve returns the id of the case with case number no (办件编号).
func (s *Service) Resolve(ctx context.Context, no string) (uuid.UUID, error) {
	var id uuid.UUID
	err := s.DB.QueryRow(ctx, `SELECT id FROM cases WHERE case_no = $1`, no).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return id, ErrNotFound
	} else if err != nil {
		return id, fmt.Errorf("casework: resolve %s: %w", no, err)
	}
	return id, nil
}
