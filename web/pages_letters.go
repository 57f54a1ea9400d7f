package web

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"sealvault/reuse"
	"sealvault/seal"
)

// The seal administrator's letters (授权委托书) and filing (备案): the letters a department
// grants or holds with their items, powers, seals and term, recording one and revoking one;
// and filing a new seal with its department, supervisor and custodians picked by name from
// the directory the API gives a seal administrator.

func init() {
	areaPages = append(areaPages, letterPages)
	navEntries = append(navEntries,
		nav{Order: 31, Key: "nav.letters", Href: "/letters", API: "POST /api/v1/authorizations"},
	)
	addMessages(letterMessages)
}

func letterPages(h *Handler) []page {
	return []page{
		{Method: http.MethodGet, Path: "/letters", API: "GET /api/v1/authorizations", Handler: lettersList},
		{Method: http.MethodGet, Path: "/letters/new", API: "POST /api/v1/authorizations", Handler: lettersNew},
		{Method: http.MethodPost, Path: "/letters/new", API: "POST /api/v1/authorizations", Handler: lettersCreate},
		{Method: http.MethodGet, Path: "/letters/{id}", API: "GET /api/v1/authorizations/:id", Handler: lettersShow},
		{Method: http.MethodPost, Path: "/letters/{id}/revoke", API: "POST /api/v1/authorizations/:id/revoke", Handler: lettersRevoke},
		{Method: http.MethodGet, Path: "/seals/new", API: "POST /api/v1/seals", Handler: sealsNew},
		{Method: http.MethodPost, Path: "/seals/new", API: "POST /api/v1/seals", Handler: sealsCreate},
		{Method: http.MethodGet, Path: "/seals/{id}/certificate.pem", API: "GET /api/v1/seals/:id/certificate", Handler: sealsCertificate},
		{Method: http.MethodGet, Path: "/seals/{id}/seal-data.esl", API: "GET /api/v1/seals/:id/seal-data", Handler: sealsSealData},
	}
}

// formValues is every value of a repeated field (checkboxes), trimmed, empty ones dropped.
func formValues(r *http.Request, name string) []string {
	formValue(r, name)
	var out []string
	for _, v := range r.Form[name] {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// letterState is a letter's standing today: revoked, expired, not yet in force, or in force.
func letterState(a seal.Authorization, today string) string {
	switch {
	case a.RevokedAt != nil:
		return "revoked"
	case a.ValidUntil < today:
		return "expired"
	case a.ValidFrom > today:
		return "future"
	}
	return "inforce"
}

func today() string { return time.Now().In(cst).Format(time.DateOnly) }

type letterRow struct {
	seal.Authorization
	State string
	Named []string // the items as "code name"
}

// letterRows are letters with their standing and their items named from the catalog.
func letterRows(x *rc, letters ...seal.Authorization) []letterRow {
	var items struct {
		Items []reuse.ServiceItem `json:"items"`
	}
	names := map[string]string{}
	if err := x.apiJSON(http.MethodGet, "/api/v1/catalog/items", nil, &items); err == nil {
		for _, it := range items.Items {
			names[it.Code] = it.Name
		}
	}
	rows := make([]letterRow, 0, len(letters))
	for _, a := range letters {
		r := letterRow{Authorization: a, State: letterState(a, today())}
		for _, code := range a.Items {
			r.Named = append(r.Named, strings.TrimSpace(code+" "+names[code]))
		}
		rows = append(rows, r)
	}
	return rows
}

func lettersList(x *rc) error {
	var v struct {
		Items []seal.Authorization `json:"items"`
	}
	if err := x.apiJSON(http.MethodGet, "/api/v1/authorizations", nil, &v); err != nil {
		return err
	}
	slices.Reverse(v.Items) // newest first
	rows := letterRows(x, v.Items...)
	x.render(http.StatusOK, "letters_list", struct {
		Items    []letterRow
		CanAdmin bool
	}{rows, x.me.HasRole("seal_admin", "admin")})
	return nil
}

func lettersShow(x *rc) error { return lettersRender(x, http.StatusOK, nil) }

func lettersRender(x *rc, status int, pr *problem) error {
	var a seal.Authorization
	if err := x.apiJSON(http.MethodGet, "/api/v1/authorizations/"+pathEscape(x.r.PathValue("id")), nil, &a); err != nil {
		return err
	}
	x.render(status, "letters_show", struct {
		L        letterRow
		CanAdmin bool
		Problem  *problem
	}{letterRows(x, a)[0], x.me.HasRole("seal_admin", "admin"), pr})
	return nil
}

func lettersRevoke(x *rc) error {
	id := pathEscape(x.r.PathValue("id"))
	err := x.apiJSON(http.MethodPost, "/api/v1/authorizations/"+id+"/revoke",
		map[string]string{"reason": strings.TrimSpace(formValue(x.r, "reason"))}, nil)
	if pr := pageProblem(err); pr != nil {
		return lettersRender(x, pr.Status, pr)
	} else if err != nil {
		return err
	}
	return x.redirect("/letters/"+id, "letter.revoke")
}

// letterForm is the letter as typed, kept when the API refuses it.
type letterForm struct {
	Grantor, Grantee, From, Until, Note string
	Items, Powers, Seals                []string
	Approval                            bool
}

type lettersNewView struct {
	F       letterForm
	Dir     seal.Directory
	Items   []reuse.ServiceItem
	Seals   []seal.Seal
	Powers  []string
	Problem *problem
}

func lettersNew(x *rc) error {
	t := time.Now().In(cst)
	return lettersRenderNew(x, http.StatusOK, letterForm{From: t.Format(time.DateOnly), Until: t.AddDate(1, 0, 0).Format(time.DateOnly),
		Approval: true, Powers: []string{seal.PowerReceive}}, nil)
}

func lettersRenderNew(x *rc, status int, f letterForm, pr *problem) error {
	v := lettersNewView{F: f, Problem: pr, Powers: []string{seal.PowerReceive, seal.PowerReview, seal.PowerDecide, seal.PowerDeliver, seal.PowerSeal}}
	if err := x.apiJSON(http.MethodGet, "/api/v1/directory", nil, &v.Dir); err != nil {
		return err
	}
	var items struct {
		Items []reuse.ServiceItem `json:"items"`
	}
	if err := x.apiJSON(http.MethodGet, "/api/v1/catalog/items", nil, &items); err != nil {
		return err
	}
	v.Items = items.Items
	var seals struct {
		Items []seal.Seal `json:"items"`
	}
	if err := x.apiJSON(http.MethodGet, "/api/v1/seals", nil, &seals); err != nil {
		return err
	}
	managed := map[string]bool{}
	for _, d := range v.Dir.Departments {
		if d.Managed {
			managed[d.ID.String()] = true
		}
	}
	for _, s := range seals.Items {
		if managed[s.DepartmentID.String()] && s.Status != seal.StatusRevoked {
			v.Seals = append(v.Seals, s)
		}
	}
	x.render(status, "letters_new", v)
	return nil
}

func lettersCreate(x *rc) error {
	f := letterForm{Grantor: formValue(x.r, "grantor"), Grantee: formValue(x.r, "grantee"), From: formValue(x.r, "valid_from"),
		Until: formValue(x.r, "valid_until"), Note: strings.TrimSpace(formValue(x.r, "note")), Items: formValues(x.r, "items"),
		Powers: formValues(x.r, "powers"), Seals: formValues(x.r, "seals"), Approval: formValue(x.r, "approval_required") == "on"}
	body := map[string]any{"grantor_department_id": uuidOrNil(f.Grantor), "grantee_department_id": uuidOrNil(f.Grantee),
		"items": nonNil(f.Items), "powers": nonNil(f.Powers), "seal_ids": nonNil(f.Seals), "valid_from": f.From, "valid_until": f.Until,
		"approval_required": f.Approval, "note": f.Note}
	var a seal.Authorization
	err := x.apiJSON(http.MethodPost, "/api/v1/authorizations", dropUnpicked(body), &a)
	if pr := pageProblem(err); pr != nil {
		return lettersRenderNew(x, pr.Status, f, pr)
	} else if err != nil {
		return err
	}
	return x.redirect("/letters/"+a.Ref, "letter.create")
}

// uuidOrNil marks an unpicked select, which dropUnpicked then leaves out of the body so
// that the API names it as required.
func uuidOrNil(s string) any {
	if s = strings.TrimSpace(s); s == "" {
		return nil
	}
	return s
}

func dropUnpicked(body map[string]any) map[string]any {
	for k, v := range body {
		if v == nil {
			delete(body, k)
		}
	}
	return body
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// sealForm is a seal to file as typed.
type sealForm struct {
	Name, Type, Department, Supervisor, From, Until, Algorithm string
	Custodians                                                 []string
}

type sealsNewView struct {
	F       sealForm
	Dir     seal.Directory
	Types   []string
	Problem *problem
}

func sealsNew(x *rc) error {
	t := time.Now().In(cst)
	return sealsRenderNew(x, http.StatusOK, sealForm{Type: "business", From: t.Format(time.DateOnly),
		Until: t.AddDate(5, 0, 0).Format(time.DateOnly)}, nil)
}

func sealsRenderNew(x *rc, status int, f sealForm, pr *problem) error {
	v := sealsNewView{F: f, Problem: pr, Types: []string{"official", "business", "contract", "finance", "legal_rep"}}
	if err := x.apiJSON(http.MethodGet, "/api/v1/directory", nil, &v.Dir); err != nil {
		return err
	}
	x.render(status, "seals_new", v)
	return nil
}

func sealsCreate(x *rc) error {
	f := sealForm{Name: strings.TrimSpace(formValue(x.r, "name")), Type: formValue(x.r, "type"), Department: formValue(x.r, "department"),
		Supervisor: formValue(x.r, "supervisor"), From: formValue(x.r, "valid_from"), Until: formValue(x.r, "valid_until"),
		Algorithm: formValue(x.r, "key_algorithm"), Custodians: formValues(x.r, "custodians")}
	body := map[string]any{"name": f.Name, "type": f.Type, "department_id": uuidOrNil(f.Department), "supervisor_id": uuidOrNil(f.Supervisor),
		"custodian_ids": nonNil(f.Custodians), "valid_from": f.From, "valid_until": f.Until, "key_algorithm": f.Algorithm}
	var s seal.Seal
	err := x.apiJSON(http.MethodPost, "/api/v1/seals", dropUnpicked(body), &s)
	if pr := pageProblem(err); pr != nil {
		return sealsRenderNew(x, pr.Status, f, pr)
	} else if err != nil {
		return err
	}
	return x.redirect("/seals/"+s.Ref, "seal.create")
}

func sealsCertificate(x *rc) error {
	id := x.r.PathValue("id")
	resp, err := x.call(apiRequest{Method: http.MethodGet, Path: "/api/v1/seals/" + pathEscape(id) + "/certificate"})
	if err != nil {
		return err
	}
	return casesPassThrough(x, resp, `attachment; filename="`+strings.Map(safeName, id)+`.pem"`)
}

// sealsSealData downloads the seal's GB/T 38540 seal data as <ref>.esl.
func sealsSealData(x *rc) error {
	id := x.r.PathValue("id")
	resp, err := x.call(apiRequest{Method: http.MethodGet, Path: "/api/v1/seals/" + pathEscape(id) + "/seal-data"})
	if err != nil {
		return err
	}
	return casesPassThrough(x, resp, `attachment; filename="`+strings.Map(safeName, id)+`.esl"`)
}

func safeName(r rune) rune {
	if r < 0x80 && (r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z') {
		return r
	}
	return '_'
}
