package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strings"

	"sealvault/casework"
	"sealvault/reuse"
)

// The capture page (材料采集): one material of a case's plan, from page images or a PDF
// chosen or dropped, or pages taken with a document camera (高拍仪, a USB video device the
// browser opens with getUserMedia); the pages shown as thumbnails to reorder, rotate and
// remove; saved with a progress bar. The material is recorded for the case's applicant
// (the API takes the case instead of the number, which the page never has in clear) and
// attached to the case. A refusal is the API's problem, naming the page and the rule.

func init() {
	areaPages = append(areaPages, capturePages)
	addMessages(captureMessages)
}

func capturePages(h *Handler) []page {
	return []page{
		{Method: http.MethodGet, Path: "/cases/{id}/capture/{type}", API: "POST /api/v1/materials", Handler: captureForm},
		{Method: http.MethodPost, Path: "/cases/{id}/capture/{type}", API: "POST /api/v1/materials", Handler: captureSave},
	}
}

type captureView struct {
	Case  casework.Case
	Entry reuse.Entry
}

func captureLoad(x *rc) (captureView, error) {
	var v captureView
	if err := x.apiJSON(http.MethodGet, "/api/v1/cases/"+pathEscape(x.r.PathValue("id")), nil, &v.Case); err != nil {
		return v, err
	}
	for _, e := range v.Case.Plan {
		if e.TypeCode == x.r.PathValue("type") {
			return v, nil
		}
	}
	return v, &pageError{status: http.StatusNotFound, msg: x.t("capture.notinplan", x.r.PathValue("type"))}
}

func captureForm(x *rc) error {
	v, err := captureLoad(x)
	if err != nil {
		return err
	}
	for _, e := range v.Case.Plan {
		if e.TypeCode == x.r.PathValue("type") {
			v.Entry = e
		}
	}
	x.render(http.StatusOK, "cases_capture", v)
	return nil
}

// captureSave is the page script's upload: pages (in the order shown) or one pdf, the
// title and whether the original was seen. It answers JSON: where to go next, or the
// API's problem for the script to show.
func captureSave(x *rc) error {
	caseID, typeCode := x.r.PathValue("id"), x.r.PathValue("type")
	v, err := captureLoad(x)
	if err != nil {
		return captureJSON(x, err, "")
	}
	title := strings.TrimSpace(formValue(x.r, "title"))
	if title == "" {
		for _, e := range v.Case.Plan {
			if e.TypeCode == typeCode {
				title = e.TypeName
			}
		}
	}
	meta, _ := json.Marshal(map[string]any{"case": v.Case.CaseNo, "type_code": typeCode, "title": title, "source": "scan",
		"original_verified": formValue(x.r, "original_verified") == "true", "valid_until": strings.TrimSpace(formValue(x.r, "valid_until"))})
	var files []*multipart.FileHeader
	part := "pages"
	if x.r.MultipartForm != nil {
		files = x.r.MultipartForm.File["pages"]
		if pdf := x.r.MultipartForm.File["pdf"]; len(pdf) > 0 {
			files, part = pdf, "pdf"
		}
	}
	// The parts are streamed to the API, never held whole.
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		err := func() error {
			if err := mw.WriteField("metadata", string(meta)); err != nil {
				return err
			}
			for _, fh := range files {
				h := textproto.MIMEHeader{}
				h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q; filename=%q`, part, fh.Filename))
				h.Set("Content-Type", fh.Header.Get("Content-Type"))
				w, err := mw.CreatePart(h)
				if err != nil {
					return err
				}
				f, err := fh.Open()
				if err != nil {
					return err
				}
				_, err = io.Copy(w, f)
				f.Close()
				if err != nil {
					return err
				}
			}
			return mw.Close()
		}()
		pw.CloseWithError(err)
	}()
	resp, err := x.call(apiRequest{Method: http.MethodPost, Path: "/api/v1/materials", Body: pr, ContentType: mw.FormDataContentType()})
	_ = pr.Close()
	if err != nil {
		return captureJSON(x, err, "")
	}
	var m struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(resp.Body, &m); err != nil {
		return err
	}
	err = x.apiJSON(http.MethodPost, "/api/v1/cases/"+pathEscape(caseID)+"/materials",
		map[string]any{"type_code": typeCode, "material_id": m.ID, "reuse": false}, nil)
	return captureJSON(x, err, "/cases/"+pathEscape(v.Case.CaseNo)+"?done=capture.saved")
}

// captureJSON answers the script: {"next": path} or {"problem": …} with the problem's status.
func captureJSON(x *rc, err error, next string) error {
	out := map[string]any{"next": next}
	status := http.StatusOK
	if err != nil {
		pr := pageProblem(err)
		var pe *pageError
		switch {
		case pr != nil:
			out, status = map[string]any{"problem": pr}, pr.Status
		case errors.As(err, &pe):
			out, status = map[string]any{"problem": map[string]any{"title": pe.msg, "status": pe.status}}, pe.status
		default:
			return err
		}
	}
	x.w.Header().Set("Content-Type", "application/json")
	x.w.Header().Set("Cache-Control", "no-store")
	x.w.WriteHeader(status)
	return json.NewEncoder(x.w).Encode(out)
}
