package api

import (
	"bytes"
	"crypto"
	"net/http"
	"strings"
	"testing"
	"time"

	"sealvault/internal/identity"
	"sealvault/seal"
	"sealvault/seal/tsa"
)

// TestArchiveTimestampRenewal: every use's output is PAdES B-LTA (validation data and a
// document timestamp) recorded as archive version 1; when the certificate of that
// timestamp's TSA nears its end, RenewArchives appends new validation data and a new
// document timestamp as version 2, a new object that downloads serve, audited, with the
// register row unchanged; both versions verify, and the register finds the use in each.
func TestArchiveTimestampRenewal(t *testing.T) {
	w := newSealWorld(t)
	b := w.b
	win, auditor := b.token[identity.RoleWindow], b.token[identity.RoleAuditor]

	// A TSA whose certificate ends in 30 days makes the first archive timestamp.
	working := b.seals.TSA
	short := *working
	cert, err := b.ca.IssueTSA(working.Key.Public(), "测试时间戳服务", time.Now().Add(-time.Hour), time.Now().AddDate(0, 0, 30))
	if err != nil {
		t.Fatal(err)
	}
	short.Cert = cert
	b.seals.TSA = &short
	req := w.approvedRequest(t)
	use := must[seal.Use](t, b.do(t, http.MethodPost, "/api/v1/seal-requests/"+req.ID.String()+"/apply", win, nil), http.StatusCreated)
	b.seals.TSA = working
	if a := use.Archive; a == nil || a.Version != 1 || a.Digest != use.OutputDigest || !a.TSANotAfter.Equal(cert.NotAfter) {
		t.Fatalf("the use's archive: %+v (output %s)", use.Archive, use.OutputDigest)
	}
	v1 := b.do(t, http.MethodGet, "/api/v1/seal-uses/"+use.ID.String()+"/content", win, nil).Body.Bytes()
	v := must[seal.Verification](t, b.doRaw(t, http.MethodPost, "/api/v1/verify", "application/pdf", string(v1), "Authorization", "Bearer "+auditor), http.StatusOK)
	if !v.Valid || len(v.Signatures) != 1 || v.Signatures[0].Level != "B-LTA" || len(v.ArchiveTimestamps) != 1 || !v.ArchiveTimestamps[0].Valid {
		t.Fatalf("version 1: %+v", v)
	}

	// Not due within a week; due within 90 days.
	admin := seal.Actor{User: b.users[identity.RoleSealAdmin]}
	if done, err := b.seals.RenewArchives(t.Context(), admin, 7*24*time.Hour, 0, nil); err != nil || renewed(done, use.Ref) {
		t.Fatalf("within a week: %v, %+v", err, done)
	}
	done, err := b.seals.RenewArchives(t.Context(), admin, 90*24*time.Hour, 0, nil)
	if err != nil || !renewed(done, use.Ref) {
		t.Fatalf("within 90 days: %v, %+v", err, done)
	}
	row := must[seal.Use](t, b.do(t, http.MethodGet, "/api/v1/seal-uses/"+use.Ref, auditor, nil), http.StatusOK)
	if a := row.Archive; a == nil || a.Version != 2 || a.Digest == use.OutputDigest || !a.TSANotAfter.Equal(working.Cert.NotAfter) ||
		row.OutputDigest != use.OutputDigest || row.Timestamp == nil || row.Timestamp.Serial != use.Timestamp.Serial {
		t.Fatalf("after renewal: archive %+v, register output %s (was %s), timestamp %+v", row.Archive, row.OutputDigest, use.OutputDigest, row.Timestamp)
	}
	v2 := b.do(t, http.MethodGet, "/api/v1/seal-uses/"+use.ID.String()+"/content", win, nil).Body.Bytes()
	if !bytes.HasPrefix(v2, v1) || len(v2) <= len(v1) {
		t.Fatalf("version 2 (%d bytes) does not extend version 1 (%d bytes)", len(v2), len(v1))
	}
	v = must[seal.Verification](t, b.doRaw(t, http.MethodPost, "/api/v1/verify", "application/pdf", string(v2), "Authorization", "Bearer "+auditor), http.StatusOK)
	if !v.Valid || len(v.Signatures) != 1 || v.Signatures[0].RegisterEntry == nil || v.Signatures[0].RegisterEntry.ID != use.ID ||
		len(v.ArchiveTimestamps) != 2 || !v.ArchiveTimestamps[0].Valid || !v.ArchiveTimestamps[1].Valid || !v.ArchiveTimestamps[1].CoversWholeFile ||
		strings.Join(v.ArchiveTimestamps[0].LaterAdditions, ",") != "validation data (DSS),document timestamp ArchiveTimestamp-2" {
		t.Fatalf("version 2: %+v", v)
	}
	// The public verification says the same, and the renewal is in the audit trail.
	pub := must[seal.PublicVerification](t, b.doRaw(t, http.MethodPost, "/api/v1/public/verify", "application/pdf", string(v2)), http.StatusOK)
	if !pub.Valid || len(pub.ArchiveTimestamps) != 2 || pub.Signatures[0].Level != "B-LTA" || !pub.Signatures[0].Registered {
		t.Errorf("public verification of version 2: %+v", pub)
	}
	ev := b.do(t, http.MethodGet, "/api/v1/audit/events?action=seal.archive.renew", auditor, nil)
	if ev.Code != http.StatusOK || !strings.Contains(ev.Body.String(), use.Ref) || !strings.Contains(ev.Body.String(), b.users[identity.RoleSealAdmin].ID.String()) {
		t.Errorf("audit of the renewal: %d %s", ev.Code, ev.Body)
	}
	// Renewed, the use is no longer due; a window longer than the TSA's own certificate
	// is refused.
	if done, err := b.seals.RenewArchives(t.Context(), admin, 90*24*time.Hour, 0, nil); err != nil || renewed(done, use.Ref) {
		t.Errorf("a second run: %v, %+v", err, done)
	}
	if _, err := b.seals.RenewArchives(t.Context(), admin, 100*365*24*time.Hour, 0, nil); err == nil || !strings.Contains(err.Error(), "within the renewal window") {
		t.Errorf("a window longer than the TSA certificate: %v", err)
	}
}

func renewed(done []seal.RenewalResult, ref string) bool {
	for _, r := range done {
		if r.Use == ref {
			return true
		}
	}
	return false
}

// TestTSACertificateRenewed: a TSA certificate with less than two years left is renewed for
// the same key when the service opens its TSA, and the renewed one is what later starts use.
func TestTSACertificateRenewed(t *testing.T) {
	b := setup(t)
	first := b.tsa.Cert
	later := first.NotAfter.AddDate(-1, 0, 0) // a start one year before the certificate ends
	ts, err := seal.OpenTSA(t.Context(), b.pool, b.custody, b.ca, "测试时间戳服务", testTSAPolicy, time.Second, later)
	if err != nil {
		t.Fatal(err)
	}
	if !ts.Cert.NotAfter.After(first.NotAfter) || ts.Cert.Equal(first) || !ts.Cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool }).Equal(first.PublicKey) {
		t.Fatalf("renewed certificate: until %v (was %v), same key %t", ts.Cert.NotAfter, first.NotAfter, ts.Cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool }).Equal(first.PublicKey))
	}
	again, err := seal.OpenTSA(t.Context(), b.pool, b.custody, b.ca, "测试时间戳服务", testTSAPolicy, time.Second, time.Now())
	if err != nil || !again.Cert.Equal(ts.Cert) {
		t.Errorf("a later start: %v, certificate renewed one %t", err, err == nil && again.Cert.Equal(ts.Cert))
	}
}

// TestTSASerialsUniqueAcrossProcesses: two TSAs opened on one database, as two serve
// processes do, draw their token serial numbers from the sequence a block at a time: each
// hands out increasing numbers, and no number is handed out twice, however the calls of the
// two interleave and beyond the first block.
func TestTSASerialsUniqueAcrossProcesses(t *testing.T) {
	b := setup(t)
	other, err := seal.OpenTSA(t.Context(), b.pool, b.custody, b.ca, "测试时间戳服务", testTSAPolicy, time.Second, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{}
	last := map[string]int64{}
	for i := range 100 {
		for name, ts := range map[string]*tsa.TSA{"first": b.tsa, "second": other} {
			if name == "second" && i%3 == 0 {
				continue // the second draws less often: its blocks are used up at other times
			}
			n, err := ts.Serial(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if by, dup := seen[n.String()]; dup {
				t.Fatalf("serial %s handed out by the %s TSA and again by the %s", n, by, name)
			}
			seen[n.String()] = name
			if n.Int64() <= last[name] {
				t.Fatalf("the %s TSA handed out %s after %d", name, n, last[name])
			}
			last[name] = n.Int64()
		}
	}
	// A token carries its serial.
	st, err := b.tsa.Stamp(t.Context(), make([]byte, 32))
	if err != nil || seen[st.Serial.String()] != "" {
		t.Errorf("a token's serial %v (%v) was handed out before", st.Serial, err)
	}
}
