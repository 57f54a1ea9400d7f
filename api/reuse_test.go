package api

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sealvault/internal/identity"
	"sealvault/internal/testkit"
	"sealvault/reuse"
	"sealvault/vault"
)

// reuseWorld: a catalog of three material types and one item of department D1 (under the
// center C1) requiring all three; rules sharing ID cards and certificates within a center
// by reference (and ID cards by view); a second center C2 with a department D2 and a window
// user there.
type reuseWorld struct {
	b        *bundle
	win      string // window user of the center C1
	stranger string // window user of D2, under another center
}

func newReuseWorld(t *testing.T) *reuseWorld {
	b := setup(t)
	admin := b.token[identity.RoleAdmin]
	three := 3
	for _, ty := range []map[string]any{
		{"code": "ID-CARD", "name": "居民身份证", "holder_kind": "person", "validity": "until_expiry", "max_pages": 2, "shareable": true},
		{"code": "NO-CRIMINAL-RECORD", "name": "无犯罪记录证明", "holder_kind": "person", "validity": "fixed_period", "validity_months": three, "original_required": true, "shareable": true},
		{"code": "LEASE-CONTRACT", "name": "房屋租赁合同", "holder_kind": "person", "validity": "until_expiry"},
		{"code": "GRAY-SCAN", "name": "黑白扫描件", "holder_kind": "person", "validity": "long_term", "colour": "gray"},
		{"code": "HI-RES", "name": "高清扫描件", "holder_kind": "person", "validity": "long_term", "min_dpi": 300},
	} {
		must[reuse.MaterialType](t, b.do(t, http.MethodPost, "/api/v1/catalog/types", admin, ty), http.StatusOK)
	}
	must[reuse.ServiceItem](t, b.do(t, http.MethodPost, "/api/v1/catalog/items", admin, map[string]any{
		"code": "440106-HOUSE-002", "name": "住房租赁补贴申请", "department_code": "D1", "materials": []map[string]any{
			{"type_code": "ID-CARD", "required": true, "reuse_accepted": true},
			{"type_code": "NO-CRIMINAL-RECORD", "required": true, "reuse_accepted": true},
			{"type_code": "LEASE-CONTRACT", "required": true, "reuse_accepted": true},
		}}), http.StatusOK)
	for _, r := range []map[string]any{
		{"type_code": "ID-CARD", "scope": "center", "method": "reference", "within_validity": true},
		{"type_code": "ID-CARD", "scope": "center", "method": "view", "within_validity": true},
		{"type_code": "NO-CRIMINAL-RECORD", "scope": "center", "method": "reference", "within_validity": true, "original_required": true},
	} {
		must[reuse.Rule](t, b.do(t, http.MethodPost, "/api/v1/reuse-rules", admin, r), http.StatusCreated)
	}
	c2, err := identity.CreateDepartment(t.Context(), b.pool, identity.NewDepartment{Code: "C2", Name: "越秀区政务服务中心", Kind: identity.KindCenter, Level: "district"})
	if err != nil {
		t.Fatal(err)
	}
	d2, err := identity.CreateDepartment(t.Context(), b.pool, identity.NewDepartment{Code: "D2", Name: "越秀区住房和城乡建设局", Kind: identity.KindDepartment, Level: "district", ParentID: &c2.ID})
	if err != nil {
		t.Fatal(err)
	}
	u, err := identity.CreateUser(t.Context(), b.pool, identity.NewUser{Username: "d2-window", DisplayName: "越秀窗口", DepartmentID: d2.ID,
		Roles: []identity.Role{identity.RoleWindow}, Password: testPassword})
	if err != nil {
		t.Fatal(err)
	}
	w := &reuseWorld{b: b, win: b.token[identity.RoleWindow]}
	if w.stranger, _, err = b.tokens.Issue(u.ID); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *reuseWorld) ingest(t *testing.T, token, typeCode string, extra map[string]any) vault.Material {
	t.Helper()
	meta := idCardMeta()
	meta["type_code"], meta["title"] = typeCode, typeCode
	for k, v := range extra {
		meta[k] = v
	}
	rec := w.b.upload(t, token, "", meta, part{"pages", "scan.png", testkit.PageImage(t, "png", 300, 420, len(typeCode))})
	return must[vault.Material](t, rec, http.StatusCreated)
}

func entry(t *testing.T, c reuse.Case, typeCode string) reuse.Entry {
	t.Helper()
	for _, e := range c.Plan {
		if e.TypeCode == typeCode {
			return e
		}
	}
	t.Fatalf("no plan entry for %s in %+v", typeCode, c.Plan)
	return reuse.Entry{}
}

// TestReusePlanAndNotice is the issue's walk-through: a second case for the same applicant
// reuses the ID card captured for the first, refuses an expired certificate with its date,
// prints a one-time notice listing exactly the missing materials, and a user of an unrelated
// department cannot see the applicant's materials.
func TestReusePlanAndNotice(t *testing.T) {
	w := newReuseWorld(t)
	b := w.b
	newCase := func(token string) reuse.Case {
		return must[reuse.Case](t, b.do(t, http.MethodPost, "/api/v1/cases", token, map[string]any{
			"item_code": "440106-HOUSE-002", "holder_kind": "id_card", "holder_number": idNumber}), http.StatusCreated)
	}
	first := newCase(w.win)
	if e := entry(t, first, "ID-CARD"); e.Status != "must_submit" || e.Reason != "none on file" {
		t.Fatalf("first case, ID card: %+v", e)
	}
	// The clerk scans the ID card for the first case, and a certificate issued four months ago.
	card := w.ingest(t, w.win, "ID-CARD", nil)
	must[reuse.Case](t, b.do(t, http.MethodPost, "/api/v1/cases/"+first.ID.String()+"/materials", w.win,
		map[string]any{"type_code": "ID-CARD", "material_id": card.ID, "reuse": false}), http.StatusOK)
	issued := time.Now().AddDate(0, -4, 0)
	w.ingest(t, w.win, "NO-CRIMINAL-RECORD", map[string]any{"issued_on": issued.Format(time.DateOnly), "valid_until": nil})

	second := newCase(w.win)
	idEntry := entry(t, second, "ID-CARD")
	if idEntry.Status != "reusable" || idEntry.MaterialID == nil || *idEntry.MaterialID != card.ID || idEntry.RuleRef == "" {
		t.Fatalf("second case, ID card: %+v", idEntry)
	}
	expiredOn := issued.AddDate(0, 3, -1).Format(time.DateOnly)
	if e := entry(t, second, "NO-CRIMINAL-RECORD"); e.Status != "must_submit" || !strings.Contains(e.Reason, "expired on") ||
		!strings.Contains(e.ReasonZh, "过期") {
		t.Errorf("expired certificate: %+v (expected expiry around %s)", e, expiredOn)
	}
	if e := entry(t, second, "LEASE-CONTRACT"); e.Status != "must_submit" || e.Reason != "none on file" {
		t.Errorf("lease: %+v", e)
	}
	// Reuse is confirmed and audited.
	second = must[reuse.Case](t, b.do(t, http.MethodPost, "/api/v1/cases/"+second.ID.String()+"/materials", w.win,
		map[string]any{"type_code": "ID-CARD", "material_id": card.ID, "reuse": true}), http.StatusOK)
	if e := entry(t, second, "ID-CARD"); e.Status != "attached" {
		t.Errorf("after reuse: %+v", e)
	}
	var reuses int
	b.pool.QueryRow(t.Context(), `SELECT count(*) FROM audit_events WHERE action = 'material.reuse' AND case_id = $1`, second.CaseNo).Scan(&reuses)
	if reuses != 1 {
		t.Errorf("%d material.reuse events for %s, want 1", reuses, second.CaseNo)
	}

	// The one-time notice lists exactly the two missing materials, as JSON and as a PDF.
	n := must[reuse.NoticeData](t, b.do(t, http.MethodGet, "/api/v1/cases/"+second.ID.String()+"/notice", w.win, nil), http.StatusOK)
	if len(n.Missing) != 2 || n.Missing[0].Name != "无犯罪记录证明" || n.Missing[1].Name != "房屋租赁合同" || n.CaseNo != second.CaseNo {
		t.Errorf("notice: %+v", n)
	}
	rec := b.do(t, http.MethodGet, "/api/v1/cases/"+second.ID.String()+"/notice?format=pdf", w.win, nil)
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/pdf" {
		t.Fatalf("notice PDF: %d %s", rec.Code, rec.Body)
	}
	f := filepath.Join(t.TempDir(), "notice.pdf")
	os.WriteFile(f, rec.Body.Bytes(), 0o600)
	text, err := exec.Command("pdftotext", "-layout", f, "-").CombinedOutput()
	if err != nil {
		t.Fatalf("pdftotext: %v %s", err, text)
	}
	for _, want := range []string{"一次性告知书", "无犯罪记录证明", "房屋租赁合同", second.CaseNo, "测试政务服务中心"} {
		if !strings.Contains(string(text), want) {
			t.Errorf("notice PDF lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(string(text), "居民身份证") {
		t.Errorf("the notice lists the reused ID card:\n%s", text)
	}

	// The clerk may view the ID card through the case (watermarked); a user of another
	// center sees nothing of the applicant's.
	rec = b.do(t, http.MethodGet, "/api/v1/cases/"+second.ID.String()+"/materials/"+card.ID.String()+"/view", w.win, nil)
	if rec.Code != 200 || !strings.HasPrefix(rec.Body.String(), "%PDF") {
		t.Errorf("view: %d", rec.Code)
	}
	rec = b.do(t, http.MethodPost, "/api/v1/materials/search", w.stranger, map[string]any{"holder_kind": "id_card", "holder_number": idNumber})
	if l := decode[materialList](t, rec); rec.Code != 200 || len(l.Items) != 0 {
		t.Errorf("stranger's search: %d %s", rec.Code, rec.Body)
	}
	for _, path := range []string{"/api/v1/materials/" + card.ID.String(), "/api/v1/cases/" + second.ID.String()} {
		if rec := b.do(t, http.MethodGet, path, w.stranger, nil); rec.Code != http.StatusNotFound {
			t.Errorf("stranger GET %s: %d", path, rec.Code)
		}
	}
	strangers := must[reuse.Case](t, b.do(t, http.MethodPost, "/api/v1/cases", w.stranger, map[string]any{
		"item_code": "440106-HOUSE-002", "holder_kind": "id_card", "holder_number": idNumber}), http.StatusCreated)
	// TestHardening9: the plan shown to a department outside the sharing scope does not
	// reveal that, or where, the applicant has the material; the auditor's view does.
	if e := entry(t, strangers, "ID-CARD"); e.Status != "must_submit" || e.Reason != "none on file" || strings.Contains(strangers.Plan[0].ReasonZh, "采集部门") {
		t.Errorf("stranger's plan, ID card: %+v", e)
	}
	audited := must[reuse.Case](t, b.do(t, http.MethodGet, "/api/v1/cases/"+strangers.ID.String(), b.token[identity.RoleAuditor], nil), http.StatusOK)
	if e := entry(t, audited, "ID-CARD"); !strings.Contains(e.Reason, "outside sharing scope") {
		t.Errorf("auditor's view of the stranger's plan, ID card: %+v", e)
	}
	if rec := b.do(t, http.MethodGet, "/api/v1/cases/"+strangers.ID.String()+"/materials/"+card.ID.String()+"/view", w.stranger, nil); rec.Code != http.StatusNotFound && rec.Code != http.StatusForbidden {
		t.Errorf("stranger viewing the card through their own case: %d", rec.Code)
	}

	// The report counts both cases: 6 required, 1 reused, 1 submitted.
	rep := b.do(t, http.MethodGet, "/api/v1/reports/reuse?format=csv", b.token[identity.RoleAuditor], nil)
	if rep.Code != 200 || !strings.Contains(rep.Body.String(), "440106-HOUSE-002,住房租赁补贴申请,测试政务服务中心,2,6,1,1,0.1667") {
		t.Errorf("report: %d %s", rep.Code, rep.Body)
	}
}

// TestIngestEnforcesCatalogRequirements: a scan that does not meet its type's requirements
// is refused with a problem naming the file and the requirement; nothing is recorded.
func TestIngestEnforcesCatalogRequirements(t *testing.T) {
	w := newReuseWorld(t)
	b := w.b
	page := testkit.PageImage(t, "png", 300, 420, 1)
	cases := []struct {
		typeCode string
		parts    []part
		want     string
	}{
		{"HI-RES", []part{{"pages", "低清.png", page}}, "300 DPI"},
		{"GRAY-SCAN", []part{{"pages", "彩色.png", page}}, "greyscale"},
		{"ID-CARD", []part{{"pages", "1.png", page}, {"pages", "2.png", testkit.PageImage(t, "png", 300, 420, 2)}, {"pages", "3.png", testkit.PageImage(t, "png", 300, 420, 3)}}, "at most 2"},
	}
	for _, tc := range cases {
		meta := idCardMeta()
		meta["type_code"] = tc.typeCode
		rec := b.upload(t, w.win, "", meta, tc.parts...)
		p := problemOf(t, rec)
		if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), tc.typeCode) {
			t.Errorf("%s: %d %s", tc.typeCode, rec.Code, rec.Body)
		}
		if len(p.Errors) != 1 || !strings.Contains(p.Errors[0].Reason, tc.want) || !strings.Contains(p.Detail, p.Errors[0].Field) {
			t.Errorf("%s: problem does not name the file or %q: %+v", tc.typeCode, tc.want, p)
		}
	}
	if n := count(t, b.pool, "materials"); n != 0 {
		t.Errorf("%d materials recorded", n)
	}
}
