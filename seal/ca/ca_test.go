package ca_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"sealvault/seal/ca"
	"sealvault/seal/keys"
)

const rootName = "sealvault 政务服务电子印章根证书"

var subject = ca.SealSubject{
	Department:     "某市行政审批服务局",
	DepartmentCode: "11330100MB1234567X",
	SealName:       "某市行政审批服务局行政审批专用章",
	SealCode:       "3301000012345",
	SealType:       "业务专用章",
}

// Keys are generated once per test binary: RSA-3072 generation takes a while under -race.
var (
	genMu   sync.Mutex
	genKeys = map[string]crypto.Signer{}
)

func testKey(t *testing.T, name string, alg keys.Algorithm) crypto.Signer {
	t.Helper()
	genMu.Lock()
	defer genMu.Unlock()
	if k, ok := genKeys[name]; ok {
		return k
	}
	k, err := keys.Generate(alg)
	if err != nil {
		t.Fatal(err)
	}
	genKeys[name] = k
	return k
}

func newCA(t *testing.T, alg keys.Algorithm, now time.Time) *ca.CA {
	t.Helper()
	key := testKey(t, "root-"+string(alg), alg)
	root, err := ca.NewRoot(key, rootName, now, 20)
	if err != nil {
		t.Fatal(err)
	}
	return &ca.CA{Cert: root, Key: key, CRLURL: "https://sealvault.example.gov.cn/ca/crl"}
}

// openssl runs the openssl binary and returns its combined output and whether it exited 0.
// Its absence fails the test: what other software accepts is checked against the real
// thing.
func openssl(t *testing.T, args ...string) (string, bool) {
	t.Helper()
	bin, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatalf("openssl is required for this test: %v", err)
	}
	out, err := exec.CommandContext(t.Context(), bin, args...).CombinedOutput()
	if _, exit := err.(*exec.ExitError); err != nil && !exit {
		t.Fatalf("openssl %s: %v", strings.Join(args, " "), err)
	}
	return string(out), err == nil
}

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestNewRoot(t *testing.T) {
	now := time.Now()
	for _, alg := range []keys.Algorithm{keys.ECDSAP256, keys.RSA3072} {
		t.Run(string(alg), func(t *testing.T) {
			c := newCA(t, alg, now)
			root := c.Cert
			if root.Subject.CommonName != rootName || len(root.Subject.Organization) != 1 || root.Subject.Organization[0] != "sealvault" {
				t.Errorf("subject = %v", root.Subject)
			}
			if !bytes.Equal(root.RawSubject, root.RawIssuer) {
				t.Error("root is not self-issued")
			}
			if err := root.CheckSignatureFrom(root); err != nil {
				t.Errorf("root is not self-signed: %v", err)
			}
			if !root.IsCA || !root.BasicConstraintsValid || root.MaxPathLen != 0 || !root.MaxPathLenZero {
				t.Errorf("basic constraints: CA=%v pathlen=%d zero=%v", root.IsCA, root.MaxPathLen, root.MaxPathLenZero)
			}
			if root.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageCRLSign {
				t.Errorf("key usage = %b", root.KeyUsage)
			}
			if root.SerialNumber.Sign() <= 0 || root.SerialNumber.BitLen() > 128 || root.SerialNumber.BitLen() < 64 {
				t.Errorf("serial %X is not a positive random 128-bit number", root.SerialNumber)
			}
			if len(root.SubjectKeyId) != 20 {
				t.Errorf("subject key id has %d bytes, want 20", len(root.SubjectKeyId))
			}
			if !root.NotBefore.Equal(now.Add(-time.Hour).Truncate(time.Second)) ||
				!root.NotAfter.Equal(now.AddDate(20, 0, 0).Truncate(time.Second)) {
				t.Errorf("validity %s – %s", root.NotBefore, root.NotAfter)
			}
			checkUTF8Name(t, root.RawSubject)
		})
	}
	if _, err := ca.NewRoot(testKey(t, "root-ecdsa-p256", keys.ECDSAP256), "", now, 20); err == nil {
		t.Error("NewRoot with an empty name succeeded")
	}
	if _, err := ca.NewRoot(testKey(t, "root-ecdsa-p256", keys.ECDSAP256), rootName, now, 0); err == nil {
		t.Error("NewRoot with 0 years succeeded")
	}
}

// checkUTF8Name checks that every attribute of a name is a UTF8String but serialNumber,
// which must be a PrintableString.
func checkUTF8Name(t *testing.T, raw []byte) {
	t.Helper()
	var rdns []asn1.RawValue
	if rest, err := asn1.Unmarshal(raw, &rdns); err != nil || len(rest) > 0 {
		t.Fatalf("name does not parse: %v", err)
	}
	// Walk the raw encoding: SEQUENCE OF SET OF SEQUENCE { OID, value }.
	for _, rdn := range rdns {
		var atvs []asn1.RawValue
		if _, err := asn1.UnmarshalWithParams(rdn.FullBytes, &atvs, "set"); err != nil {
			t.Fatal(err)
		}
		for _, a := range atvs {
			var atv struct {
				Type  asn1.ObjectIdentifier
				Value asn1.RawValue
			}
			if _, err := asn1.Unmarshal(a.FullBytes, &atv); err != nil {
				t.Fatal(err)
			}
			want := asn1.TagUTF8String
			if atv.Type.Equal(asn1.ObjectIdentifier{2, 5, 4, 5}) {
				want = asn1.TagPrintableString
			}
			if atv.Value.Tag != want {
				t.Errorf("attribute %v %q has tag %d, want %d", atv.Type, atv.Value.Bytes, atv.Value.Tag, want)
			}
		}
	}
}

func TestIssueSeal(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		root, seal keys.Algorithm
	}{
		{keys.ECDSAP256, keys.ECDSAP256},
		{keys.ECDSAP256, keys.RSA3072},
		{keys.RSA3072, keys.ECDSAP256},
	} {
		t.Run(string(tc.root)+" root, "+string(tc.seal)+" seal", func(t *testing.T) {
			c := newCA(t, tc.root, now)
			sealKey := testKey(t, "seal-"+string(tc.seal), tc.seal)
			cert, err := c.IssueSeal(sealKey.Public(), subject, now, now.AddDate(2, 0, 0))
			if err != nil {
				t.Fatal(err)
			}

			roots := x509.NewCertPool()
			roots.AddCert(c.Cert)
			if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: now.Add(time.Minute),
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
				t.Errorf("chain does not verify: %v", err)
			}

			s := cert.Subject
			if s.CommonName != subject.SealName || s.SerialNumber != subject.SealCode ||
				len(s.Organization) != 1 || s.Organization[0] != subject.Department ||
				len(s.OrganizationalUnit) != 1 || s.OrganizationalUnit[0] != subject.SealType {
				t.Errorf("subject = %+v", s)
			}
			var orgID string
			for _, n := range s.Names {
				if n.Type.Equal(asn1.ObjectIdentifier{2, 5, 4, 97}) {
					orgID, _ = n.Value.(string)
				}
			}
			if orgID != subject.DepartmentCode {
				t.Errorf("organizationIdentifier = %q, want %q", orgID, subject.DepartmentCode)
			}
			checkUTF8Name(t, cert.RawSubject)

			if cert.IsCA || !cert.BasicConstraintsValid {
				t.Error("seal certificate is not marked as an end entity")
			}
			if cert.KeyUsage != x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment {
				t.Errorf("key usage = %b", cert.KeyUsage)
			}
			if len(cert.ExtKeyUsage) != 0 || len(cert.UnknownExtKeyUsage) != 0 {
				t.Error("seal certificate has an extended key usage")
			}
			if !bytes.Equal(cert.AuthorityKeyId, c.Cert.SubjectKeyId) {
				t.Error("authority key id is not the root's subject key id")
			}
			if len(cert.SubjectKeyId) != 20 {
				t.Error("seal certificate has no subject key id")
			}
			if len(cert.CRLDistributionPoints) != 1 || cert.CRLDistributionPoints[0] != c.CRLURL {
				t.Errorf("CRL distribution points = %q", cert.CRLDistributionPoints)
			}
			if cert.SerialNumber.Sign() <= 0 || cert.SerialNumber.BitLen() > 128 || cert.SerialNumber.Cmp(c.Cert.SerialNumber) == 0 {
				t.Errorf("serial %X", cert.SerialNumber)
			}
			if !cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool }).Equal(sealKey.Public()) {
				t.Error("certificate is for another key")
			}

			// What OpenSSL, and people reading its output, make of it.
			dir := t.TempDir()
			rootFile := writeFile(t, dir, "root.pem", ca.CertPEM(c.Cert))
			sealFile := writeFile(t, dir, "seal.pem", ca.CertPEM(cert))
			if out, ok := openssl(t, "verify", "-CAfile", rootFile, sealFile); !ok || !strings.Contains(out, "OK") {
				t.Errorf("openssl verify refused the seal certificate:\n%s", out)
			}
			out, ok := openssl(t, "x509", "-in", sealFile, "-noout", "-subject", "-nameopt", "utf8")
			if !ok || !strings.Contains(out, "CN="+subject.SealName) || !strings.Contains(out, "O="+subject.Department) {
				t.Errorf("openssl shows the subject as:\n%s", out)
			}
			out, ok = openssl(t, "x509", "-in", rootFile, "-noout", "-subject", "-nameopt", "utf8")
			if !ok || !strings.Contains(out, "CN="+rootName) {
				t.Errorf("openssl shows the root subject as:\n%s", out)
			}
		})
	}
}

func TestIssueSealValidity(t *testing.T) {
	now := time.Now()
	c := newCA(t, keys.ECDSAP256, now)
	pub := testKey(t, "seal-ecdsa-p256", keys.ECDSAP256).Public()

	// A seal valid from before the root and until after it is cut to the root's validity.
	cert, err := c.IssueSeal(pub, subject, now.AddDate(-1, 0, 0), now.AddDate(30, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	if !cert.NotBefore.Equal(c.Cert.NotBefore) || !cert.NotAfter.Equal(c.Cert.NotAfter) {
		t.Errorf("validity %s – %s, want the root's %s – %s", cert.NotBefore, cert.NotAfter, c.Cert.NotBefore, c.Cert.NotAfter)
	}

	for _, tc := range []struct {
		name     string
		from, to time.Time
	}{
		{"ends before it begins", now.AddDate(1, 0, 0), now},
		{"ends when it begins", now, now},
		{"after the root", now.AddDate(25, 0, 0), now.AddDate(26, 0, 0)},
		{"before the root", now.AddDate(-3, 0, 0), now.AddDate(-2, 0, 0)},
	} {
		if _, err := c.IssueSeal(pub, subject, tc.from, tc.to); err == nil {
			t.Errorf("%s: IssueSeal succeeded", tc.name)
		}
	}
}

func TestIssueSealRefuses(t *testing.T) {
	now := time.Now()
	c := newCA(t, keys.ECDSAP256, now)
	pub := testKey(t, "seal-ecdsa-p256", keys.ECDSAP256).Public()
	with := func(f func(*ca.SealSubject)) ca.SealSubject {
		s := subject
		f(&s)
		return s
	}
	for _, tc := range []struct {
		name string
		s    ca.SealSubject
		want string
	}{
		{"no department", with(func(s *ca.SealSubject) { s.Department = "" }), "department is empty"},
		{"no seal name", with(func(s *ca.SealSubject) { s.SealName = "" }), "seal name is empty"},
		{"long seal name", with(func(s *ca.SealSubject) { s.SealName = strings.Repeat("章", 65) }), "65 characters"},
		{"seal code not printable", with(func(s *ca.SealSubject) { s.SealCode = "印章-1" }), "seal code"},
		{"control character", with(func(s *ca.SealSubject) { s.SealType = "公章\n" }), "seal type"},
	} {
		if _, err := c.IssueSeal(pub, tc.s, now, now.AddDate(1, 0, 0)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one containing %q", tc.name, err, tc.want)
		}
	}

	// Optional fields may be left out.
	cert, err := c.IssueSeal(pub, ca.SealSubject{Department: "某局", SealName: "某局公章"}, now, now.AddDate(1, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	if len(cert.Subject.Names) != 2 {
		t.Errorf("subject has %d attributes, want 2: %v", len(cert.Subject.Names), cert.Subject)
	}

	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.IssueSeal(p384.Public(), subject, now, now.AddDate(1, 0, 0)); err == nil || !strings.Contains(err.Error(), "P-256") {
		t.Errorf("IssueSeal for a P-384 key: err = %v, want a refusal naming P-256", err)
	}
}

func TestCRL(t *testing.T) {
	now := time.Now()
	for _, alg := range []keys.Algorithm{keys.ECDSAP256, keys.RSA3072} {
		t.Run(string(alg)+" root", func(t *testing.T) {
			c := newCA(t, alg, now)
			pub := testKey(t, "seal-ecdsa-p256", keys.ECDSAP256).Public()
			revokedCert, err := c.IssueSeal(pub, subject, now, now.AddDate(1, 0, 0))
			if err != nil {
				t.Fatal(err)
			}
			goodCert, err := c.IssueSeal(pub, subject, now, now.AddDate(1, 0, 0))
			if err != nil {
				t.Fatal(err)
			}
			other := big.NewInt(0x1234)
			revokedAt := now.Add(-10 * time.Minute).Truncate(time.Second)
			der, err := c.CRL(7, []ca.Revoked{
				{Serial: revokedCert.SerialNumber, At: revokedAt, Reason: 1},
				{Serial: other, At: revokedAt, Reason: 0},
			}, now.Add(-time.Minute), now.Add(24*time.Hour))
			if err != nil {
				t.Fatal(err)
			}

			crl, err := x509.ParseRevocationList(der)
			if err != nil {
				t.Fatal(err)
			}
			if err := crl.CheckSignatureFrom(c.Cert); err != nil {
				t.Errorf("CRL is not signed by the root: %v", err)
			}
			if crl.Number.Int64() != 7 {
				t.Errorf("CRL number = %v, want 7", crl.Number)
			}
			if !bytes.Equal(crl.AuthorityKeyId, c.Cert.SubjectKeyId) {
				t.Error("CRL authority key id is not the root's")
			}
			var found bool
			for _, e := range crl.RevokedCertificateEntries {
				if e.SerialNumber.Cmp(revokedCert.SerialNumber) == 0 {
					found = true
					if !e.RevocationTime.Equal(revokedAt) || e.ReasonCode != 1 {
						t.Errorf("entry: revoked at %s reason %d, want %s reason 1", e.RevocationTime, e.ReasonCode, revokedAt)
					}
				}
				if e.SerialNumber.Cmp(goodCert.SerialNumber) == 0 {
					t.Error("the CRL lists a certificate that was not revoked")
				}
			}
			if !found || len(crl.RevokedCertificateEntries) != 2 {
				t.Errorf("CRL lists %d entries, the revoked seal found: %v", len(crl.RevokedCertificateEntries), found)
			}

			dir := t.TempDir()
			crlDER := writeFile(t, dir, "crl.der", der)
			out, ok := openssl(t, "crl", "-inform", "DER", "-in", crlDER, "-noout", "-text")
			serialHex := fmt.Sprintf("%X", revokedCert.SerialNumber)
			if len(serialHex)%2 == 1 {
				serialHex = "0" + serialHex // openssl prints whole bytes
			}
			if !ok || !strings.Contains(out, "Serial Number: "+serialHex) ||
				!strings.Contains(out, "Key Compromise") {
				t.Errorf("openssl crl does not show the revoked serial and reason:\n%s", out)
			}
			rootFile := writeFile(t, dir, "root.pem", ca.CertPEM(c.Cert))
			crlFile := writeFile(t, dir, "crl.pem", pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}))
			revokedFile := writeFile(t, dir, "revoked.pem", ca.CertPEM(revokedCert))
			goodFile := writeFile(t, dir, "good.pem", ca.CertPEM(goodCert))
			if out, ok := openssl(t, "verify", "-crl_check", "-CAfile", rootFile, "-CRLfile", crlFile, revokedFile); ok ||
				!strings.Contains(out, "certificate revoked") {
				t.Errorf("openssl verify -crl_check accepted the revoked seal certificate:\n%s", out)
			}
			if out, ok := openssl(t, "verify", "-crl_check", "-CAfile", rootFile, "-CRLfile", crlFile, goodFile); !ok {
				t.Errorf("openssl verify -crl_check refused a seal certificate that is not revoked:\n%s", out)
			}
		})
	}
}

func TestCRLRefuses(t *testing.T) {
	now := time.Now()
	c := newCA(t, keys.ECDSAP256, now)
	for _, tc := range []struct {
		name    string
		revoked []ca.Revoked
		this    time.Time
		next    time.Time
	}{
		{"next update before this update", nil, now, now.Add(-time.Hour)},
		{"no serial", []ca.Revoked{{At: now}}, now, now.Add(time.Hour)},
		{"reason 7", []ca.Revoked{{Serial: big.NewInt(5), At: now, Reason: 7}}, now, now.Add(time.Hour)},
		{"serial twice", []ca.Revoked{{Serial: big.NewInt(5), At: now}, {Serial: big.NewInt(5), At: now}}, now, now.Add(time.Hour)},
	} {
		if _, err := c.CRL(1, tc.revoked, tc.this, tc.next); err == nil {
			t.Errorf("%s: CRL succeeded", tc.name)
		}
	}
	if _, err := c.CRL(-1, nil, now, now.Add(time.Hour)); err == nil {
		t.Error("CRL with a negative number succeeded")
	}
	// An empty CRL is still a CRL: every certificate is good.
	der, err := c.CRL(1, nil, now, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if crl, err := x509.ParseRevocationList(der); err != nil || len(crl.RevokedCertificateEntries) != 0 {
		t.Errorf("empty CRL: %v", err)
	}
}

func TestCertPEM(t *testing.T) {
	c := newCA(t, keys.ECDSAP256, time.Now())
	p := ca.CertPEM(c.Cert)
	if !bytes.HasPrefix(p, []byte("-----BEGIN CERTIFICATE-----\n")) {
		t.Errorf("CertPEM = %.40q", p)
	}
	// A key before the certificate, as in combined files, is skipped.
	in := append(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1}}), p...)
	got, err := ca.ParseCertPEM(in)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(c.Cert) {
		t.Error("ParseCertPEM returned another certificate")
	}
	if _, err := ca.ParseCertPEM([]byte("not PEM")); err == nil {
		t.Error("ParseCertPEM of text without PEM succeeded")
	}
	if _, err := ca.ParseCertPEM(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{0x30, 0}})); err == nil {
		t.Error("ParseCertPEM of a broken certificate succeeded")
	}
}

// TestNameStringDecodesOrganizationIdentifier (new-user point 5): a seal's subject is shown
// with organizationIdentifier=TH-SCJG, not 2.5.4.97=#1307….
func TestNameStringDecodesOrganizationIdentifier(t *testing.T) {
	n := pkix.Name{CommonName: "天河区市场监督管理局行政审批专用章", Organization: []string{"天河区市场监督管理局"},
		ExtraNames: []pkix.AttributeTypeAndValue{{Type: asn1.ObjectIdentifier{2, 5, 4, 97}, Value: "TH-SCJG"}}}
	if got, want := ca.NameString(n), "organizationIdentifier=TH-SCJG,CN=天河区市场监督管理局行政审批专用章,O=天河区市场监督管理局"; got != want {
		t.Errorf("NameString = %q, want %q", got, want)
	}
	n.ExtraNames[0].Value = "A,B"
	if got := ca.NameString(n); !strings.HasPrefix(got, `organizationIdentifier=A\,B,`) {
		t.Errorf("a comma in the value is not escaped: %q", got)
	}
}
