package keys_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sealvault/seal/keys"
)

// chain is a key and its certificate, issued by an intermediate, issued by a root.
type chain struct {
	key               crypto.Signer
	leaf, inter, root *x509.Certificate
	interKey, rootKey crypto.Signer
}

func newCert(t *testing.T, cn string, pub crypto.PublicKey, parent *x509.Certificate, parentKey crypto.Signer, isCA bool) *x509.Certificate {
	t.Helper()
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"外部签发机构"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  isCA,
	}
	if isCA {
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	}
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newChain(t *testing.T, key crypto.Signer) chain {
	t.Helper()
	rootKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	interKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	root := newCert(t, "外部根证书", rootKey.Public(), nil, rootKey, true)
	inter := newCert(t, "外部中级证书", interKey.Public(), root, rootKey, true)
	leaf := newCert(t, "某某局公章", key.Public(), inter, interKey, false)
	return chain{key: key, leaf: leaf, inter: inter, root: root, interKey: interKey, rootKey: rootKey}
}

func certsPEM(certs ...*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

func pkcs8PEM(t *testing.T, key crypto.Signer) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func sameKey(a, b crypto.PublicKey) bool {
	return a.(interface{ Equal(crypto.PublicKey) bool }).Equal(b)
}

func TestImportPEM(t *testing.T) {
	ecKey := testKey(t, keys.ECDSAP256)
	rsaKey := testKey(t, keys.RSA3072)
	ec := newChain(t, ecKey)
	rs := newChain(t, rsaKey)
	sec1, err := x509.MarshalECPrivateKey(ecKey.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name      string
		c         chain
		certPEM   []byte
		keyPEM    []byte
		wantCerts int
	}{
		{"PKCS#8 ECDSA, full chain", ec, certsPEM(ec.leaf, ec.inter, ec.root), pkcs8PEM(t, ecKey), 3},
		{"SEC1 ECDSA with EC PARAMETERS, leaf only", ec, certsPEM(ec.leaf),
			append(pem.EncodeToMemory(&pem.Block{Type: "EC PARAMETERS", Bytes: []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}}),
				pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1})...), 1},
		{"PKCS#1 RSA, chain without root", rs, certsPEM(rs.leaf, rs.inter),
			pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey.(*rsa.PrivateKey))}), 2},
		{"one file for both", ec, append(pkcs8PEM(t, ecKey), certsPEM(ec.leaf, ec.inter)...),
			append(pkcs8PEM(t, ecKey), certsPEM(ec.leaf, ec.inter)...), 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key, certs, err := keys.ImportPEM(tc.certPEM, tc.keyPEM)
			if err != nil {
				t.Fatal(err)
			}
			if !sameKey(key.Public(), tc.c.key.Public()) {
				t.Error("imported key differs")
			}
			if len(certs) != tc.wantCerts || !certs[0].Equal(tc.c.leaf) {
				t.Fatalf("got %d certificates, first %q; want %d, first the leaf", len(certs), certs[0].Subject.CommonName, tc.wantCerts)
			}
			if len(certs) > 1 && !certs[1].Equal(tc.c.inter) {
				t.Error("second certificate is not the intermediate")
			}
		})
	}
}

func TestImportPEMRefuses(t *testing.T) {
	ecKey := testKey(t, keys.ECDSAP256)
	ec := newChain(t, ecKey)
	otherKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p384Chain := newChain(t, p384)
	rsa1024Cert := newCert(t, "weak", rsa1024.Public(), ec.inter, ec.interKey, false)

	for _, tc := range []struct {
		name    string
		certPEM []byte
		keyPEM  []byte
		want    string // in the error
	}{
		{"mismatched key", certsPEM(ec.leaf), pkcs8PEM(t, otherKey), "does not match the certificate"},
		{"chain out of order", certsPEM(ec.leaf, ec.root, ec.inter), pkcs8PEM(t, ecKey), "in order"},
		{"P-384 key", certsPEM(p384Chain.leaf), pkcs8PEM(t, p384), "only P-256"},
		{"RSA-1024 key", certsPEM(rsa1024Cert), pkcs8PEM(t, rsa1024), "at least 2048"},
		{"no certificate", nil, pkcs8PEM(t, ecKey), "no CERTIFICATE"},
		{"no key", certsPEM(ec.leaf), certsPEM(ec.leaf), "no PRIVATE KEY"},
		{"encrypted key", certsPEM(ec.leaf), pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{0x30, 0}}), "encrypted"},
		{"two keys", certsPEM(ec.leaf), append(pkcs8PEM(t, ecKey), pkcs8PEM(t, otherKey)...), "more than one"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := keys.ImportPEM(tc.certPEM, tc.keyPEM)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ImportPEM error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// openssl runs the openssl binary. Its absence fails the test: PKCS#12 files from OpenSSL
// are what administrators bring, so this must be checked against the real thing.
func openssl(t *testing.T, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatalf("openssl is required for this test: %v", err)
	}
	out, err := exec.CommandContext(t.Context(), bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestImportPKCS12FromOpenSSL(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const password = "印章口令 p@ss"

	for _, alg := range []keys.Algorithm{keys.ECDSAP256, keys.RSA3072} {
		t.Run(string(alg), func(t *testing.T) {
			key := testKey(t, alg)
			c := newChain(t, key)
			keyFile := write(string(alg)+".key", pkcs8PEM(t, key))
			certFile := write(string(alg)+".crt", certsPEM(c.leaf))
			// The CA certificates root first, so the file's order is not the chain's.
			caFile := write(string(alg)+"-ca.crt", certsPEM(c.root, c.inter))
			p12 := filepath.Join(dir, string(alg)+".p12")
			openssl(t, "pkcs12", "-export", "-inkey", keyFile, "-in", certFile, "-certfile", caFile,
				"-name", "seal", "-passout", "pass:"+password, "-out", p12)

			// Make sure this is OpenSSL 3's default encryption, not a legacy one.
			info := openssl(t, "pkcs12", "-info", "-noout", "-in", p12, "-passin", "pass:"+password)
			if !strings.Contains(info, "PBES2, PBKDF2, AES-256-CBC") {
				t.Fatalf("openssl did not use AES-256-CBC with PBKDF2:\n%s", info)
			}

			data, err := os.ReadFile(p12)
			if err != nil {
				t.Fatal(err)
			}
			got, certs, err := keys.ImportPKCS12(data, password)
			if err != nil {
				t.Fatal(err)
			}
			if !sameKey(got.Public(), key.Public()) {
				t.Error("imported key differs")
			}
			if len(certs) != 3 || !certs[0].Equal(c.leaf) || !certs[1].Equal(c.inter) || !certs[2].Equal(c.root) {
				names := []string{}
				for _, c := range certs {
					names = append(names, c.Subject.CommonName)
				}
				t.Errorf("chain = %q, want leaf, intermediate, root", names)
			}

			if _, _, err := keys.ImportPKCS12(data, "wrong"); !errors.Is(err, keys.ErrWrongPassword) {
				t.Errorf("wrong password: err = %v, want ErrWrongPassword", err)
			}
		})
	}

	t.Run("RSA-1024 refused", func(t *testing.T) {
		weak, err := rsa.GenerateKey(rand.Reader, 1024)
		if err != nil {
			t.Fatal(err)
		}
		c := newChain(t, weak)
		keyFile := write("weak.key", pkcs8PEM(t, weak))
		certFile := write("weak.crt", certsPEM(c.leaf))
		p12 := filepath.Join(dir, "weak.p12")
		openssl(t, "pkcs12", "-export", "-inkey", keyFile, "-in", certFile, "-passout", "pass:x", "-out", p12)
		data, err := os.ReadFile(p12)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := keys.ImportPKCS12(data, "x"); err == nil || !strings.Contains(err.Error(), "at least 2048") {
			t.Errorf("ImportPKCS12 of an RSA-1024 key: err = %v", err)
		}
	})
}
