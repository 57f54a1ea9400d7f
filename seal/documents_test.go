package seal

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"strings"
	"testing"
	"time"

	"sealvault/seal/pades"
)

// TestJudgeTime: a signature's trusted time is its valid timestamp's, else its register
// entry's; a revocation after it leaves the use valid, one before it (or with no trusted
// time) does not.
func TestJudgeTime(t *testing.T) {
	sealed := time.Date(2026, 12, 7, 5, 54, 11, 0, time.UTC)
	tsaCert := &x509.Certificate{Subject: pkix.Name{CommonName: "某某市时间戳服务"}}
	valid := &pades.Timestamp{Time: sealed, Cert: tsaCert, Serial: big.NewInt(42), Policy: "2.999.3161.1", Accuracy: time.Second, Valid: true}
	broken := &pades.Timestamp{Time: sealed, Cert: tsaCert, Serial: big.NewInt(42), Error: "the token is over other bytes than this signature's value"}
	after, before := sealed.Add(30*24*time.Hour), sealed.Add(-time.Hour)
	entry := &Use{Ref: "U-7", AppliedAt: sealed.Add(time.Second)}
	for _, tc := range []struct {
		name         string
		ts           *pades.Timestamp
		entry        *Use
		revoked      *time.Time
		source       string
		afterSealing bool
		problem      bool
		says         []string
	}{
		{"timestamped, not revoked", valid, nil, nil, "timestamp", false, false,
			[]string{"sealed on 2026-12-07 13:54:11 +08:00 (timestamp by 某某市时间戳服务)"}},
		{"timestamped, revoked later", valid, entry, &after, "timestamp", true, false,
			[]string{"sealed on 2026-12-07 13:54:11 +08:00", "seal revoked on 2027-01-06 13:54:11 +08:00 (after sealing)"}},
		{"timestamped after the revocation", valid, nil, &before, "timestamp", false, true,
			[]string{"seal revoked on 2026-12-07 12:54:11 +08:00 (before sealing)"}},
		{"no timestamp, registered", nil, entry, nil, "register", false, false,
			[]string{"sealed on 2026-12-07 13:54:12 +08:00 (register entry U-7; no valid timestamp)"}},
		{"a broken timestamp, revoked, unregistered", broken, nil, &after, "", false, true,
			[]string{"no trusted time", "seal revoked on 2027-01-06"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := SignatureReport{SignedAt: sealed, RegisterEntry: tc.entry, SealRevokedAt: tc.revoked}
			r.judgeTime(tc.ts)
			if r.SealedAtSource != tc.source || r.RevokedAfterSealing != tc.afterSealing || (len(r.Problems) > 0) != tc.problem {
				t.Errorf("source %q after %t problems %v", r.SealedAtSource, r.RevokedAfterSealing, r.Problems)
			}
			for _, s := range tc.says {
				if !strings.Contains(r.Summary, s) {
					t.Errorf("summary %q does not say %q", r.Summary, s)
				}
			}
			if tc.ts != nil && (r.Timestamp == nil || r.Timestamp.Serial != "42" || r.Timestamp.Valid != tc.ts.Valid) {
				t.Errorf("timestamp report %+v", r.Timestamp)
			}
		})
	}
}
