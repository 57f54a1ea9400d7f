package pages

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestWatermark: the watermark is on every page, readable by pdftotext, and the result is
// still a valid PDF of the same page count.
func TestWatermark(t *testing.T) {
	pdf, err := Assemble([]Page{mustInspect(t, "1.png", encodePNG(t, sheet(600, 848))), mustInspect(t, "2.png", encodePNG(t, sheet(600, 848)))})
	if err != nil {
		t.Fatal(err)
	}
	out, err := Watermark(pdf, "viewed by window 2026-11-25 20:00 case AJ2026112500001")
	if err != nil {
		t.Fatal(err)
	}
	if n, err := CheckPDF("w.pdf", out, Limits{}); err != nil || n != 2 {
		t.Fatalf("watermarked PDF: %d pages, %v", n, err)
	}
	f := filepath.Join(t.TempDir(), "w.pdf")
	os.WriteFile(f, out, 0o600)
	text, err := exec.Command("pdftotext", f, "-").CombinedOutput()
	if err != nil {
		t.Fatalf("pdftotext (Debian package poppler-utils): %v %s", err, text)
	}
	if c := strings.Count(string(text), "AJ2026112500001"); c != 2 {
		t.Errorf("watermark found %d times, want once per page:\n%s", c, text)
	}
}
