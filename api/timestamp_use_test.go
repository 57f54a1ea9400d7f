package api

import (
	"context"
	"crypto/x509"
	"errors"
	"math/big"
	"net/http"
	"strings"
	"testing"

	"sealvault/internal/identity"
	"sealvault/seal"
)

// TestSealUsesAreTimestamped: every use is PAdES B-T with a token of the service's TSA, and
// its register row names the TSA, the time and the serial; verification reports the time
// and judges the seal's later revocation against it, online and offline; a TSA that does
// not answer refuses the use with a 503 and records nothing, and the approval survives.
func TestSealUsesAreTimestamped(t *testing.T) {
	w := newSealWorld(t)
	b := w.b
	win, auditor := b.token[identity.RoleWindow], b.token[identity.RoleAuditor]

	// The TSA does not answer: 503, nothing signed or recorded, the request still approved.
	req := w.approvedRequest(t)
	working := b.seals.TSA
	down := *working
	down.Serial = func(context.Context) (*big.Int, error) { return nil, errors.New("connection refused") }
	b.seals.TSA = &down
	blobs, uses := blobCount(t, b.blobs), count(t, b.pool, "seal_uses")
	rec := b.do(t, http.MethodPost, "/api/v1/seal-requests/"+req.ID.String()+"/apply", win, nil)
	p := problemOf(t, rec)
	if rec.Code != http.StatusServiceUnavailable || p.Type != "urn:sealvault:problem:timestamp-unavailable" || rec.Header().Get("Retry-After") == "" ||
		!strings.Contains(p.Detail, "时间戳") {
		t.Errorf("TSA down: %d %+v (Retry-After %q)", rec.Code, p, rec.Header().Get("Retry-After"))
	}
	if got := count(t, b.pool, "seal_uses"); got != uses {
		t.Errorf("TSA down: %d uses recorded", got-uses)
	}
	if got := blobCount(t, b.blobs); got != blobs {
		t.Errorf("TSA down: %d objects stored", got-blobs)
	}
	b.seals.TSA = working

	use := must[seal.Use](t, b.do(t, http.MethodPost, "/api/v1/seal-requests/"+req.ID.String()+"/apply", win, nil), http.StatusCreated)
	if use.Timestamp == nil || use.Timestamp.TSA != "测试时间戳服务" || use.Timestamp.Serial == "" ||
		use.Timestamp.Time.Before(use.AppliedAt.Add(-2*1e9)) || use.Timestamp.Time.After(use.AppliedAt.Add(2*1e9)) {
		t.Fatalf("the use's timestamp: %+v (applied %v)", use.Timestamp, use.AppliedAt)
	}
	row := must[seal.Use](t, b.do(t, http.MethodGet, "/api/v1/seal-uses/"+use.Ref, auditor, nil), http.StatusOK)
	if row.Timestamp == nil || *row.Timestamp != *use.Timestamp && !row.Timestamp.Time.Equal(use.Timestamp.Time) {
		t.Errorf("register row: %+v, apply said %+v", row.Timestamp, use.Timestamp)
	}
	signed := b.do(t, http.MethodGet, "/api/v1/seal-uses/"+use.ID.String()+"/content", win, nil).Body.Bytes()

	verify := func(t *testing.T) seal.SignatureReport {
		t.Helper()
		v := must[seal.Verification](t, b.doRaw(t, http.MethodPost, "/api/v1/verify", "application/pdf", string(signed), "Authorization", "Bearer "+auditor), http.StatusOK)
		if len(v.Signatures) != 1 {
			t.Fatalf("%d signatures", len(v.Signatures))
		}
		return v.Signatures[0]
	}
	sg := verify(t)
	if !sg.Valid || sg.Timestamp == nil || !sg.Timestamp.Valid || !strings.Contains(sg.Timestamp.TSA, "CN=测试时间戳服务") ||
		sg.Timestamp.Serial != use.Timestamp.Serial || sg.SealedAtSource != "timestamp" || sg.SealedAt == nil ||
		!sg.SealedAt.Equal(use.Timestamp.Time) || !strings.Contains(sg.Summary, "sealed on ") || !strings.Contains(sg.Summary, "timestamp by 测试时间戳服务") {
		t.Fatalf("verify: %+v timestamp %+v", sg, sg.Timestamp)
	}

	// The seal is revoked for an unrelated reason: the use made before stays valid, and says so.
	must[seal.Seal](t, b.do(t, http.MethodPost, "/api/v1/seals/"+w.seal.ID.String()+"/status", b.token[identity.RoleSealAdmin],
		map[string]any{"status": "revoked", "reason": "印章遗失"}), http.StatusOK)
	sg = verify(t)
	if !sg.Valid || !sg.RevokedAfterSealing || sg.SealRevokedAt == nil || !strings.Contains(sg.Summary, "(after sealing)") {
		t.Errorf("after the revocation: valid %t, %q", sg.Valid, sg.Summary)
	}
	pv := must[seal.PublicVerification](t, b.doRaw(t, http.MethodPost, "/api/v1/public/verify", "application/pdf", string(signed)), http.StatusOK)
	if ps := pv.Signatures[0]; !pv.Valid || !ps.RevokedAfterSealing || ps.TimestampedAt == nil || ps.SealRevokedAt == nil ||
		!strings.Contains(ps.TimestampedBy, "测试时间戳服务") {
		t.Errorf("public verify after the revocation: %+v", ps)
	}

	// Offline, against the root alone: the same time, from the file.
	roots := x509.NewCertPool()
	roots.AddCert(b.ca.Cert)
	off, err := seal.VerifyOffline(signed, roots)
	if err != nil {
		t.Fatal(err)
	}
	if os := off.Signatures[0]; !off.Valid || os.Timestamp == nil || !os.Timestamp.Valid || !os.SealedAt.Equal(use.Timestamp.Time) {
		t.Errorf("offline: %+v", os)
	}
}
