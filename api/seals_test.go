package api

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"sealvault/casework"
	"sealvault/internal/identity"
	"sealvault/internal/testkit"
	"sealvault/reuse"
	"sealvault/seal"
	"sealvault/vault/pages"
)

// resultPDF is a two-page A4 PDF (200 DPI scans) standing in for a licence to seal.
func resultPDF(t *testing.T) []byte {
	t.Helper()
	pdf, err := pages.Assemble([]pages.Page{
		{Name: "1.jpg", Data: testkit.PageImage(t, "jpeg", 1654, 2339, 1)},
		{Name: "2.jpg", Data: testkit.PageImage(t, "jpeg", 1654, 2339, 2)},
	})
	if err != nil {
		t.Fatal(err)
	}
	return pdf
}

type sealWorld struct {
	b          *bundle
	sealer     identity.User // a sealer of the owning department, D1
	custodian  identity.User // keeps the seal
	supervisor identity.User // 监印人
	dual       identity.User // sealer and custodian of D1: may request, may not approve their own
	tokens     map[uuid.UUID]string
	seal       seal.Seal
	letter     seal.Authorization
	doc        string                      // digest of the center's uploaded document
	pdfs       map[string][]byte           // uploaded documents by digest
	windows    map[uuid.UUID]identity.User // a window clerk of each department that opened a case
}

func (w *sealWorld) token(u identity.User) string { return w.tokens[u.ID] }

func (w *sealWorld) user(t *testing.T, name string, roles ...identity.Role) identity.User {
	t.Helper()
	u, err := identity.CreateUser(t.Context(), w.b.pool, identity.NewUser{Username: name, DisplayName: "用户 " + name,
		DepartmentID: w.b.dept.ID, Roles: roles, Password: testPassword})
	if err != nil {
		t.Fatal(err)
	}
	if w.tokens[u.ID], _, err = w.b.tokens.Issue(u.ID); err != nil {
		t.Fatal(err)
	}
	return u
}

func must[T any](t *testing.T, rec *httptest.ResponseRecorder, status int) T {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status %d, want %d: %s", rec.Code, status, rec.Body)
	}
	return decode[T](t, rec)
}

// cst is the service's time zone: dates in refusals are China Standard Time dates.
var cst = time.FixedZone("CST", 8*3600)

func day(offset int) string { return time.Now().In(cst).AddDate(0, 0, offset).Format(time.DateOnly) }

// newSealWorld registers and activates a business seal of D1 under a seal admin of the
// center, and a letter delegating it to the center for item 440100-01-001, approval required.
func newSealWorld(t *testing.T) *sealWorld {
	b := setup(t)
	w := &sealWorld{b: b, tokens: map[uuid.UUID]string{}, pdfs: map[string][]byte{}, windows: map[uuid.UUID]identity.User{}}
	// The items sealed for: instant items of D1 (the front desk may seal them under a letter).
	must[reuse.MaterialType](t, b.do(t, http.MethodPost, "/api/v1/catalog/types", b.token[identity.RoleAdmin], map[string]any{
		"code": "T-FORM", "name": "申请书", "holder_kind": "person", "validity": "long_term"}), http.StatusOK)
	for _, item := range []string{"440100-01-001", "440100-99-999", "440100-02-002"} {
		must[reuse.ServiceItem](t, b.do(t, http.MethodPost, "/api/v1/catalog/items", b.token[identity.RoleAdmin], map[string]any{
			"code": item, "name": "测试即办事项 " + item, "department_code": "D1", "kind": "instant",
			"materials": []map[string]any{{"type_code": "T-FORM", "required": false, "reuse_accepted": false}}}), http.StatusOK)
	}
	w.sealer = w.user(t, "d1-sealer", identity.RoleSealer)
	w.custodian = w.user(t, "d1-custodian", identity.RoleCustodian)
	w.supervisor = w.user(t, "d1-supervisor", identity.RoleCustodian)
	w.dual = w.user(t, "d1-dual", identity.RoleSealer, identity.RoleCustodian)
	w.seal = w.newSeal(t, "天河区市场监督管理局行政审批专用章", "rsa-3072")
	w.letter = must[seal.Authorization](t, b.do(t, http.MethodPost, "/api/v1/authorizations", b.token[identity.RoleSealAdmin], map[string]any{
		"grantor_department_id": b.dept.ID, "grantee_department_id": b.center.ID, "items": []string{"440100-01-001"},
		"powers": []string{"receive", "seal"}, "seal_ids": []uuid.UUID{w.seal.ID}, "valid_from": day(-1), "valid_until": day(30),
		"approval_required": true, "note": "食品经营许可即办件"}), http.StatusCreated)
	w.doc = w.upload(t, b.token[identity.RoleWindow], resultPDF(t))
	return w
}

func (w *sealWorld) newSeal(t *testing.T, name, alg string) seal.Seal {
	t.Helper()
	b := w.b
	admin := b.token[identity.RoleSealAdmin]
	sl := must[seal.Seal](t, b.do(t, http.MethodPost, "/api/v1/seals", admin, map[string]any{
		"name": name, "type": "business", "department_id": b.dept.ID, "supervisor_id": w.supervisor.ID,
		"custodian_ids": []uuid.UUID{w.custodian.ID, w.dual.ID}, "valid_from": day(-10), "valid_until": day(365),
		"key_algorithm": alg}), http.StatusCreated)
	// Filing draws the seal's image from its data (印章制作).
	if sl.Status != seal.StatusPending || sl.CertSerial == "" || sl.ImageVersion != 1 || sl.ImageNote != "" {
		t.Fatalf("new seal %+v", sl)
	}
	return must[seal.Seal](t, b.do(t, http.MethodPost, "/api/v1/seals/"+sl.ID.String()+"/status", admin,
		map[string]any{"status": "active", "reason": "经审批启用"}), http.StatusOK)
}

func (w *sealWorld) upload(t *testing.T, token string, pdf []byte) string {
	t.Helper()
	rec := w.b.doRaw(t, http.MethodPost, "/api/v1/documents?name=许可证.pdf", "application/pdf", string(pdf), "Authorization", "Bearer "+token)
	d := must[seal.Document](t, rec, http.StatusCreated).Digest
	w.pdfs[d] = pdf
	return d
}

// userOf is the user a test token belongs to.
func (w *sealWorld) userOf(t *testing.T, token string) identity.User {
	t.Helper()
	for r, tok := range w.b.token {
		if tok == token {
			return w.b.users[r]
		}
	}
	for id, tok := range w.tokens {
		if tok == token {
			u, err := identity.GetUser(t.Context(), w.b.pool, id)
			if err != nil {
				t.Fatal(err)
			}
			return u
		}
	}
	t.Fatal("unknown token")
	return identity.User{}
}

// decidedCase opens a case for item at the requester's department (by a window clerk of it),
// has D1's sealer (the owning department) accept and approve it, and names doc (an upload of
// the requester's) as its result: the case a seal request for doc may name.
func (w *sealWorld) decidedCase(t *testing.T, requester identity.User, item, doc string) uuid.UUID {
	t.Helper()
	b := w.b
	clerk, ok := w.windows[requester.DepartmentID]
	switch {
	case ok:
	case requester.HasRole(identity.RoleWindow):
		clerk = requester
	case requester.DepartmentID == b.center.ID:
		clerk = b.users[identity.RoleWindow]
	default:
		clerk = w.user(t, fmt.Sprintf("win-%d", len(w.windows)), identity.RoleWindow)
		if clerk.DepartmentID != requester.DepartmentID {
			if _, err := b.pool.Exec(t.Context(), `UPDATE users SET department_id = $2 WHERE id = $1`, clerk.ID, requester.DepartmentID); err != nil {
				t.Fatal(err)
			}
		}
	}
	w.windows[requester.DepartmentID] = clerk
	tok := w.tokenFor(t, clerk)
	c := must[casework.Case](t, b.do(t, http.MethodPost, "/api/v1/cases", tok, map[string]any{
		"item_code": item, "holder_kind": "id_card", "holder_number": "11010519491231002X"}), http.StatusCreated)
	must[casework.Case](t, b.do(t, http.MethodPost, "/api/v1/cases/"+c.ID.String()+"/accept", w.token(w.sealer), nil), http.StatusOK)
	d1doc := w.upload(t, w.token(w.sealer), w.pdfs[doc])
	if d1doc != doc {
		t.Fatalf("the same PDF uploaded twice has two digests")
	}
	must[casework.Case](t, b.do(t, http.MethodPost, "/api/v1/cases/"+c.ID.String()+"/decide", w.token(w.sealer), map[string]any{
		"decision": "approved", "text": "准予", "document": map[string]any{"digest": doc, "kind": "result"}}), http.StatusOK)
	return c.ID
}

func (w *sealWorld) tokenFor(t *testing.T, u identity.User) string {
	t.Helper()
	for r, tok := range w.b.token {
		if w.b.users[r].ID == u.ID {
			return tok
		}
	}
	if tok, ok := w.tokens[u.ID]; ok {
		return tok
	}
	tok, _, err := w.b.tokens.Issue(u.ID)
	if err != nil {
		t.Fatal(err)
	}
	w.tokens[u.ID] = tok
	return tok
}

// request asks to seal doc for a decided case of item opened for the purpose.
func (w *sealWorld) request(t *testing.T, token string, sealID uuid.UUID, item, doc string) *httptest.ResponseRecorder {
	t.Helper()
	id := w.decidedCase(t, w.userOf(t, token), item, doc)
	return w.requestFor(t, token, sealID, id, doc)
}

func (w *sealWorld) requestFor(t *testing.T, token string, sealID, caseID uuid.UUID, doc string) *httptest.ResponseRecorder {
	t.Helper()
	return w.b.do(t, http.MethodPost, "/api/v1/seal-requests", token, map[string]any{
		"seal_id": sealID, "case_id": caseID, "document_digest": doc,
		"placement": map[string]any{"page": 2, "x": 380, "y": 60, "size": 120}, "reason": "准予食品经营许可"})
}

func refused(t *testing.T, rec *httptest.ResponseRecorder, rule string, mentions ...string) {
	t.Helper()
	p := problemOf(t, rec)
	if rec.Code != http.StatusForbidden || p.Rule != rule {
		t.Fatalf("got %d rule %q, want 403 %s: %s", rec.Code, p.Rule, rule, rec.Body)
	}
	for _, m := range mentions {
		if !strings.Contains(p.Detail, m) {
			t.Errorf("refusal %q does not mention %q", p.Detail, m)
		}
	}
}

// TestSealUseUnderAuthorization is the front desk's path: a window user of the center, under
// the department's letter, requests; a custodian approves; the window user applies; the
// signed PDF validates in pdfsig against the CA root and in our verifier, which finds the
// register entry; the approval cannot be used twice.
func TestSealUseUnderAuthorization(t *testing.T) {
	w := newSealWorld(t)
	b := w.b
	win := b.token[identity.RoleWindow]
	req := must[seal.Request](t, w.request(t, win, w.seal.ID, "440100-01-001", w.doc), http.StatusCreated)
	if req.Status != seal.RequestPending || req.AuthorizationID == nil || *req.AuthorizationID != w.letter.ID {
		t.Fatalf("request %+v", req)
	}
	// Not yet approved.
	refused(t, b.do(t, http.MethodPost, "/api/v1/seal-requests/"+req.ID.String()+"/apply", win, nil), "awaiting-approval", req.Ref)
	req = must[seal.Request](t, b.do(t, http.MethodPost, "/api/v1/seal-requests/"+req.ID.String()+"/approve", w.token(w.custodian),
		map[string]any{"note": "同意"}), http.StatusOK)
	if req.Status != seal.RequestApproved || req.DecidedBy == nil || *req.DecidedBy != w.custodian.ID {
		t.Fatalf("approved request %+v", req)
	}
	rec := b.do(t, http.MethodPost, "/api/v1/seal-requests/"+req.ID.String()+"/apply", win, nil)
	if rec.Code != http.StatusCreated {
		t.Fatalf("apply: %d %s\n%s", rec.Code, rec.Body, b.logs.String())
	}
	use := decode[seal.Use](t, rec)
	if use.InputDigest != w.doc || use.OutputDigest == w.doc || use.ApproverID == nil || use.CertSerial != w.seal.CertSerial {
		t.Fatalf("use %+v", use)
	}
	// The approval is consumed.
	refused(t, b.do(t, http.MethodPost, "/api/v1/seal-requests/"+req.ID.String()+"/apply", win, nil), "approval-consumed", use.Ref)

	rec = b.do(t, http.MethodGet, "/api/v1/seal-uses/"+use.ID.String()+"/content", win, nil)
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/pdf" {
		t.Fatalf("download: %d %s", rec.Code, rec.Body)
	}
	signed := rec.Body.Bytes()
	root := b.do(t, http.MethodGet, "/api/v1/ca/root.pem", "", nil).Body.Bytes()
	out := pdfsig(t, root, signed)
	// The validation data (B-LT) follows the signed revision, so pdfsig, which only compares
	// the byte range with the file's length, says the document is not signed in total.
	for _, want := range []string{"Signature is Valid.", "Certificate is Trusted.", "Not total document signed", "天河区市场监督管理局行政审批专用章"} {
		if !strings.Contains(out, want) {
			t.Errorf("pdfsig does not say %q:\n%s", want, out)
		}
	}

	rec = b.doRaw(t, http.MethodPost, "/api/v1/verify", "application/pdf", string(signed), "Authorization", "Bearer "+b.token[identity.RoleAuditor])
	v := must[seal.Verification](t, rec, http.StatusOK)
	if !v.Valid || len(v.Signatures) != 1 || v.Signatures[0].RegisterEntry == nil || v.Signatures[0].RegisterEntry.ID != use.ID ||
		v.Signatures[0].SealRef != w.seal.Ref || v.Signatures[0].Reason != "准予食品经营许可" {
		t.Fatalf("verify: %s", rec.Body)
	}
	// Bytes appended after signing are reported.
	tampered := append(append([]byte{}, signed...), []byte("\n% appended\n")...)
	rec = b.doRaw(t, http.MethodPost, "/api/v1/verify", "application/pdf", string(tampered), "Authorization", "Bearer "+win)
	if v := must[seal.Verification](t, rec, http.StatusOK); v.Valid || v.Signatures[0].CoversWholeFile || v.Signatures[0].AppendedBytes == 0 {
		t.Errorf("appended bytes not reported: %s", rec.Body)
	}
	// A changed byte inside the signed range breaks the digest.
	flipped := append([]byte{}, signed...)
	i := bytes.Index(flipped, []byte("/MediaBox"))
	flipped[i+1] = 'm'
	rec = b.doRaw(t, http.MethodPost, "/api/v1/verify", "application/pdf", string(flipped), "Authorization", "Bearer "+win)
	if v := must[seal.Verification](t, rec, http.StatusOK); v.Valid || v.Signatures[0].DigestValid {
		t.Errorf("tampered copy passes: %s", rec.Body)
	}

	// The register and the audit trail have the use, with the approver; the auditor sees it.
	rec = b.do(t, http.MethodGet, "/api/v1/seal-uses?seal="+w.seal.ID.String(), b.token[identity.RoleAuditor], nil)
	var list struct{ Items []seal.Use }
	json.Unmarshal(rec.Body.Bytes(), &list)
	if rec.Code != 200 || len(list.Items) != 1 || list.Items[0].ID != use.ID {
		t.Errorf("register: %d %s", rec.Code, rec.Body)
	}
	var applies int
	b.pool.QueryRow(t.Context(), `SELECT count(*) FROM audit_events WHERE action = 'seal.apply'`).Scan(&applies)
	if applies != 1 {
		t.Errorf("%d seal.apply events, want 1", applies)
	}
}

// TestSealRefusals: every rule refuses with its reason, and every refusal is on the audit
// trail for the auditor.
func TestSealRefusals(t *testing.T) {
	w := newSealWorld(t)
	b := w.b
	win := b.token[identity.RoleWindow]
	admin := b.token[identity.RoleSealAdmin]

	// An item the letter does not cover.
	refused(t, w.request(t, win, w.seal.ID, "440100-99-999", w.doc), "item-not-covered", w.letter.Ref, "440100-99-999")

	// Self-approval: a sealer-custodian of D1 requests, then tries to approve it.
	dualDoc := w.upload(t, w.token(w.dual), resultPDF(t))
	req := must[seal.Request](t, w.request(t, w.token(w.dual), w.seal.ID, "440100-01-001", dualDoc), http.StatusCreated)
	refused(t, b.do(t, http.MethodPost, "/api/v1/seal-requests/"+req.ID.String()+"/approve", w.token(w.dual), map[string]any{}), "self-approval")

	// A seal suspended between approval and application is refused at application.
	req2 := must[seal.Request](t, w.request(t, win, w.seal.ID, "440100-01-001", w.doc), http.StatusCreated)
	must[seal.Request](t, b.do(t, http.MethodPost, "/api/v1/seal-requests/"+req2.ID.String()+"/approve", w.token(w.supervisor), map[string]any{}), http.StatusOK)
	must[seal.Seal](t, b.do(t, http.MethodPost, "/api/v1/seals/"+w.seal.ID.String()+"/status", admin,
		map[string]any{"status": "suspended", "reason": "印章挂失"}), http.StatusOK)
	refused(t, b.do(t, http.MethodPost, "/api/v1/seal-requests/"+req2.ID.String()+"/apply", win, nil), "seal-not-active", w.seal.Ref, "停用", day(0))

	// An expired letter.
	other := w.newSeal(t, "天河区市场监督管理局合同专用章", "ecdsa-p256")
	expired := must[seal.Authorization](t, b.do(t, http.MethodPost, "/api/v1/authorizations", admin, map[string]any{
		"grantor_department_id": b.dept.ID, "grantee_department_id": b.center.ID, "items": []string{"440100-01-001"},
		"powers": []string{"seal"}, "seal_ids": []uuid.UUID{other.ID}, "valid_from": day(-60), "valid_until": day(-1),
		"approval_required": false}), http.StatusCreated)
	refused(t, w.request(t, win, other.ID, "440100-01-001", w.doc), "authorization-expired", expired.Ref, day(-1))

	// No letter at all: the custodian role cannot make requests (route table); an admin of
	// the center holds no letter for a seal of another department; a window user of an
	// unrelated department gets no-authorization.
	dept2, err := identity.CreateDepartment(t.Context(), b.pool, identity.NewDepartment{Code: "D2", Name: "住房和城乡建设局", Kind: identity.KindDepartment, Level: "district", ParentID: &b.center.ID})
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := identity.CreateUser(t.Context(), b.pool, identity.NewUser{Username: "d2-window", DisplayName: "窗口 D2",
		DepartmentID: dept2.ID, Roles: []identity.Role{identity.RoleWindow}, Password: testPassword})
	if err != nil {
		t.Fatal(err)
	}
	tok, _, _ := b.tokens.Issue(stranger.ID)
	w.tokens[stranger.ID] = tok
	strangerDoc := w.upload(t, tok, resultPDF(t))
	refused(t, w.request(t, tok, other.ID, "440100-01-001", strangerDoc), "no-authorization", other.Ref)

	// The auditor sees every refusal, with its rule and the seal.
	rec := b.do(t, http.MethodGet, "/api/v1/audit/events?action=seal.apply.denied&limit=50", b.token[identity.RoleAuditor], nil)
	body := rec.Body.String()
	for _, rule := range []string{"item-not-covered", "self-approval", "seal-not-active", "authorization-expired", "no-authorization"} {
		if !strings.Contains(body, rule) {
			t.Errorf("audit view lacks the %s refusal: %s", rule, body)
		}
	}
	if strings.Contains(body, "0519491231") {
		t.Error("personal data in audit details")
	}
}

// TestConcurrentApplicationsOfOneApproval: exactly one of several simultaneous
// applications of one approval succeeds.
func TestConcurrentApplicationsOfOneApproval(t *testing.T) {
	w := newSealWorld(t)
	b := w.b
	win := b.token[identity.RoleWindow]
	req := must[seal.Request](t, w.request(t, win, w.seal.ID, "440100-01-001", w.doc), http.StatusCreated)
	must[seal.Request](t, b.do(t, http.MethodPost, "/api/v1/seal-requests/"+req.ID.String()+"/approve", w.token(w.custodian), map[string]any{}), http.StatusOK)
	const n = 6
	codes := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			codes[i] = b.do(t, http.MethodPost, "/api/v1/seal-requests/"+req.ID.String()+"/apply", win, nil).Code
		})
	}
	wg.Wait()
	ok := 0
	for _, c := range codes {
		if c == http.StatusCreated {
			ok++
		} else if c != http.StatusForbidden {
			t.Errorf("status %d", c)
		}
	}
	var uses int
	b.pool.QueryRow(t.Context(), `SELECT count(*) FROM seal_uses WHERE request_id = $1`, req.ID).Scan(&uses)
	if ok != 1 || uses != 1 {
		t.Errorf("%d applications succeeded, %d register rows; want exactly 1 (codes %v)", ok, uses, codes)
	}
}

// pdfsig runs poppler's pdfsig on pdf with an NSS database trusting root (PEM).
func pdfsig(t *testing.T, root, pdf []byte) string { return testkit.Pdfsig(t, root, pdf) }

// externalCA makes a root outside the service and a seal certificate under it, as PEM files
// in dir: root.pem, chain.pem (seal certificate, then root), key.pem (PKCS#8).
func externalCA(t *testing.T, dir string) {
	t.Helper()
	rootKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	rootTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "某省电子认证服务机构根证书"},
		NotBefore: now.AddDate(-1, 0, 0), NotAfter: now.AddDate(10, 0, 0), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	rootDER, err := x509.CreateCertificate(rand.Reader, rootTmpl, rootTmpl, rootKey.Public(), rootKey)
	if err != nil {
		t.Fatal(err)
	}
	root, _ := x509.ParseCertificate(rootDER)
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	leafTmpl := &x509.Certificate{SerialNumber: big.NewInt(77), Subject: pkix.Name{Organization: []string{"市场监督管理局"}, CommonName: "市场监督管理局合同专用章"},
		NotBefore: now.AddDate(0, -1, 0), NotAfter: now.AddDate(2, 0, 0), KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, root, key.Public(), rootKey)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(key)
	block := func(typ string, der []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}) }
	os.WriteFile(filepath.Join(dir, "root.pem"), block("CERTIFICATE", rootDER), 0o600)
	os.WriteFile(filepath.Join(dir, "chain.pem"), append(block("CERTIFICATE", leafDER), block("CERTIFICATE", rootDER)...), 0o600)
	os.WriteFile(filepath.Join(dir, "key.pem"), block("PRIVATE KEY", pkcs8), 0o600)
}

// TestImportedSeal: a seal whose certificate an outside CA issued is imported from PKCS#12
// (made by openssl), used like any other, and its signatures validate against that CA.
func TestImportedSeal(t *testing.T) {
	w := newSealWorld(t)
	b := w.b
	dir := t.TempDir()
	externalCA(t, dir)
	p12 := filepath.Join(dir, "seal.p12")
	if out, err := exec.Command("openssl", "pkcs12", "-export", "-in", filepath.Join(dir, "chain.pem"), "-inkey",
		filepath.Join(dir, "key.pem"), "-out", p12, "-passout", "pass:密码123").CombinedOutput(); err != nil {
		t.Fatalf("openssl pkcs12: %v %s", err, out)
	}
	p12Bytes, _ := os.ReadFile(p12)
	meta := map[string]any{"name": "市场监督管理局合同专用章", "type": "contract", "department_id": b.dept.ID,
		"supervisor_id": w.supervisor.ID, "custodian_ids": []uuid.UUID{w.custodian.ID}, "valid_from": day(0), "valid_until": day(300)}
	upload := func(password string) *httptest.ResponseRecorder {
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		js, _ := json.Marshal(meta)
		mw.WriteField("metadata", string(js))
		fw, _ := mw.CreateFormFile("pkcs12", "seal.p12")
		fw.Write(p12Bytes)
		mw.WriteField("password", password)
		mw.Close()
		return b.doRaw(t, http.MethodPost, "/api/v1/seals/import", mw.FormDataContentType(), body.String(),
			"Authorization", "Bearer "+b.token[identity.RoleSealAdmin])
	}
	if rec := upload("wrong"); rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "password") {
		t.Fatalf("wrong password: %d %s", rec.Code, rec.Body)
	}
	sl := must[seal.Seal](t, upload("密码123"), http.StatusCreated)
	if sl.KeyAlgorithm != "imported" || sl.Status != seal.StatusPending {
		t.Fatalf("imported seal %+v", sl)
	}
	admin := b.token[identity.RoleSealAdmin]
	must[seal.Seal](t, b.doRaw(t, http.MethodPost, "/api/v1/seals/"+sl.ID.String()+"/image", "image/png", string(seal.DemoImage()),
		"Authorization", "Bearer "+admin), http.StatusOK)
	must[seal.Seal](t, b.do(t, http.MethodPost, "/api/v1/seals/"+sl.ID.String()+"/status", admin,
		map[string]any{"status": "active", "reason": "启用"}), http.StatusOK)

	// The owning department's sealer uses it; a custodian approves.
	doc := w.upload(t, w.token(w.sealer), resultPDF(t))
	req := must[seal.Request](t, w.request(t, w.token(w.sealer), sl.ID, "440100-02-002", doc), http.StatusCreated)
	must[seal.Request](t, b.do(t, http.MethodPost, "/api/v1/seal-requests/"+req.ID.String()+"/approve", w.token(w.custodian), map[string]any{}), http.StatusOK)
	use := must[seal.Use](t, b.do(t, http.MethodPost, "/api/v1/seal-requests/"+req.ID.String()+"/apply", w.token(w.sealer), nil), http.StatusCreated)
	signed := b.do(t, http.MethodGet, "/api/v1/seal-uses/"+use.ID.String()+"/content", w.token(w.sealer), nil).Body.Bytes()
	rec := b.doRaw(t, http.MethodPost, "/api/v1/verify", "application/pdf", string(signed), "Authorization", "Bearer "+w.token(w.sealer))
	if v := must[seal.Verification](t, rec, http.StatusOK); !v.Valid || v.Signatures[0].SealRef != sl.Ref || !v.Signatures[0].ChainValid {
		t.Fatalf("verify: %s", rec.Body)
	}
	externalRoot, _ := os.ReadFile(filepath.Join(dir, "root.pem"))
	if out := pdfsig(t, externalRoot, signed); !strings.Contains(out, "Signature is Valid.") || !strings.Contains(out, "Certificate is Trusted.") {
		t.Errorf("pdfsig with the outside CA trusted:\n%s", out)
	}
}

// TestSealLifeCycle: images are checked, transitions follow the life cycle with reasons,
// revoking a seal puts its certificate on the CRL, a revoked letter stops its uses, and a
// document that is not a PDF cannot be put up for sealing.
func TestSealLifeCycle(t *testing.T) {
	w := newSealWorld(t)
	b := w.b
	admin := b.token[identity.RoleSealAdmin]
	id := w.seal.ID.String()

	opaque := testkit.PageImage(t, "png", 200, 200, 1)
	for name, img := range map[string][]byte{"not a PNG": []byte("GIF89a..."), "no transparency": opaque} {
		rec := b.doRaw(t, http.MethodPost, "/api/v1/seals/"+id+"/image", "image/png", string(img), "Authorization", "Bearer "+admin)
		if p := problemOf(t, rec); rec.Code != http.StatusBadRequest || p.Errors[0].Field != "image" {
			t.Errorf("%s: %d %s", name, rec.Code, rec.Body)
		}
	}
	// A new image is a new version.
	sl := must[seal.Seal](t, b.doRaw(t, http.MethodPost, "/api/v1/seals/"+id+"/image", "image/png", string(seal.DemoImage()),
		"Authorization", "Bearer "+admin), http.StatusOK)
	if sl.ImageVersion != 2 {
		t.Errorf("image version %d, want 2", sl.ImageVersion)
	}
	// A reason is required; pending is not a target.
	for _, body := range []map[string]any{{"status": "suspended", "reason": " "}, {"status": "pending", "reason": "x"}} {
		if rec := b.do(t, http.MethodPost, "/api/v1/seals/"+id+"/status", admin, body); rec.Code != http.StatusBadRequest {
			t.Errorf("%v: %d %s", body, rec.Code, rec.Body)
		}
	}
	// Only seal admins above the owning department manage it: a window user cannot.
	if rec := b.do(t, http.MethodPost, "/api/v1/seals/"+id+"/status", b.token[identity.RoleWindow],
		map[string]any{"status": "suspended", "reason": "x"}); rec.Code != http.StatusForbidden {
		t.Errorf("window user changed a seal: %d", rec.Code)
	}

	// A revoked letter stops the center's uses.
	must[seal.Authorization](t, b.do(t, http.MethodPost, "/api/v1/authorizations/"+w.letter.ID.String()+"/revoke", admin,
		map[string]any{"reason": "委托事项调整"}), http.StatusOK)
	refused(t, w.request(t, b.token[identity.RoleWindow], w.seal.ID, "440100-01-001", w.doc), "authorization-revoked", w.letter.Ref)

	// Revocation is final and lists the certificate on the CRL.
	must[seal.Seal](t, b.do(t, http.MethodPost, "/api/v1/seals/"+id+"/status", admin, map[string]any{"status": "revoked", "reason": "印章注销"}), http.StatusOK)
	if rec := b.do(t, http.MethodPost, "/api/v1/seals/"+id+"/status", admin, map[string]any{"status": "active", "reason": "x"}); rec.Code != http.StatusConflict {
		t.Errorf("revoked seal reactivated: %d %s", rec.Code, rec.Body)
	}
	rec := b.do(t, http.MethodGet, "/api/v1/ca/crl", "", nil)
	crl, err := x509.ParseRevocationList(rec.Body.Bytes())
	if err != nil {
		t.Fatalf("CRL: %v", err)
	}
	root := b.do(t, http.MethodGet, "/api/v1/ca/root.pem", "", nil).Body.Bytes()
	blk, _ := pem.Decode(root)
	rootCert, _ := x509.ParseCertificate(blk.Bytes)
	if err := crl.CheckSignatureFrom(rootCert); err != nil || len(crl.RevokedCertificateEntries) != 1 ||
		crl.RevokedCertificateEntries[0].SerialNumber.Text(16) != w.seal.CertSerial {
		t.Errorf("CRL does not list the revoked seal's certificate %s: %v %+v", w.seal.CertSerial, err, crl.RevokedCertificateEntries)
	}

	// Not a PDF: refused when uploaded for sealing.
	rec = b.doRaw(t, http.MethodPost, "/api/v1/documents?name=批复.pdf", "application/pdf", "%PDF-1.7 not really", "Authorization", "Bearer "+b.token[identity.RoleWindow])
	if p := problemOf(t, rec); rec.Code != http.StatusUnprocessableEntity || !strings.Contains(p.Detail, "批复.pdf") {
		t.Errorf("garbage PDF: %d %s", rec.Code, rec.Body)
	}
	var events int
	b.pool.QueryRow(t.Context(), `SELECT count(*) FROM audit_events WHERE action IN ('seal.revoke', 'authorization.revoke', 'seal.image')`).Scan(&events)
	if events != 4 {
		t.Errorf("%d life-cycle audit events, want 4 (two images, letter revoked, seal revoked)", events)
	}
}
