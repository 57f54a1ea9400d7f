package api

import (
	"bytes"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"image"
	"image/color"
	"image/png"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"
	"github.com/google/uuid"

	"sealvault/internal/identity"
	"sealvault/seal"
	"sealvault/seal/ca"
	"sealvault/seal/pades"
	"sealvault/seal/ses"
)

// TestSM2SealUse (national cryptography, points 1, 4, 5 and 6): a seal filed as sm2 has an
// SM2 key and an SM2 certificate from the SM2 root; its use is a PDF electronic seal whose
// /Contents is a GB/T 38540 SES_Signature carrying the seal's data, over SM3, timestamped,
// followed by the validation data and an archive timestamp. The service's verification
// says valid with the seal data and finds the register entry; OpenSSL verifies the SM2
// signature value and the certificate chain extracted from the output; qpdf finds the file
// sound; after the seal's revocation an offline verification with the SM2 CRL says the use
// was made before it.
func TestSM2SealUse(t *testing.T) {
	w := newSealWorld(t)
	b := w.b
	win, auditor := b.token[identity.RoleWindow], b.token[identity.RoleAuditor]
	sm2 := w.newSeal(t, "天河区市场监督管理局审批专用章", "sm2")
	if sm2.KeyAlgorithm != "sm2" {
		t.Fatalf("key algorithm %q", sm2.KeyAlgorithm)
	}
	cert, err := smx509.ParseCertificate(pemBody(t, b.do(t, http.MethodGet, "/api/v1/seals/"+sm2.ID.String()+"/certificate", auditor, nil).Body.Bytes()))
	if err != nil || cert.SignatureAlgorithm != smx509.SM2WithSM3 || cert.CheckSignatureFrom(b.maker.Cert) != nil ||
		!strings.Contains(cert.Subject.String(), "天河区市场监督管理局审批专用章") {
		t.Fatalf("the SM2 seal's certificate: %v %+v", err, cert)
	}
	must[seal.Authorization](t, b.do(t, http.MethodPost, "/api/v1/authorizations", b.token[identity.RoleSealAdmin], map[string]any{
		"grantor_department_id": b.dept.ID, "grantee_department_id": b.center.ID, "items": []string{"440100-02-002"},
		"powers": []string{"receive", "seal"}, "seal_ids": []uuid.UUID{sm2.ID}, "valid_from": day(-1), "valid_until": day(30),
		"approval_required": true}), http.StatusCreated)
	req := must[seal.Request](t, w.request(t, win, sm2.ID, "440100-02-002", w.doc), http.StatusCreated)
	must[seal.Request](t, b.do(t, http.MethodPost, "/api/v1/seal-requests/"+req.ID.String()+"/approve", w.token(w.custodian),
		map[string]any{"note": "同意"}), http.StatusOK)
	rec := b.do(t, http.MethodPost, "/api/v1/seal-requests/"+req.ID.String()+"/apply", win, nil)
	if rec.Code != http.StatusCreated {
		t.Fatalf("apply: %d %s\n%s", rec.Code, rec.Body, b.logs.String())
	}
	use := decode[seal.Use](t, rec)
	if use.CertSerial != sm2.CertSerial || use.Timestamp == nil {
		t.Fatalf("use %+v", use)
	}
	signed := b.do(t, http.MethodGet, "/api/v1/seal-uses/"+use.ID.String()+"/content", win, nil).Body.Bytes()

	v := must[seal.Verification](t, b.doRaw(t, http.MethodPost, "/api/v1/verify", "application/pdf", string(signed), "Authorization", "Bearer "+auditor), http.StatusOK)
	if !v.Valid || len(v.Signatures) != 1 || len(v.ArchiveTimestamps) != 1 {
		t.Fatalf("verify: %+v", v)
	}
	sg := v.Signatures[0]
	if sg.SubFilter != pades.SubFilterSES || sg.SealRef != sm2.Ref || sg.RegisterEntry == nil || sg.RegisterEntry.ID != use.ID ||
		sg.SealData == nil || sg.SealData.Name != "天河区市场监督管理局审批专用章" || sg.SealData.VendorID != "sealvault" ||
		sg.Timestamp == nil || !sg.Timestamp.Valid || sg.SealedAtSource != "timestamp" || sg.CertSerial != sm2.CertSerial {
		t.Fatalf("the electronic seal: %+v, seal data %+v", sg, sg.SealData)
	}
	for _, c := range sg.SealData.Checks {
		if !c.OK {
			t.Errorf("check %s failed: %s", c.Name, c.Detail)
		}
	}
	if len(sg.SealData.Checks) < 6 {
		t.Errorf("only %d checks: %+v", len(sg.SealData.Checks), sg.SealData.Checks)
	}

	// OpenSSL 3, with SM2 and SM3, checks the signature value over TBS_Sign and the chain.
	sigs, err := pades.VerifyWith(signed, pades.VerifyOptions{})
	if err != nil || len(sigs) == 0 || sigs[0].ESeal == nil {
		t.Fatalf("read back: %v", err)
	}
	es := sigs[0].ESeal.Signature
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	rootPEM := write("sm2-root.pem", b.do(t, http.MethodGet, "/api/v1/ca/sm2-root.pem", "", nil).Body.Bytes())
	certPEM := write("seal.pem", ca.SM2CertPEM(es.Signer))
	pub := write("pub.pem", run(t, "openssl", "x509", "-in", certPEM, "-noout", "-pubkey"))
	out := run(t, "openssl", "pkeyutl", "-verify", "-pubin", "-inkey", pub, "-rawin", "-digest", "sm3",
		"-pkeyopt", "distid:1234567812345678", "-in", write("tbs.der", es.SignedData()), "-sigfile", write("sig.der", es.Value))
	if !strings.Contains(string(out), "Signature Verified Successfully") {
		t.Errorf("openssl pkeyutl -verify: %s", out)
	}
	if out := run(t, "openssl", "verify", "-vfyopt", "distid:1234567812345678", "-CAfile", rootPEM, certPEM); !strings.Contains(string(out), ": OK") {
		t.Errorf("openssl verify of the SM2 seal certificate: %s", out)
	}
	if out := run(t, "qpdf", "--check", write("sealed.pdf", signed)); !strings.Contains(string(out), "No syntax or stream encoding errors found") {
		t.Errorf("qpdf --check: %s", out)
	}

	// Revoked for an unrelated reason: offline, with the SM2 CRL published since, the use
	// stays valid as made before the revocation. (A CRL states whole seconds: the
	// revocation comes a second after the use, as it would in the world.)
	time.Sleep(1100 * time.Millisecond)
	must[seal.Seal](t, b.do(t, http.MethodPost, "/api/v1/seals/"+sm2.ID.String()+"/status", b.token[identity.RoleSealAdmin],
		map[string]any{"status": "revoked", "reason": "印章遗失"}), http.StatusOK)
	crl := b.do(t, http.MethodGet, "/api/v1/ca/sm2-crl", "", nil)
	if crl.Code != http.StatusOK {
		t.Fatalf("sm2-crl: %d %s", crl.Code, crl.Body)
	}
	roots := smx509.NewCertPool()
	roots.AddCert(b.maker.Cert)
	ecRoots := x509.NewCertPool()
	ecRoots.AddCert(b.ca.Cert) // the TSA's
	off, err := seal.VerifyOfflineWith(signed, seal.Trust{Roots: ecRoots, SM2Roots: roots, CRLs: [][]byte{crl.Body.Bytes()}})
	if err != nil {
		t.Fatal(err)
	}
	if os := off.Signatures[0]; !off.Valid || os.Revocation == nil || !os.Revocation.Revoked || !os.RevokedAfterSealing {
		t.Errorf("offline after the revocation: valid %t, %+v, revocation %+v", off.Valid, os.Summary, os.Revocation)
	}
	// Online, the register says the same.
	v = must[seal.Verification](t, b.doRaw(t, http.MethodPost, "/api/v1/verify", "application/pdf", string(signed), "Authorization", "Bearer "+auditor), http.StatusOK)
	if sg := v.Signatures[0]; !v.Valid || !sg.RevokedAfterSealing {
		t.Errorf("online after the revocation: %+v", sg)
	}
}

func pemBody(t *testing.T, data []byte) []byte {
	t.Helper()
	blk, _ := pem.Decode(data)
	if blk == nil || blk.Type != "CERTIFICATE" {
		t.Fatalf("no PEM certificate: %q", data)
	}
	return blk.Bytes
}

func run(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

// TestImportedSealData (national cryptography, point 3): another vendor's GB/T 38540 seal
// (its maker, its SM2 signer's certificate and key) is imported as a seal's data: the seal
// takes the data's name and picture, its uses are electronic signatures carrying that very
// data, verified valid against the certificates trusted on import; its image cannot be
// changed here; a key the data does not name, or data that does not verify, is refused.
func TestImportedSealData(t *testing.T) {
	w := newSealWorld(t)
	b := w.b
	now := time.Now()
	rootKey, _ := sm2.GenerateKey(rand.Reader)
	root, err := ca.NewSM2Root(rootKey, "某电子签章系统制章根证书", now.AddDate(-1, 0, 0), 10)
	if err != nil {
		t.Fatal(err)
	}
	vendor := &ca.Maker{Cert: root, Key: rootKey}
	key, _ := sm2.GenerateKey(rand.Reader)
	cert, err := vendor.IssueSeal(key.Public(), ca.SealSubject{Department: "天河区市场监督管理局", DepartmentCode: "TH-SCJG",
		SealName: "天河区市场监督管理局合同专用章", SealCode: "V-0001", SealType: "contract"}, now.AddDate(0, 0, -30), now.AddDate(2, 0, 0), "")
	if err != nil {
		t.Fatal(err)
	}
	picture := b.do(t, http.MethodGet, "/api/v1/seals/"+w.seal.ID.String()+"/image", b.token[identity.RoleAuditor], nil).Body.Bytes()
	esl, err := ses.Make(ses.Spec{VendorID: "othervendor", ESID: "V-0001", Type: ses.TypeContract, Name: "天河区市场监督管理局合同专用章",
		Certs: [][]byte{cert.Raw}, CreateDate: now.AddDate(0, 0, -30), ValidStart: now.AddDate(0, 0, -30), ValidEnd: now.AddDate(2, 0, 0),
		Picture: ses.Picture{Type: "PNG", Data: picture, WidthMM: 40, HeightMM: 40}}, root, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := smx509.MarshalPKCS8PrivateKey(key)
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	meta := map[string]any{"type": "contract", "department_id": b.dept.ID, "supervisor_id": w.supervisor.ID,
		"custodian_ids": []uuid.UUID{w.custodian.ID}}
	upload := func(data, keyPEM []byte) *httptest.ResponseRecorder {
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		js, _ := json.Marshal(meta)
		mw.WriteField("metadata", string(js))
		fw, _ := mw.CreateFormFile("seal_data", "V-0001.esl")
		fw.Write(data)
		fw, _ = mw.CreateFormFile("private_key", "key.pem")
		fw.Write(keyPEM)
		fw, _ = mw.CreateFormFile("certificate", "root.pem")
		fw.Write(ca.SM2CertPEM(root))
		mw.Close()
		return b.doRaw(t, http.MethodPost, "/api/v1/seals/import", mw.FormDataContentType(), body.String(),
			"Authorization", "Bearer "+b.token[identity.RoleSealAdmin])
	}
	// Refusals name the part at fault and file nothing.
	other, _ := sm2.GenerateKey(rand.Reader)
	otherDER, _ := smx509.MarshalPKCS8PrivateKey(other)
	if p := problemOf(t, upload(esl, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: otherDER}))); p.Status != 400 || fieldReason(p, "private_key") == "" {
		t.Errorf("a key the data does not name: %+v", p)
	}
	changed := bytes.Clone(esl)
	changed[bytes.Index(changed, []byte("V-0001"))+5] = '2'
	if p := problemOf(t, upload(changed, keyPEM)); p.Status != 400 || !strings.Contains(fieldReason(p, "seal_data"), "does not verify") {
		t.Errorf("changed seal data: %+v", p)
	}
	if p := problemOf(t, upload(esl[:100], keyPEM)); p.Status != 400 || !strings.Contains(fieldReason(p, "seal_data"), "not GB/T 38540 seal data") {
		t.Errorf("truncated seal data: %+v", p)
	}
	if p := problemOf(t, upload(esl, []byte("-----BEGIN PRIVATE KEY-----\nAAAA\x00\n-----END PRIVATE KEY-----\n"))); p.Status != 400 || fieldReason(p, "private_key") == "" {
		t.Errorf("a broken key file: %+v", p)
	}
	if n := count(t, b.pool, "seals"); n != 1 {
		t.Errorf("%d seals after the refusals, want 1", n)
	}

	sl := must[seal.Seal](t, upload(esl, keyPEM), http.StatusCreated)
	if sl.Name != "天河区市场监督管理局合同专用章" || sl.KeyAlgorithm != "sm2" || !sl.ImportedSealData || sl.ImageVersion != 1 || sl.CertSerial != cert.SerialNumber.Text(16) {
		t.Fatalf("imported seal %+v", sl)
	}
	got := b.do(t, http.MethodGet, "/api/v1/seals/"+sl.ID.String()+"/seal-data", b.token[identity.RoleAuditor], nil).Body.Bytes()
	if !bytes.Equal(got, esl) {
		t.Error("the seal's data is not the vendor's")
	}
	small := image.NewNRGBA(image.Rect(0, 0, 64, 64))
	small.Set(10, 10, color.NRGBA{R: 200, A: 255})
	var smallPNG bytes.Buffer
	png.Encode(&smallPNG, small)
	rec := b.doRaw(t, http.MethodPost, "/api/v1/seals/"+sl.ID.String()+"/image", "image/png", smallPNG.String(), "Authorization", "Bearer "+b.token[identity.RoleSealAdmin])
	if rec.Code != http.StatusConflict {
		t.Errorf("a new image for imported seal data: %d %s", rec.Code, rec.Body)
	}
	must[seal.Seal](t, b.do(t, http.MethodPost, "/api/v1/seals/"+sl.ID.String()+"/status", b.token[identity.RoleSealAdmin],
		map[string]any{"status": "active", "reason": "导入后启用"}), http.StatusOK)
	must[seal.Authorization](t, b.do(t, http.MethodPost, "/api/v1/authorizations", b.token[identity.RoleSealAdmin], map[string]any{
		"grantor_department_id": b.dept.ID, "grantee_department_id": b.center.ID, "items": []string{"440100-02-002"},
		"powers": []string{"receive", "seal"}, "seal_ids": []uuid.UUID{sl.ID}, "valid_from": day(-1), "valid_until": day(30),
		"approval_required": true}), http.StatusCreated)
	win := b.token[identity.RoleWindow]
	req := must[seal.Request](t, w.request(t, win, sl.ID, "440100-02-002", w.doc), http.StatusCreated)
	must[seal.Request](t, b.do(t, http.MethodPost, "/api/v1/seal-requests/"+req.ID.String()+"/approve", w.token(w.custodian),
		map[string]any{"note": "同意"}), http.StatusOK)
	use := must[seal.Use](t, b.do(t, http.MethodPost, "/api/v1/seal-requests/"+req.ID.String()+"/apply", win, nil), http.StatusCreated)
	signed := b.do(t, http.MethodGet, "/api/v1/seal-uses/"+use.ID.String()+"/content", win, nil).Body.Bytes()
	v := must[seal.Verification](t, b.doRaw(t, http.MethodPost, "/api/v1/verify", "application/pdf", string(signed), "Authorization", "Bearer "+b.token[identity.RoleAuditor]), http.StatusOK)
	if sg := v.Signatures[0]; !v.Valid || sg.SealData == nil || sg.SealData.VendorID != "othervendor" || sg.SealData.ESID != "V-0001" ||
		!sg.SealData.Valid || sg.SealRef != sl.Ref || sg.RegisterEntry == nil {
		t.Errorf("verify: %+v, seal data %+v", sg, sg.SealData)
	}
}

func fieldReason(p Problem, field string) string {
	for _, f := range p.Errors {
		if f.Field == field {
			return f.Reason
		}
	}
	return ""
}
