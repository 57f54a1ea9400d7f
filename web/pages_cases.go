package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"sealvault/casework"
	"sealvault/reuse"
	"sealvault/seal"
)

// The window clerk's area (综合窗口): the department's cases, starting a case, the case page
// with its reuse plan and every life-cycle action, placing and applying the seal.

func init() {
	areaPages = append(areaPages, casesPages)
	navEntries = append(navEntries,
		nav{Order: 10, Key: "nav.cases", Href: "/cases", API: "GET /api/v1/cases"},
		nav{Order: 11, Key: "nav.cases.new", Href: "/cases/new", API: "POST /api/v1/cases"},
	)
	addMessages(casesMessages)
	funcs["casesState"] = casesStateClass
	funcs["deref"] = casesDeref
	funcs["idstr"] = casesIDString
}

// casesDeref is what a pointer points to ("" for nil), for optional API fields.
func casesDeref(v any) any {
	r := reflect.ValueOf(v)
	if r.Kind() == reflect.Pointer {
		if r.IsNil() {
			return ""
		}
		return r.Elem().Interface()
	}
	return v
}

// casesIDString is an optional id as text ("" for none).
func casesIDString(v any) string {
	d := casesDeref(v)
	if d == "" {
		return ""
	}
	return fmt.Sprint(d)
}

func casesPages(h *Handler) []page {
	return []page{
		{Method: http.MethodGet, Path: "/cases", API: "GET /api/v1/cases", Handler: casesList},
		{Method: http.MethodGet, Path: "/cases/new", API: "POST /api/v1/cases", Handler: casesNew},
		{Method: http.MethodPost, Path: "/cases/new", API: "POST /api/v1/cases", Handler: casesCreate},
		{Method: http.MethodGet, Path: "/cases/{id}", API: "GET /api/v1/cases/:id", Handler: casesShow},
		{Method: http.MethodPost, Path: "/cases/{id}/reuse", API: "POST /api/v1/cases/:id/materials", Handler: casesReuse},
		{Method: http.MethodPost, Path: "/cases/{id}/consent", API: "POST /api/v1/cases/:id/consent", Handler: casesAction("consent", "consent")},
		{Method: http.MethodPost, Path: "/cases/{id}/notices", API: "POST /api/v1/cases/:id/notices", Handler: casesNotice},
		{Method: http.MethodGet, Path: "/cases/{id}/notices/{no}", API: "GET /api/v1/cases/:id/notices/:no", Handler: casesNoticePDF},
		{Method: http.MethodPost, Path: "/cases/{id}/accept", API: "POST /api/v1/cases/:id/accept", Handler: casesAction("accept", "accepted")},
		{Method: http.MethodPost, Path: "/cases/{id}/refuse", API: "POST /api/v1/cases/:id/refuse", Handler: casesAction("refuse", "refused")},
		{Method: http.MethodPost, Path: "/cases/{id}/withdraw", API: "POST /api/v1/cases/:id/withdraw", Handler: casesAction("withdraw", "withdrawn")},
		{Method: http.MethodPost, Path: "/cases/{id}/forward", API: "POST /api/v1/cases/:id/forward", Handler: casesAction("forward", "forwarded")},
		{Method: http.MethodPost, Path: "/cases/{id}/decide", API: "POST /api/v1/cases/:id/decide", Handler: casesDecide},
		{Method: http.MethodPost, Path: "/cases/{id}/deliver", API: "POST /api/v1/cases/:id/deliver", Handler: casesAction("deliver", "delivered")},
		{Method: http.MethodPost, Path: "/cases/{id}/close", API: "POST /api/v1/cases/:id/close", Handler: casesAction("close", "closed")},
		{Method: http.MethodGet, Path: "/cases/{id}/seal", API: "POST /api/v1/seal-requests", Handler: casesSealForm},
		{Method: http.MethodPost, Path: "/cases/{id}/seal", API: "POST /api/v1/seal-requests", Handler: casesSealRequest},
		{Method: http.MethodGet, Path: "/documents/{digest}/pages/{n}", API: "GET /api/v1/documents/:digest/pages/:n", Handler: casesDocumentPage},
		{Method: http.MethodPost, Path: "/seal-requests/{id}/apply", API: "POST /api/v1/seal-requests/:id/apply", Handler: casesApply},
		{Method: http.MethodGet, Path: "/seal-uses/{id}/sealed.pdf", API: "GET /api/v1/seal-uses/:id/content", Handler: casesSealedPDF},
	}
}

// casesStates are the states a clerk filters the list by, in life-cycle order.
var casesStates = []string{"received", "incomplete", "accepted", "forwarded", "decided", "sealed", "delivered", "closed", "refused", "withdrawn"}

type casesListView struct {
	Cases   []casework.Summary
	States  []string
	State   string
	Overdue bool
	Next    string
	Problem *problem
}

func casesList(x *rc) error {
	v := casesListView{States: casesStates, State: x.r.URL.Query().Get("state"), Overdue: x.r.URL.Query().Get("overdue") == "true"}
	overdue := ""
	if v.Overdue {
		overdue = "true"
	}
	var p casework.Page
	err := x.apiJSON(http.MethodGet, q("/api/v1/cases", "state", v.State, "overdue", overdue, "after", x.r.URL.Query().Get("after"), "limit", "50"), nil, &p)
	if pr := pageProblem(err); pr != nil {
		v.Problem = pr
	} else if err != nil {
		return err
	}
	v.Cases = p.Cases
	if p.Next != nil {
		v.Next = q("/cases", "state", v.State, "overdue", overdue, "after", *p.Next)
	}
	x.render(http.StatusOK, "cases_list", v)
	return nil
}

type casesNewView struct {
	Items                    []reuse.ServiceItem
	Item, HolderKind, Holder string
	Problem                  *problem
}

func casesNew(x *rc) error {
	v := casesNewView{HolderKind: "id_card"}
	return casesRenderNew(x, http.StatusOK, v)
}

func casesRenderNew(x *rc, status int, v casesNewView) error {
	var items struct {
		Items []reuse.ServiceItem `json:"items"`
	}
	if err := x.apiJSON(http.MethodGet, "/api/v1/catalog/items", nil, &items); err != nil {
		return err
	}
	v.Items = items.Items
	x.render(status, "cases_new", v)
	return nil
}

// casesItemCode takes what the clerk typed or picked: a code, "code name", or a name.
func casesItemCode(x *rc, typed string) string {
	typed = strings.TrimSpace(typed)
	code, _, _ := strings.Cut(typed, " ")
	var items struct {
		Items []reuse.ServiceItem `json:"items"`
	}
	if err := x.apiJSON(http.MethodGet, "/api/v1/catalog/items", nil, &items); err == nil {
		for _, it := range items.Items {
			if it.Code == code || it.Name == typed {
				return it.Code
			}
		}
	}
	return code
}

func casesCreate(x *rc) error {
	v := casesNewView{Item: formValue(x.r, "item"), HolderKind: formValue(x.r, "holder_kind"), Holder: strings.TrimSpace(formValue(x.r, "holder_number"))}
	var c casework.Case
	err := x.apiJSON(http.MethodPost, "/api/v1/cases", map[string]string{
		"item_code": casesItemCode(x, v.Item), "holder_kind": v.HolderKind, "holder_number": strings.ToUpper(v.Holder)}, &c)
	if pr := pageProblem(err); pr != nil {
		v.Problem = pr
		v.Holder = "" // never echo an applicant's number back into a page
		return casesRenderNew(x, pr.Status, v)
	} else if err != nil {
		return err
	}
	return x.redirect("/cases/"+pathEscape(c.CaseNo), "opened")
}

// casesShowView is the case page.
type casesShowView struct {
	Case      casework.Case
	Requests  []seal.Request
	Materials map[string]casesMaterial // the plan's materials by id, for their dates
	Problem   *problem
	// What the clerk may do now, by the case's state and kind (the API decides in the end).
	CanIntake, CanAccept, CanForward, CanDecide, CanRequestSeal, CanDeliver, CanClose bool
	NeedsConsent                                                                      bool
	MineDept                                                                          bool
}

// casesMaterial is what the case page shows of a material in the plan.
type casesMaterial struct {
	ID         string    `json:"id"`
	Title      string    `json:"title"`
	PageCount  int       `json:"page_count"`
	CapturedAt time.Time `json:"captured_at"`
	ValidUntil *string   `json:"valid_until"`
}

func casesLoad(x *rc, id string) (casesShowView, error) {
	var v casesShowView
	if err := x.apiJSON(http.MethodGet, "/api/v1/cases/"+pathEscape(id), nil, &v.Case); err != nil {
		return v, err
	}
	c := &v.Case
	v.Materials = map[string]casesMaterial{}
	for _, e := range c.Plan {
		if e.MaterialID == nil {
			continue
		}
		var m casesMaterial
		if err := x.apiJSON(http.MethodGet, "/api/v1/materials/"+e.MaterialID.String(), nil, &m); err == nil {
			v.Materials[e.MaterialID.String()] = m
		}
		if e.Status == "must_submit" && strings.Contains(e.Reason, "consent") {
			v.NeedsConsent = true
		}
	}
	var reqs struct {
		Items []seal.Request `json:"items"`
	}
	if err := x.apiJSON(http.MethodGet, "/api/v1/seal-requests", nil, &reqs); err == nil {
		for _, r := range reqs.Items {
			if r.CaseID != nil && *r.CaseID == c.ID {
				v.Requests = append(v.Requests, r)
			}
		}
	}
	v.MineDept = x.me.Department.ID == c.OwnerDepartmentID
	open := c.State == "received" || c.State == "incomplete"
	v.CanIntake = open
	v.CanAccept = open
	v.CanForward = c.State == "accepted" && c.ItemKind == "promised" && !v.MineDept
	v.CanDecide = (c.State == "accepted" && (c.ItemKind == "instant" || v.MineDept)) || (c.State == "forwarded" && v.MineDept)
	v.CanRequestSeal = (c.State == "decided" || c.State == "sealed") && c.Decision != nil && *c.Decision == "approved"
	v.CanDeliver = c.State == "sealed" || (c.State == "decided" && c.Decision != nil && *c.Decision == "denied")
	v.CanClose = c.State == "delivered"
	return v, nil
}

func casesShow(x *rc) error {
	v, err := casesLoad(x, x.r.PathValue("id"))
	if err != nil {
		return err
	}
	x.render(http.StatusOK, "cases_show", v)
	return nil
}

// casesShowProblem renders the case page again with the API's refusal of an action on it.
func casesShowProblem(x *rc, id string, pr *problem) error {
	v, err := casesLoad(x, id)
	if err != nil {
		return err
	}
	v.Problem = pr
	x.render(pr.Status, "cases_show", v)
	return nil
}

// casesAfter answers a form post: back to the case with done shown, or the case page with
// the API's problem.
func casesAfter(x *rc, id string, err error, done string) error {
	if pr := pageProblem(err); pr != nil {
		return casesShowProblem(x, id, pr)
	} else if err != nil {
		return err
	}
	return x.redirect("/cases/"+pathEscape(id), done)
}

// casesAction posts one life-cycle action of the case, with the form's reason, note,
// method and tracking number where it has them.
func casesAction(action, done string) func(*rc) error {
	return func(x *rc) error {
		id := x.r.PathValue("id")
		body := map[string]string{}
		for _, f := range []string{"reason", "note", "method", "tracking"} {
			if v := strings.TrimSpace(formValue(x.r, f)); v != "" {
				body[f] = v
			}
		}
		var in any
		if len(body) > 0 {
			in = body
		}
		err := x.apiJSON(http.MethodPost, "/api/v1/cases/"+pathEscape(id)+"/"+action, in, nil)
		return casesAfter(x, id, err, done)
	}
}

func casesReuse(x *rc) error {
	id := x.r.PathValue("id")
	err := x.apiJSON(http.MethodPost, "/api/v1/cases/"+pathEscape(id)+"/materials", map[string]any{
		"type_code": formValue(x.r, "type_code"), "material_id": formValue(x.r, "material_id"), "reuse": true}, nil)
	return casesAfter(x, id, err, "reused")
}

func casesNotice(x *rc) error {
	id := x.r.PathValue("id")
	var in any
	if r := strings.TrimSpace(formValue(x.r, "override_reason")); r != "" {
		in = map[string]string{"override_reason": r}
	}
	err := x.apiJSON(http.MethodPost, "/api/v1/cases/"+pathEscape(id)+"/notices", in, nil)
	return casesAfter(x, id, err, "notice")
}

// casesNoticePDF opens a notice's PDF in the browser, to print.
func casesNoticePDF(x *rc) error {
	resp, err := x.call(apiRequest{Method: http.MethodGet,
		Path: "/api/v1/cases/" + pathEscape(x.r.PathValue("id")) + "/notices/" + pathEscape(x.r.PathValue("no")) + "?format=pdf"})
	if err != nil {
		return err
	}
	return casesPassThrough(x, resp, fmt.Sprintf(`inline; filename="notice-%s.pdf"`, x.r.PathValue("no")))
}

// casesPassThrough sends an API answer (a PDF, an image) on to the browser.
func casesPassThrough(x *rc, resp *response, disposition string) error {
	h := x.w.Header()
	for _, k := range []string{"Content-Type", "ETag", "Sealvault-Page-Size", "Sealvault-Page-Count"} {
		if v := resp.Header.Get(k); v != "" {
			h.Set(k, v)
		}
	}
	if disposition != "" {
		h.Set("Content-Disposition", disposition)
	}
	h.Set("Cache-Control", "private, no-store")
	h.Set("Content-Length", strconv.Itoa(len(resp.Body)))
	x.w.WriteHeader(http.StatusOK)
	_, _ = x.w.Write(resp.Body)
	return nil
}

// casesDecide records the decision; a result document chosen in the form is uploaded first
// and named in the decision.
func casesDecide(x *rc) error {
	id := x.r.PathValue("id")
	body := map[string]any{"decision": formValue(x.r, "decision"), "text": strings.TrimSpace(formValue(x.r, "text"))}
	if x.r.MultipartForm != nil {
		if fhs := x.r.MultipartForm.File["document"]; len(fhs) > 0 && fhs[0].Size > 0 {
			f, err := fhs[0].Open()
			if err != nil {
				return err
			}
			defer f.Close()
			resp, err := x.call(apiRequest{Method: http.MethodPost, Path: q("/api/v1/documents", "name", fhs[0].Filename),
				Body: f, ContentType: "application/pdf"})
			if pr := pageProblem(err); pr != nil {
				return casesShowProblem(x, id, pr)
			} else if err != nil {
				return err
			}
			var doc seal.Document
			if err := json.Unmarshal(resp.Body, &doc); err != nil {
				return err
			}
			kind := "result"
			if body["decision"] == "denied" {
				kind = "decision_letter"
			}
			body["document"] = map[string]string{"digest": doc.Digest, "kind": kind}
		}
	}
	err := x.apiJSON(http.MethodPost, "/api/v1/cases/"+pathEscape(id)+"/decide", body, nil)
	return casesAfter(x, id, err, "decided")
}

// casesSealView is the page where the clerk places the seal on the result document.
type casesSealView struct {
	Case    casework.Case
	Seals   []seal.Seal
	Docs    []casework.Document
	Doc     string
	Page    int
	X, Y    string
	Size    string
	Reason  string
	Problem *problem
}

func casesSealLoad(x *rc, id string) (casesSealView, error) {
	v := casesSealView{Page: 1, Size: "113"}
	if err := x.apiJSON(http.MethodGet, "/api/v1/cases/"+pathEscape(id), nil, &v.Case); err != nil {
		return v, err
	}
	var seals struct {
		Items []seal.Seal `json:"items"`
	}
	if err := x.apiJSON(http.MethodGet, "/api/v1/seals", nil, &seals); err != nil {
		return v, err
	}
	for _, s := range seals.Items {
		if s.Status == "active" && s.DepartmentID == v.Case.OwnerDepartmentID {
			v.Seals = append(v.Seals, s)
		}
	}
	for _, d := range v.Case.Documents {
		if d.Kind == "result" || d.Kind == "decision_letter" {
			v.Docs = append(v.Docs, d)
		}
	}
	// A second seal goes on the sealed output.
	for _, d := range v.Case.Documents {
		if d.Kind == "sealed" {
			v.Docs = append([]casework.Document{d}, v.Docs...)
		}
	}
	if len(v.Docs) > 0 {
		v.Doc = v.Docs[0].Digest
	}
	if v.Case.DecisionText != nil {
		v.Reason = *v.Case.DecisionText
	}
	return v, nil
}

func casesSealForm(x *rc) error {
	v, err := casesSealLoad(x, x.r.PathValue("id"))
	if err != nil {
		return err
	}
	x.render(http.StatusOK, "cases_seal", v)
	return nil
}

func casesSealRequest(x *rc) error {
	id := x.r.PathValue("id")
	v, err := casesSealLoad(x, id)
	if err != nil {
		return err
	}
	v.Doc, v.X, v.Y, v.Size, v.Reason = formValue(x.r, "document"), formValue(x.r, "x"), formValue(x.r, "y"), formValue(x.r, "size"), formValue(x.r, "reason")
	v.Page, _ = strconv.Atoi(formValue(x.r, "page"))
	bad := map[string]string{}
	num := func(field, s string) float64 {
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			bad[field] = x.t("cases.seal.number")
		}
		return f
	}
	body := map[string]any{"seal_id": formValue(x.r, "seal"), "case_id": v.Case.ID, "document_digest": v.Doc, "reason": v.Reason,
		"placement": map[string]any{"page": v.Page, "x": num("placement.x", v.X), "y": num("placement.y", v.Y), "size": num("placement.size", v.Size)}}
	if len(bad) > 0 {
		pr := &problem{Status: http.StatusBadRequest, Title: x.t("cases.seal.badplacement")}
		for f, r := range bad {
			pr.Errors = append(pr.Errors, struct {
				Field  string `json:"field"`
				Reason string `json:"reason"`
			}{f, r})
		}
		v.Problem = pr
		x.render(http.StatusBadRequest, "cases_seal", v)
		return nil
	}
	err = x.apiJSON(http.MethodPost, "/api/v1/seal-requests", body, nil)
	if pr := pageProblem(err); pr != nil {
		v.Problem = pr
		x.render(pr.Status, "cases_seal", v)
		return nil
	} else if err != nil {
		return err
	}
	return x.redirect("/cases/"+pathEscape(v.Case.CaseNo), "requested")
}

// casesDocumentPage draws a page of a document of the clerk's department, for placing the
// seal (the script reads the page's size in points from Sealvault-Page-Size).
func casesDocumentPage(x *rc) error {
	resp, err := x.call(apiRequest{Method: http.MethodGet,
		Path: q("/api/v1/documents/"+pathEscape(x.r.PathValue("digest"))+"/pages/"+pathEscape(x.r.PathValue("n")), "width", x.r.URL.Query().Get("width"))})
	if err != nil {
		return err
	}
	return casesPassThrough(x, resp, "")
}

func casesApply(x *rc) error {
	caseNo := formValue(x.r, "case")
	var use struct {
		Ref string `json:"ref"`
	}
	err := x.apiJSON(http.MethodPost, "/api/v1/seal-requests/"+pathEscape(x.r.PathValue("id"))+"/apply", nil, &use)
	return casesAfter(x, caseNo, err, "applied")
}

// casesSealedPDF downloads the sealed PDF of a use.
func casesSealedPDF(x *rc) error {
	resp, err := x.call(apiRequest{Method: http.MethodGet, Path: "/api/v1/seal-uses/" + pathEscape(x.r.PathValue("id")) + "/content"})
	if err != nil {
		return err
	}
	name := x.r.PathValue("id")
	if cd := resp.Header.Get("Content-Disposition"); cd != "" {
		return casesPassThrough(x, resp, cd)
	}
	return casesPassThrough(x, resp, fmt.Sprintf(`attachment; filename="%s.pdf"`, name))
}

// Helpers the case templates use.

func casesStateClass(state string) string {
	switch state {
	case "refused", "withdrawn":
		return "bad"
	case "incomplete":
		return "warn"
	case "sealed", "delivered", "closed":
		return "ok"
	}
	return ""
}
