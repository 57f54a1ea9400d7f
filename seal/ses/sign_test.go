package ses_test

import (
	"bytes"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/sm3"
	"github.com/emmansun/gmsm/smx509"

	"sealvault/seal/ca"
	"sealvault/seal/ses"
)

// sm2Signer is an SM2 seal key with its certificate from the maker, and the seal data
// naming it.
func sm2Signer(t *testing.T, now time.Time) (*smx509.Certificate, *sm2.PrivateKey, *smx509.Certificate, []byte) {
	t.Helper()
	root, rootKey := sm2Maker(t, now)
	key, err := sm2.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := (&ca.Maker{Cert: root, Key: rootKey}).IssueSeal(key.Public(), ca.SealSubject{Department: "天河区市场监督管理局",
		DepartmentCode: "TH-SCJG", SealName: "天河区市场监督管理局行政审批专用章", SealCode: "S-2", SealType: "business"},
		now.Add(-time.Hour), now.AddDate(2, 0, 0), "")
	if err != nil {
		t.Fatal(err)
	}
	spec := sealSpec(t, now)
	spec.Certs = [][]byte{cert.Raw}
	seal, err := ses.Make(spec, root, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key, root, seal
}

// An electronic signature we make reads back with every field, verifies against the SM2
// root over the data's digest, and fails for other data, another root or a changed byte.
func TestSignRoundTrip(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Second)
	cert, key, root, seal := sm2Signer(t, now)
	data := []byte("%PDF-1.7 营业执照 …")
	digest := sm3.Sum(data)
	var stamped []byte
	der, err := ses.Sign(ses.SignSpec{Seal: seal, Key: key, Cert: cert, Time: now, DataHash: digest[:], PropertyInfo: "Seal-R-1",
		TimeStamp: func(v []byte) ([]byte, error) { stamped = bytes.Clone(v); return []byte("a token"), nil }})
	if err != nil {
		t.Fatal(err)
	}
	s, err := ses.ParseSignature(der)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Time.Equal(now) || s.PropertyInfo != "Seal-R-1" || !bytes.Equal(s.Signer.Raw, cert.Raw) || !bytes.Equal(s.Seal.Raw(), seal) ||
		!bytes.Equal(s.TimeStamp, []byte("a token")) || !bytes.Equal(stamped, s.Value) {
		t.Errorf("read back: time %s, property %q, timestamp %q", s.Time, s.PropertyInfo, s.TimeStamp)
	}
	roots := smx509.NewCertPool()
	roots.AddCert(root)
	if r := s.VerifyDigest(digest[:], roots, time.Time{}); !r.Valid {
		t.Errorf("our signature does not verify: %v", failed(r))
	}
	if r := s.Verify(data, roots); !r.Valid {
		t.Errorf("our signature does not verify over its data: %v", failed(r))
	}
	if r := s.Verify(append(data, ' '), roots); r.Valid || !strings.Contains(strings.Join(failed(r), " "), "data-digest") {
		t.Errorf("other data: %v", failed(r))
	}
	other, _ := sm2Maker(t, now)
	otherRoots := smx509.NewCertPool()
	otherRoots.AddCert(other)
	if r := s.VerifyDigest(digest[:], otherRoots, time.Time{}); r.Valid {
		t.Error("verifies against another root")
	}
	changed := bytes.Clone(der)
	i := bytes.Index(changed, []byte("Seal-R-1"))
	changed[i+7] = '2'
	if s, err := ses.ParseSignature(changed); err != nil || s.VerifyDigest(digest[:], roots, time.Time{}).Valid {
		t.Errorf("a changed property: %v", err)
	}
	// A signer the seal does not name is refused when signing.
	stranger, _ := sm2.GenerateKey(rand.Reader)
	if _, err := ses.Sign(ses.SignSpec{Seal: seal, Key: stranger, Cert: cert, Time: now, DataHash: digest[:]}); err == nil {
		t.Error("signed with a key that is not the certificate's")
	}
}

// OpenSSL 3 verifies the SM2 signature value of our electronic signature over TBS_Sign with
// the signer's certificate, and that certificate against the SM2 root.
func TestSignOpenSSLVerifies(t *testing.T) {
	now := time.Now().UTC()
	cert, key, root, seal := sm2Signer(t, now)
	digest := sm3.Sum([]byte("data"))
	der, err := ses.Sign(ses.SignSpec{Seal: seal, Key: key, Cert: cert, Time: now, DataHash: digest[:], PropertyInfo: "Seal-R-1"})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := ses.ParseSignature(der)
	write := tempWriter(t)
	rootPEM := write("root.pem", ca.SM2CertPEM(root))
	certPEM := write("seal.pem", ca.SM2CertPEM(s.Signer))
	tbs := write("tbs.der", s.SignedData())
	sig := write("sig.der", s.Value)
	pub := write("pub.pem", mustOut(t, "openssl", "x509", "-in", certPEM, "-noout", "-pubkey"))
	out := mustOut(t, "openssl", "pkeyutl", "-verify", "-pubin", "-inkey", pub, "-rawin", "-digest", "sm3",
		"-pkeyopt", "distid:1234567812345678", "-in", tbs, "-sigfile", sig)
	if !strings.Contains(string(out), "Signature Verified Successfully") {
		t.Errorf("openssl pkeyutl -verify: %s", out)
	}
	out = mustOut(t, "openssl", "verify", "-vfyopt", "distid:1234567812345678", "-CAfile", rootPEM, certPEM)
	if !strings.Contains(string(out), ": OK") {
		t.Errorf("openssl verify of the SM2 seal certificate: %s", out)
	}
}
