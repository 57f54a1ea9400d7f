package api

import (
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"sealvault/casework"
	"sealvault/internal/identity"
	"sealvault/internal/s3test"
	"sealvault/internal/testkit"
	"sealvault/seal"
	"sealvault/vault"
	"sealvault/vault/fsstore"
	"sealvault/vault/s3store"
)

// truncatedPDF is the start of a real PDF cut short: a header and one object, no
// cross-reference table, no startxref. pdfcpu's lenient reader counts a page in it.
const truncatedPDF = "%PDF-1.7\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n3 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>\nendobj\n"

// TestHardening2_TruncatedPDFRefusedAtUpload: a PDF the signer could not read is refused
// when it is offered for sealing, naming the file, and nothing is stored; and a document
// that got past the upload before this check (a record on such bytes) is refused when the
// seal is applied with a 422 problem, never a 500, leaving the approval unused and no use
// recorded.
func TestHardening2_TruncatedPDFRefusedAtUpload(t *testing.T) {
	w := newSealWorld(t)
	b := w.b
	win := b.token[identity.RoleWindow]
	docs := count(t, b.pool, "seal_documents")
	rec := b.doRaw(t, http.MethodPost, "/api/v1/documents?name=截断的许可证.pdf", "application/pdf", truncatedPDF, "Authorization", "Bearer "+win)
	p := problemOf(t, rec)
	if rec.Code != http.StatusUnprocessableEntity || p.Type != ProblemBase+"file-rejected" || !strings.Contains(p.Detail, "截断的许可证.pdf") ||
		!strings.Contains(p.Detail, "签章程序无法读取") {
		t.Fatalf("truncated PDF: %d %s", rec.Code, rec.Body)
	}
	if n := count(t, b.pool, "seal_documents"); n != docs {
		t.Errorf("%d documents recorded for a refused upload", n-docs)
	}
	if _, err := b.blobs.Stat(t.Context(), vault.Sum([]byte(truncatedPDF))); err == nil {
		t.Error("the refused PDF was stored")
	}

	// Bytes of the same defect recorded as a document of both departments, as an upload
	// before the check would have left them.
	d, _, err := vault.Put(t.Context(), b.blobs, strings.NewReader(truncatedPDF), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []identity.User{b.users[identity.RoleWindow], w.sealer} {
		if _, err := b.pool.Exec(t.Context(), `INSERT INTO seal_documents (digest, department_id, name, size, page_count, uploaded_by)
			VALUES ($1, $2, '旧许可证.pdf', $3, 1, $4)`, d.String(), u.DepartmentID, len(truncatedPDF), u.ID); err != nil {
			t.Fatal(err)
		}
	}
	c := must[casework.Case](t, b.do(t, http.MethodPost, "/api/v1/cases", win, map[string]any{
		"item_code": "440100-01-001", "holder_kind": "id_card", "holder_number": "11010519491231002X"}), http.StatusCreated)
	must[casework.Case](t, b.do(t, http.MethodPost, "/api/v1/cases/"+c.ID.String()+"/accept", w.token(w.sealer), nil), http.StatusOK)
	must[casework.Case](t, b.do(t, http.MethodPost, "/api/v1/cases/"+c.ID.String()+"/decide", w.token(w.sealer), map[string]any{
		"decision": "approved", "text": "准予", "document": map[string]any{"digest": d.String(), "kind": "result"}}), http.StatusOK)
	req := must[seal.Request](t, b.do(t, http.MethodPost, "/api/v1/seal-requests", win, map[string]any{
		"seal_id": w.seal.ID, "case_id": c.ID, "document_digest": d.String(),
		"placement": map[string]any{"page": 1, "x": 380, "y": 60, "size": 120}, "reason": "准予"}), http.StatusCreated)
	must[seal.Request](t, b.do(t, http.MethodPost, "/api/v1/seal-requests/"+req.ID.String()+"/approve", w.token(w.custodian),
		map[string]any{"note": "同意"}), http.StatusOK)
	uses := count(t, b.pool, "seal_uses")
	rec = b.do(t, http.MethodPost, "/api/v1/seal-requests/"+req.ID.String()+"/apply", win, nil)
	p = problemOf(t, rec)
	if rec.Code != http.StatusUnprocessableEntity || p.Type != ProblemBase+"document-unsignable" || !strings.Contains(p.Detail, "startxref") {
		t.Fatalf("apply on a truncated document: %d %s", rec.Code, rec.Body)
	}
	if n := count(t, b.pool, "seal_uses"); n != uses {
		t.Errorf("%d seal uses recorded for a document that could not be signed", n-uses)
	}
	if r := must[seal.Request](t, b.do(t, http.MethodGet, "/api/v1/seal-requests/"+req.ID.String(), win, nil), http.StatusOK); r.Status != seal.RequestApproved {
		t.Errorf("after the refused apply the request is %s, want approved (unused)", r.Status)
	}
}

// outage asserts rec is the 503 problem of kind slug with a Retry-After.
func outage(t *testing.T, what string, rec *httptest.ResponseRecorder, slug string) {
	t.Helper()
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Errorf("%s: %d (Retry-After %q) %s, want 503 %s", what, rec.Code, rec.Header().Get("Retry-After"), rec.Body, slug)
		return
	}
	if p := problemOf(t, rec); p.Type != ProblemBase+slug {
		t.Errorf("%s: problem %s, want %s", what, p.Type, slug)
	}
}

// TestHardening3_DatabaseDownIs503: with the database refusing connections, every route of
// the route table that needs it answers 503 database-unavailable with Retry-After: an
// outage, never a 500 and never a 401 that would send a user to log in again.
func TestHardening3_DatabaseDownIs503(t *testing.T) {
	b := setup(t)
	proxy := newTCPProxy(t, b.pgAddr())
	pool := b.poolVia(t, proxy.addr)
	b.useServer(t, pool, nil, nil)
	if rec := b.do(t, http.MethodGet, "/api/v1/me", b.token[identity.RoleWindow], nil); rec.Code != http.StatusOK {
		t.Fatalf("through the proxy: %d %s", rec.Code, rec.Body)
	}
	proxy.Cut()
	checked := 0
	for _, r := range b.srv.routes() {
		if r.Method != http.MethodGet || r.Path == "/healthz" || r.Path == "/metrics" {
			continue
		}
		target := pathParamRE.ReplaceAllStringFunc(r.Path, func(m string) string {
			if m == ":token" { // a scan-to-verify token: 22 base64url characters
				return "AAAAAAAAAAAAAAAAAAAAAA"
			}
			return uuid.NewString()
		})
		rec := b.do(t, http.MethodGet, target, b.tokenFor(r), nil)
		if rec.Code == http.StatusOK || rec.Code == http.StatusNotFound && r.Public {
			continue // a public route served without the database (the CA's published files, the spec)
		}
		outage(t, "GET "+r.Path, rec, "database-unavailable")
		checked++
	}
	if checked < 20 {
		t.Errorf("only %d routes answered 503", checked)
	}
	rec := b.do(t, http.MethodPost, "/api/v1/auth/login", "", map[string]string{"username": "u-window", "password": testPassword})
	outage(t, "login", rec, "database-unavailable")
	outage(t, "readyz", b.do(t, http.MethodGet, "/readyz", "", nil), "database-unavailable")
	if strings.Contains(b.logs.String(), `"internal-error"`) {
		t.Errorf("an outage was logged as an internal error:\n%s", b.logs.String())
	}
}

// TestHardening3_BlobStoreDownIs503: a blob store that cannot be written (read-only, full)
// answers an upload 503 storage-unavailable with Retry-After, and records nothing.
func TestHardening3_BlobStoreDownIs503(t *testing.T) {
	b := setup(t)
	dir := tmpfs(t, 4<<20)
	store, err := fsstore.New(dir + "/blobs")
	if err != nil {
		t.Fatal(err)
	}
	b.useServer(t, nil, store, nil)
	win := b.token[identity.RoleWindow]
	pgs := b.threePages(t)
	remount(t, dir, true)
	outage(t, "upload to a read-only store", b.upload(t, win, "", idCardMeta(), pgs...), "storage-unavailable")
	remount(t, dir, false)
	fill(t, dir)
	outage(t, "upload to a full store", b.upload(t, win, "", idCardMeta(), pgs...), "storage-unavailable")
	if n := count(t, b.pool, "materials"); n != 0 {
		t.Errorf("%d materials recorded while the store was down", n)
	}
	if err := os.Remove(dir + "/filler"); err != nil {
		t.Fatal(err)
	}
	if rec := b.upload(t, win, "", idCardMeta(), pgs...); rec.Code != http.StatusCreated {
		t.Errorf("upload after the store came back: %d %s", rec.Code, rec.Body)
	}
}

// TestHardening4_StalledDatabaseHasADeadline: with the database stalled (it takes the
// connection and never answers), a request is answered 503 database-unavailable once its
// database deadline has passed, instead of hanging for as long as the stall lasts.
func TestHardening4_StalledDatabaseHasADeadline(t *testing.T) {
	b := setup(t)
	proxy := newTCPProxy(t, b.pgAddr())
	pool := b.poolVia(t, proxy.addr)
	b.useServer(t, pool, nil, func(d *Deps) { d.DBTimeout = time.Second })
	win := b.token[identity.RoleWindow]
	if rec := b.do(t, http.MethodGet, "/api/v1/me", win, nil); rec.Code != http.StatusOK {
		t.Fatalf("through the proxy: %d %s", rec.Code, rec.Body)
	}
	proxy.Stall()
	done := make(chan *httptest.ResponseRecorder, 1)
	go func() { done <- b.do(t, http.MethodGet, "/api/v1/cases", win, nil) }()
	select {
	case rec := <-done:
		outage(t, "stalled database", rec, "database-unavailable")
		if p := problemOf(t, rec); !strings.Contains(p.Detail, "时限") {
			t.Errorf("the problem does not say the deadline passed: %s", p.Detail)
		}
	case <-time.After(time.Minute):
		// A minute is sixty deadlines: the request is hanging on the stall.
		t.Fatal("a request on a stalled database is still waiting after a minute")
	}
	proxy.Resume()
}

// TestHardening5_MissingBlobIsLostData: a material whose stored object has gone is not
// "not found": its download answers stored-object-missing (500-class) naming the digest,
// logged at ERROR with the digest and counted in the metrics.
func TestHardening5_MissingBlobIsLostData(t *testing.T) {
	b := setup(t)
	win := b.token[identity.RoleWindow]
	rec := b.upload(t, win, "", idCardMeta(), b.threePages(t)...)
	m := must[vault.Material](t, rec, http.StatusCreated)
	if err := os.Remove(b.blobs.Path(m.Content)); err != nil {
		t.Fatal(err)
	}
	rec = b.do(t, http.MethodGet, "/api/v1/materials/"+m.ID.String()+"/content", win, nil)
	p := problemOf(t, rec)
	if rec.Code != http.StatusInternalServerError || p.Type != ProblemBase+"stored-object-missing" || !strings.Contains(p.Detail, m.Content.String()) {
		t.Fatalf("download of a lost object: %d %s", rec.Code, rec.Body)
	}
	if !strings.Contains(b.logs.String(), `"level":"ERROR","msg":"stored object missing"`) || !strings.Contains(b.logs.String(), m.Content.String()) {
		t.Errorf("not logged at ERROR with the digest:\n%s", b.logs.String())
	}
	if rec := b.do(t, http.MethodGet, "/metrics", "", nil); !strings.Contains(rec.Body.String(), `sealvault_stored_object_errors_total{kind="missing"} 1`) {
		t.Errorf("the loss is not counted in the metrics:\n%s", rec.Body)
	}
	// A wrong id is still a plain 404.
	if rec := b.do(t, http.MethodGet, "/api/v1/materials/"+uuid.NewString()+"/content", win, nil); rec.Code != http.StatusNotFound {
		t.Errorf("unknown material: %d", rec.Code)
	}
}

// TestHardening6_ReadinessProbesAWrite: /readyz says 503 storage-unavailable while the blob
// store is read-only or full, though it still reads, and ready again once it takes writes.
func TestHardening6_ReadinessProbesAWrite(t *testing.T) {
	b := setup(t)
	dir := tmpfs(t, 1<<20)
	store, err := fsstore.New(dir + "/blobs")
	if err != nil {
		t.Fatal(err)
	}
	b.useServer(t, nil, store, nil) // no cache: every call probes
	ready := func() *httptest.ResponseRecorder { return b.do(t, http.MethodGet, "/readyz", "", nil) }
	if rec := ready(); rec.Code != http.StatusOK {
		t.Fatalf("readyz on a writable store: %d %s", rec.Code, rec.Body)
	}
	// The probe object is there now; a read-only store still serves it but takes nothing.
	remount(t, dir, true)
	outage(t, "readyz on a read-only store", ready(), "storage-unavailable")
	remount(t, dir, false)
	fill(t, dir)
	outage(t, "readyz on a full store", ready(), "storage-unavailable")
	os.Remove(dir + "/filler")
	if rec := ready(); rec.Code != http.StatusOK {
		t.Errorf("readyz after space was freed: %d %s", rec.Code, rec.Body)
	}
	// With a cache the verdict is reused: one probe for many calls.
	b.useServer(t, nil, store, func(d *Deps) { d.ReadinessCache = time.Hour })
	if rec := ready(); rec.Code != http.StatusOK {
		t.Fatal(rec.Code)
	}
	remount(t, dir, true)
	defer remount(t, dir, false)
	if rec := ready(); rec.Code != http.StatusOK {
		t.Errorf("a cached verdict was not reused: %d", rec.Code)
	}
}

// pgAddr is host:port of the bundle's database server.
func (b *bundle) pgAddr() string {
	c := b.pool.Config().ConnConfig
	return net.JoinHostPort(c.Host, strconv.Itoa(int(c.Port)))
}

// TestHardening3_S3DownIs503: with the S3 service gone (connections refused), downloading a
// material and uploading one answer 503 storage-unavailable with Retry-After, not 404 and
// not 500.
func TestHardening3_S3DownIs503(t *testing.T) {
	b := setup(t)
	endpoint, access, secret := s3test.Server(t)
	proxy := newTCPProxy(t, endpoint)
	store, err := s3store.New(t.Context(), s3store.Config{Endpoint: proxy.addr, AccessKey: access, SecretKey: secret,
		Bucket: s3test.Bucket(t), SpoolDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	b.useServer(t, nil, store, nil)
	win := b.token[identity.RoleWindow]
	m := must[vault.Material](t, b.upload(t, win, "", idCardMeta(), b.threePages(t)...), http.StatusCreated)
	proxy.Cut()
	outage(t, "download with S3 down", b.do(t, http.MethodGet, "/api/v1/materials/"+m.ID.String()+"/content", win, nil), "storage-unavailable")
	pgs := b.threePages(t)
	pgs[0].data = testkit.PageImage(t, "png", 420, 594, 9) // new bytes: the store must be written
	outage(t, "upload with S3 down", b.upload(t, win, "", idCardMeta(), pgs...), "storage-unavailable")
	if n := count(t, b.pool, "materials"); n != 1 {
		t.Errorf("%d materials, want the one made before the outage", n)
	}
}

// TestHardening8_TokensDieWithThePassword: a token issued before a password change, before
// the account was disabled or before an administrator logged the user out everywhere is
// refused from that moment, while a login just after works; a role taken away is gone on
// the next request of a token issued before.
func TestHardening8_TokensDieWithThePassword(t *testing.T) {
	b := setup(t)
	admin := b.token[identity.RoleAdmin]
	u := b.users[identity.RoleWindow]
	login := func(password string) string {
		t.Helper()
		rec := b.do(t, http.MethodPost, "/api/v1/auth/login", "", map[string]string{"username": u.Username, "password": password})
		if rec.Code != http.StatusOK {
			t.Fatalf("login: %d %s", rec.Code, rec.Body)
		}
		return decode[tokenResponse](t, rec).AccessToken
	}
	works := func(what, tok string, want int) {
		t.Helper()
		rec := b.do(t, http.MethodGet, "/api/v1/me", tok, nil)
		if rec.Code != want {
			t.Fatalf("%s: %d %s, want %d", what, rec.Code, rec.Body, want)
		}
		if want == http.StatusUnauthorized && !strings.Contains(problemOf(t, rec).Detail, "重新登录") {
			t.Errorf("%s: the refusal does not say to log in again: %s", what, rec.Body)
		}
	}
	old := b.token[identity.RoleWindow]
	a := login(testPassword)
	works("a fresh token", a, http.StatusOK)
	const newPassword = "a new password for the counter"
	if rec := b.do(t, http.MethodPost, "/api/v1/me/password", a, map[string]string{"current_password": testPassword, "new_password": newPassword}); rec.Code != http.StatusNoContent {
		t.Fatalf("change password: %d %s", rec.Code, rec.Body)
	}
	works("the token that changed the password", a, http.StatusUnauthorized)
	works("a token from before", old, http.StatusUnauthorized)
	bTok := login(newPassword) // within the same second as the change
	works("a login just after the change", bTok, http.StatusOK)

	id := u.ID.String()
	must[identity.User](t, b.do(t, http.MethodPatch, "/api/v1/users/"+id, admin, map[string]any{"disabled": true}), http.StatusOK)
	must[identity.User](t, b.do(t, http.MethodPatch, "/api/v1/users/"+id, admin, map[string]any{"disabled": false}), http.StatusOK)
	works("a token from before the account was disabled, after it is enabled again", bTok, http.StatusUnauthorized)

	c := login(newPassword)
	works("a login after the account was enabled", c, http.StatusOK)
	got := must[identity.User](t, b.do(t, http.MethodPost, "/api/v1/users/"+id+"/logout-everywhere", admin, nil), http.StatusOK)
	if got.TokensValidAfter == nil {
		t.Error("the user does not show since when tokens are valid")
	}
	works("a token after log-out everywhere", c, http.StatusUnauthorized)
	works("the administrator's own token", admin, http.StatusOK)
	var events int
	b.pool.QueryRow(t.Context(), `SELECT count(*) FROM audit_events WHERE action = 'user.logout_everywhere' AND body LIKE '%' || $1 || '%'`, id).Scan(&events)
	if events != 1 {
		t.Errorf("%d user.logout_everywhere events, want 1", events)
	}
	if rec := b.do(t, http.MethodPost, "/api/v1/users/"+uuid.NewString()+"/logout-everywhere", admin, nil); rec.Code != http.StatusNotFound {
		t.Errorf("log out an unknown user: %d", rec.Code)
	}

	// A role removed: the auditor's token of before no longer reads the audit trail.
	aud := b.users[identity.RoleAuditor]
	audTok := b.token[identity.RoleAuditor]
	if rec := b.do(t, http.MethodGet, "/api/v1/audit/events", audTok, nil); rec.Code != http.StatusOK {
		t.Fatalf("auditor: %d", rec.Code)
	}
	must[identity.User](t, b.do(t, http.MethodPatch, "/api/v1/users/"+aud.ID.String(), admin, map[string]any{"roles": []string{"window"}}), http.StatusOK)
	if rec := b.do(t, http.MethodGet, "/api/v1/audit/events", audTok, nil); rec.Code != http.StatusForbidden {
		t.Errorf("a token of before the role was removed: %d, want 403", rec.Code)
	}
}
