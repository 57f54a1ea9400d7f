package api

import (
	"bytes"
	"image"
	"image/png"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"

	"sealvault/internal/identity"
	"sealvault/seal"
)

// redPixels counts the opaque red pixels of a PNG seal image and returns its width.
func redPixels(t *testing.T, data []byte) (n, width int) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, a := img.At(x, y).RGBA()
			if a > 0x8000 && r > 0x8000 && g < 0x6000 && bl < 0x6000 {
				n++
			}
		}
	}
	return n, b.Dx()
}

// TestSealImageGenerate: a filed seal has an image drawn from its data, which any signed-in
// user may fetch; a seal administrator draws a new version with options or previews one;
// a character the seal font lacks and a bad option are problems naming the field.
func TestSealImageGenerate(t *testing.T) {
	w := newSealWorld(t)
	b := w.b
	admin := b.token[identity.RoleSealAdmin]
	path := "/api/v1/seals/" + w.seal.ID.String() + "/image"

	// The image drawn on filing: red on transparent, at least 600 px across.
	rec := b.do(t, http.MethodGet, path, w.token(w.sealer), nil)
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "image/png" || rec.Header().Get("Sealvault-Image-Version") != "1" {
		t.Fatalf("GET image: %d %v", rec.Code, rec.Header())
	}
	first := rec.Body.Bytes()
	if n, width := redPixels(t, first); width < 600 || n < width*10 {
		t.Errorf("filed seal's image: %d px wide, %d red pixels", width, n)
	}
	if rec := b.do(t, http.MethodGet, path, "", nil); rec.Code != http.StatusUnauthorized {
		t.Errorf("GET image signed out: %d", rec.Code)
	}

	// A preview is returned and not stored.
	rec = b.do(t, http.MethodPost, path, admin, map[string]any{"preview": true, "generate": map[string]any{"code": "4401060012345"}})
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "image/png" {
		t.Fatalf("preview: %d %s", rec.Code, rec.Body)
	}
	preview := rec.Body.Bytes()
	if bytes.Equal(preview, first) {
		t.Errorf("the preview with a code is the image without one")
	}
	if sl := must[seal.Seal](t, b.do(t, http.MethodGet, "/api/v1/seals/"+w.seal.ID.String(), admin, nil), http.StatusOK); sl.ImageVersion != 1 {
		t.Errorf("a preview stored a version: %d", sl.ImageVersion)
	}

	// Generating stores a new version, the one GET returns.
	sl := must[seal.Seal](t, b.do(t, http.MethodPost, path, admin, map[string]any{"generate": map[string]any{"code": "4401060012345", "width_mm": 38}}), http.StatusOK)
	if sl.ImageVersion != 2 {
		t.Errorf("generated image version %d, want 2", sl.ImageVersion)
	}
	rec = b.do(t, http.MethodGet, path, w.token(w.sealer), nil)
	if rec.Header().Get("Sealvault-Image-Version") != "2" || bytes.Equal(rec.Body.Bytes(), first) {
		t.Errorf("GET after generating: version %q, same bytes as version 1: %v", rec.Header().Get("Sealvault-Image-Version"), bytes.Equal(rec.Body.Bytes(), first))
	}

	// A character the font lacks is named, never drawn as a box.
	rec = b.do(t, http.MethodPost, path, admin, map[string]any{"generate": map[string]any{"unit": "天河区\U00017000市场监督管理局"}})
	if p := problemOf(t, rec); rec.Code != http.StatusBadRequest || len(p.Errors) != 1 || p.Errors[0].Field != "generate.unit" ||
		!strings.Contains(p.Errors[0].Reason, "\U00017000") || !strings.Contains(p.Errors[0].Reason, "U+17000") {
		t.Errorf("missing character: %d %s", rec.Code, rec.Body)
	}
	// Bad options.
	for name, tc := range map[string]struct {
		body  map[string]any
		field string
	}{
		"oval business seal": {map[string]any{"generate": map[string]any{"shape": "oval"}}, "generate.shape"},
		"too small":          {map[string]any{"generate": map[string]any{"width_mm": 5}}, "generate.width_mm"},
		"unknown option":     {map[string]any{"generate": map[string]any{"colour": "blue"}}, ""},
		"no generate":        {map[string]any{"preview": true}, "generate"},
	} {
		rec := b.do(t, http.MethodPost, path, admin, tc.body)
		p := problemOf(t, rec)
		if rec.Code != http.StatusBadRequest || (tc.field != "" && (len(p.Errors) == 0 || p.Errors[0].Field != tc.field)) {
			t.Errorf("%s: %d %s", name, rec.Code, rec.Body)
		}
	}
	if rec := b.do(t, http.MethodPost, path, w.token(w.sealer), map[string]any{"generate": map[string]any{}}); rec.Code != http.StatusForbidden {
		t.Errorf("a sealer generated a seal image: %d", rec.Code)
	}
	if sl := must[seal.Seal](t, b.do(t, http.MethodGet, "/api/v1/seals/"+w.seal.ID.String(), admin, nil), http.StatusOK); sl.ImageVersion != 2 {
		t.Errorf("refused requests changed the image: version %d", sl.ImageVersion)
	}

	// A finance seal, oval by option.
	fin := must[seal.Seal](t, b.do(t, http.MethodPost, "/api/v1/seals", admin, map[string]any{
		"name": "天河区市场监督管理局财务专用章", "type": "finance", "department_id": b.dept.ID, "supervisor_id": w.supervisor.ID,
		"custodian_ids": []uuid.UUID{w.custodian.ID}, "valid_from": day(0), "valid_until": day(365)}), http.StatusCreated)
	oval := must[seal.Seal](t, b.do(t, http.MethodPost, "/api/v1/seals/"+fin.ID.String()+"/image", admin,
		map[string]any{"generate": map[string]any{"shape": "oval"}}), http.StatusOK)
	img, err := png.Decode(bytes.NewReader(b.do(t, http.MethodGet, "/api/v1/seals/"+fin.ID.String()+"/image", admin, nil).Body.Bytes()))
	if err != nil || oval.ImageVersion != 2 || img.Bounds().Dx() <= img.Bounds().Dy() {
		t.Errorf("oval finance seal: version %d, %v %v", oval.ImageVersion, boundsOf(img), err)
	}

	// A name seal whose name cannot be told from the seal's is filed without an image, says
	// why, cannot be activated, and is drawn once the name is given.
	rep := must[seal.Seal](t, b.do(t, http.MethodPost, "/api/v1/seals", admin, map[string]any{
		"name": "法定代表人名章", "type": "legal_rep", "department_id": b.dept.ID, "supervisor_id": w.supervisor.ID,
		"custodian_ids": []uuid.UUID{w.custodian.ID}, "valid_from": day(0), "valid_until": day(365)}), http.StatusCreated)
	if rep.ImageVersion != 0 || !strings.Contains(rep.ImageNote, "generate.name") {
		t.Errorf("name seal filed: version %d, note %q", rep.ImageVersion, rep.ImageNote)
	}
	if rec := b.do(t, http.MethodGet, "/api/v1/seals/"+rep.ID.String()+"/image", admin, nil); rec.Code != http.StatusNotFound {
		t.Errorf("GET image of a seal without one: %d", rec.Code)
	}
	rec = b.do(t, http.MethodPost, "/api/v1/seals/"+rep.ID.String()+"/status", admin, map[string]any{"status": "active", "reason": "启用"})
	if p := problemOf(t, rec); rec.Code != http.StatusConflict || !strings.Contains(p.Detail, "印模") {
		t.Errorf("activating without an image: %d %s", rec.Code, rec.Body)
	}
	rep = must[seal.Seal](t, b.do(t, http.MethodPost, "/api/v1/seals/"+rep.ID.String()+"/image", admin,
		map[string]any{"generate": map[string]any{"name": "李燊"}}), http.StatusOK)
	sq, err := png.Decode(bytes.NewReader(b.do(t, http.MethodGet, "/api/v1/seals/"+rep.ID.String()+"/image", admin, nil).Body.Bytes()))
	if err != nil || rep.ImageVersion != 1 || sq.Bounds().Dx() != sq.Bounds().Dy() {
		t.Errorf("name seal: version %d, %v %v", rep.ImageVersion, boundsOf(sq), err)
	}
}

func boundsOf(img image.Image) image.Rectangle {
	if img == nil {
		return image.Rectangle{}
	}
	return img.Bounds()
}
