package api

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"sealvault/internal/identity"
	"sealvault/internal/softhsm"
	"sealvault/seal"
	"sealvault/seal/keys"
)

// TestRekeyIntoPKCS11Token: a seal whose key is in software custody is re-keyed into a
// SoftHSM2 token: it gets a new certificate and a new image version whose seal data names
// it; a use made before still verifies and finds its seal and register entry, and a use
// made after signs with the token's key and passes pdfsig; the re-key is audited; an
// imported or revoked seal is refused.
func TestRekeyIntoPKCS11Token(t *testing.T) {
	w := newSealWorld(t)
	b := w.b
	win, auditor := b.token[identity.RoleWindow], b.token[identity.RoleAuditor]
	root := b.do(t, http.MethodGet, "/api/v1/ca/root.pem", "", nil).Body.Bytes()
	apply := func() (seal.Use, []byte) {
		t.Helper()
		req := w.approvedRequest(t)
		use := must[seal.Use](t, b.do(t, http.MethodPost, "/api/v1/seal-requests/"+req.ID.String()+"/apply", win, nil), http.StatusCreated)
		return use, b.do(t, http.MethodGet, "/api/v1/seal-uses/"+use.ID.String()+"/content", win, nil).Body.Bytes()
	}
	before, beforePDF := apply()

	hsm, err := keys.OpenPKCS11(softhsm.Token(t), b.custody)
	if err != nil {
		t.Fatal(err)
	}
	defer hsm.Close()
	b.seals.Custody = hsm
	admin := seal.Actor{User: b.users[identity.RoleSealAdmin]}
	r, err := b.seals.Rekey(t.Context(), admin, w.seal.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !r.InToken || r.OldSerial != w.seal.CertSerial || r.NewSerial == r.OldSerial || r.ImageVersion != w.seal.ImageVersion+1 {
		t.Fatalf("rekey: %+v (seal was %s, image %d)", r, w.seal.CertSerial, w.seal.ImageVersion)
	}
	var ref []byte
	if err := b.pool.QueryRow(t.Context(), `SELECT key_ref FROM seals WHERE id = $1`, w.seal.ID).Scan(&ref); err != nil || !keys.InToken(ref) {
		t.Fatalf("key reference after the re-key: %q (%v)", ref, err)
	}

	after, afterPDF := apply()
	if after.CertSerial != r.NewSerial || before.CertSerial != r.OldSerial {
		t.Errorf("uses' certificates: before %s, after %s; re-key %+v", before.CertSerial, after.CertSerial, r)
	}
	if out := pdfsig(t, root, afterPDF); !strings.Contains(out, "Signature is Valid.") || !strings.Contains(out, "Certificate is Trusted.") {
		t.Errorf("pdfsig of the use after the re-key:\n%s", out)
	}
	for _, c := range []struct {
		name string
		pdf  []byte
		use  seal.Use
	}{{"before", beforePDF, before}, {"after", afterPDF, after}} {
		v := must[seal.Verification](t, b.doRaw(t, http.MethodPost, "/api/v1/verify", "application/pdf", string(c.pdf), "Authorization", "Bearer "+auditor), http.StatusOK)
		if !v.Valid || v.Signatures[0].SealRef != w.seal.Ref || v.Signatures[0].RegisterEntry == nil || v.Signatures[0].RegisterEntry.ID != c.use.ID {
			t.Errorf("the use %s the re-key: %+v", c.name, v)
		}
	}
	ev := b.do(t, http.MethodGet, "/api/v1/audit/events?action=seal.rekey", auditor, nil)
	if !strings.Contains(ev.Body.String(), r.NewSerial) || !strings.Contains(ev.Body.String(), r.OldSerial) {
		t.Errorf("audit of the re-key: %s", ev.Body)
	}

	// Revoked: refused.
	must[seal.Seal](t, b.do(t, http.MethodPost, "/api/v1/seals/"+w.seal.ID.String()+"/status", b.token[identity.RoleSealAdmin],
		map[string]any{"status": "revoked", "reason": "测试注销"}), http.StatusOK)
	var ce *seal.ConflictError
	if _, err := b.seals.Rekey(t.Context(), admin, w.seal.ID); !errors.As(err, &ce) || !strings.Contains(ce.Detail, "revoked") {
		t.Errorf("re-key of a revoked seal: %v", err)
	}
	// The use before the re-key, of a seal now revoked, is still valid: sealed before.
	v := must[seal.Verification](t, b.doRaw(t, http.MethodPost, "/api/v1/verify", "application/pdf", string(beforePDF), "Authorization", "Bearer "+auditor), http.StatusOK)
	if !v.Valid || !v.Signatures[0].RevokedAfterSealing {
		t.Errorf("the use before the re-key after revocation: %+v", v.Signatures[0])
	}
}
