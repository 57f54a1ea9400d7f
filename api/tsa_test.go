package api

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"sealvault/seal"
)

// openssl runs an OpenSSL command, failing the test with its output.
func openssl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("openssl", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestTimestampService: another system asks the public TSA route for a timestamp with
// OpenSSL and verifies the reply with the published CA root; the TSA's certificate is
// published too; a second serve process on the same database continues the serial numbers;
// bad queries are problems naming what is wrong.
func TestTimestampService(t *testing.T) {
	b := setup(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "营业执照.pdf")
	if err := os.WriteFile(data, []byte("%PDF-1.7 营业执照"), 0o600); err != nil {
		t.Fatal(err)
	}
	rootRec := b.do(t, http.MethodGet, "/api/v1/ca/root.pem", "", nil)
	root := filepath.Join(dir, "root.pem")
	os.WriteFile(root, rootRec.Body.Bytes(), 0o600)
	certRec := b.do(t, http.MethodGet, "/api/v1/ca/tsa.pem", "", nil)
	if certRec.Code != http.StatusOK {
		t.Fatalf("tsa.pem: %d %s", certRec.Code, certRec.Body)
	}
	tsaCert := filepath.Join(dir, "tsa.pem")
	os.WriteFile(tsaCert, certRec.Body.Bytes(), 0o600)
	if text := openssl(t, "x509", "-in", tsaCert, "-noout", "-text"); !regexp.MustCompile(`X509v3 Extended Key Usage: critical\s+Time Stamping`).MatchString(text) {
		t.Errorf("the TSA certificate's timeStamping usage is not critical:\n%s", text)
	}

	serialOf := func(t *testing.T, srv *Server, certInReply bool) int64 {
		t.Helper()
		q := filepath.Join(dir, "q.tsq")
		args := []string{"ts", "-query", "-data", data, "-sha256", "-out", q}
		if certInReply {
			args = append(args, "-cert")
		}
		openssl(t, args...)
		query, _ := os.ReadFile(q)
		prev := b.srv
		b.srv = srv
		rec := b.doRaw(t, http.MethodPost, "/api/v1/tsa", "application/timestamp-query", string(query))
		b.srv = prev
		if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/timestamp-reply" {
			t.Fatalf("POST /api/v1/tsa: %d %q %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
		}
		r := filepath.Join(dir, "r.tsr")
		os.WriteFile(r, rec.Body.Bytes(), 0o600)
		verify := []string{"ts", "-verify", "-data", data, "-in", r, "-CAfile", root}
		if !certInReply {
			verify = append(verify, "-untrusted", tsaCert)
		}
		if out := openssl(t, verify...); !strings.Contains(out, "Verification: OK") {
			t.Fatalf("openssl ts -verify: %s", out)
		}
		text := openssl(t, "ts", "-reply", "-in", r, "-text")
		for _, w := range []string{"Status: Granted", "Policy OID: 2.999.3161.1", "Accuracy: 0x01 seconds", "TSA: DirName:"} {
			if !strings.Contains(text, w) {
				t.Errorf("the reply does not say %q:\n%s", w, text)
			}
		}
		m := regexp.MustCompile(`Serial number: 0x([0-9A-F]+)`).FindStringSubmatch(text)
		if m == nil {
			t.Fatalf("no serial number in:\n%s", text)
		}
		n, _ := strconv.ParseInt(m[1], 16, 64)
		return n
	}
	first := serialOf(t, b.srv, true)
	second := serialOf(t, b.srv, false)
	if second <= first {
		t.Errorf("serial numbers %d then %d", first, second)
	}

	// A second serve process on the same database: its own TSA handle on the stored key.
	other, err := seal.OpenTSA(t.Context(), b.pool, b.custody, b.ca, "测试时间戳服务", testTSAPolicy, time.Second, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !other.Cert.Equal(b.tsa.Cert) {
		t.Errorf("the second process made another TSA certificate")
	}
	d := b.deps(b.pool, b.blobs, b.audit)
	d.Seals.TSA = other
	srv2, err := New(d)
	if err != nil {
		t.Fatal(err)
	}
	if third := serialOf(t, srv2, true); third <= second {
		t.Errorf("the second process's serial %d after %d", third, second)
	}

	// A request for another policy is answered, as RFC 3161 says, with a rejection.
	q := filepath.Join(dir, "p.tsq")
	openssl(t, "ts", "-query", "-data", data, "-sha256", "-tspolicy", "1.2.3.4", "-out", q)
	query, _ := os.ReadFile(q)
	rec := b.doRaw(t, http.MethodPost, "/api/v1/tsa", "application/timestamp-query", string(query))
	r := filepath.Join(dir, "p.tsr")
	os.WriteFile(r, rec.Body.Bytes(), 0o600)
	if text := openssl(t, "ts", "-reply", "-in", r, "-text"); rec.Code != http.StatusOK || !strings.Contains(text, "Status: Rejected") || !strings.Contains(text, "policy is not supported") {
		t.Errorf("another policy: %d\n%s", rec.Code, text)
	}

	for _, tc := range []struct {
		name, ctype, body string
		status            int
		says              string
	}{
		{"not a request", "application/timestamp-query", "hello", 400, "TimeStampReq"},
		{"truncated", "application/timestamp-query", string(query[:len(query)/2]), 400, "TimeStampReq"},
		{"JSON", "application/json", "{}", 415, "application/timestamp-query"},
		{"no type", "", string(query), 415, "application/timestamp-query"},
		{"huge", "application/timestamp-query", strings.Repeat("0", 70<<10), 413, ""},
	} {
		rec := b.doRaw(t, http.MethodPost, "/api/v1/tsa", tc.ctype, tc.body)
		p := problemOf(t, rec)
		if rec.Code != tc.status || !strings.Contains(rec.Body.String(), tc.says) {
			t.Errorf("%s: %d %+v, want %d saying %q", tc.name, rec.Code, p, tc.status, tc.says)
		}
	}
}
