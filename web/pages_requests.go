package web

import (
	"net/http"
	"strings"

	"sealvault/seal"
)

// The seal custodian's area (印章保管): the inbox of pending seal requests for the seals one
// keeps or supervises, and a request's page: the document's page drawn with the seal image
// where it will go, the case, the requester and the reason, approved or rejected with a note.
// Whoever may see a request sees its page; only a custodian is offered the decision, and the
// API's two-person rule refuses the requester's own.

func init() {
	areaPages = append(areaPages, requestPages)
	navEntries = append(navEntries,
		// The inbox is the custodian's: it is offered to those who may approve.
		nav{Order: 20, Key: "nav.inbox", Href: "/inbox", API: "POST /api/v1/seal-requests/:id/approve"},
	)
	addMessages(requestMessages)
}

func requestPages(h *Handler) []page {
	return []page{
		{Method: http.MethodGet, Path: "/inbox", API: "POST /api/v1/seal-requests/:id/approve", Handler: requestsInbox},
		{Method: http.MethodGet, Path: "/seal-requests/{id}", API: "GET /api/v1/seal-requests/:id", Handler: requestsShow},
		{Method: http.MethodGet, Path: "/seal-requests/{id}/pages/{n}", API: "GET /api/v1/seal-requests/:id/pages/:n", Handler: requestsPage},
		{Method: http.MethodPost, Path: "/seal-requests/{id}/approve", API: "POST /api/v1/seal-requests/:id/approve", Handler: requestsDecide("approve", "approved")},
		{Method: http.MethodPost, Path: "/seal-requests/{id}/reject", API: "POST /api/v1/seal-requests/:id/reject", Handler: requestsDecide("reject", "rejected")},
		{Method: http.MethodGet, Path: "/seals/{id}/image.png", API: "GET /api/v1/seals/:id/image", Handler: requestsSealImage},
	}
}

type requestsInboxView struct {
	Pending []seal.Request
	Decided []seal.Request // the latest requests for the seals one keeps, decided
	Problem *problem
}

func requestsInbox(x *rc) error {
	var v requestsInboxView
	var inbox struct {
		Items []seal.Request `json:"items"`
	}
	if err := x.apiJSON(http.MethodGet, "/api/v1/seal-requests?inbox=true", nil, &inbox); err != nil {
		if v.Problem = pageProblem(err); v.Problem == nil {
			return err
		}
	}
	v.Pending = inbox.Items
	var all struct {
		Items []seal.Request `json:"items"`
	}
	if err := x.apiJSON(http.MethodGet, "/api/v1/seal-requests", nil, &all); err == nil {
		for _, r := range all.Items {
			if r.DecidedBy != nil && *r.DecidedBy == x.me.ID && len(v.Decided) < 20 {
				v.Decided = append(v.Decided, r)
			}
		}
	}
	x.render(http.StatusOK, "requests_inbox", v)
	return nil
}

type requestsShowView struct {
	R         seal.Request
	CanDecide bool // a pending request the user keeps the seal of and did not make
	Own       bool
	Note      string
	Problem   *problem
}

func requestsShow(x *rc) error { return requestsRender(x, http.StatusOK, x.r.PathValue("id"), "", nil) }

func requestsRender(x *rc, status int, id, note string, pr *problem) error {
	v := requestsShowView{Note: note, Problem: pr}
	if err := x.apiJSON(http.MethodGet, "/api/v1/seal-requests/"+pathEscape(id), nil, &v.R); err != nil {
		return err
	}
	v.Own = v.R.RequesterID == x.me.ID
	v.CanDecide = v.R.Status == seal.RequestPending && x.me.HasRole("custodian") && !v.Own
	if v.CanDecide {
		// Offered only for a seal the user keeps: the inbox lists exactly those.
		var inbox struct {
			Items []seal.Request `json:"items"`
		}
		v.CanDecide = false
		if err := x.apiJSON(http.MethodGet, "/api/v1/seal-requests?inbox=true", nil, &inbox); err == nil {
			for _, r := range inbox.Items {
				v.CanDecide = v.CanDecide || r.ID == v.R.ID
			}
		}
	}
	x.render(status, "requests_show", v)
	return nil
}

func requestsDecide(action, done string) func(*rc) error {
	return func(x *rc) error {
		id := x.r.PathValue("id")
		note := strings.TrimSpace(formValue(x.r, "note"))
		err := x.apiJSON(http.MethodPost, "/api/v1/seal-requests/"+pathEscape(id)+"/"+action, map[string]string{"note": note}, nil)
		if pr := pageProblem(err); pr != nil {
			return requestsRender(x, pr.Status, id, note, pr)
		} else if err != nil {
			return err
		}
		return x.redirect("/inbox", done)
	}
}

// requestsPage draws a page of the request's document (the API checks the user may see it).
func requestsPage(x *rc) error {
	resp, err := x.call(apiRequest{Method: http.MethodGet,
		Path: q("/api/v1/seal-requests/"+pathEscape(x.r.PathValue("id"))+"/pages/"+pathEscape(x.r.PathValue("n")), "width", x.r.URL.Query().Get("width"))})
	if err != nil {
		return err
	}
	return casesPassThrough(x, resp, "")
}

// requestsSealImage is the seal's current image, drawn over the page where it will go.
func requestsSealImage(x *rc) error {
	resp, err := x.call(apiRequest{Method: http.MethodGet, Path: "/api/v1/seals/" + pathEscape(x.r.PathValue("id")) + "/image"})
	if err != nil {
		return err
	}
	return casesPassThrough(x, resp, "")
}
