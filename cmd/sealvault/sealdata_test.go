package main

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sealvault/internal/testkit"
)

// runCLI runs `sealvault ARGS...` (a command that reads only its files) and returns what it
// printed and its error.
func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRoot()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(append(args, "--data-dir", t.TempDir(), "--log-level", "error"))
	err := root.ExecuteContext(t.Context())
	return out.String() + errOut.String(), err
}

func interopFile(t *testing.T, rel string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), filepath.Base(rel))
	if err := os.WriteFile(p, testkit.Interop(t, rel), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// ofdrw's seal read with `sealvault seal inspect`: its fields, valid at 2021-01-01, expired
// (exit 1, saying which dates) at 2026-01-01.
func TestSealInspectOfdrwSeal(t *testing.T) {
	esl := interopFile(t, "gbt38540/UserV4.esl")
	out, err := runCLI(t, "seal", "inspect", "--at", "2021-01-01", esl)
	if err != nil {
		t.Fatalf("at 2021-01-01: %v\n%s", err, out)
	}
	for _, want := range []string{"OFD R&W 测试用印章", "51f044b76510434e9bc67a1185c2fba5", "OFDR&WTest", "PNG, 40 × 40 mm",
		"2020-04-22 to 2022-04-22", "SM2-with-SM3", "VALID"} {
		if !strings.Contains(out, want) {
			t.Errorf("the inspection does not say %q:\n%s", want, out)
		}
	}
	out, err = runCLI(t, "seal", "inspect", "--at", "2026-01-01", esl)
	if !errors.Is(err, errSealNotValid) || !strings.Contains(out, "NOT VALID") || !strings.Contains(out, "the seal expired on 2022-04-22") {
		t.Errorf("at 2026-01-01: %v\n%s", err, out)
	}
	pic := filepath.Join(t.TempDir(), "seal.png")
	out, err = runCLI(t, "seal", "inspect", "--json", "--at", "2021-01-01T08:00:00+08:00", "--picture", pic, esl)
	var got struct {
		Seal struct {
			Name   string `json:"name"`
			Header struct {
				VendorID string `json:"vendor_id"`
			} `json:"header"`
		} `json:"seal"`
		Verification struct {
			Valid bool `json:"valid"`
		} `json:"verification"`
	}
	if err != nil || json.Unmarshal([]byte(out), &got) != nil || !got.Verification.Valid || got.Seal.Name != "OFD R&W 测试用印章" || got.Seal.Header.VendorID != "OFDR&WTest" {
		t.Errorf("--json: %v\n%s", err, out)
	}
	if png, _ := os.ReadFile(pic); !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Errorf("--picture wrote %d bytes that are not a PNG", len(png))
	}
	// Not a seal, and a bad time: said plainly.
	out, err = runCLI(t, "seal", "inspect", filepath.Join("testdata", "..", "main.go"))
	if err == nil || !strings.Contains(err.Error(), "not a GB/T 38540 SES_Seal") || strings.Contains(err.Error(), "optional:false") {
		t.Errorf("a Go file as a seal: %v\n%s", err, out)
	}
	if _, err = runCLI(t, "seal", "inspect", "--at", "tomorrow", esl); err == nil || !strings.Contains(err.Error(), "want a date") {
		t.Errorf("--at tomorrow: %v", err)
	}
}

// `sealvault verify` on another vendor's signed OFD invoice: valid; with one amount changed,
// not valid, naming the changed file.
func TestVerifyOFD(t *testing.T) {
	ofd := interopFile(t, "gbt38540/v4signed.ofd")
	out, err := runCLI(t, "verify", ofd)
	if err != nil || !strings.Contains(out, "VALID (OFD document, 1 signatures)") || !strings.Contains(out, "13 files, 0 changed") {
		t.Errorf("verify the OFD: %v\n%s", err, out)
	}
	data, _ := os.ReadFile(ofd)
	zr, _ := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	var changed bytes.Buffer
	zw := zip.NewWriter(&changed)
	for _, f := range zr.File {
		rc, _ := f.Open()
		b, _ := io.ReadAll(rc)
		rc.Close()
		if f.Name == "Doc_0/Pages/Page_0/Content.xml" {
			b = bytes.Replace(b, []byte("318.00"), []byte("918.00"), 1)
		}
		w, _ := zw.Create(f.Name)
		w.Write(b)
	}
	zw.Close()
	bad := filepath.Join(t.TempDir(), "changed.ofd")
	os.WriteFile(bad, changed.Bytes(), 0o600)
	out, err = runCLI(t, "verify", bad)
	if !errors.Is(err, errVerifyFailed) || !strings.Contains(out, "NOT VALID") || !strings.Contains(out, "changed:   /Doc_0/Pages/Page_0/Content.xml") {
		t.Errorf("verify the changed OFD: %v\n%s", err, out)
	}
}
