package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sealvault/internal/dbtest"
	"sealvault/internal/testkit"
	"sealvault/vault/pages"
)

// demoSealed is the demo's instant case taken to a sealed licence with one seal.
type demoSealed struct {
	caseID, caseNo, useID, useRef string
	sealed                        []byte
}

// sealDemoCase takes the demo's instant case, as the README walks it, to a licence sealed
// with sealID: the ID card scanned earlier is reused, the application form is scanned now,
// the clerk accepts and decides under letter A-1, the custodian approves, the clerk applies.
func sealDemoCase(t *testing.T, s *service, win, cust, sealID string) demoSealed {
	t.Helper()
	pdf, err := pages.Assemble([]pages.Page{{Name: "licence.jpg", Data: testkit.PageImage(t, "jpeg", 1654, 2339, 3)}})
	if err != nil {
		t.Fatal(err)
	}
	raw := func(path, token, ctype string, data []byte) []byte {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, s.base+path, bytes.NewReader(data))
		req.Header.Set("Content-Type", ctype)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := s.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("POST %s: %d %s", path, resp.StatusCode, b)
		}
		return b
	}
	// The demo's instant case, as the README walks it: the ID card scanned earlier is reused,
	// the application form is scanned now, the clerk accepts and decides under letter A-1.
	scan := func(typeCode, title string, w, h, dpi int) string {
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		mw.WriteField("metadata", fmt.Sprintf(`{"holder_kind":"id_card","holder_number":"11010519491231002X","type_code":%q,"title":%q,"source":"scan","original_verified":true}`, typeCode, title))
		fw, _ := mw.CreateFormFile("pages", "page.jpg")
		fw.Write(jfif(testkit.PageImage(t, "jpeg", w, h, 2), dpi))
		mw.Close()
		var m struct{ ID string }
		json.Unmarshal(raw("/api/v1/materials", win, mw.FormDataContentType(), body.Bytes()), &m)
		return m.ID
	}
	scan("ID-CARD", "居民身份证", 1011, 638, 300)
	status, body := s.do(t, http.MethodPost, "/api/v1/cases", win, map[string]any{"item_code": "440106-GTGSH-003",
		"holder_kind": "id_card", "holder_number": "11010519491231002X"})
	var cs struct {
		ID     string
		CaseNo string `json:"case_no"`
		State  string
		Plan   []struct {
			TypeCode   string `json:"type_code"`
			Status     string
			MaterialID string `json:"material_id"`
		}
	}
	if json.Unmarshal(body, &cs); status != http.StatusCreated || len(cs.Plan) != 2 || cs.Plan[0].Status != "reusable" {
		t.Fatalf("case: %d %s", status, body)
	}
	caseURL := "/api/v1/cases/" + cs.ID
	if status, body = s.do(t, http.MethodPost, caseURL+"/materials", win, map[string]any{"type_code": "ID-CARD",
		"material_id": cs.Plan[0].MaterialID, "reuse": true}); status != 200 {
		t.Fatalf("reuse: %d %s", status, body)
	}
	form := scan("APPLICATION-FORM", "个体工商户注销登记申请书", 1240, 1754, 150)
	if status, body = s.do(t, http.MethodPost, caseURL+"/materials", win, map[string]any{"type_code": "APPLICATION-FORM",
		"material_id": form, "reuse": false}); status != 200 {
		t.Fatalf("attach: %d %s", status, body)
	}
	if status, body = s.do(t, http.MethodPost, caseURL+"/accept", win, nil); status != 200 || !strings.Contains(string(body), `"state":"accepted"`) {
		t.Fatalf("accept: %d %s", status, body)
	}
	var doc struct{ Digest string }
	json.Unmarshal(raw("/api/v1/documents?name=licence.pdf", win, "application/pdf", pdf), &doc)
	if status, body = s.do(t, http.MethodPost, caseURL+"/decide", win, map[string]any{"decision": "approved",
		"text": "准予注销登记", "document": map[string]any{"digest": doc.Digest, "kind": "result"}}); status != 200 {
		t.Fatalf("decide: %d %s", status, body)
	}
	status, body = s.do(t, http.MethodPost, "/api/v1/seal-requests", win, map[string]any{
		"seal_id": sealID, "case_id": cs.ID, "document_digest": doc.Digest,
		"placement": map[string]any{"page": 1, "x": 400, "y": 80, "size": 120}, "reason": "准予个体工商户注销登记"})
	var req struct{ ID, Status string }
	if json.Unmarshal(body, &req); status != http.StatusCreated || req.Status != "pending" {
		t.Fatalf("request: %d %s", status, body)
	}
	if status, body = s.do(t, http.MethodPost, "/api/v1/seal-requests/"+req.ID+"/approve", cust, map[string]any{"note": "同意"}); status != 200 {
		t.Fatalf("approve: %d %s", status, body)
	}
	status, body = s.do(t, http.MethodPost, "/api/v1/seal-requests/"+req.ID+"/apply", win, nil)
	var use struct{ ID, Ref string }
	if json.Unmarshal(body, &use); status != http.StatusCreated {
		t.Fatalf("apply: %d %s", status, body)
	}
	status, sealed := s.do(t, http.MethodGet, "/api/v1/seal-uses/"+use.ID+"/content", win, nil)
	if status != 200 {
		t.Fatalf("download: %d", status)
	}
	return demoSealed{caseID: cs.ID, caseNo: cs.CaseNo, useID: use.ID, useRef: use.Ref, sealed: sealed}
}

// TestDemoSealAndVerify is the demo's sealing path as a new user takes it, against a real
// `serve --demo`: the window clerk uploads a licence, requests the demo seal under the demo
// letter, the custodian approves, the clerk applies; `sealvault verify` then passes the
// sealed file (naming the seal and the register entry) and fails a copy with bytes added.
func TestDemoSealAndVerify(t *testing.T) {
	dbURL := dbtest.URL(t)
	dataDir := t.TempDir()
	s := startServe(t, dbURL, dataDir)
	defer s.stop()
	win := s.login(t, "window", "demo-window-2026")
	cust := s.login(t, "custodian", "demo-custodian-2026")

	status, body := s.do(t, http.MethodGet, "/api/v1/seals", win, nil)
	var seals struct {
		Items []struct{ ID, Ref, Status string }
	}
	// S-1 (ECDSA P-256) and S-2 (SM2), both active; this walk uses S-1.
	if json.Unmarshal(body, &seals); status != 200 || len(seals.Items) != 2 || seals.Items[0].Ref != "S-1" || seals.Items[0].Status != "active" {
		t.Fatalf("demo seals: %d %s", status, body)
	}
	d := sealDemoCase(t, s, win, cust, seals.Items[0].ID)
	cs := struct{ ID, CaseNo string }{d.caseID, d.caseNo}
	use := struct{ ID, Ref string }{d.useID, d.useRef}
	sealed := d.sealed
	caseURL := "/api/v1/cases/" + cs.ID
	for _, step := range []struct {
		path string
		body any
	}{{"/deliver", map[string]any{"method": "counter"}}, {"/close", nil}} {
		if status, body = s.do(t, http.MethodPost, caseURL+step.path, win, step.body); status != 200 {
			t.Fatalf("%s: %d %s", step.path, status, body)
		}
	}
	auditor := s.login(t, "auditor", "demo-auditor-2026")
	status, body = s.do(t, http.MethodGet, caseURL+"/timeline", auditor, nil)
	for _, want := range []string{"case.create", "material.reuse", "case.material.submit", "case.accept", "case.decide",
		"seal.request", "seal.approve", "seal.apply", "case.sealed", "case.deliver", "case.close"} {
		if status != 200 || !strings.Contains(string(body), `"action":"`+want+`"`) {
			t.Errorf("timeline lacks %s: %d %s", want, status, body)
		}
	}
	file := filepath.Join(t.TempDir(), "sealed.pdf")
	os.WriteFile(file, sealed, 0o600)
	appended := filepath.Join(t.TempDir(), "appended.pdf")
	os.WriteFile(appended, append(append([]byte{}, sealed...), "\n%%EOF\n"...), 0o600)

	verify := func(f string) (string, error) {
		root := newRoot()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs([]string{"verify", f, "--data-dir", dataDir, "--database-url", dbURL})
		err := root.ExecuteContext(t.Context())
		return out.String(), err
	}
	out, err := verify(file)
	if err != nil {
		t.Fatalf("verify of the sealed file: %v\n%s", err, out)
	}
	for _, want := range []string{"VALID", seals.Items[0].Ref, use.Ref, cs.CaseNo, "changing nothing signed: validation data (DSS), document timestamp ArchiveTimestamp-1", "level:     B-LTA",
		"archive timestamp ArchiveTimestamp-1: valid"} {
		if !strings.Contains(out, want) {
			t.Errorf("verify output lacks %q:\n%s", want, out)
		}
	}
	out, err = verify(appended)
	if err == nil || !strings.Contains(out, "NOT VALID") || !strings.Contains(out, "bytes follow") {
		t.Errorf("verify of a copy with bytes appended: %v\n%s", err, out)
	}

	// A relying party with the binary alone, in an empty directory with no database.
	status, rootPEM := s.do(t, http.MethodGet, "/api/v1/ca/root.pem", "", nil)
	if status != 200 {
		t.Fatalf("root.pem: %d", status)
	}
	rootFile := filepath.Join(t.TempDir(), "root.pem")
	os.WriteFile(rootFile, rootPEM, 0o600)
	otherRoot := filepath.Join(t.TempDir(), "other-root.pem")
	os.WriteFile(otherRoot, selfSignedPEM(t), 0o600)
	blk, _ := pem.Decode(rootPEM)
	fingerprint := fmt.Sprintf("%x", sha256.Sum256(blk.Bytes))
	bin := buildSealvault(t)
	empty := t.TempDir()
	run := runIn(t, bin, empty)
	for _, tc := range []struct {
		name  string
		args  []string
		fails bool
		want  []string
		not   []string
	}{
		{"--root", []string{"verify", file, "--root", rootFile}, false,
			[]string{"VALID", "changing nothing signed: validation data (DSS)", "B-LTA; embedded validation data: 3 certificates, 1 CRLs",
				"archive timestamp ArchiveTimestamp-1: valid",
				"not revoked according to the CRL of", "(embedded in the file)", "register not consulted", rootFile}, []string{use.Ref, "NOT valid"}},
		{"embedded root", []string{"verify", file}, false,
			[]string{"VALID", "register not consulted", "root taken from the file", fingerprint}, []string{use.Ref}},
		{"bytes appended", []string{"verify", appended, "--root", rootFile}, true,
			[]string{"NOT VALID", "bytes follow", "register not consulted"}, nil},
		{"another root", []string{"verify", file, "--root", otherRoot}, true,
			[]string{"NOT VALID", "chain to the root: FAILED", "register not consulted"}, nil},
		{"--server", []string{"verify", file, "--server", s.base, "--token", win}, false,
			[]string{"VALID", use.Ref, cs.CaseNo, "register consulted: " + s.base}, []string{"not consulted"}},
		{"--server without a token", []string{"verify", file, "--server", s.base}, false,
			[]string{"VALID", use.Ref, "S-1", "天河区市场监督管理局", "register consulted: " + s.base}, []string{"not consulted", cs.CaseNo}},
	} {
		out, err := run(tc.args...)
		if (err != nil) != tc.fails {
			t.Errorf("%s: exit %v, want failure %v\n%s", tc.name, err, tc.fails, out)
		}
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: output lacks %q:\n%s", tc.name, w, out)
			}
		}
		for _, w := range tc.not {
			if strings.Contains(out, w) {
				t.Errorf("%s: output has %q:\n%s", tc.name, w, out)
			}
		}
		if strings.Contains(out, "postgres") || strings.Contains(out, "local database") {
			t.Errorf("%s: a database was started:\n%s", tc.name, out)
		}
	}
	if entries, _ := os.ReadDir(empty); len(entries) != 0 {
		t.Errorf("verify made %d entries in the directory it ran in, first %s", len(entries), entries[0].Name())
	}

	// Nothing is due for renewal: the demo's TSA certificate has years left.
	renew := func(args ...string) (string, error) {
		root := newRoot()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs(append([]string{"seal", "renew-timestamps", "--data-dir", dataDir, "--database-url", dbURL}, args...))
		err := root.ExecuteContext(t.Context())
		return out.String(), err
	}
	if out, err := renew("--as", "sealadmin"); err != nil || !strings.Contains(out, "0 uses renewed") {
		t.Errorf("renew-timestamps: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		args []string
		says string
	}{
		{nil, "--as: name the seal administrator"},
		{[]string{"--as", "window"}, "not a seal administrator"},
		{[]string{"--as", "nobody"}, "no such user"},
		{[]string{"--as", "sealadmin", "--within", "876000h"}, "within the renewal window itself"},
	} {
		if out, err := renew(tc.args...); err == nil || !strings.Contains(err.Error()+out, tc.says) {
			t.Errorf("renew-timestamps %q: %v, want %q\n%s", tc.args, err, tc.says, out)
		}
	}

	// The seal is revoked; the same file, verified with the network closed (the root file
	// and the CRL published after the revocation), is still valid: sealed before it.
	admin := s.login(t, "sealadmin", "demo-sealadmin-2026")
	if status, body := s.do(t, http.MethodPost, "/api/v1/seals/"+seals.Items[0].ID+"/status", admin,
		map[string]any{"status": "revoked", "reason": "印章遗失"}); status != 200 {
		t.Fatalf("revoke: %d %s", status, body)
	}
	status, crl := s.do(t, http.MethodGet, "/api/v1/ca/crl", "", nil)
	if status != 200 {
		t.Fatalf("crl: %d", status)
	}
	crlFile := filepath.Join(t.TempDir(), "sealvault.crl")
	os.WriteFile(crlFile, crl, 0o600)
	out, err = run("verify", file, "--root", rootFile, "--crl", crlFile)
	for _, want := range []string{"VALID", "seal revoked on", "(after sealing)", "(given)"} {
		if err != nil || !strings.Contains(out, want) {
			t.Errorf("offline with the later CRL: %v, output lacks %q:\n%s", err, want, out)
		}
	}
	// The same with only the root file, when it is the service's trust.pem (root and CRL).
	status, trust := s.do(t, http.MethodGet, "/api/v1/ca/trust.pem", "", nil)
	if status != 200 || !bytes.Contains(trust, []byte("BEGIN X509 CRL")) {
		t.Fatalf("trust.pem: %d\n%s", status, trust)
	}
	trustFile := filepath.Join(t.TempDir(), "trust.pem")
	os.WriteFile(trustFile, trust, 0o600)
	out, err = run("verify", file, "--root", trustFile)
	for _, want := range []string{"VALID", "seal revoked on", "(after sealing)", "(given)"} {
		if err != nil || !strings.Contains(out, want) {
			t.Errorf("offline with trust.pem alone: %v, output lacks %q:\n%s", err, want, out)
		}
	}
	// Without the later CRL, offline cannot know of the revocation, and says which CRL it
	// judged by.
	out, err = run("verify", file, "--root", rootFile)
	if err != nil || !strings.Contains(out, "not revoked according to the CRL of") {
		t.Errorf("offline with the embedded CRL only: %v\n%s", err, out)
	}
	if out, err = run("verify", file, "--root", rootFile, "--crl", rootFile); err == nil || !strings.Contains(out, "not a certificate revocation list") {
		t.Errorf("--crl with a certificate: %v\n%s", err, out)
	}
}

// selfSignedPEM is a root certificate no seal chains to.
func selfSignedPEM(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "另一个根证书"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// jfif gives a JPEG the density a document scanner records (Go's encoder writes none).
func jfif(j []byte, dpi int) []byte {
	seg := []byte{0xff, 0xe0, 0, 16, 'J', 'F', 'I', 'F', 0, 1, 1, 1, byte(dpi >> 8), byte(dpi), byte(dpi >> 8), byte(dpi), 0, 0}
	return append(append(append([]byte{}, j[:2]...), seg...), j[2:]...)
}
