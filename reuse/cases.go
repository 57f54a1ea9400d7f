package reuse

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"sealvault/audit"
	"sealvault/internal/identity"
	"sealvault/vault"
)

// Sharing scopes and methods of a reuse rule.
const (
	ScopeDepartment = "department"  // 本部门
	ScopeCenter     = "center"      // 本中心: departments under the same center
	ScopeLevel      = "level"       // 同级: the same government level
	ScopeCrossLevel = "cross_level" // 跨层级

	MethodReference = "reference" // attach to a case
	MethodView      = "view"
	MethodDownload  = "download"
)

// Rule is a reuse rule (可复用规则).
type Rule struct {
	ID               uuid.UUID  `json:"id"`
	Ref              string     `json:"ref"` // RR-<no>
	TypeCode         string     `json:"type_code"`
	ItemCode         *string    `json:"item_code"`
	DepartmentID     *uuid.UUID `json:"department_id"`
	MaxAgeDays       *int       `json:"max_age_days"`
	WithinValidity   bool       `json:"within_validity"`
	OriginalRequired bool       `json:"original_required"`
	ConsentRequired  bool       `json:"consent_required"`
	Scope            string     `json:"scope"`
	Method           string     `json:"method"`
}

// CreateRule records a rule. Roles: admin.
func (s *Service) CreateRule(ctx context.Context, a Actor, r Rule) (Rule, error) {
	if err := mustBeIn(a, identity.RoleAdmin); err != nil {
		return Rule{}, err
	}
	bad := map[string]string{}
	if !slices.Contains([]string{ScopeDepartment, ScopeCenter, ScopeLevel, ScopeCrossLevel}, r.Scope) {
		bad["scope"] = "must be department, center, level or cross_level"
	}
	if !slices.Contains([]string{MethodReference, MethodView, MethodDownload}, r.Method) {
		bad["method"] = "must be reference, view or download"
	}
	if r.MaxAgeDays != nil && *r.MaxAgeDays <= 0 {
		bad["max_age_days"] = "must be positive"
	}
	if _, err := GetType(ctx, s.DB, r.TypeCode); err == ErrNotFound {
		bad["type_code"] = "no such material type"
	} else if err != nil {
		return Rule{}, err
	}
	if len(bad) > 0 {
		return Rule{}, &InvalidError{Fields: bad}
	}
	var no int64
	err := pgx.BeginFunc(ctx, s.DB, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `
			INSERT INTO reuse_rules (type_code, item_code, department_id, max_age_days, within_validity, original_required,
				consent_required, scope, method, created_by)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id, no`,
			r.TypeCode, r.ItemCode, r.DepartmentID, r.MaxAgeDays, r.WithinValidity, r.OriginalRequired, r.ConsentRequired,
			r.Scope, r.Method, a.User.ID).Scan(&r.ID, &no); err != nil {
			return err
		}
		r.Ref = fmt.Sprintf("RR-%d", no)
		return audit.Append(ctx, tx, a.Event(s.now(), "reuse.rule.create", nil, map[string]any{"rule": r.Ref,
			"type_code": r.TypeCode, "scope": r.Scope, "method": r.Method}))
	})
	if err != nil {
		return Rule{}, fmt.Errorf("reuse: rule: %w", err)
	}
	return r, nil
}

// ListRules returns the rules in force, oldest first.
func (s *Service) ListRules(ctx context.Context) ([]Rule, error) {
	rows, err := s.DB.Query(ctx, `SELECT id, 'RR-' || no, type_code, item_code, department_id, max_age_days, within_validity,
			original_required, consent_required, scope, method
		FROM reuse_rules WHERE retired_at IS NULL ORDER BY no`)
	if err != nil {
		return nil, fmt.Errorf("reuse: rules: %w", err)
	}
	return pgx.CollectRows(rows, scanRule)
}

func scanRule(r pgx.CollectableRow) (Rule, error) {
	var x Rule
	err := r.Scan(&x.ID, &x.Ref, &x.TypeCode, &x.ItemCode, &x.DepartmentID, &x.MaxAgeDays, &x.WithinValidity,
		&x.OriginalRequired, &x.ConsentRequired, &x.Scope, &x.Method)
	return x, err
}

// rulesFor returns the rules in force for a type used by an item in a department.
func rulesFor(ctx context.Context, db vault.Querier, typeCode, item string, dept uuid.UUID) ([]Rule, error) {
	byType, err := rulesForTypes(ctx, db, []string{typeCode}, item, dept)
	if err != nil {
		return nil, err
	}
	return byType[typeCode], nil
}

// rulesForTypes returns the rules in force for each of types used by an item in a
// department, in rule number order, with one query.
func rulesForTypes(ctx context.Context, db vault.Querier, types []string, item string, dept uuid.UUID) (map[string][]Rule, error) {
	rows, err := db.Query(ctx, `SELECT id, 'RR-' || no, type_code, item_code, department_id, max_age_days, within_validity,
			original_required, consent_required, scope, method
		FROM reuse_rules WHERE retired_at IS NULL AND type_code = ANY($1)
		  AND (item_code IS NULL OR item_code = $2) AND (department_id IS NULL OR department_id = $3)
		ORDER BY no`, types, item, dept)
	if err != nil {
		return nil, fmt.Errorf("reuse: rules: %w", err)
	}
	rules, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Rule, error) {
		var x Rule
		err := r.Scan(&x.ID, &x.Ref, &x.TypeCode, &x.ItemCode, &x.DepartmentID, &x.MaxAgeDays, &x.WithinValidity,
			&x.OriginalRequired, &x.ConsentRequired, &x.Scope, &x.Method)
		return x, err
	})
	if err != nil {
		return nil, fmt.Errorf("reuse: rules: %w", err)
	}
	byType := make(map[string][]Rule, len(types))
	for _, r := range rules {
		byType[r.TypeCode] = append(byType[r.TypeCode], r)
	}
	return byType, nil
}

// Case is a case (办件) with its reuse plan.
type Case struct {
	ID           uuid.UUID  `json:"id"`
	CaseNo       string     `json:"case_no"`
	ItemCode     string     `json:"item_code"`
	ItemName     string     `json:"item_name"`
	DepartmentID uuid.UUID  `json:"department_id"`
	HolderKind   string     `json:"holder_kind"`
	HolderMasked string     `json:"holder_masked"`
	ConsentAt    *time.Time `json:"consent_at"`
	CreatedBy    uuid.UUID  `json:"created_by"`
	CreatedAt    time.Time  `json:"created_at"`
	Plan         []Entry    `json:"plan"`
	holderLookup string
	ownerID      uuid.UUID
	reveal       bool
}

// Entry is one required (or optional) material of a case: attached already, reusable by a
// rule, or to be submitted, with the exact reason.
type Entry struct {
	TypeCode     string     `json:"type_code"`
	TypeName     string     `json:"type_name"`
	Required     bool       `json:"required"`
	Status       string     `json:"status"` // attached | reusable | must_submit
	MaterialID   *uuid.UUID `json:"material_id,omitempty"`
	RuleRef      string     `json:"rule,omitempty"`
	Reason       string     `json:"reason,omitempty"` // must_submit: why, in English
	ReasonZh     string     `json:"reason_zh,omitempty"`
	Requirements []string   `json:"requirements"`
	ruleID       uuid.UUID
}

// NewCase is a case to open.
type NewCase struct {
	ItemCode     string           `json:"item_code"`
	HolderKind   vault.HolderKind `json:"holder_kind"`
	HolderNumber string           `json:"holder_number"`
}

// CreateCase opens a case in the actor's department for an item and a holder, and returns
// it with its reuse plan.
func (s *Service) CreateCase(ctx context.Context, a Actor, n NewCase) (Case, error) {
	if err := mustBeIn(a, identity.RoleWindow); err != nil {
		return Case{}, err
	}
	bad := map[string]string{}
	var itemName string
	if err := s.DB.QueryRow(ctx, `SELECT name FROM service_items WHERE code = $1`, strings.TrimSpace(n.ItemCode)).Scan(&itemName); isNoRows(err) {
		bad["item_code"] = "no such service item"
	} else if err != nil {
		return Case{}, err
	}
	h, err := s.Keys.NewHolder(n.HolderKind, n.HolderNumber)
	if err != nil {
		bad["holder_number"] = holderReason(err)
	}
	if len(bad) > 0 {
		return Case{}, &InvalidError{Fields: bad}
	}
	var id uuid.UUID
	err = pgx.BeginFunc(ctx, s.DB, func(tx pgx.Tx) error {
		var no int64
		if err := tx.QueryRow(ctx, `SELECT nextval(pg_get_serial_sequence('cases', 'no'))`).Scan(&no); err != nil {
			return err
		}
		// 办件编号: the date and a running number, e.g. AJ20261125000012.
		caseNo := fmt.Sprintf("AJ%s%06d", s.now().In(cst).Format("20060102"), no)
		if err := tx.QueryRow(ctx, `
			INSERT INTO cases (no, case_no, item_code, department_id, holder_kind, holder_lookup, holder_sealed, holder_masked, created_by,
				owner_department_id, state_since)
			OVERRIDING SYSTEM VALUE SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, i.department_id, $10 FROM service_items i WHERE i.code = $3
			RETURNING id`,
			no, caseNo, strings.TrimSpace(n.ItemCode), a.User.DepartmentID, string(h.Kind), h.Lookup, h.Sealed, h.Masked, a.User.ID,
			s.now()).Scan(&id); err != nil {
			return err
		}
		return audit.Append(ctx, tx, a.Event(s.now(), "case.create", map[string]string{audit.SubjectCase: caseNo},
			map[string]any{"item": strings.TrimSpace(n.ItemCode), "holder_kind": string(h.Kind)}))
	})
	if err != nil {
		return Case{}, fmt.Errorf("reuse: case: %w", err)
	}
	return s.GetCase(ctx, a, id)
}

func holderReason(err error) string {
	var he *vault.HolderError
	if errors.As(err, &he) {
		return he.Reason
	}
	return "is not a valid number of this kind"
}

// GetCase returns a case of the actor's department (the receiving one, or the item's owning
// department) with its current plan. Auditors and admins see every case.
func (s *Service) GetCase(ctx context.Context, a Actor, id uuid.UUID) (Case, error) {
	c, err := s.LoadCase(ctx, s.DB, id, a.User.HasRole(identity.RoleAuditor))
	if err != nil {
		return c, err
	}
	if c.DepartmentID != a.User.DepartmentID && c.ownerID != a.User.DepartmentID && !a.User.HasRole(identity.RoleAdmin, identity.RoleAuditor) {
		return Case{}, ErrNotFound
	}
	return c, nil
}

// LoadCase reads case id with its plan, whoever asks: the caller has decided that they may
// see it. reveal says whether the plan may name materials outside the case department's
// sharing scope (only an auditor's view may: to others such a material does not exist).
func (s *Service) LoadCase(ctx context.Context, db vault.Querier, id uuid.UUID, reveal bool) (Case, error) {
	var c Case
	err := db.QueryRow(ctx, `SELECT c.id, c.case_no, c.item_code, i.name, c.department_id, c.holder_kind, c.holder_masked,
			c.consent_at, c.created_by, c.created_at, c.holder_lookup, coalesce(c.owner_department_id, i.department_id)
		FROM cases c JOIN service_items i ON i.code = c.item_code WHERE c.id = $1`, id).
		Scan(&c.ID, &c.CaseNo, &c.ItemCode, &c.ItemName, &c.DepartmentID, &c.HolderKind, &c.HolderMasked, &c.ConsentAt,
			&c.CreatedBy, &c.CreatedAt, &c.holderLookup, &c.ownerID)
	if isNoRows(err) {
		return c, ErrNotFound
	} else if err != nil {
		return c, fmt.Errorf("reuse: case: %w", err)
	}
	c.reveal = reveal
	if c.Plan, err = s.plan(ctx, db, c); err != nil {
		return Case{}, err
	}
	return c, nil
}

// HolderLookup is the keyed hash of the case's holder number, for lists by applicant.
func (c Case) HolderLookup() string { return c.holderLookup }

// OwnerDepartmentID is the department that owns the case's item (and decides it).
func (c Case) OwnerDepartmentID() uuid.UUID { return c.ownerID }

// candidate is a material of the case's holder and a required type.
type candidate struct {
	id               uuid.UUID
	dept             uuid.UUID
	capturedAt       time.Time
	issuedOn         *time.Time
	validUntil       *time.Time
	longTerm         bool
	originalVerified bool
}

// plan works out, for every material the case's item lists, whether it is attached, which
// material a rule lets the case reuse (the newest that satisfies a rule), or why it must be
// submitted.
//
// It reads with a fixed number of queries whatever the item lists: the department tree, the
// item's materials with their types and attachments, the candidates of every type to
// resolve, and the rules in force for the types that have candidates.
func (s *Service) plan(ctx context.Context, db vault.Querier, c Case) ([]Entry, error) {
	t, err := loadTree(ctx, db)
	if err != nil {
		return nil, err
	}
	rows, err := db.Query(ctx, `SELECT `+typeColumns+`, m.required, m.reuse_accepted, cm.material_id
		FROM item_materials m JOIN material_types t ON t.code = m.type_code
		LEFT JOIN case_materials cm ON cm.case_id = $2 AND cm.type_code = m.type_code
		WHERE m.item_code = $1 ORDER BY m.position`, c.ItemCode, c.ID)
	if err != nil {
		return nil, fmt.Errorf("reuse: plan: %w", err)
	}
	type need struct {
		mt              MaterialType
		required, reuse bool
		attached        *uuid.UUID
	}
	needs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (need, error) {
		var n need
		err := r.Scan(append(typeFields(&n.mt), &n.required, &n.reuse, &n.attached)...)
		return n, err
	})
	if err != nil {
		return nil, fmt.Errorf("reuse: plan: %w", err)
	}
	var toResolve []string
	for _, n := range needs {
		if n.attached == nil && n.reuse {
			toResolve = append(toResolve, n.mt.Code)
		}
	}
	cands, err := candidates(ctx, db, c.holderLookup, toResolve)
	if err != nil {
		return nil, err
	}
	var withCands []string
	for _, code := range toResolve {
		if len(cands[code]) > 0 {
			withCands = append(withCands, code)
		}
	}
	var rules map[string][]Rule
	if len(withCands) > 0 {
		if rules, err = rulesForTypes(ctx, db, withCands, c.ItemCode, c.DepartmentID); err != nil {
			return nil, err
		}
	}
	now := s.now()
	plan := make([]Entry, 0, len(needs))
	for _, n := range needs {
		e := Entry{TypeCode: n.mt.Code, TypeName: n.mt.Name, Required: n.required, Requirements: n.mt.Requirements()}
		if e.Requirements == nil {
			e.Requirements = []string{}
		}
		switch {
		case n.attached != nil:
			e.Status, e.MaterialID = "attached", n.attached
		case !n.reuse:
			e.Status, e.Reason, e.ReasonZh = "must_submit", "this item does not accept reused materials of this type", "本事项不接受复用该材料"
		default:
			resolve(t, c, n.mt, visible(t, c, n.mt, cands[n.mt.Code], rules[n.mt.Code]), rules[n.mt.Code], now, &e)
		}
		plan = append(plan, e)
	}
	return plan, nil
}

// candidates returns, for each of types, the holder's materials of that type that are
// neither superseded nor revoked, newest first, at most 20 a type, with one query.
func candidates(ctx context.Context, db vault.Querier, holderLookup string, types []string) (map[string][]candidate, error) {
	if len(types) == 0 {
		return nil, nil
	}
	rows, err := db.Query(ctx, `
		SELECT t.code, m.id, m.department_id, m.captured_at, m.issued_on, m.valid_until, m.long_term, m.original_verified
		FROM unnest($2::text[]) WITH ORDINALITY AS t(code, ord)
		CROSS JOIN LATERAL (
			SELECT m.* FROM materials m
			WHERE m.holder_lookup = $1 AND m.type_code = t.code
			  AND NOT EXISTS (SELECT 1 FROM materials n WHERE n.supersedes = m.id)
			  AND NOT EXISTS (SELECT 1 FROM material_revocations r WHERE r.material_id = m.id)
			ORDER BY m.captured_at DESC, m.id DESC LIMIT 20) m
		ORDER BY t.ord, m.captured_at DESC, m.id DESC`, holderLookup, types)
	if err != nil {
		return nil, fmt.Errorf("reuse: candidates: %w", err)
	}
	byType := make(map[string][]candidate, len(types))
	var code string
	var x candidate
	_, err = pgx.ForEachRow(rows, []any{&code, &x.id, &x.dept, &x.capturedAt, &x.issuedOn, &x.validUntil, &x.longTerm, &x.originalVerified}, func() error {
		byType[code] = append(byType[code], x)
		x = candidate{}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reuse: candidates: %w", err)
	}
	return byType, nil
}

// visible drops, unless c's plan may reveal them, the candidates that no rule in force lets
// c's department see at all (a type not shareable, or captured outside every rule's scope):
// to that department they do not exist, so the plan says "none on file", not where they are.
func visible(t tree, c Case, mt MaterialType, cands []candidate, rules []Rule) []candidate {
	if c.reveal {
		return cands
	}
	out := cands[:0:0]
	for _, cd := range cands {
		if cd.dept == c.DepartmentID {
			out = append(out, cd)
			continue
		}
		if !mt.Shareable {
			continue
		}
		for _, r := range rules {
			if t.shares(r.Scope, cd.dept, c.DepartmentID) {
				out = append(out, cd)
				break
			}
		}
	}
	return out
}

// resolve fills e with the best reusable material among cands (newest first) under rules
// (the rules in force for the type), or the reason there is none.
func resolve(t tree, c Case, mt MaterialType, cands []candidate, rules []Rule, now time.Time, e *Entry) {
	e.Status = "must_submit"
	if len(cands) == 0 {
		e.Reason, e.ReasonZh = "none on file", "未留存该材料"
		return
	}
	if len(rules) == 0 {
		e.Reason, e.ReasonZh = "no reuse rule covers this material type", "该材料没有可复用规则"
		return
	}
	// The newest candidate's first failing condition is the reason given, unless another
	// candidate passes.
	var firstEn, firstZh string
	for _, cd := range cands {
		for _, r := range rules {
			if r.Method != MethodReference {
				continue
			}
			en, zh := check(t, c, mt, r, cd, now)
			if en == "" {
				id := cd.id
				e.Status, e.MaterialID, e.RuleRef, e.ruleID = "reusable", &id, r.Ref, r.ID
				e.Reason, e.ReasonZh = "", ""
				return
			}
			if firstEn == "" {
				firstEn, firstZh = en, zh
			}
		}
	}
	if firstEn == "" {
		firstEn, firstZh = "no reuse rule lets this material be attached by reference", "没有允许引用该材料的复用规则"
	}
	e.Reason, e.ReasonZh = firstEn, firstZh
}

// check returns why rule r does not let candidate cd serve case c ("" if it does).
func check(t tree, c Case, mt MaterialType, r Rule, cd candidate, now time.Time) (en, zh string) {
	day := today(now)
	if !mt.Shareable && cd.dept != c.DepartmentID {
		return "the material type is not shareable outside its department", "该类材料不可跨部门共享"
	}
	if !t.shares(r.Scope, cd.dept, c.DepartmentID) {
		return fmt.Sprintf("outside sharing scope (%s, captured by %s)", r.Scope, t[cd.dept].name),
			fmt.Sprintf("超出共享范围（%s，采集部门：%s）", scopeZh(r.Scope), t[cd.dept].name)
	}
	if r.WithinValidity {
		if exp, ok := expiry(mt, cd); ok && exp.Before(day) {
			return "expired on " + fmtDate(exp), "已于 " + fmtDate(exp) + " 过期"
		}
	}
	if r.MaxAgeDays != nil && now.Sub(cd.capturedAt) > time.Duration(*r.MaxAgeDays)*24*time.Hour {
		return fmt.Sprintf("older than %d days (captured %s)", *r.MaxAgeDays, fmtDate(cd.capturedAt)),
			fmt.Sprintf("采集已超过 %d 天（%s 采集）", *r.MaxAgeDays, fmtDate(cd.capturedAt))
	}
	if (r.OriginalRequired || mt.OriginalRequired) && !cd.originalVerified {
		return "not original-verified", "未经原件核验"
	}
	if r.ConsentRequired && c.ConsentAt == nil {
		return "consent not recorded", "尚未记录申请人同意复用"
	}
	return "", ""
}

// expiry is the last day a candidate is valid, if it has one.
func expiry(mt MaterialType, cd candidate) (time.Time, bool) {
	switch {
	case cd.longTerm || mt.Validity == ValidLongTerm:
		return time.Time{}, false
	case mt.Validity == ValidFixedPeriod && mt.ValidityMonths != nil && cd.issuedOn != nil:
		return dateIn(*cd.issuedOn).AddDate(0, *mt.ValidityMonths, -1), true
	case cd.validUntil != nil:
		return dateIn(*cd.validUntil), true
	}
	return time.Time{}, false
}

func dateIn(d time.Time) time.Time { return time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, cst) }

func scopeZh(scope string) string {
	return map[string]string{ScopeDepartment: "本部门", ScopeCenter: "本中心", ScopeLevel: "同级", ScopeCrossLevel: "跨层级"}[scope]
}

// RecordConsent records that the applicant consents to the reuse of their materials.
func (s *Service) RecordConsent(ctx context.Context, a Actor, id uuid.UUID) (Case, error) {
	c, err := s.GetCase(ctx, a, id)
	if err != nil {
		return c, err
	}
	if c.DepartmentID != a.User.DepartmentID {
		return c, ErrForbidden
	}
	err = pgx.BeginFunc(ctx, s.DB, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE cases SET consent_at = coalesce(consent_at, $2), consent_by = coalesce(consent_by, $3) WHERE id = $1`,
			id, s.now(), a.User.ID); err != nil {
			return err
		}
		return audit.Append(ctx, tx, a.Event(s.now(), "case.consent", map[string]string{audit.SubjectCase: c.CaseNo}, nil))
	})
	if err != nil {
		return c, fmt.Errorf("reuse: consent: %w", err)
	}
	return s.GetCase(ctx, a, id)
}

// Attach attaches a material to a case: reused (it must be what the plan offers for the
// type now, checked again in the transaction) or newly submitted (a material of the case's
// holder and type captured by the case's department).
func (s *Service) Attach(ctx context.Context, a Actor, id uuid.UUID, typeCode string, material uuid.UUID, reuse bool) (Case, error) {
	c, err := s.GetCase(ctx, a, id)
	if err != nil {
		return c, err
	}
	if c.DepartmentID != a.User.DepartmentID {
		return c, ErrForbidden
	}
	err = pgx.BeginFunc(ctx, s.DB, func(tx pgx.Tx) error {
		var state string
		if err := tx.QueryRow(ctx, `SELECT state FROM cases WHERE id = $1 FOR UPDATE`, id).Scan(&state); err != nil {
			return err
		}
		if state != "received" && state != "incomplete" {
			return &StateError{Case: c.CaseNo, State: state}
		}
		plan, err := s.plan(ctx, tx, c)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(plan, func(e Entry) bool { return e.TypeCode == typeCode })
		if i < 0 {
			return &InvalidError{Fields: map[string]string{"type_code": "the case's item does not list this material type"}}
		}
		e := plan[i]
		if e.Status == "attached" {
			return &InvalidError{Fields: map[string]string{"type_code": "a material of this type is attached already"}}
		}
		var ruleID *uuid.UUID
		action := "case.material.submit"
		if reuse {
			if e.Status != "reusable" || *e.MaterialID != material {
				return &InvalidError{Fields: map[string]string{"material_id": "is not reusable for this case: " + orDefault(e.Reason, "another material is the one the plan offers")}}
			}
			ruleID, action = &e.ruleID, "material.reuse"
		} else {
			var ok bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM materials WHERE id = $1 AND holder_lookup = $2 AND type_code = $3 AND department_id = $4)`,
				material, c.holderLookup, typeCode, c.DepartmentID).Scan(&ok); err != nil {
				return err
			}
			if !ok {
				return &InvalidError{Fields: map[string]string{"material_id": "is not a material of this holder and type captured by your department"}}
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO case_materials (case_id, type_code, material_id, how, rule_id, added_by)
			VALUES ($1, $2, $3, $4, $5, $6)`, id, typeCode, material, map[bool]string{true: "reused", false: "submitted"}[reuse],
			ruleID, a.User.ID); err != nil {
			return err
		}
		details := map[string]any{"type_code": typeCode}
		if reuse {
			details["rule"] = e.RuleRef
		}
		return audit.Append(ctx, tx, a.Event(s.now(), action, map[string]string{audit.SubjectCase: c.CaseNo,
			audit.SubjectMaterial: material.String()}, details))
	})
	if err != nil {
		return Case{}, err
	}
	return s.GetCase(ctx, a, id)
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// StateError is an attachment to a case past intake: materials are attached while a case is
// received or incomplete, before acceptance fixes them.
type StateError struct{ Case, State string }

func (e *StateError) Error() string {
	return fmt.Sprintf("reuse: case %s is %s: materials can be attached only before acceptance", e.Case, e.State)
}
