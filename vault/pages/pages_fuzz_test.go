package pages

import (
	"bytes"
	"errors"
	"image"
	"math"
	"testing"
)

// fuzzLimits are the service's limits with a smaller pixel budget, so that one input costs
// milliseconds, not seconds.
var fuzzLimits = Limits{MaxPixels: 1 << 20}

// fuzzSeeds are the accepted page fixtures small enough to mutate quickly, with the
// resolution headers the service reads (JFIF, Exif, pHYs, TIFF XResolution).
func fuzzSeeds(tb testing.TB) [][]byte {
	var seeds [][]byte
	for _, fx := range accepted(tb) {
		if len(fx.data) <= 64<<10 {
			seeds = append(seeds, fx.data)
		}
	}
	small := sheet(120, 160)
	j, p := encodeJPEG(tb, small), encodePNG(tb, small)
	tif := rawTIFF(rawPage{w: 128, h: 128, bits: 8, xRes: 300})
	return append(seeds,
		withJFIF(j, 1, 300), withJFIF(j, 2, 118), withExif(j, rawTIFF(rawPage{w: 1, h: 1, bits: 8, xRes: 200})),
		withPHYs(p, 11811, 1), withIHDRSize(p, 40000, 40000), withSOFSize(tb, j, 60000, 60000),
		tif, withTIFFXRes(tb, tif, 1, 0),
		rawTIFF(rawPage{w: 128, h: 128, bits: 1}, rawPage{w: 16, h: 16, bits: 1, reduced: true}),
		rawTIFF(rawPage{w: 128, h: 128, bits: 8}, rawPage{w: 128, h: 128, bits: 8}),
		[]byte("%PDF-1.7\n"), []byte("GIF89a"), []byte("\xff\xd8\xff"), []byte("II*\x00\x08\x00\x00\x00"))
}

// FuzzInspect feeds any file to the page-image check of POST /api/v1/materials. Nothing
// panics; a refusal is a *RejectError with reasons in both languages; a page it accepts is
// the sniffed format, within the limits, with a usable resolution and colour, decodes to
// its stated size, and becomes a one-page PDF that the PDF check itself accepts, its page
// the image's shape. The header readers (JFIF, Exif, pHYs, TIFF IFDs) are run on the raw
// bytes too, which reach them unchecked.
func FuzzInspect(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for name, dpi := range map[string]float64{"jpegDPI": jpegDPI(data), "pngDPI": pngDPI(data)} {
			if !(dpi >= 0) || math.IsInf(dpi, 0) {
				t.Fatalf("%s = %v", name, dpi)
			}
		}
		if info, ok := parseTIFF(data); ok && (info.pages < 1 || info.pages > 1000 || !(info.dpi() >= 0) || math.IsInf(info.dpi(), 0)) {
			t.Fatalf("parseTIFF = %+v", info)
		}
		k := sniff(data)

		// In full, and reduced as pages after the first are: the same verdict either way.
		p, img, err := inspect("page.bin", bytes.NewReader(data), fuzzLimits, 1<<30)
		_, small, errSmall := inspect("page.bin", bytes.NewReader(data), fuzzLimits, 0)
		if (err == nil) != (errSmall == nil) {
			t.Fatalf("decoded in full: %v; reduced: %v", err, errSmall)
		}
		if err != nil {
			var re *RejectError
			if !errors.As(err, &re) || re.Reason == "" || re.ReasonZh == "" || re.File != "page.bin" {
				t.Fatalf("inspect refused with %#v, want a *RejectError naming the file, with both reasons", err)
			}
			return
		}
		lim := fuzzLimits.orDefaults()
		switch {
		case p.Format != k.format || k.format == "":
			t.Fatalf("accepted as %q, sniffed as %+v", p.Format, k)
		case int64(p.Width)*int64(p.Height) > lim.MaxPixels || min(p.Width, p.Height) < lim.MinSide:
			t.Fatalf("accepted a %d×%d page outside the limits", p.Width, p.Height)
		case !(p.DPI >= 0) || math.IsInf(p.DPI, 0):
			t.Fatalf("accepted with DPI %v", p.DPI)
		case p.Color != "gray" && p.Color != "rgb" && p.Color != "cmyk" && p.Color != "paletted" && p.Color != "bilevel":
			t.Fatalf("accepted with colour %q", p.Color)
		case !bytes.Equal(p.Data, data):
			t.Fatal("the page's data is not the file's")
		case img.Bounds() != image.Rect(0, 0, p.Width, p.Height):
			t.Fatalf("decoded to %v, stated %d×%d", img.Bounds(), p.Width, p.Height)
		case p.Format == "jpeg" && JPEGDecoder == "libjpeg-turbo" && p.Color != "cmyk" &&
			small.Bounds() != image.Rect(0, 0, (p.Width+7)/8, (p.Height+7)/8):
			t.Fatalf("reduced to %v, from %d×%d", small.Bounds(), p.Width, p.Height)
		}
		pdf, err := Assemble([]Page{p})
		if err != nil {
			t.Fatalf("an accepted %s page (%d×%d, %v DPI, %s) cannot be assembled: %v", p.Format, p.Width, p.Height, p.DPI, p.Color, err)
		}
		n, err := CheckPDF("material.pdf", pdf, Limits{})
		if err != nil || n != 1 {
			t.Fatalf("the PDF assembled from an accepted %s page is refused: %d pages, %v", p.Format, n, err)
		}
		sizes, err := PageSizes(pdf)
		if err != nil || len(sizes) != 1 {
			t.Fatalf("PageSizes of the assembled PDF: %v, %v", sizes, err)
		}
		if got, want := sizes[0][0]/sizes[0][1], float64(p.Width)/float64(p.Height); math.Abs(got-want) > 0.01*want {
			t.Fatalf("a %d×%d page became a %v pt page", p.Width, p.Height, sizes[0])
		}
	})
}

// FuzzCheckPDF feeds any file to the PDF check of POST /api/v1/materials and of documents
// offered for sealing. Nothing panics; a refusal is a *RejectError; a PDF it accepts has
// 1 to MaxPages pages, and PageSizes (what stamp placement reads) gives one positive size
// for each of them.
func FuzzCheckPDF(f *testing.F) {
	small := sheet(120, 160)
	for _, page := range [][]byte{encodePNG(f, small), withJFIF(encodeJPEG(f, colourSheet(160, 120)), 1, 150)} {
		p, err := Inspect("page", bytes.NewReader(page), Limits{})
		if err != nil {
			f.Fatal(err)
		}
		pdf, err := Assemble([]Page{p, p})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(pdf)
	}
	f.Add([]byte("%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n" +
		"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]/Rotate 90>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"))
	f.Add([]byte("%PDF-1.7\n%%EOF\n"))
	f.Add([]byte("junk%PDF-1.4\ntrailer<</Root 1 0 R/Encrypt 5 0 R>>\nstartxref\n0\n%%EOF"))
	lim := Limits{MaxPages: 20}
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := CheckPDF("doc.pdf", data, lim)
		if err != nil {
			var re *RejectError
			if !errors.As(err, &re) || re.Reason == "" || re.ReasonZh == "" {
				t.Fatalf("CheckPDF refused with %#v, want a *RejectError", err)
			}
			return
		}
		if n < 1 || n > lim.MaxPages {
			t.Fatalf("CheckPDF accepted %d pages", n)
		}
		sizes, err := PageSizes(data)
		if err != nil || len(sizes) != n {
			t.Fatalf("CheckPDF accepted %d pages, PageSizes gives %v, %v", n, sizes, err)
		}
		for _, s := range sizes {
			if !(s[0] > 0 && s[1] > 0) || math.IsInf(s[0], 0) || math.IsInf(s[1], 0) {
				t.Fatalf("CheckPDF accepted a PDF with a page of %v pt", s)
			}
		}
	})
}
