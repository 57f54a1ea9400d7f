package casework

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"sealvault/audit"
	"sealvault/internal/identity"
	"sealvault/vault"
)

// Summary is a case in a list.
type Summary struct {
	ID              uuid.UUID `json:"id"`
	CaseNo          string    `json:"case_no"`
	ItemCode        string    `json:"item_code"`
	ItemName        string    `json:"item_name"`
	ItemKind        string    `json:"item_kind"`
	Department      string    `json:"department"`
	OwnerDepartment string    `json:"owner_department"`
	HolderMasked    string    `json:"holder_masked"`
	State           string    `json:"state"`
	StateName       string    `json:"state_name"`
	StateSince      time.Time `json:"state_since"`
	DueOn           *string   `json:"due_on"`
	WorkingDaysLeft *int      `json:"working_days_left"`
	Overdue         bool      `json:"overdue"`
	CreatedAt       time.Time `json:"created_at"`
	no              int64
	dueOn           *time.Time
}

// Filter selects cases; empty fields do not filter.
type Filter struct {
	State string
	Item  string
	// DepartmentID: cases received or owned by that department (auditors and admins; others
	// see only their own department's cases whatever they give).
	DepartmentID *uuid.UUID
	// Inbox: the forwarded cases waiting for the actor's department to decide.
	Inbox bool
	// DueBefore: open cases due on or before that day. Overdue: open cases past their due date.
	DueBefore *time.Time
	Overdue   bool
	// Holder: cases of this applicant (looked up by the keyed hash; never stored or echoed).
	HolderKind, HolderNumber string
	// Before is a cursor: the case number (no) of the last case of the previous page.
	Before int64
	Limit  int
}

// Page is one page of a list; Next is the cursor for the next page, if there is one.
type Page struct {
	Cases []Summary `json:"cases"`
	Next  *string   `json:"next"`
}

// List returns the cases the actor may see that match f, newest first.
func (s *Service) List(ctx context.Context, a Actor, f Filter) (Page, error) {
	limit := f.Limit
	if limit <= 0 || limit > 200 {
		limit = 50
	}
	var lookup *string
	if f.HolderNumber != "" || f.HolderKind != "" {
		h, err := s.Reuse.Keys.NewHolder(vault.HolderKind(f.HolderKind), f.HolderNumber)
		if err != nil {
			return Page{}, &InvalidError{Fields: map[string]string{"holder_number": "is not a valid number of this kind (holder_kind id_card or credit_code)"}}
		}
		lookup = &h.Lookup
	}
	all := a.User.HasRole(identity.RoleAuditor, identity.RoleAdmin)
	var dept *uuid.UUID
	if all {
		dept = f.DepartmentID
	}
	var dueBefore *string
	if f.DueBefore != nil {
		d := f.DueBefore.Format(time.DateOnly)
		dueBefore = &d
	}
	var before *int64
	if f.Before > 0 {
		before = &f.Before
	}
	todayStr := today(s.now()).Format(time.DateOnly)
	rows, err := s.DB.Query(ctx, `SELECT c.id, c.no, c.case_no, c.item_code, i.name, i.kind, d.name, o.name, c.holder_masked,
			c.state, c.state_since, c.due_on, c.created_at
		FROM cases c JOIN service_items i ON i.code = c.item_code JOIN departments d ON d.id = c.department_id
		JOIN departments o ON o.id = coalesce(c.owner_department_id, i.department_id)
		WHERE ($1 OR c.department_id = $2 OR coalesce(c.owner_department_id, i.department_id) = $2)
		  AND ($3::uuid IS NULL OR c.department_id = $3 OR coalesce(c.owner_department_id, i.department_id) = $3)
		  AND ($4 = '' OR c.state = $4)
		  AND ($5 = '' OR c.item_code = $5)
		  AND (NOT $6 OR (c.state = 'forwarded' AND coalesce(c.owner_department_id, i.department_id) = $2))
		  AND ($7::date IS NULL OR (c.due_on <= $7 AND c.state IN ('accepted', 'forwarded', 'decided', 'sealed')))
		  AND (NOT $8 OR (c.due_on < $9::date AND c.state IN ('accepted', 'forwarded', 'decided', 'sealed')))
		  AND ($10::text IS NULL OR c.holder_lookup = $10)
		  AND ($11::bigint IS NULL OR c.no < $11)
		ORDER BY c.no DESC LIMIT $12`, all, a.User.DepartmentID, dept, f.State, f.Item, f.Inbox, dueBefore, f.Overdue, todayStr,
		lookup, before, limit+1)
	if err != nil {
		return Page{}, fmt.Errorf("casework: list: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Summary, error) {
		var x Summary
		err := r.Scan(&x.ID, &x.no, &x.CaseNo, &x.ItemCode, &x.ItemName, &x.ItemKind, &x.Department, &x.OwnerDepartment,
			&x.HolderMasked, &x.State, &x.StateSince, &x.dueOn, &x.CreatedAt)
		return x, err
	})
	if err != nil {
		return Page{}, fmt.Errorf("casework: list: %w", err)
	}
	p := Page{Cases: list}
	if len(list) > limit {
		p.Cases = list[:limit]
		next := fmt.Sprint(list[limit-1].no)
		p.Next = &next
	}
	for i := range p.Cases {
		s.fillDue(&p.Cases[i])
	}
	if p.Cases == nil {
		p.Cases = []Summary{}
	}
	return p, nil
}

func (s *Service) fillDue(x *Summary) {
	x.StateName = stateNames[x.State]
	if x.dueOn == nil {
		return
	}
	d := x.dueOn.Format(time.DateOnly)
	x.DueOn = &d
	if open(x.State) {
		t := today(s.now())
		left := s.calendar().WorkingDaysBetween(t, *x.dueOn)
		x.WorkingDaysLeft = &left
		x.Overdue = t.After(time.Date(x.dueOn.Year(), x.dueOn.Month(), x.dueOn.Day(), 0, 0, 0, 0, cst))
	}
}

// DueGroup is one department's open cases that are overdue or due within the window.
type DueGroup struct {
	DepartmentID uuid.UUID `json:"department_id"`
	Department   string    `json:"department"`
	Overdue      []Summary `json:"overdue"`
	DueSoon      []Summary `json:"due_soon"`
}

// DueReport lists, by deciding department, the open cases past their due date and those due
// within the next within working days (限时办结). Auditors, admins and supervisors see every
// department; others their own.
func (s *Service) DueReport(ctx context.Context, a Actor, within int) ([]DueGroup, error) {
	if within < 0 || within > 60 {
		return nil, &InvalidError{Fields: map[string]string{"within": "must be 0 to 60 working days"}}
	}
	all := a.User.HasRole(identity.RoleAuditor, identity.RoleAdmin, identity.RoleSupervisor)
	limitDay, _ := s.calendar().AddWorkingDays(today(s.now()), within)
	rows, err := s.DB.Query(ctx, `SELECT c.id, c.no, c.case_no, c.item_code, i.name, i.kind, d.name, o.name, c.holder_masked,
			c.state, c.state_since, c.due_on, c.created_at, o.id
		FROM cases c JOIN service_items i ON i.code = c.item_code JOIN departments d ON d.id = c.department_id
		JOIN departments o ON o.id = coalesce(c.owner_department_id, i.department_id)
		WHERE c.state IN ('accepted', 'forwarded', 'decided', 'sealed') AND c.due_on <= $3
		  AND ($1 OR c.department_id = $2 OR o.id = $2)
		ORDER BY o.name, c.due_on, c.no LIMIT 5000`, all, a.User.DepartmentID, limitDay.Format(time.DateOnly))
	if err != nil {
		return nil, fmt.Errorf("casework: due report: %w", err)
	}
	var groups []DueGroup
	var x Summary
	var owner uuid.UUID
	_, err = pgx.ForEachRow(rows, []any{&x.ID, &x.no, &x.CaseNo, &x.ItemCode, &x.ItemName, &x.ItemKind, &x.Department,
		&x.OwnerDepartment, &x.HolderMasked, &x.State, &x.StateSince, &x.dueOn, &x.CreatedAt, &owner}, func() error {
		s.fillDue(&x)
		if len(groups) == 0 || groups[len(groups)-1].DepartmentID != owner {
			groups = append(groups, DueGroup{DepartmentID: owner, Department: x.OwnerDepartment, Overdue: []Summary{}, DueSoon: []Summary{}})
		}
		g := &groups[len(groups)-1]
		if x.Overdue {
			g.Overdue = append(g.Overdue, x)
		} else {
			g.DueSoon = append(g.DueSoon, x)
		}
		x = Summary{}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("casework: due report: %w", err)
	}
	if groups == nil {
		groups = []DueGroup{}
	}
	return groups, nil
}

// Line is one step of a case's timeline: an audit event about the case, with its sequence
// number in the audit log (nil until the integrator has sequenced it, within a second) so an
// auditor can ask for its inclusion proof.
type Line struct {
	Seq     *int64          `json:"seq"`
	EventID int64           `json:"event_id"`
	Time    string          `json:"time"`
	Action  string          `json:"action"`
	Actor   string          `json:"actor"` // the person's display name
	ActorID string          `json:"actor_id"`
	Details json.RawMessage `json:"details"`
	Event   json.RawMessage `json:"event"` // the exact bytes the log committed to
}

// Timeline returns every audit event of the case in order: opening, plan, materials reused
// or captured, notices, acceptance, forwarding, decision, seal requests, approvals, refusals,
// uses, views and downloads of the applicant's materials, delivery, closing. The case's
// receiving and deciding departments and auditors may read it.
func (s *Service) Timeline(ctx context.Context, a Actor, id uuid.UUID) ([]Line, error) {
	r, err := getRow(ctx, s.DB, id, "")
	if err != nil {
		return nil, err
	}
	if a.User.DepartmentID != r.dept && a.User.DepartmentID != r.owner && !a.User.HasRole(identity.RoleAuditor) {
		return nil, ErrNotFound
	}
	var recs []audit.Record
	for before := int64(0); ; {
		page, err := s.Audit.Events(ctx, audit.Filter{Case: r.caseNo, Before: before, Limit: 500})
		if err != nil {
			return nil, err
		}
		recs = append(recs, page...)
		if len(page) < 500 {
			break
		}
		before = page[len(page)-1].ID
	}
	slices.Reverse(recs)
	names := map[string]string{}
	lines := make([]Line, 0, len(recs))
	for _, rec := range recs {
		var b struct {
			Time    string          `json:"time"`
			Action  string          `json:"action"`
			Actor   audit.Actor     `json:"actor"`
			Details json.RawMessage `json:"details"`
		}
		if err := json.Unmarshal(rec.Event, &b); err != nil {
			return nil, fmt.Errorf("casework: timeline: event %d: %w", rec.ID, err)
		}
		if _, ok := names[b.Actor.UserID]; !ok && b.Actor.UserID != "" {
			names[b.Actor.UserID] = b.Actor.UserID
			if uid, err := uuid.Parse(b.Actor.UserID); err == nil {
				if u, err := identity.GetUser(ctx, s.DB, uid); err == nil {
					names[b.Actor.UserID] = u.DisplayName
				}
			}
		}
		lines = append(lines, Line{Seq: rec.Seq, EventID: rec.ID, Time: b.Time, Action: b.Action, Actor: names[b.Actor.UserID],
			ActorID: b.Actor.UserID, Details: b.Details, Event: rec.Event})
	}
	return lines, nil
}
