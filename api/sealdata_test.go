package api

import (
	"net/http"
	"strings"
	"testing"

	"sealvault/internal/identity"
	"sealvault/internal/testkit"
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
