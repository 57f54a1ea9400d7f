package pades

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// buildPDF writes objs (object n+1 is objs[n]) with a classic cross-reference table and a
// trailer naming object 1 as the catalog.
func buildPDF(objs ...string) []byte {
	var b bytes.Buffer
	b.WriteString("%PDF-1.7\n")
	offs := make([]int, len(objs))
	for i, o := range objs {
		offs[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, off := range offs {
		fmt.Fprintf(&b, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, xref)
	return b.Bytes()
}

// TestHardening2_CheckRefusesWhatSignCannotSign: every document Check refuses, Sign refuses
// too (on some page), as a *DocumentError; what Check accepts, Sign signs on its last page.
func TestHardening2_CheckRefusesWhatSignCannotSign(t *testing.T) {
	p := newPKI(t)
	page := "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>"
	good := buildPDF("<< /Type /Catalog /Pages 2 0 R >>", "<< /Type /Pages /Kids [3 0 R] /Count 1 >>", page)
	truncated := []byte("%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n" +
		"3 0 obj<</Type/Page/MediaBox[0 0 595 842]>>endobj\n")
	bad := []struct {
		name string
		pdf  []byte
		want string
		page int // where Sign fails
	}{
		{"truncated, no startxref", truncated, "no startxref", 1},
		{"cut in the middle", good[:len(good)/2], "startxref", 1},
		{"not a PDF", []byte("GIF89a this is not a document"), "not a PDF", 1},
		{"no page tree", buildPDF("<< /Type /Catalog >>"), "no page tree", 1},
		{"no pages", buildPDF("<< /Type /Catalog /Pages 2 0 R >>", "<< /Type /Pages /Kids [] /Count 0 >>"), "no pages", 1},
		{"page without a box", buildPDF("<< /Type /Catalog /Pages 2 0 R >>", "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
			"<< /Type /Page /Parent 2 0 R >>"), "MediaBox", 1},
		{"a /Count that lies", buildPDF("<< /Type /Catalog /Pages 2 0 R >>", "<< /Type /Pages /Kids [3 0 R] /Count 2 >>",
			"<< /Type /Pages /Parent 2 0 R /Kids [4 0 R] /Count 2 >>", "<< /Type /Page /Parent 3 0 R /MediaBox [0 0 595 842] >>"), "/Count 2 but holds 1", 2},
		{"a cycle", buildPDF("<< /Type /Catalog /Pages 2 0 R >>", "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
			"<< /Type /Pages /Parent 2 0 R /Kids [3 0 R] /Count 1 >>"), "twice", 1},
		{"encrypted", bytes.Replace(good, []byte("/Root 1 0 R"), []byte("/Root 1 0 R /Encrypt 9 0 R"), 1), "encrypted", 1},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Check(tc.pdf)
			var de *DocumentError
			if !errors.As(err, &de) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Check: %v, want a *DocumentError containing %q", err, tc.want)
			}
			_, err = Sign(tc.pdf, request(p.ecdsa, sealPNG(t), Placement{Page: tc.page, X: 10, Y: 10, Width: 50, Height: 50}))
			if !errors.As(err, &de) {
				t.Errorf("Sign: %v, want a *DocumentError", err)
			}
		})
	}
	for _, tc := range []struct {
		name  string
		pdf   []byte
		pages int
	}{
		{"hand-written", good, 1},
		{"text, classic xref", textPDF(t, 5), 1},
		{"scans, xref stream", scanPDF(t, 3, 64, 64), 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := Check(tc.pdf)
			if err != nil || n != tc.pages {
				t.Fatalf("Check: %d pages, %v; want %d", n, err, tc.pages)
			}
			mustSign(t, tc.pdf, request(p.ecdsa, sealPNG(t), Placement{Page: n, X: 10, Y: 10, Width: 50, Height: 50}))
		})
	}
	// A stamp outside the page is the placement's defect: a *DocumentError, not a signer failure.
	_, err := Sign(good, request(p.ecdsa, sealPNG(t), Placement{Page: 1, X: 590, Y: 10, Width: 50, Height: 50}))
	var de *DocumentError
	if !errors.As(err, &de) {
		t.Errorf("stamp off the page: %v, want a *DocumentError", err)
	}
}
