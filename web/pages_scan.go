package web

import (
	"errors"
	"net/http"
	"slices"

	"sealvault/seal"
)

// The scan-to-verify page (扫码验真): what the QR code on a stamp opens, without a login.

func init() {
	areaPages = append(areaPages, scanPages)
	addMessages(scanMessages)
}

func scanPages(h *Handler) []page {
	const api = "GET /api/v1/public/uses/:token"
	return []page{
		{Method: http.MethodGet, Path: "/v/{token}/{prefix}", Public: true, API: api, Handler: scanShow},
		{Method: http.MethodPost, Path: "/v/{token}/{prefix}", Public: true, API: "POST /api/v1/public/verify", Handler: scanCheck},
		{Method: http.MethodGet, Path: "/v/{token}", Public: true, API: api, Handler: scanShow},
	}
}

type scanView struct {
	Use       *seal.PublicUse
	NotFound  bool
	Malformed bool
	Action    string // the page's own address, for the check form
	File      string
	Verdict   string // scan.exact, scan.later, scan.broken, scan.other, scan.otherbroken
	// Revocation is scan.before or scan.after when the seal was revoked.
	Revocation string
	Problem    *problem
	Error      string
	MaxMiB     int
}

// scanLoad reads the use the address names. A malformed address answers 400, one no use has
// (or whose digest prefix is not the use's) 404, each as this page.
func scanLoad(x *rc) (scanView, bool, error) {
	token, prefix := x.r.PathValue("token"), x.r.PathValue("prefix")
	v := scanView{MaxMiB: auditVerifyMax >> 20, Action: "/v/" + pathEscape(token) + "/" + pathEscape(prefix)}
	if !seal.ValidUseToken(token) || !seal.ValidDigestPrefix(prefix) {
		v.Malformed = true
		x.render(http.StatusBadRequest, "scan_use", v)
		return v, false, nil
	}
	var u seal.PublicUse
	err := x.apiJSONNoAuth(http.MethodGet, "/api/v1/public/uses/"+pathEscape(token), nil, &u)
	var pr *problem
	if errors.As(err, &pr) && (pr.Status == http.StatusNotFound || pr.Status == http.StatusBadRequest) ||
		err == nil && u.DocumentDigestPrefix != prefix {
		v.NotFound = pr == nil || pr.Status == http.StatusNotFound
		v.Malformed = !v.NotFound
		x.render(map[bool]int{true: http.StatusNotFound, false: http.StatusBadRequest}[v.NotFound], "scan_use", v)
		return v, false, nil
	} else if err != nil {
		return v, false, err
	}
	v.Use = &u
	if u.UsedBeforeRevocation != nil {
		v.Revocation = map[bool]string{true: "scan.before", false: "scan.after"}[*u.UsedBeforeRevocation]
	}
	return v, true, nil
}

func scanShow(x *rc) error {
	v, ok, err := scanLoad(x)
	if ok {
		x.render(http.StatusOK, "scan_use", v)
	}
	return err
}

// scanCheck checks an uploaded PDF against the use: the public verification, then whether
// one of its signatures is this use's register entry.
func scanCheck(x *rc) error {
	v, ok, err := scanLoad(x)
	if !ok {
		return err
	}
	res, status, err := publicVerifyUpload(x, &v.File, &v.Error, &v.Problem)
	if status != 0 {
		x.render(status, "scan_use", v)
	}
	if res == nil {
		return err
	}
	v.Verdict = "scan.other"
	for _, sg := range res.Signatures {
		if !sg.Intact {
			v.Verdict = "scan.otherbroken"
		}
	}
	for _, sg := range res.Signatures {
		if sg.Registered && sg.UseRef == v.Use.UseRef {
			switch {
			case !res.Valid || !sg.Valid:
				v.Verdict = "scan.broken"
			case slices.Contains(v.Use.Versions, res.Digest):
				v.Verdict = "scan.exact"
			default:
				v.Verdict = "scan.later"
			}
		}
	}
	x.render(http.StatusOK, "scan_use", v)
	return nil
}
