// Package testkit holds small helpers shared by the tests of several packages: finding the
// module root, making page images, and a log buffer safe for a server to write while a test
// reads it. Only tests import it.
package testkit

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"sealvault/vault/pages"
)

// ModuleRoot walks up from the working directory to the directory holding go.mod.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("testkit: no go.mod in the working directory or above it")
		}
		dir = parent
	}
}

// Interop reads a file other implementations wrote, from ../shared/interop beside the
// module (the project's shared documents); a missing file fails the test, never skips it.
func Interop(t testing.TB, rel string) []byte {
	t.Helper()
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "..", "shared", "interop", filepath.FromSlash(rel)))
	if err != nil {
		t.Fatalf("testkit: the interoperability sample %s (../shared/interop beside the project): %v", rel, err)
	}
	return b
}

// PageImage makes a w×h page image ("png" or "jpeg"), shaded by n so pages differ.
func PageImage(t testing.TB, format string, w, h, n int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x * n), uint8(y), uint8(n * 40), 255})
		}
	}
	var b bytes.Buffer
	var err error
	if format == "png" {
		err = png.Encode(&b, img)
	} else {
		err = jpeg.Encode(&b, img, &jpeg.Options{Quality: 80})
	}
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// SyncBuffer is a bytes.Buffer safe for concurrent writes and reads.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Pdfsig runs poppler's pdfsig on pdf with an NSS database trusting root (PEM), and returns
// what it printed.
func Pdfsig(t testing.TB, root, pdf []byte) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "root.pem"), root, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "f.pdf"), pdf, 0o600); err != nil {
		t.Fatal(err)
	}
	db := "sql:" + filepath.Join(dir, "nss")
	if err := os.Mkdir(filepath.Join(dir, "nss"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"-N", "-d", db, "--empty-password"}, {"-A", "-d", db, "-n", "root", "-t", "CT,C,C", "-i", filepath.Join(dir, "root.pem")}} {
		if out, err := exec.Command("certutil", args...).CombinedOutput(); err != nil {
			t.Fatalf("certutil (Debian package libnss3-tools) %v: %v %s", args, err, out)
		}
	}
	// Not -no-ocsp: poppler 22.12 then says "Unknown issue with Certificate" for every chain.
	// The certificates name no OCSP responder, so nothing is fetched.
	out, err := exec.Command("pdfsig", "-nssdir", db, filepath.Join(dir, "f.pdf")).CombinedOutput()
	if err != nil {
		t.Logf("pdfsig: %v", err)
	}
	return string(out)
}

// WithJFIFDensity returns the JPEG data with a JFIF segment stating dpi, as a scanner writes it.
func WithJFIFDensity(data []byte, dpi int) []byte { return pages.WithJPEGDensity(data, dpi) }

// ScanQR renders page (from 1) of pdf at 200 DPI with poppler's pdftoppm, as a scanner or a
// phone would see the printed page, and returns every QR code zbarimg (Debian package
// zbar-tools) reads from it. A missing tool fails the test: it is installed by
// tools/prereqs.sh test, never skipped.
func ScanQR(t testing.TB, pdf []byte, page int) []string {
	t.Helper()
	dir := t.TempDir()
	in := filepath.Join(dir, "sealed.pdf")
	if err := os.WriteFile(in, pdf, 0o600); err != nil {
		t.Fatal(err)
	}
	p := strconv.Itoa(page)
	if out, err := exec.Command("pdftoppm", "-r", "200", "-png", "-f", p, "-l", p, "-singlefile", in, filepath.Join(dir, "page")).CombinedOutput(); err != nil {
		t.Fatalf("pdftoppm (Debian package poppler-utils): %v %s", err, out)
	}
	if _, err := exec.LookPath("zbarimg"); err != nil {
		t.Fatalf("zbarimg (Debian package zbar-tools, installed by tools/prereqs.sh test): %v", err)
	}
	out, err := exec.Command("zbarimg", "--quiet", "--raw", "-Sdisable", "-Sqrcode.enable", filepath.Join(dir, "page.png")).Output()
	if err != nil {
		// zbarimg exits 4 when it finds no code: the caller's assertion says what was missing.
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 4 {
			t.Fatalf("zbarimg: %v", err)
		}
	}
	var codes []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l != "" {
			codes = append(codes, l)
		}
	}
	return codes
}
