package api

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"

	"sealvault/internal/identity"
	"sealvault/internal/testkit"
	"sealvault/seal"
)

// sealWith applies w's seal to doc for a new case of item 440100-01-001 at placement (page,
// x, y, size), approved by the custodian, and returns the use and the sealed PDF.
func (w *sealWorld) sealWith(t *testing.T, page int, x, y, size float64) (seal.Use, []byte) {
	t.Helper()
	b := w.b
	win := b.token[identity.RoleWindow]
	caseID := w.decidedCase(t, w.userOf(t, win), "440100-01-001", w.doc)
	req := must[seal.Request](t, b.do(t, http.MethodPost, "/api/v1/seal-requests", win, map[string]any{
		"seal_id": w.seal.ID, "case_id": caseID, "document_digest": w.doc,
		"placement": map[string]any{"page": page, "x": x, "y": y, "size": size}, "reason": "准予食品经营许可"}), http.StatusCreated)
	must[seal.Request](t, b.do(t, http.MethodPost, "/api/v1/seal-requests/"+req.ID.String()+"/approve", w.token(w.custodian),
		map[string]any{"note": "同意"}), http.StatusOK)
	use := must[seal.Use](t, b.do(t, http.MethodPost, "/api/v1/seal-requests/"+req.ID.String()+"/apply", win, nil), http.StatusCreated)
	rec := b.do(t, http.MethodGet, "/api/v1/seal-uses/"+use.ID.String()+"/content", win, nil)
	if rec.Code != http.StatusOK {
		t.Fatalf("content of %s: %d %s", use.Ref, rec.Code, rec.Body)
	}
	return use, rec.Body.Bytes()
}

// scannedToken reads the one QR code on page of pdf, checks that it is a verification address
// under base naming doc's digest prefix, and returns its token.
func scannedToken(t *testing.T, pdf []byte, page int, base, doc string) string {
	t.Helper()
	codes := testkit.ScanQR(t, pdf, page)
	if len(codes) != 1 {
		t.Fatalf("page %d of the sealed PDF has %d QR codes, want 1: %q", page, len(codes), codes)
	}
	rest, ok := strings.CutPrefix(codes[0], base+"/v/")
	token, prefix, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 || !seal.ValidUseToken(token) || prefix != doc[:seal.DigestPrefixLen] {
		t.Fatalf("the QR code says %q, want %s/v/<22-character token>/%s", codes[0], base, doc[:seal.DigestPrefixLen])
	}
	return token
}

// TestScanToVerify: the stamp of a use carries a QR code that zbarimg reads from the rendered
// page, naming the use by a random token under --public-url and the sealed document's digest
// prefix; the public route answers the seal, department, item, time and register number, and
// nothing about the applicant or the people; a revoked seal says so; a seal can be made
// without the code; an unknown token is a 404 problem, a malformed one a 400.
func TestScanToVerify(t *testing.T) {
	w := newSealWorld(t)
	b := w.b
	const base = "https://zwfw.example.gov.cn/sealvault"
	b.seals.PublicURL = base + "/"

	// Page 2 at x 380: the panel (0.68 × 120 pt) fits on the right of the A4 page.
	use, signed := w.sealWith(t, 2, 380, 60, 120)
	token := scannedToken(t, signed, 2, base, w.doc)
	var linked uuid.UUID
	if err := b.pool.QueryRow(t.Context(), `SELECT use_id FROM seal_use_links WHERE token = $1`, token).Scan(&linked); err != nil || linked != use.ID {
		t.Fatalf("the token names use %v (%v), want %s", linked, err, use.ID)
	}
	rec := b.doRaw(t, http.MethodGet, "/api/v1/public/uses/"+token, "", "")
	u := must[seal.PublicUse](t, rec, http.StatusOK)
	if u.UseRef != use.Ref || u.SealRef != w.seal.Ref || u.SealName != w.seal.Name || u.Department != b.dept.Name ||
		u.ItemCode != "440100-01-001" || u.ItemName != "测试即办事项 440100-01-001" || !u.AppliedAt.Equal(use.AppliedAt) ||
		u.SealStatus != seal.StatusActive || u.RevokedAt != nil || u.UsedBeforeRevocation != nil ||
		u.OutputDigest != use.OutputDigest || u.DocumentDigestPrefix != w.doc[:8] || !strings.HasPrefix(u.URL, base+"/v/"+token) {
		t.Errorf("public use: %s", rec.Body)
	}
	body := rec.Body.String()
	for _, leak := range []string{"11010519491231002X", "1101", use.CaseRef, use.RequesterID.String(), w.custodian.ID.String(),
		"用户 ", "requester", "approver", "case", "holder", "准予食品经营许可"} {
		if strings.Contains(body, leak) {
			t.Errorf("the public use mentions %q: %s", leak, body)
		}
	}

	// Page 1 at x 460: no room on the right, so the panel goes left of the seal.
	_, signed2 := w.sealWith(t, 1, 460, 60, 120)
	if tok2 := scannedToken(t, signed2, 1, base, w.doc); tok2 == token {
		t.Errorf("two uses share the token %s", token)
	}
	// A stamp with room for the panel on neither side is refused when requested.
	win := b.token[identity.RoleWindow]
	caseID := w.decidedCase(t, w.userOf(t, win), "440100-01-001", w.doc)
	rec = b.do(t, http.MethodPost, "/api/v1/seal-requests", win, map[string]any{"seal_id": w.seal.ID, "case_id": caseID,
		"document_digest": w.doc, "placement": map[string]any{"page": 1, "x": 100, "y": 60, "size": 390}, "reason": "准予"})
	if p := problemOf(t, rec); rec.Code != http.StatusBadRequest || len(p.Errors) != 1 || p.Errors[0].Field != "placement" ||
		!strings.Contains(p.Errors[0].Reason, "scan-to-verify") {
		t.Errorf("a placement without room for the QR panel: %d %s", rec.Code, rec.Body)
	}

	// A seal whose stamps carry no code: no QR, no address.
	must[seal.Seal](t, b.do(t, http.MethodPost, "/api/v1/seals/"+w.seal.ID.String()+"/scan-to-verify", b.token[identity.RoleSealAdmin],
		map[string]any{"enabled": false}), http.StatusOK)
	plain, signed3 := w.sealWith(t, 2, 380, 60, 120)
	if codes := testkit.ScanQR(t, signed3, 2); len(codes) != 0 {
		t.Errorf("a seal without scan to verify printed %q", codes)
	}
	if n := count(t, b.pool, "seal_use_links"); n != 2 {
		t.Errorf("%d verification addresses after three uses, one without: want 2 (%s)", n, plain.Ref)
	}

	// Revoked: the use says so, with the date, and that it came before.
	must[seal.Seal](t, b.do(t, http.MethodPost, "/api/v1/seals/"+w.seal.ID.String()+"/status", b.token[identity.RoleSealAdmin],
		map[string]any{"status": "revoked", "reason": "印章遗失"}), http.StatusOK)
	rec = b.doRaw(t, http.MethodGet, "/api/v1/public/uses/"+token, "", "")
	u = must[seal.PublicUse](t, rec, http.StatusOK)
	if u.SealStatus != seal.StatusRevoked || u.RevokedAt == nil || !u.RevokedAt.After(u.AppliedAt) ||
		u.UsedBeforeRevocation == nil || !*u.UsedBeforeRevocation {
		t.Errorf("after revocation: %s", rec.Body)
	}

	// Unknown and malformed tokens: problems, never 500s.
	for _, c := range []struct {
		token string
		code  int
	}{
		{"AAAAAAAAAAAAAAAAAAAAAA", http.StatusNotFound},
		{"short", http.StatusBadRequest},
		{strings.Repeat("x", 21) + "!", http.StatusBadRequest},
		{"%E4%B8%AD" + strings.Repeat("x", 19), http.StatusBadRequest},
	} {
		rec := b.doRaw(t, http.MethodGet, "/api/v1/public/uses/"+c.token, "", "")
		if rec.Code != c.code || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/problem+json") {
			t.Errorf("token %q: %d %s %s, want %d problem", c.token, rec.Code, rec.Header().Get("Content-Type"), rec.Body, c.code)
		}
	}
}
