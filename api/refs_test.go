package api

import (
	"net/http"
	"strings"
	"testing"

	"sealvault/internal/identity"
	"sealvault/seal"
)

// TestReferencesByName (new-user point 1): every path and filter that takes a seal, letter,
// request, use, case, department or user takes the reference people use as well as the id;
// an unknown reference is a 404 naming it, never an empty list; a malformed one a 400
// naming the parameter.
func TestReferencesByName(t *testing.T) {
	w := newSealWorld(t)
	b := w.b
	win := b.token[identity.RoleWindow]
	aud := b.token[identity.RoleAuditor]
	req := must[seal.Request](t, w.request(t, win, w.seal.ID, "440100-01-001", w.doc), http.StatusCreated)
	must[seal.Request](t, b.do(t, http.MethodPost, "/api/v1/seal-requests/"+req.Ref+"/approve", w.token(w.custodian), map[string]any{"note": "同意"}), http.StatusOK)
	use := must[seal.Use](t, b.do(t, http.MethodPost, "/api/v1/seal-requests/"+strings.ToLower(req.Ref)+"/apply", win, nil), http.StatusCreated)

	for path, token := range map[string]string{
		"/api/v1/seals/" + w.seal.Ref:                win,
		"/api/v1/authorizations/" + w.letter.Ref:     win,
		"/api/v1/seal-requests/" + req.Ref:           win,
		"/api/v1/seal-uses/" + use.Ref:               win,
		"/api/v1/departments/D1":                     b.token[identity.RoleAdmin],
		"/api/v1/users/u-window":                     b.token[identity.RoleAdmin],
		"/api/v1/cases/" + use.CaseRef + "/timeline": aud,
	} {
		if rec := b.do(t, http.MethodGet, path, token, nil); rec.Code != http.StatusOK {
			t.Errorf("GET %s: %d %s", path, rec.Code, rec.Body)
		}
	}
	type list struct {
		Items []map[string]any `json:"items"`
	}
	for _, q := range []string{"seal=" + w.seal.Ref, "case=" + use.CaseRef, "department=C1", "person=u-window"} {
		l := must[list](t, b.do(t, http.MethodGet, "/api/v1/seal-uses?"+q, aud, nil), http.StatusOK)
		if len(l.Items) != 1 || l.Items[0]["ref"] != use.Ref {
			t.Errorf("seal-uses?%s: %+v, want %s", q, l.Items, use.Ref)
		}
	}
	for _, q := range []string{"seal=" + w.seal.Ref, "case=" + use.CaseRef, "actor=u-window", "department=C1"} {
		if l := must[list](t, b.do(t, http.MethodGet, "/api/v1/audit/events?"+q, aud, nil), http.StatusOK); len(l.Items) == 0 {
			t.Errorf("audit/events?%s finds nothing", q)
		}
	}
	for _, target := range []string{"/api/v1/seal-uses?seal=S-999", "/api/v1/audit/events?seal=S-999", "/api/v1/seals/S-999",
		"/api/v1/audit/events?actor=nobody", "/api/v1/seal-uses?department=NO-SUCH"} {
		rec := b.do(t, http.MethodGet, target, aud, nil)
		want := target[strings.LastIndexAny(target, "=/")+1:]
		if p := problemOf(t, rec); rec.Code != http.StatusNotFound || !strings.Contains(p.Detail, want) {
			t.Errorf("%s: %d %s, want 404 naming %s", target, rec.Code, rec.Body, want)
		}
	}
	rec := b.do(t, http.MethodGet, "/api/v1/seal-uses?seal=seal-one", aud, nil)
	if p := problemOf(t, rec); rec.Code != http.StatusBadRequest || len(p.Errors) != 1 || p.Errors[0].Field != "query.seal" || !strings.Contains(p.Errors[0].Reason, "S-1") {
		t.Errorf("malformed seal reference: %d %s", rec.Code, rec.Body)
	}
}

// TestErrorsNameWhereTheFaultIs (new-user point 2): a bad query parameter is named as
// query.<name>, a missing or wrong Content-Type as header.Content-Type with the types the
// route accepts.
func TestErrorsNameWhereTheFaultIs(t *testing.T) {
	b := setup(t)
	aud := b.token[identity.RoleAuditor]
	rec := b.do(t, http.MethodGet, "/api/v1/audit/events?limit=many", aud, nil)
	if p := problemOf(t, rec); rec.Code != http.StatusBadRequest || len(p.Errors) != 1 || p.Errors[0].Field != "query.limit" || p.Errors[0].Reason != "must be a whole number" {
		t.Errorf("limit=many: %d %s", rec.Code, rec.Body)
	}
	for _, path := range []string{"/api/v1/verify", "/api/v1/documents"} {
		for _, ct := range []string{"", "text/plain"} {
			rec := b.doRaw(t, http.MethodPost, path, ct, "%PDF-1.7", "Authorization", "Bearer "+b.token[identity.RoleWindow])
			p := problemOf(t, rec)
			if rec.Code != http.StatusUnsupportedMediaType || len(p.Errors) != 1 || p.Errors[0].Field != "header.Content-Type" ||
				!strings.Contains(p.Detail, "application/pdf") || strings.Contains(p.Detail, "application/json") {
				t.Errorf("POST %s with Content-Type %q: %d %s", path, ct, rec.Code, rec.Body)
			}
		}
	}
}
