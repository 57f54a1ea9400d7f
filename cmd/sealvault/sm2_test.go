package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sealvault/internal/dbtest"
)

// TestDemoSM2SealAndVerify (national cryptography, "Done means"): the demo's SM2 seal S-2
// seals the demo document; `sealvault verify` with only the service's trust file (both
// roots and both CRLs) says valid, with the seal's GB/T 38540 data and every check of the
// electronic signature; the register finds the use.
func TestDemoSM2SealAndVerify(t *testing.T) {
	dbURL := dbtest.URL(t)
	s := startServe(t, dbURL, t.TempDir())
	defer s.stop()
	win := s.login(t, "window", "demo-window-2026")
	cust := s.login(t, "custodian", "demo-custodian-2026")
	status, body := s.do(t, http.MethodGet, "/api/v1/seals/S-2", win, nil)
	var sm2 struct {
		ID, Ref, Status string
		KeyAlgorithm    string `json:"key_algorithm"`
	}
	if json.Unmarshal(body, &sm2); status != 200 || sm2.KeyAlgorithm != "sm2" || sm2.Status != "active" {
		t.Fatalf("demo seal S-2: %d %s", status, body)
	}
	d := sealDemoCase(t, s, win, cust, sm2.ID)
	dir := t.TempDir()
	file := filepath.Join(dir, "sealed-sm2.pdf")
	os.WriteFile(file, d.sealed, 0o600)
	status, trust := s.do(t, http.MethodGet, "/api/v1/ca/trust.pem", "", nil)
	if status != 200 || strings.Count(string(trust), "BEGIN CERTIFICATE") != 2 || strings.Count(string(trust), "BEGIN X509 CRL") != 2 {
		t.Fatalf("trust.pem: %d %s", status, trust)
	}
	trustFile := filepath.Join(dir, "trust.pem")
	os.WriteFile(trustFile, trust, 0o600)

	bin := buildSealvault(t)
	empty := t.TempDir()
	run := runIn(t, bin, empty)
	out, err := run("verify", file, "--root", trustFile)
	if err != nil {
		t.Fatalf("verify --root trust.pem: %v\n%s", err, out)
	}
	for _, want := range []string{"sealed-sm2.pdf: VALID", `seal data: GB/T 38540 electronic seal "天河区市场监督管理局行政审批专用章"`,
		"vendor sealvault", "SM2/SM3:   GB.SES_Signature.v4", "data-digest ok", "signer-signature ok", "signer-chain ok",
		"signer-listed ok", "maker-signature ok", "timestamp: ", "level:     B-LTA", "not revoked according to the CRL of",
		"archive timestamp ArchiveTimestamp-1: valid", "register not consulted"} {
		if !strings.Contains(out, want) {
			t.Errorf("verify output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "FAILED") {
		t.Errorf("a check failed:\n%s", out)
	}
	out, err = run("verify", file, "--server", s.base, "--token", win)
	if err != nil || !strings.Contains(out, "VALID") || !strings.Contains(out, d.useRef) || !strings.Contains(out, "S-2") {
		t.Errorf("verify --server: %v\n%s", err, out)
	}
	// Against the ECDSA root alone, the electronic seal is not trusted.
	rootFile := filepath.Join(dir, "root.pem")
	_, rootPEM := s.do(t, http.MethodGet, "/api/v1/ca/root.pem", "", nil)
	os.WriteFile(rootFile, rootPEM, 0o600)
	if out, err := run("verify", file, "--root", rootFile); err == nil || !strings.Contains(out, "NOT VALID") || !strings.Contains(out, "signer-chain FAILED") {
		t.Errorf("verify against the ECDSA root only: %v\n%s", err, out)
	}
}
