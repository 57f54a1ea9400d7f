package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"sealvault/internal/identity"
	"sealvault/seal"
)

// TestPublicVerify: anyone, without a token, learns of a sealed PDF whether its signature is
// intact, the seal and its department, when, and that the register has it; never the case,
// the item, the applicant or the requester. A flipped byte inside the signed range says
// broken.
func TestPublicVerify(t *testing.T) {
	w := newSealWorld(t)
	b := w.b
	win := b.token[identity.RoleWindow]
	req := must[seal.Request](t, w.request(t, win, w.seal.ID, "440100-01-001", w.doc), http.StatusCreated)
	must[seal.Request](t, b.do(t, http.MethodPost, "/api/v1/seal-requests/"+req.ID.String()+"/approve", w.token(w.custodian),
		map[string]any{"note": "同意"}), http.StatusOK)
	use := must[seal.Use](t, b.do(t, http.MethodPost, "/api/v1/seal-requests/"+req.ID.String()+"/apply", win, nil), http.StatusCreated)
	signed := b.do(t, http.MethodGet, "/api/v1/seal-uses/"+use.ID.String()+"/content", win, nil).Body.Bytes()

	rec := b.doRaw(t, http.MethodPost, "/api/v1/public/verify", "application/pdf", string(signed))
	v := must[seal.PublicVerification](t, rec, http.StatusOK)
	if !v.Valid || len(v.Signatures) != 1 {
		t.Fatalf("public verify: %s", rec.Body)
	}
	sg := v.Signatures[0]
	if !sg.Intact || !sg.Trusted || !sg.Registered || sg.UseRef != use.Ref || sg.SealRef != w.seal.Ref ||
		sg.SealName != w.seal.Name || sg.Department != b.dept.Name || sg.AppliedAt == nil || sg.SignedAt.IsZero() {
		t.Errorf("public verify: %s", rec.Body)
	}
	// Nothing about the case, the item, the applicant or the people: not even the keys.
	var raw map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &raw)
	body := rec.Body.String()
	for _, leak := range []string{req.CaseRef, "440100-01-001", "11010519491231002X", w.userOf(t, win).ID.String(), w.custodian.ID.String(),
		"case", "item", "requester", "approver", "reason", "准予食品经营许可", "register_entry"} {
		if strings.Contains(body, leak) {
			t.Errorf("the public answer mentions %q: %s", leak, body)
		}
	}

	// As the pdf part of a form too; a flipped byte inside the signed range is not intact.
	flipped := append([]byte{}, signed...)
	i := bytes.Index(flipped, []byte("/MediaBox"))
	flipped[i+1] = 'm'
	rec = b.doRaw(t, http.MethodPost, "/api/v1/public/verify", "application/pdf", string(flipped))
	if v := must[seal.PublicVerification](t, rec, http.StatusOK); v.Valid || v.Signatures[0].Intact || v.Signatures[0].Valid {
		t.Errorf("a flipped byte passes: %s", rec.Body)
	}
	// Not a PDF: a problem naming the file, not a 500.
	rec = b.doRaw(t, http.MethodPost, "/api/v1/public/verify", "application/pdf", "not a pdf")
	if p := problemOf(t, rec); rec.Code != http.StatusBadRequest || len(p.Errors) == 0 {
		t.Errorf("not a PDF: %d %s", rec.Code, rec.Body)
	}
}
