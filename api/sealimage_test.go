package api

import (
	"bytes"
	"image"
	"image/jpeg"
	"image/png"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/uuid"

	"sealvault/internal/identity"
	"sealvault/seal"
	"sealvault/vault/pages"
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

// TestSealedPageShowsTheStamp seals a page with the seal's drawn image, renders the signed
// PDF's page with pdftoppm and finds the red stamp where it was placed, and nowhere else.
// The rendering is kept as var/sealed-page.png to look at.
func TestSealedPageShowsTheStamp(t *testing.T) {
	if _, err := exec.LookPath("pdftoppm"); err != nil {
		t.Fatal("pdftoppm (poppler-utils) is needed: tools/prereqs.sh installs it")
	}
	w := newSealWorld(t)
	b := w.b
	win := b.token[identity.RoleWindow]
	// A white licence, so that any red on the rendered page is the stamp's.
	white := image.NewGray(image.Rect(0, 0, 1654, 2339))
	for i := range white.Pix {
		white.Pix[i] = 0xff
	}
	var jpg bytes.Buffer
	if err := jpeg.Encode(&jpg, white, nil); err != nil {
		t.Fatal(err)
	}
	licence, err := pages.Assemble([]pages.Page{{Name: "1.jpg", Data: jpg.Bytes()}, {Name: "2.jpg", Data: jpg.Bytes()}})
	if err != nil {
		t.Fatal(err)
	}
	doc := w.upload(t, win, licence)
	req := must[seal.Request](t, w.request(t, win, w.seal.ID, "440100-01-001", doc), http.StatusCreated)
	must[seal.Request](t, b.do(t, http.MethodPost, "/api/v1/seal-requests/"+req.ID.String()+"/approve", w.token(w.custodian),
		map[string]any{"note": "同意"}), http.StatusOK)
	use := must[seal.Use](t, b.do(t, http.MethodPost, "/api/v1/seal-requests/"+req.ID.String()+"/apply", win, nil), http.StatusCreated)
	if use.ImageVersion != 1 {
		t.Errorf("sealed with image version %d, want the one drawn on filing", use.ImageVersion)
	}
	signed := b.do(t, http.MethodGet, "/api/v1/seal-uses/"+use.ID.String()+"/content", win, nil).Body.Bytes()

	dir := t.TempDir()
	pdf := filepath.Join(dir, "sealed.pdf")
	os.WriteFile(pdf, signed, 0o600)
	const dpi = 150
	pl := use.Placement
	if out, err := exec.CommandContext(t.Context(), "pdftoppm", "-png", "-r", strconv.Itoa(dpi), "-f", strconv.Itoa(pl.Page),
		"-l", strconv.Itoa(pl.Page), "-singlefile", pdf, filepath.Join(dir, "page")).CombinedOutput(); err != nil {
		t.Fatalf("pdftoppm: %v %s", err, out)
	}
	rendered, err := os.ReadFile(filepath.Join(dir, "page.png"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join("..", "var"), 0o755); err == nil {
		os.WriteFile(filepath.Join("..", "var", "sealed-page.png"), rendered, 0o644)
	}
	img, err := png.Decode(bytes.NewReader(rendered))
	if err != nil {
		t.Fatal(err)
	}
	px := func(pt float64) int { return int(pt * dpi / 72) }
	h := img.Bounds().Dy()
	// The placement is in points from the page's lower left; the image's rows run down.
	stamp := image.Rect(px(pl.X), h-px(pl.Y+pl.Size), px(pl.X+pl.Size), h-px(pl.Y))
	red := func(r image.Rectangle) (n int) {
		for y := r.Min.Y; y < r.Max.Y; y++ {
			for x := r.Min.X; x < r.Max.X; x++ {
				cr, cg, cb, _ := img.At(x, y).RGBA()
				if cr > 0xa000 && cg < 0x7000 && cb < 0x7000 {
					n++
				}
			}
		}
		return n
	}
	area := stamp.Dx() * stamp.Dy()
	if n := red(stamp); n < area/10 {
		t.Errorf("the stamp's square %v has %d red pixels of %d: no stamp drawn (see var/sealed-page.png)", stamp, n, area)
	}
	// Its text: red in the band of the upper arc and in the title's band below the star.
	arc := image.Rect(stamp.Min.X+stamp.Dx()/4, stamp.Min.Y+stamp.Dy()/12, stamp.Max.X-stamp.Dx()/4, stamp.Min.Y+stamp.Dy()/4)
	title := image.Rect(stamp.Min.X+stamp.Dx()/5, stamp.Min.Y+stamp.Dy()*3/5, stamp.Max.X-stamp.Dx()/5, stamp.Min.Y+stamp.Dy()*3/4)
	for name, r := range map[string]image.Rectangle{"upper arc": arc, "title": title} {
		if n := red(r); n < r.Dx()*r.Dy()/20 {
			t.Errorf("the %s's band %v has %d red pixels: no text there (see var/sealed-page.png)", name, r, n)
		}
	}
	whole := red(img.Bounds())
	if outside := whole - red(stamp); outside > area/50 {
		t.Errorf("%d red pixels outside the stamp's square", outside)
	}
}
