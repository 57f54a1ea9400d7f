package api

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"

	"sealvault/internal/identity"
	"sealvault/internal/softhsm"
	"sealvault/seal"
	"sealvault/seal/keys"
)

// TestSealKeysInPKCS11Token: with the service's key custody on a SoftHSM2 token, a new
// ECDSA P-256 and a new RSA-3072 seal get their keys inside the token (the register of seals
// stores only a reference), and their uses pass pdfsig; after a restart (the token opened
// again) they seal again.
func TestSealKeysInPKCS11Token(t *testing.T) {
	w := newSealWorld(t)
	b := w.b
	cfg := softhsm.Token(t)
	hsm, err := keys.OpenPKCS11(cfg, b.custody)
	if err != nil {
		t.Fatal(err)
	}
	b.seals.Custody = hsm
	win := b.token[identity.RoleWindow]
	root := b.do(t, http.MethodGet, "/api/v1/ca/root.pem", "", nil).Body.Bytes()

	var ids []uuid.UUID
	for _, alg := range []string{"ecdsa-p256", "rsa-3072"} {
		sl := w.newSeal(t, "天河区市场监督管理局合同专用章 "+alg, alg)
		var ref []byte
		if err := b.pool.QueryRow(t.Context(), `SELECT key_ref FROM seals WHERE id = $1`, sl.ID).Scan(&ref); err != nil {
			t.Fatal(err)
		}
		if !keys.InToken(ref) {
			t.Fatalf("%s: the seal's key reference %q is not a token key's", alg, ref)
		}
		ids = append(ids, sl.ID)
	}
	must[seal.Authorization](t, b.do(t, http.MethodPost, "/api/v1/authorizations", b.token[identity.RoleSealAdmin], map[string]any{
		"grantor_department_id": b.dept.ID, "grantee_department_id": b.center.ID, "items": []string{"440100-02-002"},
		"powers": []string{"receive", "seal"}, "seal_ids": ids, "valid_from": day(-1), "valid_until": day(30),
		"approval_required": true, "note": "硬件密码模块中的印章"}), http.StatusCreated)

	apply := func(id uuid.UUID) {
		t.Helper()
		req := must[seal.Request](t, w.request(t, win, id, "440100-02-002", w.doc), http.StatusCreated)
		must[seal.Request](t, b.do(t, http.MethodPost, "/api/v1/seal-requests/"+req.ID.String()+"/approve", w.token(w.custodian),
			map[string]any{"note": "同意"}), http.StatusOK)
		use := must[seal.Use](t, b.do(t, http.MethodPost, "/api/v1/seal-requests/"+req.ID.String()+"/apply", win, nil), http.StatusCreated)
		signed := b.do(t, http.MethodGet, "/api/v1/seal-uses/"+use.ID.String()+"/content", win, nil).Body.Bytes()
		out := pdfsig(t, root, signed)
		for _, want := range []string{"Signature is Valid.", "Certificate is Trusted.", "合同专用章"} {
			if !strings.Contains(out, want) {
				t.Errorf("pdfsig of a use of a token-held seal does not say %q:\n%s", want, out)
			}
		}
	}
	for _, id := range ids {
		apply(id)
	}

	// A restart: the token is opened again; the same seals sign.
	if err := hsm.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := keys.OpenPKCS11(cfg, b.custody)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	b.seals.Custody = again
	b.seals.SignerTTL = 0
	for _, id := range ids {
		apply(id)
	}
}
