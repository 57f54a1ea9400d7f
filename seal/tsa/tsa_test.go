package tsa_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"sealvault/seal/ca"
	"sealvault/seal/tsa"
)

func newTSA(t testing.TB) (*tsa.TSA, []byte) {
	t.Helper()
	now := time.Now()
	rootKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	root, err := ca.NewRoot(rootKey, "测试电子印章根证书", now, 10)
	if err != nil {
		t.Fatal(err)
	}
	c := &ca.CA{Cert: root, Key: rootKey}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cert, err := c.IssueTSA(key.Public(), "sealvault 时间戳服务", now.Add(-time.Hour), now.AddDate(5, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	return &tsa.TSA{Cert: cert, Chain: []*x509.Certificate{root}, Key: key, Policy: asn1.ObjectIdentifier{2, 25, 1, 2, 3},
		Accuracy: time.Second, Serial: func(context.Context) (*big.Int, error) { return big.NewInt(n.Add(1)), nil }}, ca.CertPEM(root)
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// OpenSSL asks for a timestamp of a file and verifies the answer against the root; the
// serial numbers follow the source; the certificate's timeStamping usage is critical.
func TestOpenSSLVerifiesTokens(t *testing.T) {
	ts, rootPEM := newTSA(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "营业执照.pdf")
	os.WriteFile(data, []byte("%PDF-1.7 a licence"), 0o600)
	root := filepath.Join(dir, "root.pem")
	os.WriteFile(root, rootPEM, 0o600)
	for i, want := range []string{"Serial number: 0x01", "Serial number: 0x02"} {
		q := filepath.Join(dir, "q.tsq")
		run(t, "openssl", "ts", "-query", "-data", data, "-sha256", "-cert", "-out", q)
		query, _ := os.ReadFile(q)
		reply, err := ts.Respond(t.Context(), query)
		if err != nil {
			t.Fatal(err)
		}
		r := filepath.Join(dir, "r.tsr")
		os.WriteFile(r, reply, 0o600)
		if out := run(t, "openssl", "ts", "-verify", "-data", data, "-in", r, "-CAfile", root); !strings.Contains(out, "Verification: OK") {
			t.Fatalf("openssl ts -verify (token %d): %s", i+1, out)
		}
		text := run(t, "openssl", "ts", "-reply", "-in", r, "-text")
		for _, w := range []string{want, "Policy OID: 2.25.1.2.3", "Accuracy: 0x01 seconds", "Status: Granted"} {
			if !strings.Contains(text, w) {
				t.Errorf("token %d does not say %q:\n%s", i+1, w, text)
			}
		}
	}
	pemFile := filepath.Join(dir, "tsa.pem")
	os.WriteFile(pemFile, ca.CertPEM(ts.Cert), 0o600)
	if out := run(t, "openssl", "x509", "-in", pemFile, "-noout", "-ext", "extendedKeyUsage"); !strings.Contains(out, "critical") || !strings.Contains(out, "Time Stamping") {
		t.Errorf("the TSA certificate's extended key usage: %s", out)
	}
}

// A changed file fails OpenSSL's check; a policy the TSA does not follow is rejected; a body
// that is not a request is a QueryError.
func TestTokensRefuse(t *testing.T) {
	ts, rootPEM := newTSA(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "a.pdf")
	os.WriteFile(data, []byte("one"), 0o600)
	root := filepath.Join(dir, "root.pem")
	os.WriteFile(root, rootPEM, 0o600)
	q := filepath.Join(dir, "q.tsq")
	run(t, "openssl", "ts", "-query", "-data", data, "-sha256", "-cert", "-out", q)
	query, _ := os.ReadFile(q)
	reply, err := ts.Respond(t.Context(), query)
	if err != nil {
		t.Fatal(err)
	}
	r := filepath.Join(dir, "r.tsr")
	os.WriteFile(r, reply, 0o600)
	os.WriteFile(data, []byte("two"), 0o600)
	if out, err := exec.Command("openssl", "ts", "-verify", "-data", data, "-in", r, "-CAfile", root).CombinedOutput(); err == nil || strings.Contains(string(out), "Verification: OK") {
		t.Errorf("a token verified for a changed file: %s", out)
	}
	run(t, "openssl", "ts", "-query", "-data", data, "-sha256", "-tspolicy", "1.2.3.4", "-out", q)
	query, _ = os.ReadFile(q)
	reply, err = ts.Respond(t.Context(), query)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(r, reply, 0o600)
	if text := run(t, "openssl", "ts", "-reply", "-in", r, "-text"); !strings.Contains(text, "Status: Rejected") || !strings.Contains(text, "policy is not supported") {
		t.Errorf("a foreign policy: %s", text)
	}
	var qe *tsa.QueryError
	if _, err := ts.Respond(t.Context(), []byte("GET / HTTP/1.1")); !errors.As(err, &qe) {
		t.Errorf("not a request: %v", err)
	}
}
