package api

import (
	"bytes"
	"image/png"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"sealvault/internal/identity"
	"sealvault/seal"
)

// TestPageImages: a document's page is drawn as a PNG of the width asked for, with the page's
// size in points, for the department that uploaded it; a request's page for the custodian who
// decides it and nobody outside; a page past the end and a width out of range are 400s naming
// the parameter.
func TestPageImages(t *testing.T) {
	w := newSealWorld(t)
	b := w.b
	win := b.token[identity.RoleWindow]

	rec := b.do(t, http.MethodGet, "/api/v1/documents/"+w.doc+"/pages/2?width=300", win, nil)
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "image/png" {
		t.Fatalf("document page: %d %s %.300s", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}
	img, err := png.Decode(bytes.NewReader(rec.Body.Bytes()))
	if err != nil {
		t.Fatalf("page image: %v", err)
	}
	if got := img.Bounds().Dx(); got != 300 {
		t.Errorf("page image is %d px wide, want 300", got)
	}
	size := strings.Fields(rec.Header().Get("Sealvault-Page-Size"))
	if len(size) != 2 || rec.Header().Get("Sealvault-Page-Count") == "" {
		t.Fatalf("page headers: %v", rec.Header())
	}
	// The image has the page's proportions.
	var wpt, hpt float64
	for i, v := range size {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			wpt = f
		} else {
			hpt = f
		}
	}
	if want := 300 * hpt / wpt; float64(img.Bounds().Dy()) < want-2 || float64(img.Bounds().Dy()) > want+2 {
		t.Errorf("page image is %d px high, want about %.0f for a %.0f × %.0f pt page", img.Bounds().Dy(), want, wpt, hpt)
	}

	for _, c := range []struct{ path, field string }{
		{"/api/v1/documents/" + w.doc + "/pages/99", "path.n"},
		{"/api/v1/documents/" + w.doc + "/pages/1?width=5000", "query.width"},
		{"/api/v1/documents/not-a-digest/pages/1", "path.digest"},
	} {
		rec := b.do(t, http.MethodGet, c.path, win, nil)
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), c.field) {
			t.Errorf("%s: %d %s, want 400 naming %s", c.path, rec.Code, rec.Body, c.field)
		}
	}
	// Another department's user does not see the document.
	if rec := b.do(t, http.MethodGet, "/api/v1/documents/"+w.doc+"/pages/1", w.token(w.sealer), nil); rec.Code != http.StatusNotFound {
		t.Errorf("another department's document page: %d, want 404", rec.Code)
	}

	r := must[seal.Request](t, w.request(t, win, w.seal.ID, "440100-01-001", w.doc), http.StatusCreated)
	path := "/api/v1/seal-requests/" + r.Ref + "/pages/2"
	if rec := b.do(t, http.MethodGet, path, w.token(w.custodian), nil); rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "image/png" {
		t.Errorf("the custodian's view of the request's page: %d %.200s", rec.Code, rec.Body)
	}
	other := w.user(t, "d1-other-custodian", identity.RoleCustodian)
	if rec := b.do(t, http.MethodGet, path, w.token(other), nil); rec.Code != http.StatusNotFound {
		t.Errorf("a custodian of other seals sees the request's page: %d, want 404", rec.Code)
	}
}
