package api

import (
	"bytes"
	"encoding/json"
	"image/jpeg"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sealvault/internal/identity"
	"sealvault/internal/testkit"
	"sealvault/vault"
	"sealvault/vault/pages"
)

// A resident ID number that passes the GB 11643 check, and the same in another spelling.
const (
	idNumber      = "11010519491231002X"
	idNumberOther = " １１０１０５１９４９１２３１００２ｘ "
)

type part struct {
	field, name string
	data        []byte
}

// upload posts a multipart ingest request.
func (b *bundle) upload(t *testing.T, token, idemKey string, meta any, parts ...part) *httptest.ResponseRecorder {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	if meta != nil {
		js, _ := json.Marshal(meta)
		if s, ok := meta.(string); ok {
			js = []byte(s)
		}
		if err := mw.WriteField("metadata", string(js)); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range parts {
		w, err := mw.CreateFormFile(p.field, p.name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(p.data)
	}
	mw.Close()
	req := httptest.NewRequest(http.MethodPost, "/api/v1/materials", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+token)
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}
	rec := httptest.NewRecorder()
	b.srv.ServeHTTP(rec, req)
	return rec
}

func idCardMeta() map[string]any {
	return map[string]any{"holder_kind": "id_card", "holder_number": idNumber, "type_code": "ID-CARD",
		"title": "居民身份证（正反面）", "source": "scan", "issuing_authority": "北京市公安局西城分局",
		"issued_on": "2020-01-02", "valid_until": "2040-01-02", "original_verified": true}
}

func (b *bundle) threePages(t *testing.T) []part {
	return []part{
		{"pages", "page1.png", testkit.PageImage(t, "png", 420, 594, 1)},
		{"pages", "page2.jpg", testkit.PageImage(t, "jpeg", 594, 420, 2)},
		{"pages", "page3.png", testkit.PageImage(t, "png", 300, 300, 3)},
	}
}

// TestIngestThreePageScan is the window clerk's path: a three-page scan becomes one PDF
// material; a retry and a second upload of the same bytes store nothing twice; the PDF comes
// back intact; the holder number never appears in clear.
func TestIngestThreePageScan(t *testing.T) {
	b := setup(t)
	win := b.token[identity.RoleWindow]
	pgs := b.threePages(t)
	rec := b.upload(t, win, "scan-0001", idCardMeta(), pgs...)
	if rec.Code != http.StatusCreated {
		t.Fatalf("ingest: %d %s", rec.Code, rec.Body)
	}
	m := decode[vault.Material](t, rec)
	if m.PageCount != 3 || len(m.Pages) != 3 || m.Status != "active" || m.HolderMasked != "1101**********002X" ||
		m.ContentType != "application/pdf" || m.Thumbnail == nil || !m.OriginalVerified || m.DepartmentID != b.center.ID {
		t.Errorf("material %s", rec.Body)
	}
	for i, p := range m.Pages {
		if p.No != i+1 || p.Digest != vault.Sum(pgs[i].data) {
			t.Errorf("page %d is %+v, want the digest of %s", i+1, p, pgs[i].name)
		}
	}

	// A retry with the same key returns the first record, not a second one.
	rec = b.upload(t, win, "scan-0001", idCardMeta(), pgs...)
	if again := decode[vault.Material](t, rec); rec.Code != http.StatusOK || again.ID != m.ID {
		t.Errorf("retry: %d, id %s, want 200 and %s", rec.Code, again.ID, m.ID)
	}
	// A second upload of the same pages for the same holder and type is the material already
	// recorded (new-user point 4): 200, marked existing, no new bytes, no second material.
	objects := func() int {
		n := 0
		for range b.blobs.List(t.Context()) {
			n++
		}
		return n
	}
	before := objects()
	rec = b.upload(t, win, "", idCardMeta(), pgs...)
	if rec.Code != http.StatusOK {
		t.Fatalf("second upload: %d %s", rec.Code, rec.Body)
	}
	if second := decode[vault.Material](t, rec); second.ID != m.ID || !second.Existing || objects() != before {
		t.Errorf("second upload of the same scan: id %s (first %s), existing %v, %d new objects", second.ID, m.ID, second.Existing, objects()-before)
	}
	if count(t, b.pool, "materials") != 1 {
		t.Errorf("%d materials, want 1", count(t, b.pool, "materials"))
	}
	// The same pages as a correction are a new version; of another type, another material.
	meta := idCardMeta()
	meta["supersedes"] = m.ID
	if rec := b.upload(t, win, "", meta, pgs...); rec.Code != http.StatusCreated {
		t.Errorf("a correction with the same pages: %d %s", rec.Code, rec.Body)
	}

	// Download: the stored PDF, with the right headers, and pdfinfo agrees it has 3 pages.
	rec = b.do(t, http.MethodGet, "/api/v1/materials/"+m.ID.String()+"/content", win, nil)
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/pdf" ||
		!strings.Contains(rec.Header().Get("Content-Disposition"), m.ID.String()+".pdf") || vault.Sum(rec.Body.Bytes()) != m.Content {
		t.Fatalf("download: %d %v", rec.Code, rec.Header())
	}
	pdf := filepath.Join(t.TempDir(), "m.pdf")
	os.WriteFile(pdf, rec.Body.Bytes(), 0o600)
	if out := pdfinfo(t, pdf); !strings.Contains(strings.Join(strings.Fields(out), " "), "Pages: 3") {
		t.Errorf("pdfinfo: %s", out)
	}
	if rec := b.do(t, http.MethodGet, "/api/v1/materials/"+m.ID.String()+"/thumbnail", win, nil); rec.Code != 200 || rec.Header().Get("Content-Type") != "image/jpeg" {
		t.Errorf("thumbnail: %d", rec.Code)
	}

	// Search by holder number in another spelling finds both; the list shows the department's.
	rec = b.do(t, http.MethodPost, "/api/v1/materials/search", win, map[string]any{"holder_kind": "id_card", "holder_number": idNumberOther})
	if l := decode[materialList](t, rec); rec.Code != 200 || len(l.Items) != 2 {
		t.Errorf("search: %d %s", rec.Code, rec.Body)
	}
	rec = b.do(t, http.MethodGet, "/api/v1/materials?type=ID-CARD", win, nil)
	if l := decode[materialList](t, rec); len(l.Items) != 2 {
		t.Errorf("list: %s", rec.Body)
	}

	// Every creation and download is on the audit trail; the number is nowhere in clear.
	if _, err := b.audit.IntegrateAll(t.Context()); err != nil {
		t.Fatal(err)
	}
	var creates, downloads int
	b.pool.QueryRow(t.Context(), `SELECT count(*) FILTER (WHERE action = 'material.create'), count(*) FILTER (WHERE action = 'material.download') FROM audit_events`).Scan(&creates, &downloads)
	if creates != 2 || downloads != 1 {
		t.Errorf("audit: %d material.create, %d material.download; want 2 and 1", creates, downloads)
	}
	var leaked int
	b.pool.QueryRow(t.Context(), `
		SELECT (SELECT count(*) FROM audit_events WHERE body LIKE '%' || $1 || '%')
		     + (SELECT count(*) FROM materials WHERE holder_masked LIKE '%' || $1 || '%' OR title LIKE '%' || $1 || '%')`, "0519491231").Scan(&leaked)
	if leaked != 0 || strings.Contains(b.logs.String(), "0519491231") {
		t.Errorf("the holder number appears in clear (rows: %d, logs: %v)", leaked, strings.Contains(b.logs.String(), "0519491231"))
	}
}

func pdfinfo(t *testing.T, file string) string {
	t.Helper()
	out, err := execCommand("pdfinfo", file)
	if err != nil {
		t.Fatalf("pdfinfo (Debian package poppler-utils): %v %s", err, out)
	}
	return out
}

// TestIngestRejections: every bad upload is a problem naming the file or field, and
// nothing is recorded.
func TestIngestRejections(t *testing.T) {
	b := setup(t)
	win := b.token[identity.RoleWindow]
	good := testkit.PageImage(t, "png", 300, 400, 1)
	badNumber := idCardMeta()
	badNumber["holder_number"] = "110105194912310021" // check digit wrong
	pdfAndPages := []part{{"pages", "p1.png", good}, {"pdf", "doc.pdf", []byte("%PDF-1.4")}}
	cases := []struct {
		name   string
		meta   any
		parts  []part
		status int
		slug   string
		want   string
	}{
		{"text file as a page", idCardMeta(), []part{{"pages", "page1.jpg", []byte("这不是图片 not an image at all")}}, 422, "file-rejected", "page1.jpg"},
		{"zip as a page", idCardMeta(), []part{{"pages", "scan.png", zipBytes(t)}}, 422, "file-rejected", "scan.png"},
		{"garbage PDF", idCardMeta(), []part{{"pdf", "licence.pdf", []byte("%PDF-1.7 garbage")}}, 422, "file-rejected", "licence.pdf"},
		{"page image over the size limit", idCardMeta(), []part{{"pages", "p1.png", good}, {"pages", "扫描件-2.png", make([]byte, 300<<10)}}, 422, "file-rejected", "扫描件-2.png"},
		{"too many pages", idCardMeta(), []part{{"pages", "1.png", good}, {"pages", "2.png", good}, {"pages", "3.png", good}, {"pages", "4.png", good}, {"pages", "5.png", good}, {"pages", "6.png", good}}, 422, "file-rejected", "6.png"},
		{"wrong check digit", badNumber, []part{{"pages", "p1.png", good}}, 400, "invalid-fields", "holder_number"},
		{"no files", idCardMeta(), nil, 400, "invalid-fields", "files"},
		{"pages and a pdf", idCardMeta(), pdfAndPages, 400, "invalid-fields", "files"},
		{"no metadata", nil, []part{{"pages", "p1.png", good}}, 400, "invalid-fields", "metadata"},
		{"metadata not JSON", "{holder", []part{{"pages", "p1.png", good}}, 400, "malformed-request", ""},
		{"unknown metadata field", map[string]any{"holder_kind": "id_card", "colour": "red"}, []part{{"pages", "p1.png", good}}, 400, "malformed-request", "colour"},
		{"many bad fields", map[string]any{"holder_kind": "id_card", "holder_number": "123", "type_code": "bad code", "title": "", "source": "fax", "issued_on": "2020-13-01"},
			[]part{{"pages", "p1.png", good}}, 400, "invalid-fields", "holder_number, issued_on, source, title, type_code"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := b.upload(t, win, "", tc.meta, tc.parts...)
			p := problemOf(t, rec)
			if rec.Code != tc.status || p.Type != ProblemBase+tc.slug {
				t.Fatalf("%d %s, want %d %s: %s", rec.Code, p.Type, tc.status, tc.slug, rec.Body)
			}
			if !strings.Contains(rec.Body.String(), tc.want) {
				t.Errorf("problem does not name %q: %s", tc.want, rec.Body)
			}
			if strings.Contains(rec.Body.String(), "0519491231") {
				t.Errorf("problem echoes the holder number: %s", rec.Body)
			}
		})
	}
	if n := count(t, b.pool, "materials"); n != 0 {
		t.Errorf("%d materials recorded by rejected uploads", n)
	}
	b.workIsEmpty(t)
}

// workIsEmpty fails unless every spooled upload and worker output is gone.
func (b *bundle) workIsEmpty(t *testing.T) {
	t.Helper()
	left, err := os.ReadDir(b.work)
	if err != nil || len(left) != 0 {
		t.Errorf("temporary files left behind: %v %v", left, err)
	}
}

// TestIngestPDF: an uploaded PDF larger than the page-image limit is accepted (PDFs have
// their own), stored as it is, and gets a thumbnail of its first page rendered by poppler.
func TestIngestPDF(t *testing.T) {
	b := setup(t)
	win := b.token[identity.RoleWindow]
	var ps []pages.Page
	for i := range 3 {
		ps = append(ps, pages.Page{Name: "p.jpg", Data: testkit.PageImage(t, "jpeg", 1240, 1754, i+1)})
	}
	pdf, err := pages.Assemble(ps)
	if err != nil {
		t.Fatal(err)
	}
	if len(pdf) <= 256<<10 {
		t.Fatalf("the PDF has %d bytes; the test needs it over the page-image limit", len(pdf))
	}
	meta := idCardMeta()
	meta["source"] = "upload"
	rec := b.upload(t, win, "", meta, part{"pdf", "营业执照.pdf", pdf})
	if rec.Code != http.StatusCreated {
		t.Fatalf("ingest: %d %s", rec.Code, rec.Body)
	}
	m := decode[vault.Material](t, rec)
	if m.PageCount != 3 || m.Content != vault.Sum(pdf) || m.Thumbnail == nil {
		t.Fatalf("material %s", rec.Body)
	}
	rec = b.do(t, http.MethodGet, "/api/v1/materials/"+m.ID.String()+"/thumbnail", win, nil)
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "image/jpeg" {
		t.Fatalf("thumbnail: %d %s", rec.Code, rec.Body)
	}
	img, err := jpeg.Decode(bytes.NewReader(rec.Body.Bytes()))
	if err != nil || img.Bounds().Dx() != pages.ThumbWidth || img.Bounds().Dy() < 400 {
		t.Errorf("thumbnail is not a %d pixel wide portrait JPEG: %v %v", pages.ThumbWidth, img.Bounds(), err)
	}
	b.workIsEmpty(t)
}

func zipBytes(t *testing.T) []byte {
	t.Helper()
	// A minimal empty ZIP archive: the end-of-central-directory record.
	return append([]byte("PK\x05\x06"), make([]byte, 18)...)
}

// TestMaterialsStayInTheirDepartment: a window clerk of another department cannot list,
// read or download the material; admins can.
func TestMaterialsStayInTheirDepartment(t *testing.T) {
	b := setup(t)
	rec := b.upload(t, b.token[identity.RoleWindow], "", idCardMeta(), part{"pages", "p.png", testkit.PageImage(t, "png", 300, 400, 1)})
	m := decode[vault.Material](t, rec)
	other, err := identity.CreateUser(t.Context(), b.pool, identity.NewUser{Username: "other-window", DisplayName: "他部门窗口",
		DepartmentID: b.dept.ID, Roles: []identity.Role{identity.RoleWindow}, Password: testPassword})
	if err != nil {
		t.Fatal(err)
	}
	tok, _, _ := b.tokens.Issue(other.ID)
	for _, path := range []string{"", "/content", "/thumbnail"} {
		if rec := b.do(t, http.MethodGet, "/api/v1/materials/"+m.ID.String()+path, tok, nil); rec.Code != http.StatusNotFound {
			t.Errorf("other department GET %s: %d, want 404", path, rec.Code)
		}
		if rec := b.do(t, http.MethodGet, "/api/v1/materials/"+m.ID.String()+path, b.token[identity.RoleAdmin], nil); rec.Code != http.StatusOK {
			t.Errorf("admin GET %s: %d", path, rec.Code)
		}
	}
	rec = b.do(t, http.MethodPost, "/api/v1/materials/search", tok, map[string]any{"holder_kind": "id_card", "holder_number": idNumber})
	if l := decode[materialList](t, rec); len(l.Items) != 0 {
		t.Errorf("other department finds %d materials", len(l.Items))
	}
}

// TestCorrectionSupersedes: a correction is a new version; the old one stays, superseded.
func TestCorrectionSupersedes(t *testing.T) {
	b := setup(t)
	win := b.token[identity.RoleWindow]
	first := decode[vault.Material](t, b.upload(t, win, "", idCardMeta(), part{"pages", "p.png", testkit.PageImage(t, "png", 300, 400, 1)}))
	meta := idCardMeta()
	meta["supersedes"] = first.ID
	meta["title"] = "居民身份证（重新扫描）"
	rec := b.upload(t, win, "", meta, part{"pages", "p.png", testkit.PageImage(t, "png", 300, 400, 2)})
	if rec.Code != http.StatusCreated {
		t.Fatalf("correction: %d %s", rec.Code, rec.Body)
	}
	second := decode[vault.Material](t, rec)
	old := decode[vault.Material](t, b.do(t, http.MethodGet, "/api/v1/materials/"+first.ID.String(), win, nil))
	if old.Status != "superseded" || old.SupersededBy == nil || *old.SupersededBy != second.ID || *second.Supersedes != first.ID {
		t.Errorf("old %+v, new %+v", old, second)
	}
	// Correcting the superseded version again is refused.
	if rec := b.upload(t, win, "", meta, part{"pages", "p.png", testkit.PageImage(t, "png", 300, 400, 3)}); rec.Code != 400 {
		t.Errorf("second correction of the same version: %d %s", rec.Code, rec.Body)
	}
	// And the table itself refuses edits.
	if _, err := b.pool.Exec(t.Context(), `UPDATE materials SET title = 'x' WHERE id = $1`, first.ID); err == nil {
		t.Error("a material record was edited in place")
	}
}

// TestCorruptDownloadFails flips a byte of a stored PDF: the download does not complete as
// a success.
func TestCorruptDownloadFails(t *testing.T) {
	b := setup(t)
	win := b.token[identity.RoleWindow]
	m := decode[vault.Material](t, b.upload(t, win, "", idCardMeta(), part{"pages", "p.png", testkit.PageImage(t, "png", 300, 400, 1)}))
	var path string
	filepath.WalkDir(b.blobs.Root(), func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Name() == m.Content.String() {
			path = p
		}
		return nil
	})
	if path == "" {
		t.Fatal("stored PDF not found")
	}
	os.Chmod(path, 0o644)
	data, _ := os.ReadFile(path)
	data[len(data)/2] ^= 0xff
	os.WriteFile(path, data, 0o444)

	rec := b.do(t, http.MethodGet, "/api/v1/materials/"+m.ID.String()+"/content", win, nil)
	if p := problemOf(t, rec); rec.Code != http.StatusInternalServerError || p.Type != ProblemBase+"stored-object-corrupt" {
		t.Fatalf("download of a corrupt PDF: %d %+v", rec.Code, p)
	}
	if bytes.Contains(rec.Body.Bytes(), []byte("%PDF")) {
		t.Error("corrupt bytes were sent")
	}
}

// TestReassembleWhenEarlierPDFIsGone: identical pages reuse the earlier PDF, unless it has
// gone from the store; then it is assembled and stored again, and the material the upload
// returns (the one already recorded, as the pages are the same) downloads.
func TestReassembleWhenEarlierPDFIsGone(t *testing.T) {
	b := setup(t)
	win := b.token[identity.RoleWindow]
	pg := part{"pages", "p.png", testkit.PageImage(t, "png", 300, 400, 1)}
	first := decode[vault.Material](t, b.upload(t, win, "", idCardMeta(), pg))
	if err := b.blobs.Delete(t.Context(), first.Content); err != nil {
		t.Fatal(err)
	}
	rec := b.upload(t, win, "", idCardMeta(), pg)
	if rec.Code != http.StatusOK && rec.Code != http.StatusCreated {
		t.Fatalf("upload after the PDF vanished: %d %s", rec.Code, rec.Body)
	}
	second := decode[vault.Material](t, rec)
	if second.Existing != (second.ID == first.ID) || (second.ID == first.ID) != (rec.Code == http.StatusOK) {
		t.Errorf("upload after the PDF vanished: %d, existing %v, same material %v", rec.Code, second.Existing, second.ID == first.ID)
	}
	rec = b.do(t, http.MethodGet, "/api/v1/materials/"+second.ID.String()+"/content", win, nil)
	if rec.Code != http.StatusOK || vault.Sum(rec.Body.Bytes()) != second.Content {
		t.Errorf("download of the re-assembled PDF: %d", rec.Code)
	}
}
