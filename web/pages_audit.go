package web

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"sealvault/casework"
	"sealvault/reuse"
	"sealvault/seal"
)

// The auditor's area (审计): the seal-use register and the denied attempts, a case's
// timeline, the audit events, the newest checkpoint and whether the log verifies, the
// exports, the reuse report with its chart; and the public verification page.

func init() {
	areaPages = append(areaPages, auditPages)
	navEntries = append(navEntries,
		nav{Order: 50, Key: "nav.audit.register", Href: "/register", API: "GET /api/v1/seal-uses"},
		nav{Order: 51, Key: "nav.audit.events", Href: "/audit", API: "GET /api/v1/audit/checkpoint"},
		nav{Order: 52, Key: "nav.audit.reuse", Href: "/reports/reuse", API: "GET /api/v1/reports/reuse"},
	)
	addMessages(auditMessages)
	funcs["auditPct"] = func(f float64) string { return strconv.FormatFloat(f*100, 'f', 1, 64) + "%" }
}

func auditPages(h *Handler) []page {
	return []page{
		{Method: http.MethodGet, Path: "/register", API: "GET /api/v1/seal-uses", Handler: auditRegister},
		{Method: http.MethodGet, Path: "/register/export.csv", API: "GET /api/v1/seal-uses", Handler: auditRegisterCSV},
		{Method: http.MethodGet, Path: "/cases/{id}/timeline", API: "GET /api/v1/cases/:id/timeline", Handler: auditTimeline},
		{Method: http.MethodGet, Path: "/audit", API: "GET /api/v1/audit/checkpoint", Handler: auditOverview},
		{Method: http.MethodPost, Path: "/audit/checkpoint", API: "POST /api/v1/audit/checkpoint", Handler: auditIssueCheckpoint},
		{Method: http.MethodGet, Path: "/audit/events", API: "GET /api/v1/audit/events", Handler: auditEvents},
		{Method: http.MethodGet, Path: "/audit/export.jsonl", API: "GET /api/v1/audit/export", Handler: auditExport},
		{Method: http.MethodGet, Path: "/reports/reuse", API: "GET /api/v1/reports/reuse", Handler: auditReuse},
		{Method: http.MethodGet, Path: "/reports/reuse.csv", API: "GET /api/v1/reports/reuse", Handler: auditReuseCSV},
		{Method: http.MethodGet, Path: "/verify", Public: true, API: "POST /api/v1/public/verify", Handler: auditVerifyForm},
		{Method: http.MethodPost, Path: "/verify", Public: true, API: "POST /api/v1/public/verify", Handler: auditVerifyPost},
	}
}

// auditFilter is the register's and the events' filters, as typed (dates YYYY-MM-DD).
type auditFilter struct {
	Seal, Department, Case, Person, From, To, Action string
}

func auditReadFilter(x *rc) auditFilter {
	g := func(n string) string { return strings.TrimSpace(x.r.URL.Query().Get(n)) }
	return auditFilter{Seal: g("seal"), Department: g("department"), Case: g("case"), Person: g("person"), From: g("from"), To: g("to"), Action: g("action")}
}

// auditDay turns a date typed as YYYY-MM-DD into the RFC 3339 time the API takes: its start
// in China Standard Time, or (end) the start of the next day. Anything else goes as typed,
// and the API's problem names it.
func auditDay(s string, end bool) string {
	if s == "" {
		return ""
	}
	d, err := time.ParseInLocation(time.DateOnly, s, cst)
	if err != nil {
		return s
	}
	if end {
		d = d.AddDate(0, 0, 1)
	}
	return d.Format(time.RFC3339)
}

// auditRow is one line of the register as the page shows it.
type auditRow struct {
	seal.Use
	Department string
	Requester  string
	Approver   string
	CaseNo     string
}

// auditDenied is one refused attempt.
type auditDenied struct {
	Time, Actor, Seal, Case, Item, Stage, Rule, Detail, Action string
}

type auditRegisterView struct {
	F       auditFilter
	Tab     string
	Rows    []auditRow
	Denied  []auditDenied
	Next    string
	Export  string
	Problem *problem
}

// auditNames finds the display names of the people and departments of the rows: the
// people from the timelines of their cases (which name everyone who acted on a case), the
// departments from the seals list.
type auditNames struct {
	x      *rc
	people map[string]string
	cases  map[string]bool
	depts  map[string]string
}

func newAuditNames(x *rc) *auditNames {
	n := &auditNames{x: x, people: map[string]string{}, cases: map[string]bool{}, depts: map[string]string{}}
	var seals struct {
		Items []seal.Seal `json:"items"`
	}
	if err := x.apiJSON(http.MethodGet, "/api/v1/seals", nil, &seals); err == nil {
		for _, s := range seals.Items {
			n.depts[s.DepartmentID.String()] = s.Department
		}
	}
	if x.me != nil {
		n.depts[x.me.Department.ID.String()] = x.me.Department.Name
	}
	return n
}

func (n *auditNames) learnCase(caseNo string) {
	if caseNo == "" || n.cases[caseNo] {
		return
	}
	n.cases[caseNo] = true
	var tl struct {
		Items []casework.Line `json:"items"`
	}
	if err := n.x.apiJSON(http.MethodGet, "/api/v1/cases/"+pathEscape(caseNo)+"/timeline", nil, &tl); err != nil {
		return
	}
	for _, l := range tl.Items {
		if l.ActorID != "" && l.Actor != "" && l.Actor != l.ActorID {
			n.people[l.ActorID] = l.Actor
		}
	}
}

func (n *auditNames) person(id string) string {
	if id == "" {
		return ""
	}
	if s, ok := n.people[id]; ok {
		return s
	}
	return n.x.t("audit.someone") + " " + auditShort(id)
}

func (n *auditNames) dept(id string) string {
	if s, ok := n.depts[id]; ok {
		return s
	}
	return auditShort(id)
}

func auditShort(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

func auditRegister(x *rc) error {
	v := auditRegisterView{F: auditReadFilter(x), Tab: x.r.URL.Query().Get("tab")}
	f := v.F
	if v.Tab != "denied" {
		v.Tab = "uses"
	}
	names := newAuditNames(x)
	if v.Tab == "uses" {
		var out struct {
			Items []seal.Use `json:"items"`
			Next  string     `json:"next_cursor"`
		}
		err := x.apiJSON(http.MethodGet, q("/api/v1/seal-uses", "seal", f.Seal, "department", f.Department, "case", f.Case, "person", f.Person,
			"from", auditDay(f.From, false), "to", auditDay(f.To, true), "after", x.r.URL.Query().Get("after"), "limit", "50"), nil, &out)
		if pr := pageProblem(err); pr != nil {
			v.Problem = pr
		} else if err != nil {
			return err
		}
		for _, u := range out.Items {
			names.learnCase(u.CaseRef)
		}
		for _, u := range out.Items {
			r := auditRow{Use: u, Department: names.dept(u.DepartmentID.String()), Requester: names.person(u.RequesterID.String()), CaseNo: u.CaseRef}
			if u.ApproverID != nil {
				r.Approver = names.person(u.ApproverID.String())
			}
			v.Rows = append(v.Rows, r)
		}
		if out.Next != "" {
			v.Next = q("/register", "seal", f.Seal, "department", f.Department, "case", f.Case, "person", f.Person, "from", f.From, "to", f.To, "after", out.Next)
		}
		v.Export = q("/register/export.csv", "seal", f.Seal, "department", f.Department, "case", f.Case, "person", f.Person, "from", f.From, "to", f.To)
	} else {
		recs, next, pr, err := auditLoadEvents(x, auditFilter{Seal: f.Seal, Department: f.Department, Case: f.Case, Person: f.Person, From: f.From, To: f.To, Action: "seal.apply.denied"}, x.r.URL.Query().Get("after"))
		if err != nil {
			return err
		}
		v.Problem = pr
		for _, e := range recs {
			names.learnCase(e.Subjects["case"])
		}
		for _, e := range recs {
			d := auditDenied{Time: e.Time, Actor: names.person(e.Actor.UserID), Case: e.Subjects["case"], Action: e.Action,
				Seal: auditStr(e.Details["seal"]), Item: auditStr(e.Details["item"]), Stage: auditStr(e.Details["stage"]),
				Rule: auditStr(e.Details["rule"]), Detail: auditMask(auditStr(e.Details["detail"]))}
			v.Denied = append(v.Denied, d)
		}
		if next != "" {
			v.Next = q("/register", "tab", "denied", "seal", f.Seal, "department", f.Department, "case", f.Case, "person", f.Person, "from", f.From, "to", f.To, "after", next)
		}
	}
	x.render(http.StatusOK, "audit_register", v)
	return nil
}

// auditRegisterCSV is the register, with the page's filters, as a CSV download (every
// page of it, at most 10 000 rows).
func auditRegisterCSV(x *rc) error {
	f := auditReadFilter(x)
	names := newAuditNames(x)
	var buf bytes.Buffer
	buf.WriteString("\ufeff") // so that spreadsheet programs read the Chinese as UTF-8
	w := csv.NewWriter(&buf)
	_ = w.Write([]string{"ref", "applied_at", "seal_ref", "seal_name", "department", "case_no", "item_code", "output_digest", "requester", "approver", "timestamp_at", "tsa", "tsa_serial", "archive_version", "archive_digest", "archive_tsa_not_after"})
	after := ""
	for n := 0; n < 100; n++ {
		var out struct {
			Items []seal.Use `json:"items"`
			Next  string     `json:"next_cursor"`
		}
		err := x.apiJSON(http.MethodGet, q("/api/v1/seal-uses", "seal", f.Seal, "department", f.Department, "case", f.Case, "person", f.Person,
			"from", auditDay(f.From, false), "to", auditDay(f.To, true), "after", after, "limit", "100"), nil, &out)
		if err != nil {
			return err
		}
		for _, u := range out.Items {
			names.learnCase(u.CaseRef)
			appr := ""
			if u.ApproverID != nil {
				appr = names.person(u.ApproverID.String())
			}
			var tsAt, tsa, tsSerial string
			if t := u.Timestamp; t != nil {
				tsAt, tsa, tsSerial = t.Time.In(cst).Format(time.RFC3339), t.TSA, t.Serial
			}
			var archVersion, archDigest, archNotAfter string
			if a := u.Archive; a != nil {
				archVersion, archDigest, archNotAfter = strconv.Itoa(a.Version), a.Digest, a.TSANotAfter.In(cst).Format(time.RFC3339)
			}
			_ = w.Write([]string{u.Ref, u.AppliedAt.In(cst).Format(time.RFC3339), u.SealRef, u.SealName, names.dept(u.DepartmentID.String()),
				u.CaseRef, u.ItemCode, u.OutputDigest, names.person(u.RequesterID.String()), appr, tsAt, tsa, tsSerial, archVersion, archDigest, archNotAfter})
		}
		if out.Next == "" {
			break
		}
		after = out.Next
	}
	w.Flush()
	resp := &response{Status: http.StatusOK, Header: http.Header{"Content-Type": {"text/csv; charset=utf-8"}}, Body: buf.Bytes()}
	return auditSend(x, resp, `attachment; filename="seal-uses.csv"`)
}

// auditSend sends an API answer (an export) on to the browser as a download.
func auditSend(x *rc, resp *response, disposition string) error {
	h := x.w.Header()
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		h.Set("Content-Type", ct)
	}
	if cd := resp.Header.Get("Content-Disposition"); cd != "" {
		disposition = cd
	}
	h.Set("Content-Disposition", disposition)
	h.Set("Cache-Control", "private, no-store")
	h.Set("Content-Length", strconv.Itoa(len(resp.Body)))
	x.w.WriteHeader(http.StatusOK)
	_, _ = x.w.Write(resp.Body)
	return nil
}

func auditStr(v any) string {
	switch s := v.(type) {
	case nil:
		return ""
	case string:
		return s
	default:
		b, _ := json.Marshal(s)
		return string(b)
	}
}

// auditPersonalRE finds what looks like an ID-card number or a credit code; the log refuses
// them, and the pages mask whatever might still come.
var auditPersonalRE = regexp.MustCompile(`\d{17}[\dXx]|[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}`)

func auditMask(s string) string {
	return auditPersonalRE.ReplaceAllStringFunc(s, func(m string) string { return m[:4] + strings.Repeat("*", len(m)-8) + m[len(m)-4:] })
}

// auditEvent is a decoded audit event.
type auditEvent struct {
	ID       int64
	Seq      *int64
	Time     string            `json:"time"`
	Action   string            `json:"action"`
	Subjects map[string]string `json:"subjects"`
	Details  map[string]any    `json:"details"`
	Actor    struct {
		UserID       string   `json:"user_id"`
		DepartmentID string   `json:"department_id"`
		Roles        []string `json:"roles"`
	} `json:"actor"`
	ClientIP string `json:"client_ip"`
	Words    string
	Pairs    [][2]string
	Who      string
}

func auditLoadEvents(x *rc, f auditFilter, after string) ([]auditEvent, string, *problem, error) {
	var out struct {
		Items []struct {
			ID    int64           `json:"id"`
			Seq   *int64          `json:"seq"`
			Event json.RawMessage `json:"event"`
		} `json:"items"`
		Next string `json:"next_cursor"`
	}
	err := x.apiJSON(http.MethodGet, q("/api/v1/audit/events", "seal", f.Seal, "department", f.Department, "case", f.Case, "actor", f.Person,
		"action", f.Action, "from", auditDay(f.From, false), "to", auditDay(f.To, true), "after", after, "limit", "50"), nil, &out)
	if pr := pageProblem(err); pr != nil {
		return nil, "", pr, nil
	} else if err != nil {
		return nil, "", nil, err
	}
	var evs []auditEvent
	for _, it := range out.Items {
		var e auditEvent
		if err := json.Unmarshal(it.Event, &e); err != nil {
			continue
		}
		e.ID, e.Seq = it.ID, it.Seq
		e.Words = auditActionWords(x, e.Action)
		e.Pairs = auditPairs(e.Details)
		evs = append(evs, e)
	}
	return evs, out.Next, nil, nil
}

// auditActionWords is the action in words, in the page's language (the dotted name when it
// has none).
func auditActionWords(x *rc, action string) string {
	if hasMessage("audit.act." + action) {
		return x.t("audit.act." + action)
	}
	return action
}

// auditPairs is an event's details as key and value pairs, sorted, personal identifiers
// masked.
func auditPairs(d map[string]any) [][2]string {
	keys := make([]string, 0, len(d))
	for k := range d {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out [][2]string
	for _, k := range keys {
		s := auditMask(auditStr(d[k]))
		if len([]rune(s)) > 160 {
			s = string([]rune(s)[:160]) + "…"
		}
		out = append(out, [2]string{k, s})
	}
	return out
}

// auditTimeline is a case's timeline.
type auditTimelineView struct {
	CaseNo string
	Case   *casework.Case
	Steps  []auditEvent
}

func auditTimeline(x *rc) error {
	id := x.r.PathValue("id")
	var tl struct {
		Items []casework.Line `json:"items"`
	}
	if err := x.apiJSON(http.MethodGet, "/api/v1/cases/"+pathEscape(id)+"/timeline", nil, &tl); err != nil {
		return err
	}
	v := auditTimelineView{CaseNo: id}
	var c casework.Case
	if err := x.apiJSON(http.MethodGet, "/api/v1/cases/"+pathEscape(id), nil, &c); err == nil {
		v.Case = &c
		v.CaseNo = c.CaseNo
	}
	people := map[string]string{}
	for _, l := range tl.Items {
		if l.ActorID != "" && l.Actor != "" && l.Actor != l.ActorID {
			people[l.ActorID] = l.Actor
		}
	}
	for _, l := range tl.Items {
		e := auditEvent{ID: l.EventID, Seq: l.Seq, Time: l.Time, Action: l.Action, Who: l.Actor}
		var d map[string]any
		_ = json.Unmarshal(l.Details, &d)
		e.Details = d
		e.Words = auditActionWords(x, l.Action)
		e.Pairs = auditPairs(d)
		for i, kv := range e.Pairs {
			if n, ok := people[kv[1]]; ok {
				e.Pairs[i][1] = n
			}
		}
		if e.Who == "" {
			e.Who = x.t("audit.system")
		} else if e.Who == l.ActorID {
			e.Who = x.t("audit.someone") + " " + auditShort(l.ActorID)
		}
		v.Steps = append(v.Steps, e)
	}
	x.render(http.StatusOK, "audit_timeline", v)
	return nil
}

type auditEventsView struct {
	F       auditFilter
	Events  []auditEvent
	Next    string
	Problem *problem
}

func auditEvents(x *rc) error {
	v := auditEventsView{F: auditReadFilter(x)}
	evs, next, pr, err := auditLoadEvents(x, v.F, x.r.URL.Query().Get("after"))
	if err != nil {
		return err
	}
	v.Events, v.Problem = evs, pr
	names := newAuditNames(x)
	for _, e := range evs {
		names.learnCase(e.Subjects["case"])
	}
	for i := range v.Events {
		if id := v.Events[i].Actor.UserID; id != "" {
			v.Events[i].Who = names.person(id)
		} else {
			v.Events[i].Who = x.t("audit.system")
		}
	}
	if next != "" {
		f := v.F
		v.Next = q("/audit/events", "seal", f.Seal, "department", f.Department, "case", f.Case, "person", f.Person, "action", f.Action, "from", f.From, "to", f.To, "after", next)
	}
	x.render(http.StatusOK, "audit_events", v)
	return nil
}

// auditCheckpoint is the newest checkpoint as GET /api/v1/audit/checkpoint answers.
type auditCheckpoint struct {
	Origin      string    `json:"origin"`
	Size        int64     `json:"size"`
	Note        string    `json:"note"`
	CreatedAt   time.Time `json:"created_at"`
	RootHash    string    `json:"root_hash"`
	VerifierKey string    `json:"verifier_key"`
}

// publicVerifyUpload reads the PDF a verification form posted (its pdf part) and has the
// public verification check it. A page to show instead of a result, for a missing or too
// large file or a problem the API answered, is told by *file, *msg and *pr and a status to
// render it with; otherwise the result.
func publicVerifyUpload(x *rc, file, msg *string, pr **problem) (*seal.PublicVerification, int, error) {
	x.r.Body = http.MaxBytesReader(x.w, x.r.Body, auditVerifyMax+1<<20)
	perr := x.r.ParseMultipartForm(8 << 20)
	var data []byte
	if perr == nil && x.r.MultipartForm != nil {
		if fhs := x.r.MultipartForm.File["pdf"]; len(fhs) > 0 && fhs[0].Size > 0 {
			*file = fhs[0].Filename
			if fhs[0].Size > auditVerifyMax {
				*msg = x.t("audit.verify.toolarge", auditVerifyMax>>20)
			} else if f, err := fhs[0].Open(); err == nil {
				data, _ = io.ReadAll(f)
				f.Close()
			}
		}
	}
	var mbe *http.MaxBytesError
	switch {
	case errors.As(perr, &mbe):
		*msg = x.t("audit.verify.toolarge", auditVerifyMax>>20)
	case *msg != "":
	case data == nil:
		*msg = x.t("audit.verify.nofile")
	}
	if *msg != "" {
		return nil, http.StatusBadRequest, nil
	}
	resp, err := x.call(apiRequest{Method: http.MethodPost, Path: q("/api/v1/public/verify", "name", *file), Body: bytes.NewReader(data),
		ContentType: "application/pdf", NoAuth: true})
	if p := pageProblem(err); p != nil {
		*pr = p
		return nil, p.Status, nil
	} else if err != nil {
		return nil, 0, err
	}
	var res seal.PublicVerification
	if err := json.Unmarshal(resp.Body, &res); err != nil {
		return nil, 0, err
	}
	return &res, 0, nil
}

// auditVerification is GET /api/v1/audit/verify's answer.
type auditVerification struct {
	OK          bool   `json:"ok"`
	Events      int64  `json:"events"`
	Checkpoints int    `json:"checkpoints"`
	RootHash    string `json:"root_hash"`
	Damage      []struct {
		Kind   string `json:"kind"`
		Seq    int64  `json:"seq"`
		Detail string `json:"detail"`
	} `json:"damage"`
	CheckedAt time.Time `json:"checked_at"`
}

type auditOverviewView struct {
	Checkpoint *auditCheckpoint
	Verify     *auditVerification
	Problem    *problem
}

func auditOverview(x *rc) error {
	var v auditOverviewView
	var cp auditCheckpoint
	err := x.apiJSON(http.MethodGet, "/api/v1/audit/checkpoint", nil, &cp)
	if pr := pageProblem(err); pr != nil && pr.Status != http.StatusNotFound {
		v.Problem = pr
	} else if err == nil {
		v.Checkpoint = &cp
	} else if pr == nil {
		return err
	}
	var ver auditVerification
	if err := x.apiJSON(http.MethodGet, "/api/v1/audit/verify", nil, &ver); err == nil {
		v.Verify = &ver
	} else if pr := pageProblem(err); pr != nil {
		v.Problem = pr
	} else {
		return err
	}
	x.render(http.StatusOK, "audit_overview", v)
	return nil
}

func auditIssueCheckpoint(x *rc) error {
	if err := x.apiJSON(http.MethodPost, "/api/v1/audit/checkpoint", nil, nil); err != nil {
		return err
	}
	return x.redirect("/audit", "audit.checkpoint")
}

// auditExport streams the API's JSON Lines export as a download.
func auditExport(x *rc) error {
	resp, err := x.call(apiRequest{Method: http.MethodGet, Path: q("/api/v1/audit/export", "from", x.r.URL.Query().Get("from"), "to", x.r.URL.Query().Get("to"))})
	if err != nil {
		return err
	}
	return auditSend(x, resp, `attachment; filename="audit-events.jsonl"`)
}

// The reuse report: the rate by item and month, for the months chosen.

type auditReuseView struct {
	Months  []string // YYYY-MM, oldest first
	Until   string
	Count   int
	Items   []auditReuseItem
	Chart   auditChart
	Problem *problem
	CSV     string
}

type auditReuseItem struct {
	Code, Name string
	Color      string
	// Cells by month: nil where no case was opened.
	Cells []*auditReuseCell
}

type auditReuseCell struct {
	Cases, Required, Reused, Submitted int
	Rate                               float64
}

func auditMonthStart(s string) (time.Time, bool) {
	t, err := time.ParseInLocation("2006-01", s, cst)
	return t, err == nil
}

var auditPalette = []string{"#1f6feb", "#d1242f", "#1a7f37", "#9a6700", "#8250df", "#bf3989", "#0a7b83", "#57606a"}

func auditReuse(x *rc) error {
	v := auditReuseView{Until: x.r.URL.Query().Get("until"), Count: 6}
	now := time.Now().In(cst)
	end := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, cst)
	if t, ok := auditMonthStart(v.Until); ok {
		end = t
	} else if v.Until != "" {
		v.Problem = &problem{Status: http.StatusBadRequest, Title: x.t("audit.reuse.badmonth")}
	}
	if n, err := strconv.Atoi(x.r.URL.Query().Get("months")); err == nil && n >= 1 && n <= 24 {
		v.Count = n
	}
	v.Until = end.Format("2006-01")
	byCode := map[string]*auditReuseItem{}
	var order []string
	for i := v.Count - 1; i >= 0; i-- {
		m := end.AddDate(0, -i, 0)
		v.Months = append(v.Months, m.Format("2006-01"))
		var out struct {
			Items []reuse.ReportRow `json:"items"`
		}
		err := x.apiJSON(http.MethodGet, q("/api/v1/reports/reuse", "from", m.Format(time.DateOnly), "to", m.AddDate(0, 1, 0).Format(time.DateOnly)), nil, &out)
		if pr := pageProblem(err); pr != nil {
			v.Problem = pr
			break
		} else if err != nil {
			return err
		}
		col := len(v.Months) - 1
		for _, r := range out.Items {
			it := byCode[r.ItemCode]
			if it == nil {
				it = &auditReuseItem{Code: r.ItemCode, Name: r.ItemName}
				byCode[r.ItemCode] = it
				order = append(order, r.ItemCode)
			}
			for len(it.Cells) <= col {
				it.Cells = append(it.Cells, nil)
			}
			c := it.Cells[col]
			if c == nil {
				c = &auditReuseCell{}
				it.Cells[col] = c
			}
			// One row per item and department: summed over the departments.
			c.Cases += r.Cases
			c.Required += r.Required
			c.Reused += r.Reused
			c.Submitted += r.Submitted
			if c.Required > 0 {
				c.Rate = float64(c.Reused) / float64(c.Required)
			}
		}
	}
	sort.Strings(order)
	for i, code := range order {
		it := byCode[code]
		for len(it.Cells) < len(v.Months) {
			it.Cells = append(it.Cells, nil)
		}
		it.Color = auditPalette[i%len(auditPalette)]
		v.Items = append(v.Items, *it)
	}
	v.Chart = auditDrawChart(x, v.Months, v.Items)
	v.CSV = q("/reports/reuse.csv", "from", v.Months[0]+"-01", "to", end.AddDate(0, 1, 0).Format(time.DateOnly))
	x.render(http.StatusOK, "audit_reuse", v)
	return nil
}

// auditChart is the reuse chart's geometry, drawn by the template as inline SVG.
type auditChart struct {
	W, H                   int
	Left, Right, Top, Base float64
	YMid                   float64
	YTicks                 []auditTick
	XTicks                 []auditTick
	Series                 []auditSeries
	XLabel, YLabel         string
}

type auditTick struct {
	At    float64
	Label string
}

type auditSeries struct {
	Name, Color string
	Points      string // polyline points
	Dots        []auditDot
}

type auditDot struct {
	X, Y  float64
	Title string
}

func auditDrawChart(x *rc, months []string, items []auditReuseItem) auditChart {
	c := auditChart{W: 760, H: 300, Left: 64, Right: 740, Top: 20, Base: 250,
		XLabel: x.t("audit.reuse.month"), YLabel: x.t("audit.reuse.rate")}
	c.YMid = (c.Top + c.Base) / 2
	for i := 0; i <= 4; i++ {
		c.YTicks = append(c.YTicks, auditTick{At: c.Base - (c.Base-c.Top)*float64(i)/4, Label: strconv.Itoa(i*25) + "%"})
	}
	xAt := func(i int) float64 {
		if len(months) == 1 {
			return (c.Left + c.Right) / 2
		}
		return c.Left + 20 + (c.Right-c.Left-40)*float64(i)/float64(len(months)-1)
	}
	for i, m := range months {
		c.XTicks = append(c.XTicks, auditTick{At: xAt(i), Label: m})
	}
	for _, it := range items {
		s := auditSeries{Name: it.Code + " " + it.Name, Color: it.Color}
		var pts []string
		for i, cell := range it.Cells {
			if cell == nil || cell.Required == 0 {
				continue
			}
			px, py := xAt(i), c.Base-(c.Base-c.Top)*cell.Rate
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", px, py))
			s.Dots = append(s.Dots, auditDot{X: px, Y: py, Title: fmt.Sprintf("%s %s: %.1f%% (%d/%d)", it.Code, months[i], cell.Rate*100, cell.Reused, cell.Required)})
		}
		s.Points = strings.Join(pts, " ")
		c.Series = append(c.Series, s)
	}
	return c
}

func auditReuseCSV(x *rc) error {
	resp, err := x.call(apiRequest{Method: http.MethodGet, Path: q("/api/v1/reports/reuse", "from", x.r.URL.Query().Get("from"), "to", x.r.URL.Query().Get("to"), "format", "csv")})
	if err != nil {
		return err
	}
	return auditSend(x, resp, `attachment; filename="reuse-report.csv"`)
}

// The public verification page.

type auditVerifyView struct {
	File    string
	Result  *seal.PublicVerification
	Problem *problem
	Error   string
	MaxMiB  int
}

// auditVerifyMax is the largest PDF the page takes.
const auditVerifyMax = 50 << 20

func auditVerifyForm(x *rc) error {
	x.render(http.StatusOK, "audit_verify", auditVerifyView{MaxMiB: auditVerifyMax >> 20})
	return nil
}

func auditVerifyPost(x *rc) error {
	v := auditVerifyView{MaxMiB: auditVerifyMax >> 20}
	res, status, err := publicVerifyUpload(x, &v.File, &v.Error, &v.Problem)
	if status != 0 {
		x.render(status, "audit_verify", v)
	}
	if res == nil {
		return err
	}
	v.Result = res
	x.render(http.StatusOK, "audit_verify", v)
	return nil
}
