package pades

import (
	"bytes"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// The independent validators the signed files are checked with. They are required: a
// missing tool fails the test, since a skipped validator proves nothing.
//
// pdfsig runs without -no-ocsp. Poppler 22.12 reports "Unknown issue with Certificate or
// corrupted data." for every chain when OCSP is disabled; the test certificates carry no
// OCSP or CRL address, so nothing is fetched either way.

// toolDir holds the NSS database, the pdfcpu binary and its configuration for one test
// binary run; TestMain removes it.
var toolDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pades-tools-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	toolDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type validators struct {
	nssDir   string
	pdfcpu   string
	xdgDir   string
	setupErr error
}

var (
	validatorsOnce sync.Once
	theValidators  validators
)

// tools returns the validators, set up once per test binary: an NSS database and a pdfcpu
// certificate store that trust the test root, and a pdfcpu binary built from the module
// cache.
func tools(t *testing.T) *validators {
	t.Helper()
	for _, name := range []string{"pdfsig", "pdftoppm", "certutil", "qpdf"} {
		if _, err := exec.LookPath(name); err != nil {
			t.Fatalf("%s is required (tools/prereqs.sh test installs it): %v", name, err)
		}
	}
	p := newPKI(t)
	validatorsOnce.Do(func() { theValidators.setupErr = theValidators.setup(p) })
	if theValidators.setupErr != nil {
		t.Fatal(theValidators.setupErr)
	}
	return &theValidators
}

func (v *validators) setup(p *pki) error {
	rootPEM := filepath.Join(toolDir, "root.pem")
	if err := os.WriteFile(rootPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.root.Raw}), 0o644); err != nil {
		return err
	}
	v.nssDir = filepath.Join(toolDir, "nss")
	v.xdgDir = filepath.Join(toolDir, "xdg")
	v.pdfcpu = filepath.Join(toolDir, "pdfcpu")
	for _, d := range []string{v.nssDir, v.xdgDir} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return err
		}
	}
	steps := [][]string{
		{"certutil", "-N", "-d", "sql:" + v.nssDir, "--empty-password"},
		// The middle flag (S/MIME) must be C: with "C,," pdfsig says the issuer is not trusted.
		{"certutil", "-A", "-d", "sql:" + v.nssDir, "-n", "root", "-t", "CT,C,C", "-i", rootPEM},
		{"go", "build", "-o", v.pdfcpu, "github.com/pdfcpu/pdfcpu/cmd/pdfcpu"},
		{v.pdfcpu, "certificates", "import", rootPEM},
	}
	for _, s := range steps {
		cmd := exec.Command(s[0], s[1:]...)
		cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+v.xdgDir)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %v\n%s", strings.Join(s, " "), err, out)
		}
	}
	return nil
}

// writeTemp writes pdf to a file in the test's temporary directory.
func writeTemp(t *testing.T, name string, pdf []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, pdf, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// run runs a validator and returns its combined output and exit code.
func (v *validators) run(t *testing.T, name string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), name, args...)
	cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+v.xdgDir)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("%s: %v", name, err)
		}
		code = ee.ExitCode()
	}
	return out.String(), code
}

// pdfsig returns pdfsig's report of each signature, in document order.
func (v *validators) pdfsig(t *testing.T, path string) []string {
	t.Helper()
	out, _ := v.run(t, "pdfsig", "-nssdir", "sql:"+v.nssDir, path)
	parts := strings.Split(out, "\nSignature #")
	if len(parts) < 2 {
		t.Fatalf("pdfsig found no signature:\n%s", out)
	}
	return parts[1:]
}

// requireValidPdfsig asserts pdfsig's verdict on one signature.
func requireValidPdfsig(t *testing.T, report string, total bool) {
	t.Helper()
	want := []string{"Signature Validation: Signature is Valid.", "Certificate Validation: Certificate is Trusted.", "Signature Type: ETSI.CAdES.detached"}
	if total {
		want = append(want, "\n  - Total document signed")
	} else {
		want = append(want, "\n  - Not total document signed")
	}
	for _, w := range want {
		if !strings.Contains(report, w) {
			t.Errorf("pdfsig does not say %q:\n%s", strings.TrimSpace(w), report)
		}
	}
}

// requireQPDFCheck asserts that qpdf --check passes with exit code 0: no errors and no
// warnings.
func (v *validators) requireQPDFCheck(t *testing.T, path string) {
	t.Helper()
	out, code := v.run(t, "qpdf", "--check", path)
	if code != 0 || !strings.Contains(out, "No syntax or stream encoding errors found") {
		t.Errorf("qpdf --check exit %d:\n%s", code, out)
	}
}

// requirePdfcpuValid asserts that pdfcpu validates the file and finds n signatures with a
// good path to the trusted root, whose validity it leaves "unknown" only because the test
// certificates have no revocation information.
func (v *validators) requirePdfcpuValid(t *testing.T, path string, n int) string {
	t.Helper()
	out, code := v.run(t, v.pdfcpu, "validate", path)
	if code != 0 || !strings.Contains(out, "validation ok") {
		t.Errorf("pdfcpu validate exit %d:\n%s", code, out)
	}
	out, code = v.run(t, v.pdfcpu, "signatures", "validate", "-a", "-f", path)
	if code != 0 {
		t.Fatalf("pdfcpu signatures validate exit %d:\n%s", code, out)
	}
	for _, want := range []string{
		"Status: validity of the signature is unknown",
		"Reason: signer's certificate revocation status is unknown",
		"SubFilter:      ETSI.CAdES.detached",
	} {
		if got := strings.Count(out, want); got != n {
			t.Errorf("pdfcpu says %q %d times, want %d:\n%s", want, got, n, out)
		}
	}
	if got := strings.Count(out, "Local Path: Status: ok"); got < 2*n {
		t.Errorf("pdfcpu resolved %d certificate paths, want %d:\n%s", got, 2*n, out)
	}
	if strings.Contains(strings.ToLower(out), "invalid") {
		t.Errorf("pdfcpu calls a signature invalid:\n%s", out)
	}
	return out
}
