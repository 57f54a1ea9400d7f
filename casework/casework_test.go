package casework_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"sealvault/audit"
	"sealvault/casework"
	"sealvault/internal/dbtest"
	"sealvault/internal/identity"
	"sealvault/reuse"
	"sealvault/seal"
	"sealvault/seal/keys"
	"sealvault/vault"
)

var cst = time.FixedZone("CST", 8*3600)

// world is a district center C with window clerk and supervisor, the market regulator D under
// it with its case staff, another center C2 with a clerk, and a catalog of one instant and
// one promised item of D; D delegates the instant item whole to C and the promised one for
// receiving and delivering only.
type world struct {
	pool                  *pgxpool.Pool
	cases                 *casework.Service
	seals                 *seal.Service
	center, dept, center2 identity.Department
	clerk, supervisor     identity.User
	staff, clerk2, admin  identity.User
	now                   time.Time
	seal                  uuid.UUID
}

const holder = "11010519491231002X"

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx := t.Context()
	w := &world{pool: dbtest.Pool(t), now: time.Date(2026, 9, 30, 10, 0, 0, 0, cst)}
	hkeys, err := vault.ParseHolderKeys(vault.GenerateHolderKeys())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	alog, err := audit.Open(w.pool, audit.Config{Origin: "test.sealvault/audit", KeyDir: dir + "/keys", CheckpointDir: dir + "/cp"})
	if err != nil {
		t.Fatal(err)
	}
	clock := func() time.Time { return w.now }
	w.cases = &casework.Service{DB: w.pool, Reuse: &reuse.Service{DB: w.pool, Keys: hkeys, Now: clock}, Audit: alog, Now: clock}
	kek, err := keys.ParseKEK(keys.GenerateKEK())
	if err != nil {
		t.Fatal(err)
	}
	custody := keys.NewSoftCustody(kek)
	root, err := seal.OpenCA(ctx, w.pool, custody, "测试电子印章根证书", w.now)
	if err != nil {
		t.Fatal(err)
	}
	w.seals = &seal.Service{DB: w.pool, Now: clock, Cases: casework.Sealing{S: w.cases}, Custody: custody, CA: root}
	dep := func(code, name, kind string, parent *uuid.UUID) identity.Department {
		d, err := identity.CreateDepartment(ctx, w.pool, identity.NewDepartment{Code: code, Name: name, Kind: kind, Level: "district", ParentID: parent})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	w.center = dep("C", "天河区政务服务中心", identity.KindCenter, nil)
	w.dept = dep("D", "天河区市场监督管理局", identity.KindDepartment, &w.center.ID)
	w.center2 = dep("C2", "越秀区政务服务中心", identity.KindCenter, nil)
	user := func(name string, d identity.Department, roles ...identity.Role) identity.User {
		u, err := identity.CreateUser(ctx, w.pool, identity.NewUser{Username: name, DisplayName: name, DepartmentID: d.ID,
			Roles: roles, Password: "correct horse battery"})
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	w.clerk = user("clerk", w.center, identity.RoleWindow)
	w.supervisor = user("supervisor", w.center, identity.RoleSupervisor)
	w.staff = user("staff", w.dept, identity.RoleSealer)
	w.clerk2 = user("clerk2", w.center2, identity.RoleWindow)
	w.admin = user("admin", w.center, identity.RoleAdmin)
	err = pgx.BeginFunc(ctx, w.pool, func(tx pgx.Tx) error {
		for _, mt := range []string{"FORM", "PLAN", "EXTRA"} {
			if err := reuse.PutType(ctx, tx, reuse.MaterialType{Code: mt, Name: "材料" + mt, HolderKind: "person", Validity: reuse.ValidLongTerm}); err != nil {
				return err
			}
		}
		ten, zero := 5, 0
		for _, it := range []reuse.ServiceItem{
			{Code: "INSTANT-1", Name: "即办事项", DepartmentID: w.dept.ID, Kind: reuse.ItemInstant, TimeLimitDays: &zero,
				Materials: []reuse.ItemMaterial{{TypeCode: "FORM", Required: false}}},
			{Code: "PROMISED-1", Name: "承诺事项", DepartmentID: w.dept.ID, Kind: reuse.ItemPromised, TimeLimitDays: &ten,
				Materials: []reuse.ItemMaterial{{TypeCode: "FORM", Required: false}}},
			{Code: "NEEDS-2", Name: "需两份材料的事项", DepartmentID: w.dept.ID, Kind: reuse.ItemPromised,
				Materials: []reuse.ItemMaterial{{TypeCode: "FORM", Required: true}, {TypeCode: "PLAN", Required: true}}},
		} {
			if err := reuse.PutItem(ctx, tx, it); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sl, err := w.seals.CreateSeal(ctx, w.act(w.admin), seal.NewSeal{Name: "天河区市场监督管理局行政审批专用章", Type: seal.TypeBusiness,
		DepartmentID: w.dept.ID, SupervisorID: w.staff.ID, CustodianIDs: []uuid.UUID{w.staff.ID}, ValidFrom: "2026-01-01", ValidUntil: "2027-12-31"})
	if err != nil {
		t.Fatal(err)
	}
	w.seal = sl.ID
	for _, l := range []struct {
		items  []string
		powers []string
	}{{[]string{"INSTANT-1"}, []string{"receive", "decide", "seal", "deliver"}}, {[]string{"PROMISED-1", "NEEDS-2"}, []string{"receive", "deliver"}}} {
		if _, err := w.letter(t, l.items, l.powers...); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

func (w *world) letter(t *testing.T, items []string, powers ...string) (seal.Authorization, error) {
	t.Helper()
	return w.seals.CreateAuthorization(t.Context(), w.act(w.admin), seal.NewAuthorization{GrantorDepartmentID: w.dept.ID,
		GranteeDepartmentID: w.center.ID, Items: items, Powers: powers, SealIDs: []uuid.UUID{w.seal}, ValidFrom: "2026-01-01", ValidUntil: "2027-12-31"})
}

func (w *world) act(u identity.User) casework.Actor {
	return casework.Actor{User: u, RequestID: "test"}
}

func (w *world) open(t *testing.T, by identity.User, item string) casework.Case {
	t.Helper()
	c, err := w.cases.Open(t.Context(), w.act(by), reuse.NewCase{ItemCode: item, HolderKind: vault.HolderIDCard, HolderNumber: holder})
	if err != nil {
		t.Fatal(err)
	}
	if c.State != casework.Received {
		t.Fatalf("new case is %s", c.State)
	}
	return c
}

// refusedBy fails unless err is a refusal by rule whose details mention every one of mentions.
func refusedBy(t *testing.T, err error, rule string, mentions ...string) {
	t.Helper()
	var r *casework.Refusal
	var sr *seal.Refusal
	switch {
	case errors.As(err, &r):
		if r.Rule != rule {
			t.Fatalf("refused by %s (%s), want %s", r.Rule, r.DetailZh, rule)
		}
		for _, m := range mentions {
			if !strings.Contains(r.DetailZh, m) && !strings.Contains(r.Detail, m) {
				t.Errorf("refusal %q does not mention %q", r.DetailZh, m)
			}
		}
	case errors.As(err, &sr):
		if sr.Rule != rule {
			t.Fatalf("refused by %s (%s), want %s", sr.Rule, sr.DetailZh, rule)
		}
	default:
		t.Fatalf("got %v, want a refusal by %s", err, rule)
	}
}

func (w *world) uploadDoc(t *testing.T, by identity.User, digest string) {
	t.Helper()
	if _, err := w.pool.Exec(t.Context(), `INSERT INTO seal_documents (digest, department_id, name, size, page_count, uploaded_by)
		VALUES ($1, $2, 'licence.pdf', 100, 1, $3)`, digest, by.DepartmentID, by.ID); err != nil {
		t.Fatal(err)
	}
}

const doc = "aa00000000000000000000000000000000000000000000000000000000000001"

// TestInstantCaseAtTheFrontDesk: the window clerk accepts, decides and may seal an instant
// item under the department's letter; the seal regime's case check passes only once the case
// is decided and only for its result document.
func TestInstantCaseAtTheFrontDesk(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	c := w.open(t, w.clerk, "INSTANT-1")
	sealing := casework.Sealing{S: w.cases}
	_, err := sealing.Sealable(ctx, w.pool, c.ID, w.clerk, doc)
	refusedBy(t, err, "case-not-decided", c.CaseNo)

	c, err = w.cases.Accept(ctx, w.act(w.clerk), c.ID)
	if err != nil || c.State != casework.Accepted || c.DueOn == nil || *c.DueOn != "2026-09-30" {
		t.Fatalf("accept: %v %+v", err, c)
	}
	w.uploadDoc(t, w.clerk, doc)
	c, err = w.cases.Decide(ctx, w.act(w.clerk), c.ID, casework.Decision{Decision: casework.Approved, Text: "准予注销登记",
		Document: &casework.DocumentRef{Digest: doc}})
	if err != nil || c.State != casework.Decided || len(c.Documents) != 1 {
		t.Fatalf("decide: %v %+v", err, c)
	}
	facts, err := sealing.Sealable(ctx, w.pool, c.ID, w.clerk, doc)
	if err != nil || facts.ItemCode != "INSTANT-1" || facts.CaseNo != c.CaseNo {
		t.Fatalf("sealable: %v %+v", err, facts)
	}
	// Another document than the case's result.
	_, err = sealing.Sealable(ctx, w.pool, c.ID, w.clerk, strings.Replace(doc, "aa", "bb", 1))
	refusedBy(t, err, "not-case-document", c.CaseNo)
	// A case that does not exist, and a clerk of another center.
	if _, err := sealing.Sealable(ctx, w.pool, uuid.New(), w.clerk, doc); !errors.Is(err, seal.ErrNotFound) {
		t.Errorf("no such case: %v", err)
	}
	if _, err := sealing.Sealable(ctx, w.pool, c.ID, w.clerk2, doc); !errors.Is(err, seal.ErrNotFound) {
		t.Errorf("another center's clerk: %v", err)
	}
}

// TestSealRequestForACaseOfAnotherItem: a decided case of an item the letter does not
// delegate the seal for cannot be sealed at the front desk.
func TestSealRequestForACaseOfAnotherItem(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	c := w.open(t, w.clerk, "PROMISED-1")
	if _, err := w.cases.Accept(ctx, w.act(w.clerk), c.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := w.cases.Forward(ctx, w.act(w.clerk), c.ID, ""); err != nil {
		t.Fatal(err)
	}
	w.uploadDoc(t, w.staff, doc)
	w.uploadDoc(t, w.clerk, doc)
	if _, err := w.cases.Decide(ctx, w.act(w.staff), c.ID, casework.Decision{Decision: casework.Approved, Text: "准予延续",
		Document: &casework.DocumentRef{Digest: doc}}); err != nil {
		t.Fatal(err)
	}
	_, err := casework.Sealing{S: w.cases}.Sealable(ctx, w.pool, c.ID, w.clerk, doc)
	refusedBy(t, err, "separation-of-duties", "PROMISED-1")
	// The owning department seals it.
	if _, err := (casework.Sealing{S: w.cases}).Sealable(ctx, w.pool, c.ID, w.staff, doc); err != nil {
		t.Errorf("the department's own sealer: %v", err)
	}
}

// TestWindowCannotDecidePromisedItem: separation of receiving and deciding (受审分离): the
// clerk forwards, the department decides; a letter granting decide for a promised item is
// refused when it is recorded.
func TestWindowCannotDecidePromisedItem(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	c := w.open(t, w.clerk, "PROMISED-1")
	if _, err := w.cases.Accept(ctx, w.act(w.clerk), c.ID); err != nil {
		t.Fatal(err)
	}
	_, err := w.cases.Decide(ctx, w.act(w.staff), c.ID, casework.Decision{Decision: casework.Approved, Text: "准予"})
	refusedBy(t, err, "case-state", "转报")
	c, err = w.cases.Forward(ctx, w.act(w.clerk), c.ID, "请审批")
	if err != nil || c.State != casework.Forwarded {
		t.Fatalf("forward: %v", err)
	}
	_, err = w.cases.Decide(ctx, w.act(w.clerk), c.ID, casework.Decision{Decision: casework.Approved, Text: "准予"})
	refusedBy(t, err, "separation-of-duties", "PROMISED-1", "天河区市场监督管理局")
	// The department's inbox has it; the department decides.
	p, err := w.cases.List(ctx, w.act(w.staff), casework.Filter{Inbox: true})
	if err != nil || len(p.Cases) != 1 || p.Cases[0].ID != c.ID {
		t.Fatalf("inbox: %v %+v", err, p)
	}
	if c, err = w.cases.Decide(ctx, w.act(w.staff), c.ID, casework.Decision{Decision: casework.Denied, Text: "不予延续：经营场所已变更"}); err != nil || c.State != casework.Decided {
		t.Fatalf("department decides: %v", err)
	}
	// The refusals are on the audit trail.
	var denied int
	w.pool.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE action = 'case.denied' AND case_id = $1`, c.CaseNo).Scan(&denied)
	if denied != 2 {
		t.Errorf("%d case.denied events, want 2", denied)
	}
	// A letter delegating the decision of a promised item is refused when recorded.
	_, err = w.letter(t, []string{"PROMISED-1"}, "receive", "decide")
	refusedBy(t, err, "separation-of-duties", "PROMISED-1")
	if _, err := w.letter(t, []string{"INSTANT-1"}, "decide", "seal"); err != nil {
		t.Errorf("an instant item's letter: %v", err)
	}
}

// TestSecondNoticeAddingAMaterialRefused: one-time notice means once; a supervisor may
// override with a written reason, which is audited.
func TestSecondNoticeAddingAMaterialRefused(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	c := w.open(t, w.clerk, "NEEDS-2")
	_, err := w.cases.Accept(ctx, w.act(w.clerk), c.ID)
	refusedBy(t, err, "materials-missing", "材料FORM", "材料PLAN")
	n1, err := w.cases.IssueNotice(ctx, w.act(w.clerk), c.ID, "")
	if err != nil || n1.No != 1 || len(n1.Missing) != 2 {
		t.Fatalf("first notice: %v %+v", err, n1)
	}
	// The same list again is allowed (the applicant lost it): notice 2.
	if n2, err := w.cases.IssueNotice(ctx, w.act(w.clerk), c.ID, ""); err != nil || n2.No != 2 {
		t.Fatalf("second notice: %v", err)
	}
	// The catalog now asks for one more material: a notice listing it is refused.
	err = pgx.BeginFunc(ctx, w.pool, func(tx pgx.Tx) error {
		return reuse.PutItem(ctx, tx, reuse.ServiceItem{Code: "NEEDS-2", Name: "需三份材料的事项", DepartmentID: w.dept.ID,
			Materials: []reuse.ItemMaterial{{TypeCode: "FORM", Required: true}, {TypeCode: "PLAN", Required: true}, {TypeCode: "EXTRA", Required: true}}})
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.cases.IssueNotice(ctx, w.act(w.clerk), c.ID, "")
	refusedBy(t, err, "notice-not-once", "材料EXTRA")
	_, err = w.cases.IssueNotice(ctx, w.act(w.clerk), c.ID, "经营范围调整，需补充材料")
	refusedBy(t, err, "override-needs-supervisor")
	n3, err := w.cases.IssueNotice(ctx, w.act(w.supervisor), c.ID, "经营范围调整，需补充材料")
	if err != nil || n3.No != 3 || len(n3.Missing) != 3 || n3.OverrideReason == nil {
		t.Fatalf("overridden notice: %v %+v", err, n3)
	}
	var body string
	if err := w.pool.QueryRow(ctx, `SELECT body FROM audit_events WHERE action = 'case.notice.override' AND case_id = $1`, c.CaseNo).Scan(&body); err != nil {
		t.Fatalf("no override event: %v", err)
	}
	if !strings.Contains(body, "经营范围调整") || !strings.Contains(body, "材料EXTRA") {
		t.Errorf("override event %s", body)
	}
	all, err := w.cases.Notices(ctx, w.act(w.clerk), c.ID)
	if err != nil || len(all) != 3 || all[0].No != 1 || len(all[0].Missing) != 2 {
		t.Fatalf("kept notices: %v %+v", err, all)
	}
	got, err := w.cases.Get(ctx, w.act(w.clerk), c.ID)
	if err != nil || got.State != casework.Incomplete {
		t.Fatalf("case after notices: %v %s", err, got.State)
	}
}

// TestDueDateAcrossNationalDay: accepted on 2026-09-30 with 5 working days: 1-7 October are
// the National Day holiday and Saturday 10 October a working day (调休), so the case is due
// on Tuesday 13 October; on Friday 9 October three working days are left (10, 12, 13), on 14 October it is overdue.
func TestDueDateAcrossNationalDay(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	c := w.open(t, w.clerk, "PROMISED-1")
	c, err := w.cases.Accept(ctx, w.act(w.clerk), c.ID)
	if err != nil || c.DueOn == nil || *c.DueOn != "2026-10-13" || c.DueProvisional {
		t.Fatalf("accept: %v due %v", err, c.DueOn)
	}
	w.now = time.Date(2026, 10, 9, 9, 0, 0, 0, cst)
	c, _ = w.cases.Get(ctx, w.act(w.clerk), c.ID)
	if c.WorkingDaysLeft == nil || *c.WorkingDaysLeft != 3 || c.Overdue {
		t.Errorf("on 9 October: %v left, overdue %v", c.WorkingDaysLeft, c.Overdue)
	}
	w.now = time.Date(2026, 10, 14, 9, 0, 0, 0, cst)
	c, _ = w.cases.Get(ctx, w.act(w.clerk), c.ID)
	if !c.Overdue || *c.WorkingDaysLeft != -1 {
		t.Errorf("on 14 October: %v left, overdue %v", *c.WorkingDaysLeft, c.Overdue)
	}
	groups, err := w.cases.DueReport(ctx, w.act(w.supervisor), 3)
	if err != nil || len(groups) != 1 || len(groups[0].Overdue) != 1 || groups[0].Department != "天河区市场监督管理局" {
		t.Fatalf("due report: %v %+v", err, groups)
	}
}

func TestCalendar(t *testing.T) {
	cal := casework.DefaultCalendar()
	d := func(s string) time.Time { t, _ := time.ParseInLocation(time.DateOnly, s, cst); return t }
	for _, c := range []struct {
		from string
		n    int
		want string
	}{
		{"2026-09-30", 5, "2026-10-13"}, // National Day, then the adjusted Saturday 10 October
		{"2026-09-30", 1, "2026-10-08"},
		{"2026-09-18", 2, "2026-09-21"}, // Sunday 20 September is a working day: Fri 18 → Sun 20, Mon 21
		{"2026-02-13", 1, "2026-02-14"}, // Saturday 14 February works before the Spring Festival
		{"2026-02-14", 1, "2026-02-24"}, // 15-23 February off
		{"2026-11-20", 0, "2026-11-20"},
	} {
		got, prov := cal.AddWorkingDays(d(c.from), c.n)
		if got.Format(time.DateOnly) != c.want || prov {
			t.Errorf("%s + %d working days = %s (provisional %v), want %s", c.from, c.n, got.Format(time.DateOnly), prov, c.want)
		}
	}
	// Counting into a year the calendar does not cover is marked provisional.
	if _, prov := cal.AddWorkingDays(d("2026-12-28"), 5); !prov {
		t.Error("a due date in 2027 is not marked provisional")
	}
	for _, bad := range []string{"years: {2026: {holidays: [2026-13-01]}}", "years: {2026: {holidays: [2027-01-01]}}",
		"years: {2026: {holidays: [2026-10-01], workdays: [2026-10-01]}}", "years: {}", "no"} {
		if _, err := casework.ParseCalendar([]byte(bad)); err == nil {
			t.Errorf("calendar %q accepted", bad)
		}
	}
}

// TestConcurrentAccepts: of several simultaneous acceptances of one case exactly one moves
// it; the others are refused by its state.
func TestConcurrentAccepts(t *testing.T) {
	w := newWorld(t)
	c := w.open(t, w.clerk, "INSTANT-1")
	const n = 6
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = w.cases.Accept(t.Context(), w.act(w.clerk), c.ID)
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		var r *casework.Refusal
		switch {
		case err == nil:
			ok++
		case errors.As(err, &r) && r.Rule == "case-state":
		default:
			t.Errorf("unexpected: %v", err)
		}
	}
	var transitions int
	w.pool.QueryRow(t.Context(), `SELECT count(*) FROM case_transitions WHERE case_id = $1 AND to_state = 'accepted'`, c.ID).Scan(&transitions)
	if ok != 1 || transitions != 1 {
		t.Errorf("%d acceptances succeeded, %d transitions recorded; want 1 and 1", ok, transitions)
	}
}

// TestSealableAndSealedInTheRecordingTransaction: in the transaction that records a use, the
// case check locks the case and still refuses another document; Sealed files each output as
// a sealed document of the case and moves the case to sealed once, after which a further
// copy may be sealed from an output. A department without a letter is refused with the
// owning department named.
func TestSealableAndSealedInTheRecordingTransaction(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	c := w.open(t, w.clerk, "INSTANT-1")
	if _, err := w.cases.Accept(ctx, w.act(w.clerk), c.ID); err != nil {
		t.Fatal(err)
	}
	w.uploadDoc(t, w.clerk, doc)
	if _, err := w.cases.Decide(ctx, w.act(w.clerk), c.ID, casework.Decision{Decision: casework.Approved, Text: "准予",
		Document: &casework.DocumentRef{Digest: doc}}); err != nil {
		t.Fatal(err)
	}
	sealing := casework.Sealing{S: w.cases}
	out1 := strings.Replace(doc, "aa", "c1", 1)
	out2 := strings.Replace(doc, "aa", "c2", 1)
	err := pgx.BeginFunc(ctx, w.pool, func(tx pgx.Tx) error {
		if _, err := sealing.Sealable(ctx, tx, c.ID, w.clerk, doc); err != nil {
			return err
		}
		if _, err := sealing.Sealable(ctx, tx, c.ID, w.clerk, out1); err == nil {
			t.Error("an output not yet filed is sealable")
		} else {
			refusedBy(t, err, "not-case-document", c.CaseNo)
		}
		if err := sealing.Sealed(ctx, tx, w.act(w.clerk), c.ID, "U-1", out1); err != nil {
			return err
		}
		return sealing.Sealed(ctx, tx, w.act(w.clerk), c.ID, "U-2", out2)
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := w.cases.Get(ctx, w.act(w.clerk), c.ID)
	if err != nil || got.State != casework.Sealed {
		t.Fatalf("after Sealed: %v %+v", err, got)
	}
	kinds := map[string]string{}
	for _, d := range got.Documents {
		kinds[d.Digest] = d.Kind + " " + d.Name
	}
	if kinds[out1] != "sealed U-1.pdf" || kinds[out2] != "sealed U-2.pdf" || len(got.Documents) != 3 {
		t.Errorf("documents: %v", kinds)
	}
	var moves int
	if err := w.pool.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE action = 'case.sealed' AND case_id = $1`, c.CaseNo).Scan(&moves); err != nil || moves != 1 {
		t.Errorf("%d case.sealed events (%v), want 1", moves, err)
	}
	if _, err := sealing.Sealable(ctx, w.pool, c.ID, w.clerk, out1); err != nil {
		t.Errorf("a further copy from an output: %v", err)
	}

	// Without the letter, the clerk holds no seal power; the refusal names the owner.
	var letter uuid.UUID
	if err := w.pool.QueryRow(ctx, `SELECT id FROM authorizations WHERE 'INSTANT-1' = ANY(items)`).Scan(&letter); err != nil {
		t.Fatal(err)
	}
	if _, err := w.seals.RevokeAuthorization(ctx, w.act(w.admin), letter, "撤销委托"); err != nil {
		t.Fatal(err)
	}
	_, err = sealing.Sealable(ctx, w.pool, c.ID, w.clerk, doc)
	refusedBy(t, err, "no-power", "天河区市场监督管理局", "INSTANT-1")
}

// TestSealingLocksTheCase: in the recording transactions, a case still to move to sealed is
// locked exclusively, so two first uses take turns and the case moves once; a case sealed
// already is locked shared, so further copies are recorded side by side, while a change of
// the case (its delivery) waits for them.
func TestSealingLocksTheCase(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	c := w.open(t, w.clerk, "INSTANT-1")
	if _, err := w.cases.Accept(ctx, w.act(w.clerk), c.ID); err != nil {
		t.Fatal(err)
	}
	w.uploadDoc(t, w.clerk, doc)
	if _, err := w.cases.Decide(ctx, w.act(w.clerk), c.ID, casework.Decision{Decision: casework.Approved, Text: "准予",
		Document: &casework.DocumentRef{Digest: doc}}); err != nil {
		t.Fatal(err)
	}
	sealing := casework.Sealing{S: w.cases}
	begin := func() pgx.Tx {
		t.Helper()
		tx, err := w.pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tx.Rollback(ctx) })
		return tx
	}
	// returns runs f in a goroutine and reports whether it returned within d.
	type result struct{ err error }
	start := func(f func() error) chan result {
		done := make(chan result, 1)
		go func() { done <- result{f()} }()
		return done
	}
	within := func(done chan result, d time.Duration) (error, bool) {
		select {
		case r := <-done:
			return r.err, true
		case <-time.After(d):
			return nil, false
		}
	}
	out := func(n int) string { return strings.Replace(doc, "aa", fmt.Sprintf("%02d", 10+n), 1) }

	// Two first uses: the second waits for the first to commit.
	a, b := begin(), begin()
	if _, err := sealing.Sealable(ctx, a, c.ID, w.clerk, doc); err != nil {
		t.Fatal(err)
	}
	second := start(func() error {
		if _, err := sealing.Sealable(ctx, b, c.ID, w.clerk, doc); err != nil {
			return err
		}
		return sealing.Sealed(ctx, b, w.act(w.clerk), c.ID, "U-2", out(2))
	})
	if _, done := within(second, 300*time.Millisecond); done {
		t.Fatal("a second first use did not wait for the first")
	}
	if err := sealing.Sealed(ctx, a, w.act(w.clerk), c.ID, "U-1", out(1)); err != nil {
		t.Fatal(err)
	}
	if err := a.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err, done := within(second, 10*time.Second); !done || err != nil {
		t.Fatalf("the second first use after the first committed: done %t, %v", done, err)
	}
	if err := b.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	var moves int
	if err := w.pool.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE action = 'case.sealed' AND case_id = $1`, c.CaseNo).Scan(&moves); err != nil || moves != 1 {
		t.Errorf("%d case.sealed events (%v), want 1", moves, err)
	}

	// Further copies of the sealed case: side by side; the delivery waits for both.
	a, b = begin(), begin()
	for i, tx := range []pgx.Tx{a, b} {
		done := start(func() error {
			if _, err := sealing.Sealable(ctx, tx, c.ID, w.clerk, doc); err != nil {
				return err
			}
			return sealing.Sealed(ctx, tx, w.act(w.clerk), c.ID, fmt.Sprintf("U-%d", 3+i), out(3+i))
		})
		if err, ok := within(done, 5*time.Second); !ok || err != nil {
			t.Fatalf("copy %d while the other is being recorded: done %t, %v", i+1, ok, err)
		}
	}
	delivered := start(func() error {
		_, err := w.cases.Deliver(ctx, w.act(w.clerk), c.ID, casework.DeliverCounter, "")
		return err
	})
	if _, done := within(delivered, 300*time.Millisecond); done {
		t.Fatal("the case was delivered while uses of it were being recorded")
	}
	for _, tx := range []pgx.Tx{a, b} {
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err, done := within(delivered, 10*time.Second); !done || err != nil {
		t.Fatalf("delivery after the uses committed: done %t, %v", done, err)
	}
	got, err := w.cases.Get(ctx, w.act(w.clerk), c.ID)
	if err != nil || got.State != casework.Delivered || len(got.Documents) != 5 {
		t.Errorf("after delivery: %v, state %s, %d documents (want delivered, 5)", err, got.State, len(got.Documents))
	}
}
