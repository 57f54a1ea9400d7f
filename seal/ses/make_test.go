package ses_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"

	"sealvault/internal/testkit"
	"sealvault/seal/ca"
	"sealvault/seal/ses"
)

// sealSpec is a seal of a department with one ECDSA signer's certificate.
func sealSpec(t *testing.T, now time.Time) ses.Spec {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "天河区市场监督管理局行政审批专用章"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(2, 0, 0)}
	cert, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
	if err != nil {
		t.Fatal(err)
	}
	return ses.Spec{VendorID: "sealvault", ESID: "4401060000000001", Type: ses.TypeOther, Name: "天河区市场监督管理局行政审批专用章",
		Certs: [][]byte{cert}, CreateDate: now, ValidStart: now, ValidEnd: now.AddDate(2, 0, 0),
		Picture: ses.Picture{Type: "PNG", Data: testkit.PageImage(t, "png", 120, 120, 1), WidthMM: 42, HeightMM: 42}}
}

func sm2Maker(t *testing.T, now time.Time) (*smx509.Certificate, *sm2.PrivateKey) {
	t.Helper()
	key, err := sm2.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	root, err := ca.NewSM2Root(key, "sealvault 电子印章制章根证书", now, 20)
	if err != nil {
		t.Fatal(err)
	}
	return root, key
}

// Our seal data reads back with every field, verifies against the maker's root, and a
// changed byte breaks it.
func TestMakeRoundTrip(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Second)
	spec := sealSpec(t, now)
	root, key := sm2Maker(t, now)
	der, err := ses.Make(spec, root, key)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ses.ParseSeal(der)
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != spec.Name || s.ESID != spec.ESID || s.Type != ses.TypeOther || s.Header.VendorID != "sealvault" ||
		!bytes.Equal(s.Picture.Data, spec.Picture.Data) || s.Picture.WidthMM != 42 || len(s.Certs) != 1 || !bytes.Equal(s.Certs[0].Raw, spec.Certs[0]) ||
		!s.ValidEnd.Equal(spec.ValidEnd) || !bytes.Equal(s.Raw(), der) {
		t.Errorf("read back: %+v", s.Describe())
	}
	roots := smx509.NewCertPool()
	roots.AddCert(root)
	if r := s.Verify(now.Add(time.Minute), roots); !r.Valid {
		t.Errorf("our seal data does not verify: %+v", r.Checks)
	}
	other, _ := sm2Maker(t, now)
	otherRoots := smx509.NewCertPool()
	otherRoots.AddCert(other)
	if r := s.Verify(now.Add(time.Minute), otherRoots); r.Valid {
		t.Errorf("our seal data verifies against another maker's root")
	}
	i := bytes.Index(der, []byte("4401060000000001"))
	changed := bytes.Clone(der)
	changed[i] = '5'
	if s, err := ses.ParseSeal(changed); err != nil || s.Verify(now.Add(time.Minute), roots).Valid {
		t.Errorf("a changed esID: %v", err)
	}
}

// OpenSSL 3 (SM2 and SM3) verifies the maker's signature of our seal data and the SM2 root.
func TestMakeOpenSSLVerifies(t *testing.T) {
	now := time.Now().UTC()
	root, key := sm2Maker(t, now)
	der, err := ses.Make(sealSpec(t, now), root, key)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := ses.ParseSeal(der)
	write := tempWriter(t)
	rootPEM := write("root.pem", ca.SM2CertPEM(root))
	info := write("info.der", s.SignedInfo())
	sig := write("sig.der", s.Value)
	pub := write("pub.pem", mustOut(t, "openssl", "x509", "-in", rootPEM, "-noout", "-pubkey"))
	out := mustOut(t, "openssl", "pkeyutl", "-verify", "-pubin", "-inkey", pub, "-rawin", "-digest", "sm3",
		"-pkeyopt", "distid:1234567812345678", "-in", info, "-sigfile", sig)
	if !strings.Contains(string(out), "Signature Verified Successfully") {
		t.Errorf("openssl pkeyutl -verify: %s", out)
	}
	out = mustOut(t, "openssl", "verify", "-vfyopt", "distid:1234567812345678", "-CAfile", rootPEM, rootPEM)
	if !strings.Contains(string(out), ": OK") {
		t.Errorf("openssl verify of the SM2 root: %s", out)
	}
}

// tempWriter returns a function that writes a file into a temporary directory of the test
// and returns its path.
func tempWriter(t *testing.T) func(name string, data []byte) string {
	dir := t.TempDir()
	return func(name string, data []byte) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
}

func mustOut(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}
