package api

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/emmansun/gmsm/smx509"

	"sealvault/internal/identity"
	"sealvault/internal/testkit"
	"sealvault/seal"
	"sealvault/seal/ses"
)

// TestInspectSealData: a signed-in user sends ofdrw's seal and reads its fields and whether
// it verifies at a time; bad input is a problem naming what is wrong.
func TestInspectSealData(t *testing.T) {
	b := setup(t)
	tok := b.token[identity.RoleAuditor]
	esl := string(testkit.Interop(t, "gbt38540/UserV4.esl"))
	auth := []string{"Authorization", "Bearer " + tok}

	got := must[sealInspection](t, b.doRaw(t, http.MethodPost, "/api/v1/seal-data/inspect?at=2021-01-01", "application/octet-stream", esl, auth...), http.StatusOK)
	if !got.Verification.Valid || got.Seal.Name != "OFD R&W 测试用印章" || got.Seal.Picture.WidthMM != 40 || len(got.Seal.Certificates) != 1 {
		t.Errorf("at 2021-01-01: %+v", got)
	}
	got = must[sealInspection](t, b.doRaw(t, http.MethodPost, "/api/v1/seal-data/inspect?at=2026-01-01T00:00:00%2B08:00", "application/octet-stream", esl, auth...), http.StatusOK)
	if got.Verification.Valid {
		t.Errorf("at 2026-01-01 the seal verifies")
	}

	for _, tc := range []struct {
		name, path, ctype, body string
		status                  int
		says                    string
	}{
		{"not a seal", "/api/v1/seal-data/inspect", "application/octet-stream", "hello", 422, "SES_Seal"},
		{"truncated", "/api/v1/seal-data/inspect", "application/octet-stream", esl[:300], 422, "data truncated"},
		{"a bad time", "/api/v1/seal-data/inspect?at=tomorrow", "application/octet-stream", esl, 400, "query.at"},
		{"JSON", "/api/v1/seal-data/inspect", "application/json", "{}", 415, "application/octet-stream"},
	} {
		rec := b.doRaw(t, http.MethodPost, tc.path, tc.ctype, tc.body, auth...)
		p := problemOf(t, rec)
		if rec.Code != tc.status || !strings.Contains(rec.Body.String(), tc.says) {
			t.Errorf("%s: %d %+v, want %d saying %q", tc.name, rec.Code, p, tc.status, tc.says)
		}
	}
	if rec := b.doRaw(t, http.MethodPost, "/api/v1/seal-data/inspect", "application/octet-stream", esl); rec.Code != http.StatusUnauthorized {
		t.Errorf("without a token: %d", rec.Code)
	}
}

// TestSealDataOfOurSeals: a filed seal has GB/T 38540 seal data for its image, signed by the
// SM2 maker root the service publishes; a use checks it, and seal data that is not the
// seal's (a database changed behind the service's back) refuses the use as a denied attempt.
func TestSealDataOfOurSeals(t *testing.T) {
	w := newSealWorld(t)
	b := w.b
	win := b.token[identity.RoleWindow]
	rootPEM := b.do(t, http.MethodGet, "/api/v1/ca/sm2-root.pem", "", nil).Body.Bytes()
	rootCert, err := smx509.ParseCertificatePEM(rootPEM)
	if err != nil {
		t.Fatalf("the SM2 root: %v\n%s", err, rootPEM)
	}
	roots := smx509.NewCertPool()
	roots.AddCert(rootCert)

	rec := b.do(t, http.MethodGet, "/api/v1/seals/"+w.seal.Ref+"/seal-data", win, nil)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Header().Get("Content-Disposition"), w.seal.Ref+".esl") {
		t.Fatalf("seal data: %d %s", rec.Code, rec.Header())
	}
	d, err := ses.ParseSeal(rec.Body.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != w.seal.Name || d.Header.VendorID != "sealvault" || d.Type != ses.TypeOther || len(d.Certs) != 1 ||
		d.Certs[0].SerialNumber.Text(16) == "" || d.Picture.Type != "PNG" || d.Picture.WidthMM != 40 {
		t.Errorf("seal data: %+v", d.Describe())
	}
	if r := d.Verify(time.Now(), roots); !r.Valid {
		t.Errorf("our seal data does not verify against our SM2 root: %+v", r.Checks)
	}
	img := b.do(t, http.MethodGet, "/api/v1/seals/"+w.seal.Ref+"/image", win, nil).Body.Bytes()
	if !bytes.Equal(img, d.Picture.Data) {
		t.Errorf("the seal data's picture is not the seal's image")
	}

	// A second seal's data put in the first seal's place: the use is refused, and recorded.
	other := w.newSeal(t, "天河区市场监督管理局财务专用章", "ecdsa-p256")
	otherData := b.do(t, http.MethodGet, "/api/v1/seals/"+other.Ref+"/seal-data", win, nil)
	if otherData.Code != http.StatusOK {
		t.Fatalf("the second seal's data: %d", otherData.Code)
	}
	req := must[seal.Request](t, w.request(t, win, w.seal.ID, "440100-01-001", w.doc), http.StatusCreated)
	must[seal.Request](t, b.do(t, http.MethodPost, "/api/v1/seal-requests/"+req.ID.String()+"/approve", w.token(w.custodian),
		map[string]any{"note": "同意"}), http.StatusOK)
	ctx := t.Context()
	for _, q := range []string{`ALTER TABLE seal_data DISABLE TRIGGER seal_data_append_only`,
		`UPDATE seal_data SET digest = (SELECT digest FROM seal_data WHERE seal_id = '` + other.ID.String() + `') WHERE seal_id = '` + w.seal.ID.String() + `'`,
		`ALTER TABLE seal_data ENABLE TRIGGER seal_data_append_only`} {
		if _, err := b.pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	rec = b.do(t, http.MethodPost, "/api/v1/seal-requests/"+req.ID.String()+"/apply", win, nil)
	if p := problemOf(t, rec); rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "seal-data-invalid") {
		t.Errorf("apply with another seal's data: %d %+v", rec.Code, p)
	}
	var denied int
	if err := b.pool.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE action = 'seal.apply.denied' AND body LIKE '%seal-data-invalid%'`).Scan(&denied); err != nil || denied != 1 {
		t.Errorf("denied attempts recorded: %d (%v)", denied, err)
	}
	if n := count(t, b.pool, "seal_uses"); n != 0 {
		t.Errorf("%d uses recorded", n)
	}
}
