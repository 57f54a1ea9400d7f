package web

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"sealvault/seal"
)

// The seal administrator's area (印章管理): the register of seals with their images and
// statuses, and a seal's page: its data, activating, suspending or revoking it with a
// reason, and its image drawn from its data (印章制作) with a live preview before it is
// kept as a new version.

func init() {
	areaPages = append(areaPages, sealAdminPages)
	navEntries = append(navEntries,
		nav{Order: 30, Key: "nav.seals", Href: "/seals", API: "POST /api/v1/seals"},
	)
	addMessages(sealAdminMessages)
}

func sealAdminPages(h *Handler) []page {
	return []page{
		{Method: http.MethodGet, Path: "/seals", API: "GET /api/v1/seals", Handler: sealsList},
		{Method: http.MethodGet, Path: "/seals/{id}", API: "GET /api/v1/seals/:id", Handler: sealsShow},
		{Method: http.MethodPost, Path: "/seals/{id}/status", API: "POST /api/v1/seals/:id/status", Handler: sealsStatus},
		{Method: http.MethodPost, Path: "/seals/{id}/image", API: "POST /api/v1/seals/:id/image", Handler: sealsImage(false)},
		{Method: http.MethodPost, Path: "/seals/{id}/preview", API: "POST /api/v1/seals/:id/image", Handler: sealsImage(true)},
	}
}

func sealsList(x *rc) error {
	var v struct {
		Items    []seal.Seal `json:"items"`
		CanAdmin bool        `json:"-"`
	}
	if err := x.apiJSON(http.MethodGet, "/api/v1/seals", nil, &v); err != nil {
		return err
	}
	v.CanAdmin = x.me.HasRole("seal_admin", "admin")
	x.render(http.StatusOK, "seals_list", v)
	return nil
}

type sealsShowView struct {
	S        seal.Seal
	CanAdmin bool
	Gen      sealsGenForm
	Problem  *problem
}

// sealsGenForm is the drawing form as typed.
type sealsGenForm struct {
	Shape, Width, Height, Unit, Title, Code, Name string
}

func sealsShow(x *rc) error { return sealsRender(x, http.StatusOK, sealsGenForm{}, nil) }

func sealsRender(x *rc, status int, g sealsGenForm, pr *problem) error {
	v := sealsShowView{Gen: g, Problem: pr, CanAdmin: x.me.HasRole("seal_admin", "admin")}
	if err := x.apiJSON(http.MethodGet, "/api/v1/seals/"+pathEscape(x.r.PathValue("id")), nil, &v.S); err != nil {
		return err
	}
	x.render(status, "seals_show", v)
	return nil
}

func sealsStatus(x *rc) error {
	body := map[string]string{"status": formValue(x.r, "status"), "reason": strings.TrimSpace(formValue(x.r, "reason"))}
	err := x.apiJSON(http.MethodPost, "/api/v1/seals/"+pathEscape(x.r.PathValue("id"))+"/status", body, nil)
	if pr := pageProblem(err); pr != nil {
		return sealsRender(x, pr.Status, sealsGenForm{}, pr)
	} else if err != nil {
		return err
	}
	return x.redirect("/seals/"+pathEscape(x.r.PathValue("id")), "seal.status")
}

// sealsImage draws the seal image from the form: as a preview (PNG, or the problem as JSON
// for the page script) or kept as the seal's new image version.
func sealsImage(preview bool) func(*rc) error {
	return func(x *rc) error {
		g := sealsGenForm{Shape: formValue(x.r, "shape"), Width: formValue(x.r, "width_mm"), Height: formValue(x.r, "height_mm"),
			Unit: formValue(x.r, "unit"), Title: formValue(x.r, "title"), Code: formValue(x.r, "code"), Name: formValue(x.r, "name")}
		gen := map[string]any{}
		if g.Shape != "" {
			gen["shape"] = g.Shape
		}
		for k, s := range map[string]string{"width_mm": g.Width, "height_mm": g.Height} {
			if s = strings.TrimSpace(s); s != "" {
				f, err := strconv.ParseFloat(s, 64)
				if err != nil {
					f = -1 // the API names the field and its range
				}
				gen[k] = f
			}
		}
		// A text left empty keeps the seal's own data; typed, it is drawn as typed.
		for k, s := range map[string]string{"unit": g.Unit, "title": g.Title, "code": g.Code, "name": g.Name} {
			if s = strings.TrimSpace(s); s != "" {
				gen[k] = s
			}
		}
		body, _ := json.Marshal(map[string]any{"generate": gen, "preview": preview})
		resp, err := x.call(apiRequest{Method: http.MethodPost, Path: "/api/v1/seals/" + pathEscape(x.r.PathValue("id")) + "/image",
			Body: strings.NewReader(string(body)), ContentType: "application/json"})
		if preview {
			if err != nil {
				return captureJSON(x, err, "")
			}
			return casesPassThrough(x, resp, "")
		}
		if pr := pageProblem(err); pr != nil {
			return sealsRender(x, pr.Status, g, pr)
		} else if err != nil {
			return err
		}
		return x.redirect("/seals/"+pathEscape(x.r.PathValue("id")), "seal.image")
	}
}
