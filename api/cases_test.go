package api

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"sealvault/casework"
	"sealvault/internal/identity"
	"sealvault/internal/testkit"
	"sealvault/seal"
	"sealvault/vault"
)

// caseRefused fails unless rec is the problem status with rule.
func caseRefused(t *testing.T, rec *httptest.ResponseRecorder, status int, rule string, mentions ...string) {
	t.Helper()
	p := problemOf(t, rec)
	if rec.Code != status || p.Rule != rule {
		t.Fatalf("got %d rule %q, want %d %s: %s", rec.Code, p.Rule, status, rule, rec.Body)
	}
	for _, m := range mentions {
		if !strings.Contains(p.Detail, m) {
			t.Errorf("refusal %q does not mention %q", p.Detail, m)
		}
	}
}

// TestCaseLifeCycleAPI takes an instant case through every transition over HTTP, with the
// refusals of each wrong step, and checks the timeline an auditor reads.
func TestCaseLifeCycleAPI(t *testing.T) {
	w := newSealWorld(t)
	b := w.b
	win := b.token[identity.RoleWindow]
	must[seal.Authorization](t, b.do(t, http.MethodPost, "/api/v1/authorizations", b.token[identity.RoleSealAdmin], map[string]any{
		"grantor_department_id": b.dept.ID, "grantee_department_id": b.center.ID, "items": []string{"440100-01-001"},
		"powers": []string{"decide", "deliver"}, "valid_from": day(-1), "valid_until": day(30)}), http.StatusCreated)
	open := func() casework.Case {
		c := must[casework.Case](t, b.do(t, http.MethodPost, "/api/v1/cases", win, map[string]any{
			"item_code": "440100-01-001", "holder_kind": "id_card", "holder_number": "11010519491231002X"}), http.StatusCreated)
		if c.State != casework.Received || c.ItemKind != "instant" || c.HolderMasked != "1101**********002X" {
			t.Fatalf("opened %+v", c)
		}
		return c
	}
	c := open()
	u := "/api/v1/cases/" + c.ID.String()
	caseRefused(t, b.do(t, http.MethodPost, u+"/notices", win, nil), http.StatusForbidden, "nothing-missing", c.CaseNo)
	caseRefused(t, b.do(t, http.MethodPost, u+"/decide", win, map[string]any{"decision": "approved", "text": "准予"}),
		http.StatusConflict, "case-state", c.CaseNo)
	c = must[casework.Case](t, b.do(t, http.MethodPost, u+"/accept", win, nil), http.StatusOK)
	if c.State != casework.Accepted || c.DueOn == nil || *c.DueOn != day(0) {
		t.Fatalf("accepted %+v", c)
	}
	caseRefused(t, b.do(t, http.MethodPost, u+"/forward", win, nil), http.StatusForbidden, "instant-not-forwarded")
	if rec := b.do(t, http.MethodPost, u+"/decide", win, map[string]any{"decision": "maybe", "text": "准予"}); rec.Code != http.StatusBadRequest {
		t.Errorf("a decision that is neither: %d %s", rec.Code, rec.Body)
	}
	if rec := b.do(t, http.MethodPost, u+"/decide", win, map[string]any{"decision": "approved", "text": "申请人 11010519491231002X"}); rec.Code != http.StatusBadRequest ||
		strings.Contains(rec.Body.String(), "11010519491231002X") {
		t.Errorf("an ID number in the decision text: %d %s", rec.Code, rec.Body)
	}
	c = must[casework.Case](t, b.do(t, http.MethodPost, u+"/decide", win, map[string]any{"decision": "approved", "text": "准予注销登记"}), http.StatusOK)
	if c.State != casework.Decided || c.Decision == nil || *c.Decision != "approved" {
		t.Fatalf("decided %+v", c)
	}
	// The document is not yet the case's result: the seal request is refused.
	caseRefused(t, w.requestFor(t, win, w.seal.ID, c.ID, w.doc), http.StatusForbidden, "not-case-document", c.CaseNo)
	must[casework.Case](t, b.do(t, http.MethodPost, u+"/documents", win, map[string]any{"digest": w.doc, "kind": "result"}), http.StatusOK)
	caseRefused(t, b.do(t, http.MethodPost, u+"/deliver", win, map[string]any{"method": "counter"}), http.StatusConflict, "case-state")
	req := must[seal.Request](t, w.requestFor(t, win, w.seal.ID, c.ID, w.doc), http.StatusCreated)
	if req.CaseID == nil || *req.CaseID != c.ID || req.CaseRef != c.CaseNo || req.ItemCode != "440100-01-001" {
		t.Fatalf("request %+v", req)
	}
	inbox := must[struct{ Items []seal.Request }](t, b.do(t, http.MethodGet, "/api/v1/seal-requests?inbox=true", w.token(w.custodian), nil), http.StatusOK)
	if len(inbox.Items) != 1 || inbox.Items[0].ID != req.ID {
		t.Errorf("custodian's inbox: %+v", inbox)
	}
	must[seal.Request](t, b.do(t, http.MethodPost, "/api/v1/seal-requests/"+req.ID.String()+"/approve", w.token(w.custodian), map[string]any{}), http.StatusOK)
	use := must[seal.Use](t, b.do(t, http.MethodPost, "/api/v1/seal-requests/"+req.ID.String()+"/apply", win, nil), http.StatusCreated)
	c = must[casework.Case](t, b.do(t, http.MethodGet, "/api/v1/cases/"+c.CaseNo, win, nil), http.StatusOK)
	if c.State != casework.Sealed || len(c.SealUses) != 1 || c.SealUses[0].Ref != use.Ref || len(c.Documents) != 2 {
		t.Fatalf("sealed case %+v", c)
	}
	if rec := b.do(t, http.MethodPost, u+"/deliver", win, map[string]any{"method": "post"}); rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "tracking") {
		t.Errorf("post without a tracking number: %d %s", rec.Code, rec.Body)
	}
	c = must[casework.Case](t, b.do(t, http.MethodPost, u+"/deliver", win, map[string]any{"method": "post", "tracking": "SF1234567890"}), http.StatusOK)
	if c.State != casework.Delivered || c.Delivery == nil || *c.Delivery.Tracking != "SF1234567890" {
		t.Fatalf("delivered %+v", c)
	}
	must[casework.Case](t, b.do(t, http.MethodPost, u+"/close", win, nil), http.StatusOK)
	caseRefused(t, b.do(t, http.MethodPost, u+"/close", win, nil), http.StatusConflict, "case-state", "已办结")

	// The register lists the use by case; the auditor's timeline shows every step with its
	// sequence number once integrated; a custodian may not read it.
	if rec := b.do(t, http.MethodGet, "/api/v1/seal-uses?case="+c.ID.String(), b.token[identity.RoleAuditor], nil); !strings.Contains(rec.Body.String(), use.Ref) {
		t.Errorf("register by case: %s", rec.Body)
	}
	if _, err := b.audit.IntegrateAll(t.Context()); err != nil {
		t.Fatal(err)
	}
	var tl struct{ Items []casework.Line }
	tl = must[struct{ Items []casework.Line }](t, b.do(t, http.MethodGet, u+"/timeline", b.token[identity.RoleAuditor], nil), http.StatusOK)
	var actions []string
	for _, l := range tl.Items {
		if l.Seq == nil {
			t.Errorf("timeline line %s has no sequence number", l.Action)
		}
		actions = append(actions, l.Action)
	}
	got := strings.Join(actions, " ")
	for _, want := range []string{"case.create", "case.denied", "case.accept", "case.decide", "seal.apply.denied", "case.document",
		"seal.request", "seal.approve", "seal.apply", "case.sealed", "case.deliver", "case.close"} {
		if !strings.Contains(got, want) {
			t.Errorf("timeline lacks %s: %s", want, got)
		}
	}
	if rec := b.do(t, http.MethodGet, u+"/timeline", w.token(w.custodian), nil); rec.Code != http.StatusForbidden {
		t.Errorf("custodian reads the timeline: %d", rec.Code)
	}
	p := must[casework.Page](t, b.do(t, http.MethodGet, "/api/v1/cases?state=closed", win, nil), http.StatusOK)
	if len(p.Cases) != 1 || p.Cases[0].ID != c.ID {
		t.Errorf("closed cases: %+v", p)
	}
	p = must[casework.Page](t, b.do(t, http.MethodPost, "/api/v1/cases/search", win, map[string]any{"holder_kind": "id_card", "holder_number": "11010519491231002X"}), http.StatusOK)
	if len(p.Cases) != 1 {
		t.Errorf("cases of the applicant: %+v", p)
	}

	// Refused at intake, and withdrawn: both end the case.
	r := open()
	must[casework.Case](t, b.do(t, http.MethodPost, "/api/v1/cases/"+r.ID.String()+"/refuse", win, map[string]any{"reason": "不属于本中心受理范围"}), http.StatusOK)
	caseRefused(t, b.do(t, http.MethodPost, "/api/v1/cases/"+r.ID.String()+"/accept", win, nil), http.StatusConflict, "case-state", "不予受理")
	wd := open()
	if c := must[casework.Case](t, b.do(t, http.MethodPost, "/api/v1/cases/"+wd.ID.String()+"/withdraw", win, map[string]any{"reason": "申请人撤回"}), http.StatusOK); c.State != casework.Withdrawn {
		t.Errorf("withdrawn: %s", c.State)
	}
	if rec := b.do(t, http.MethodGet, "/api/v1/cases/"+uuid.NewString(), win, nil); rec.Code != http.StatusNotFound {
		t.Errorf("unknown case: %d", rec.Code)
	}

	// A promised item's letter may not delegate deciding or sealing (受审分离).
	must[map[string]any](t, b.do(t, http.MethodPost, "/api/v1/catalog/items", b.token[identity.RoleAdmin], map[string]any{
		"code": "440100-03-003", "name": "承诺件", "department_code": "D1", "kind": "promised", "time_limit_days": 10,
		"materials": []map[string]any{{"type_code": "T-FORM", "required": false}}}), http.StatusOK)
	caseRefused(t, b.do(t, http.MethodPost, "/api/v1/authorizations", b.token[identity.RoleSealAdmin], map[string]any{
		"grantor_department_id": b.dept.ID, "grantee_department_id": b.center.ID, "items": []string{"440100-03-003"},
		"powers": []string{"receive", "decide"}, "valid_from": day(-1), "valid_until": day(30)}), http.StatusForbidden, "separation-of-duties", "440100-03-003")
}

// TestMaterialForTheCasesApplicant: a material recorded with metadata.case is the case's
// applicant's (found by their number, masked the same) without the number being sent; not
// with a number as well, and not for a case another department received.
func TestMaterialForTheCasesApplicant(t *testing.T) {
	w := newSealWorld(t)
	b := w.b
	win := b.token[identity.RoleWindow]
	c := must[casework.Case](t, b.do(t, http.MethodPost, "/api/v1/cases", win, map[string]any{
		"item_code": "440100-01-001", "holder_kind": "id_card", "holder_number": "11010519491231002X"}), http.StatusCreated)
	meta := map[string]any{"case": c.CaseNo, "type_code": "ID-CARD", "title": "居民身份证", "source": "scan"}
	rec := b.upload(t, win, "", meta, part{"pages", "p.png", testkit.PageImage(t, "png", 300, 400, 7)})
	m := decode[vault.Material](t, rec)
	if rec.Code != http.StatusCreated || m.HolderMasked != "1101**********002X" || m.HolderKind != vault.HolderIDCard {
		t.Fatalf("recorded for the case: %d %+v", rec.Code, m)
	}
	found := decode[materialList](t, b.do(t, http.MethodPost, "/api/v1/materials/search", win, map[string]any{"holder_kind": "id_card", "holder_number": "11010519491231002X"}))
	if !slices.ContainsFunc(found.Items, func(x vault.Material) bool { return x.ID == m.ID }) {
		t.Errorf("the material is not found under the applicant's number")
	}
	both := map[string]any{"case": c.CaseNo, "holder_kind": "id_card", "holder_number": "11010519491231002X", "type_code": "ID-CARD", "title": "居民身份证", "source": "scan"}
	if rec := b.upload(t, win, "", both, part{"pages", "p.png", testkit.PageImage(t, "png", 300, 400, 8)}); rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "metadata.case") {
		t.Errorf("case and number together: %d %s", rec.Code, rec.Body)
	}
	meta["case"] = "AJ20991231999999"
	if rec := b.upload(t, win, "", meta, part{"pages", "p.png", testkit.PageImage(t, "png", 300, 400, 9)}); rec.Code != http.StatusNotFound {
		t.Errorf("an unknown case: %d %s", rec.Code, rec.Body)
	}
	// A sealer of the owning department may see the case but did not receive it.
	meta["case"] = c.CaseNo
	if rec := b.upload(t, win, "", meta, part{"pages", "p.png", testkit.PageImage(t, "png", 300, 400, 10)}); rec.Code >= 500 {
		t.Errorf("a second capture: %d %s", rec.Code, rec.Body)
	}
	if rec := b.upload(t, b.token[identity.RoleSealer], "", meta, part{"pages", "p.png", testkit.PageImage(t, "png", 300, 400, 11)}); rec.Code != http.StatusBadRequest && rec.Code != http.StatusForbidden {
		t.Errorf("another department's user records for the case: %d %s", rec.Code, rec.Body)
	}
}
