package pades

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"sealvault/seal/ca"
	"sealvault/seal/tsa"
)

// testTSA is a timestamping authority whose certificate the test root issued.
func testTSA(t testing.TB, now time.Time) *tsa.TSA {
	t.Helper()
	p := newPKI(t)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cert, err := (&ca.CA{Cert: p.root, Key: p.rootKey}).IssueTSA(key.Public(), "某某市时间戳服务", time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), now.AddDate(5, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	return &tsa.TSA{Cert: cert, Chain: []*x509.Certificate{p.root}, Key: key, Policy: asn1.ObjectIdentifier{2, 999, 3161, 1},
		Accuracy: time.Second, Now: func() time.Time { return now },
		Serial: func(context.Context) (*big.Int, error) { return big.NewInt(n.Add(1)), nil }}
}

// failingTSA answers nothing, or a token for other bytes.
type failingTSA struct {
	err   error
	other *tsa.TSA
}

func (f failingTSA) Token(ctx context.Context, d []byte) ([]byte, error) {
	if f.other != nil {
		sum := sha256.Sum256([]byte("other bytes"))
		return f.other.Token(ctx, sum[:])
	}
	return nil, f.err
}
func (f failingTSA) MaxTokenSize() int { return 4096 }

// TestTimestampedSignature: a B-T signature carries a token over its signature value that
// Verify reads and checks, that OpenSSL verifies against the root, and that pdfsig, qpdf and
// pdfcpu accept; the signer's certificate is judged at the token's time, not the claimed one.
func TestTimestampedSignature(t *testing.T) {
	v := tools(t)
	p := newPKI(t)
	tsaTime := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	ts := testTSA(t, tsaTime)
	pdf := textPDF(t, 40)
	req := request(p.ecdsa, sealPNG(t), Placement{Page: 1, X: 380, Y: 60, Width: 120, Height: 120})
	req.Timestamp = ts
	out := mustSign(t, pdf, req)

	s := mustVerify(t, out, 1)[0]
	requireGood(t, s, p.ecdsa, "Seal-1", true)
	if s.Timestamp == nil || !s.Timestamp.Valid {
		t.Fatalf("timestamp: %+v (%v)", s.Timestamp, s.Problems)
	}
	if !s.Timestamp.Time.Equal(tsaTime) || s.Timestamp.Accuracy != time.Second || s.Timestamp.Policy != "2.999.3161.1" ||
		!strings.Contains(s.Timestamp.TSA, "某某市时间戳服务") || s.Timestamp.Serial.Int64() != 1 {
		t.Errorf("timestamp fields: %+v", s.Timestamp)
	}

	// OpenSSL verifies the token against the root, over the signature value.
	der, _ := hex.DecodeString(contentsHex(t, out))
	cms, err := parseCMS(trimCMS(der))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tok := filepath.Join(dir, "token.der")
	os.WriteFile(tok, cms.timestampToken, 0o600)
	rootPEM := filepath.Join(dir, "root.pem")
	os.WriteFile(rootPEM, ca.CertPEM(p.root), 0o600)
	sum := sha256.Sum256(cms.signature)
	if out, code := v.run(t, "openssl", "ts", "-verify", "-token_in", "-in", tok, "-digest", hex.EncodeToString(sum[:]), "-CAfile", rootPEM); code != 0 || !strings.Contains(out, "Verification: OK") {
		t.Errorf("openssl ts -verify of the signature timestamp: exit %d\n%s", code, out)
	}
	other := sha256.Sum256([]byte("not the signature"))
	if out, code := v.run(t, "openssl", "ts", "-verify", "-token_in", "-in", tok, "-digest", hex.EncodeToString(other[:]), "-CAfile", rootPEM); code == 0 {
		t.Errorf("openssl verifies the token over other bytes:\n%s", out)
	}

	path := writeTemp(t, "signed.pdf", out)
	reports := v.pdfsig(t, path)
	requireValidPdfsig(t, reports[0], true)
	v.requireQPDFCheck(t, path)
	pc := v.requirePdfcpuValid(t, path, 1)
	// pdfcpu v0.15.0 reads the signature timestamp's time; it authenticates only document
	// timestamps, and says so ("observed but not fully authenticated"); OpenSSL did above.
	if want := "Timestamp:      " + tsaTime.Format("2006-01-02 15:04:05 -0700"); !strings.Contains(pc, want) {
		t.Errorf("pdfcpu does not show %q:\n%s", want, pc)
	}

	// Claimed after the seal's certificate expired, but timestamped while it was valid: the
	// chain holds at the token's time; without the token it does not.
	late := p.ecdsa.chain[0].NotAfter.Add(24 * time.Hour)
	req.Time = late
	s = mustVerify(t, mustSign(t, pdf, req), 1)[0]
	if !s.ChainValid || !s.Timestamp.Valid {
		t.Errorf("timestamped while the certificate was valid: chain %t (%s)", s.ChainValid, s.ChainError)
	}
	req.Timestamp = nil
	s = mustVerify(t, mustSign(t, pdf, req), 1)[0]
	if s.ChainValid || s.Timestamp != nil {
		t.Errorf("claimed after expiry without a timestamp: chain valid %t, timestamp %+v", s.ChainValid, s.Timestamp)
	}
}

// TestTimestampFailures: a TSA that does not answer, or answers for other bytes, fails the
// signature with a *TimestampError; a token from a TSA the roots do not trust is reported.
func TestTimestampFailures(t *testing.T) {
	p := newPKI(t)
	pdf := textPDF(t, 10)
	req := request(p.ecdsa, nil, Placement{Page: 1})
	for _, ts := range []Timestamper{failingTSA{err: errors.New("connection refused")}, failingTSA{other: testTSA(t, time.Now())}} {
		req.Timestamp = ts
		_, err := Sign(pdf, req)
		var te *TimestampError
		if !errors.As(err, &te) {
			t.Errorf("Sign with %T: %v, want a TimestampError", ts, err)
		}
	}

	// A TSA of another root: the signature is good, its timestamp not trusted.
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rootCert, err := ca.NewRoot(key, "另一个根证书", time.Now(), 5)
	if err != nil {
		t.Fatal(err)
	}
	ts := testTSA(t, time.Now())
	tsaKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if ts.Cert, err = (&ca.CA{Cert: rootCert, Key: key}).IssueTSA(tsaKey.Public(), "他处时间戳服务", time.Now().Add(-time.Hour), time.Now().AddDate(1, 0, 0)); err != nil {
		t.Fatal(err)
	}
	ts.Key, ts.Chain = tsaKey, []*x509.Certificate{rootCert}
	req.Timestamp = ts
	s := mustVerify(t, mustSign(t, pdf, req), 1)[0]
	if !s.DigestValid || s.Timestamp == nil || s.Timestamp.Valid || !strings.Contains(s.Timestamp.Error, "not trusted for timestamping") {
		t.Errorf("a foreign TSA: digest %t, timestamp %+v", s.DigestValid, s.Timestamp)
	}
}

// contentsHex returns the hex of the first signature's /Contents.
func contentsHex(t *testing.T, pdf []byte) string {
	t.Helper()
	s := string(pdf)
	i := strings.Index(s, "/Contents <")
	if i < 0 {
		t.Fatal("no /Contents")
	}
	s = s[i+len("/Contents <"):]
	return s[:strings.IndexByte(s, '>')]
}
