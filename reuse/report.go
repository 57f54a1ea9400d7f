package reuse

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"sealvault/audit"
	"sealvault/internal/identity"
	"sealvault/reuse/notice"
	"sealvault/vault"
)

// ReportRow is one line of the reuse report: for an item and the department that handled
// its cases, over a period, how many materials were required, reused and newly submitted.
type ReportRow struct {
	ItemCode     string    `json:"item_code"`
	ItemName     string    `json:"item_name"`
	DepartmentID uuid.UUID `json:"department_id"`
	Department   string    `json:"department"`
	Cases        int       `json:"cases"`
	Required     int       `json:"required"`
	Reused       int       `json:"reused"`
	Submitted    int       `json:"submitted"`
	// ReuseRate is reused ÷ required (the 减材料 figure), 0 when nothing was required.
	ReuseRate float64 `json:"reuse_rate"`
}

// Report counts the cases opened in [from, to).
func (s *Service) Report(ctx context.Context, from, to time.Time) ([]ReportRow, error) {
	rows, err := s.DB.Query(ctx, `
		SELECT c.item_code, i.name, c.department_id, d.name, count(*),
			coalesce(sum((SELECT count(*) FROM item_materials m WHERE m.item_code = c.item_code AND m.required)), 0),
			coalesce(sum((SELECT count(*) FROM case_materials x WHERE x.case_id = c.id AND x.how = 'reused')), 0),
			coalesce(sum((SELECT count(*) FROM case_materials x WHERE x.case_id = c.id AND x.how = 'submitted')), 0)
		FROM cases c JOIN service_items i ON i.code = c.item_code JOIN departments d ON d.id = c.department_id
		WHERE c.created_at >= $1 AND c.created_at < $2
		GROUP BY c.item_code, i.name, c.department_id, d.name ORDER BY c.item_code, d.name`, from, to)
	if err != nil {
		return nil, fmt.Errorf("reuse: report: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ReportRow, error) {
		var x ReportRow
		err := r.Scan(&x.ItemCode, &x.ItemName, &x.DepartmentID, &x.Department, &x.Cases, &x.Required, &x.Reused, &x.Submitted)
		if x.Required > 0 {
			x.ReuseRate = float64(x.Reused) / float64(x.Required)
		}
		return x, err
	})
	if out == nil {
		out = []ReportRow{}
	}
	return out, err
}

// WriteReportCSV writes the report as CSV with a header row (UTF-8 with a byte-order mark, so
// spreadsheet programs show the Chinese names).
func WriteReportCSV(w io.Writer, rows []ReportRow) error {
	if _, err := io.WriteString(w, "\ufeff"); err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	cw.Write([]string{"item_code", "item_name", "department", "cases", "required", "reused", "submitted", "reuse_rate"})
	for _, r := range rows {
		cw.Write([]string{r.ItemCode, r.ItemName, r.Department, strconv.Itoa(r.Cases), strconv.Itoa(r.Required),
			strconv.Itoa(r.Reused), strconv.Itoa(r.Submitted), strconv.FormatFloat(r.ReuseRate, 'f', 4, 64)})
	}
	cw.Flush()
	return cw.Error()
}

// Access is a material of another department that a user may see in a case, by a rule.
type Access struct {
	Material vault.Material
	Rule     string
	Case     string
}

// Open lets a user of the case's department see (method "view") or download (method
// "download") a material attached to the case or offered by its plan, when a rule in force
// shares it with the department by that method (or the material is the department's own).
// Every access is an audit event naming the rule and the case.
func (s *Service) Open(ctx context.Context, a Actor, caseID, materialID uuid.UUID, method string) (Access, error) {
	c, err := s.GetCase(ctx, a, caseID)
	if err != nil {
		return Access{}, err
	}
	if c.DepartmentID != a.User.DepartmentID && !a.User.HasRole(identity.RoleAdmin) {
		return Access{}, ErrForbidden
	}
	m, err := vault.GetMaterial(ctx, s.DB, vault.Viewer{All: true}, materialID)
	if err != nil {
		return Access{}, ErrNotFound
	}
	inCase := false
	for _, e := range c.Plan {
		if e.MaterialID != nil && *e.MaterialID == materialID {
			inCase = true
		}
	}
	if !inCase {
		return Access{}, ErrNotFound
	}
	acc := Access{Material: m, Case: c.CaseNo}
	if m.DepartmentID != c.DepartmentID {
		t, err := loadTree(ctx, s.DB)
		if err != nil {
			return acc, err
		}
		mt, err := GetType(ctx, s.DB, m.TypeCode)
		if err != nil {
			return acc, err
		}
		rules, err := rulesFor(ctx, s.DB, m.TypeCode, c.ItemCode, c.DepartmentID)
		if err != nil {
			return acc, err
		}
		cd := candidate{id: m.ID, dept: m.DepartmentID, capturedAt: m.CapturedAt, longTerm: m.LongTerm, originalVerified: m.OriginalVerified}
		if m.IssuedOn != nil {
			cd.issuedOn = &m.IssuedOn.Time
		}
		if m.ValidUntil != nil {
			cd.validUntil = &m.ValidUntil.Time
		}
		for _, r := range rules {
			if (r.Method == method || method == MethodView && r.Method == MethodDownload) && func() bool { en, _ := check(t, c, mt, r, cd, s.now()); return en == "" }() {
				acc.Rule = r.Ref
				break
			}
		}
		if acc.Rule == "" {
			return acc, ErrForbidden
		}
	}
	details := map[string]any{"method": method}
	if acc.Rule != "" {
		details["rule"] = acc.Rule
	}
	if err := audit.Append(ctx, s.DB, a.Event(s.now(), "material."+method, map[string]string{audit.SubjectCase: c.CaseNo,
		audit.SubjectMaterial: m.ID.String(), audit.SubjectObject: m.Content.String()}, details)); err != nil {
		return acc, err
	}
	return acc, nil
}

// NoticeMaterial is one missing material in the one-time notice, as JSON.
type NoticeMaterial struct {
	TypeCode     string   `json:"type_code"`
	Name         string   `json:"name"`
	Reason       string   `json:"reason"`
	ReasonEn     string   `json:"reason_en"`
	Requirements []string `json:"requirements"`
	Optional     bool     `json:"optional"`
}

// NoticeData is the one-time notice (一次性告知书) of a case: every material the applicant
// still has to submit (neither attached nor reusable), with the reason and the requirements.
type NoticeData struct {
	Center    string           `json:"center"`
	CaseNo    string           `json:"case_no"`
	ItemCode  string           `json:"item_code"`
	ItemName  string           `json:"item_name"`
	Applicant string           `json:"applicant"` // masked
	Missing   []NoticeMaterial `json:"missing"`
	Staff     string           `json:"staff"`
	Date      string           `json:"date"`
	// No is the notice's number on its case (第 N 次告知), 0 for a preview of the plan.
	No   int `json:"no,omitempty"`
	date time.Time
}

// IssuedAt returns n dated t, as it was issued.
func (n NoticeData) IssuedAt(t time.Time) NoticeData {
	n.date, n.Date = t, fmtDate(t)
	return n
}

// Notice works out the one-time notice of a case for the actor (the staff member named on it).
func (s *Service) Notice(ctx context.Context, a Actor, id uuid.UUID) (NoticeData, error) {
	c, err := s.GetCase(ctx, a, id)
	if err != nil {
		return NoticeData{}, err
	}
	n, err := s.ComposeNotice(ctx, s.DB, a, c)
	if err != nil {
		return n, err
	}
	if err := audit.Append(ctx, s.DB, a.Event(s.now(), "case.notice", map[string]string{audit.SubjectCase: c.CaseNo},
		map[string]any{"missing": len(n.Missing)})); err != nil {
		return n, err
	}
	return n, nil
}

// ComposeNotice works out the notice of case c (as loaded, with its plan) for the actor, dated
// now, without recording anything.
func (s *Service) ComposeNotice(ctx context.Context, db vault.Querier, a Actor, c Case) (NoticeData, error) {
	t, err := loadTree(ctx, db)
	if err != nil {
		return NoticeData{}, err
	}
	center := t[c.DepartmentID].name
	if cid := t.center(c.DepartmentID); cid != uuid.Nil {
		center = t[cid].name
	}
	now := s.now()
	n := NoticeData{Center: center, CaseNo: c.CaseNo, ItemCode: c.ItemCode, ItemName: c.ItemName, Applicant: c.HolderMasked,
		Missing: []NoticeMaterial{}, Staff: a.User.DisplayName, Date: fmtDate(now), date: now}
	for _, e := range c.Plan {
		if e.Status != "must_submit" {
			continue
		}
		n.Missing = append(n.Missing, NoticeMaterial{TypeCode: e.TypeCode, Name: e.TypeName, Reason: e.ReasonZh, ReasonEn: e.Reason,
			Requirements: e.Requirements, Optional: !e.Required})
	}
	return n, nil
}

// PDF renders the notice as a printable A4 PDF.
func (n NoticeData) PDF() ([]byte, error) {
	doc := notice.Notice{Center: n.Center, CaseNo: n.CaseNo, ItemCode: n.ItemCode, ItemName: n.ItemName, Applicant: n.Applicant,
		Staff: n.Staff, Date: n.date.In(cst)}
	for _, m := range n.Missing {
		doc.Missing = append(doc.Missing, notice.Missing{Name: m.Name, Reason: m.Reason, Requirements: m.Requirements, Optional: m.Optional})
	}
	return notice.PDF(doc)
}
