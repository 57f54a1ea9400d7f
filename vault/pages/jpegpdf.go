package pages

import (
	"bufio"
	"crypto/rand"
	"fmt"
	"image/color"
	"io"
	"strconv"
	"time"
)

// Scanned pages are JPEGs, and a PDF of JPEG pages needs no work on the images: each is
// embedded as it is, with the DCTDecode filter. writeJPEGPDF writes such a PDF straight to
// its writer, the page images passed through without a copy, where pdfcpu builds its object
// model, copies every image into memory and deflates each content stream with a new
// compressor (about 1.9 ms and two copies of a 1 MB scan). The file is the plainest PDF there
// is: a catalog, a page tree, per page a page dictionary, its content stream and its image,
// an information dictionary, a cross-reference table and a trailer with an /ID. Pages of any
// other kind (PNG, TIFF, a CMYK JPEG with its Adobe inversion) go through pdfcpu.

// jpegImage is what the page writer needs of a JPEG page besides its bytes.
type jpegImage struct {
	w, h  int    // pixels
	space string // the PDF colour space
}

// jpegPDFImage describes a JPEG page this writer embeds; ok is false for a page that is one
// for pdfcpu.
func jpegPDFImage(p Page) (img jpegImage, ok bool) {
	k := sniff(p.Data)
	if k.format != "jpeg" {
		return img, false
	}
	cfg, err := decodeConfig(k.format, p.Data)
	if err != nil {
		return img, false
	}
	switch cfg.ColorModel {
	case color.GrayModel:
		return jpegImage{cfg.Width, cfg.Height, "/DeviceGray"}, true
	case color.YCbCrModel:
		return jpegImage{cfg.Width, cfg.Height, "/DeviceRGB"}, true
	}
	return img, false
}

// writeJPEGPDF writes pages, every one a JPEG that jpegPDFImage described as images[i], as
// a PDF to w, laid out as Assemble lays out every page: the page the size of its image at
// layoutDPI, the image filling it.
func writeJPEGPDF(w io.Writer, pages []Page, images []jpegImage) error {
	pw := &pdfWriter{w: bufio.NewWriterSize(w, 32<<10)}
	// Objects: 1 catalog, 2 page tree, 3 information, then 3 per page: page, content, image.
	const first = 4
	n := first + 3*len(pages)
	pw.offsets = make([]int64, n)

	pw.printf("%%PDF-1.7\n%%\xe2\xe3\xcf\xd3\n")
	pw.object(1, "<< /Type /Catalog /Pages 2 0 R >>")
	kids := make([]byte, 0, 8*len(pages))
	for i := range pages {
		kids = fmt.Appendf(kids, " %d 0 R", first+3*i)
	}
	pw.object(2, fmt.Sprintf("<< /Type /Pages /Kids [%s ] /Count %d >>", kids, len(pages)))
	pw.object(3, fmt.Sprintf("<< /Producer (sealvault) /CreationDate (%s) >>", pdfDate(time.Now())))

	for i, p := range pages {
		iw, ih := images[i].w, images[i].h
		dpi := layoutDPI(p.DPI, iw, ih)
		pageW, pageH := pdfNumber(float64(iw)*72/dpi), pdfNumber(float64(ih)*72/dpi)
		page, content, img := first+3*i, first+3*i+1, first+3*i+2
		pw.object(page, fmt.Sprintf("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %s %s] /Resources << /XObject << /Im0 %d 0 R >> >> /Contents %d 0 R >>",
			pageW, pageH, img, content))
		draw := fmt.Sprintf("q %s 0 0 %s 0 0 cm /Im0 Do Q\n", pageW, pageH)
		pw.stream(content, "", []byte(draw))
		pw.stream(img, fmt.Sprintf("/Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace %s /BitsPerComponent 8 /Filter /DCTDecode /Interpolate true ",
			iw, ih, images[i].space), p.Data)
	}

	xref := pw.n
	pw.printf("xref\n0 %d\n0000000000 65535 f \n", n)
	for _, off := range pw.offsets[1:] {
		pw.printf("%010d 00000 n \n", off)
	}
	var id [16]byte
	rand.Read(id[:])
	pw.printf("trailer\n<< /Size %d /Root 1 0 R /Info 3 0 R /ID [<%x> <%x>] >>\nstartxref\n%d\n%%%%EOF\n", n, id, id, xref)
	if pw.err != nil {
		return fmt.Errorf("pages: assemble: write: %w", pw.err)
	}
	if err := pw.w.Flush(); err != nil {
		return fmt.Errorf("pages: assemble: write: %w", err)
	}
	return nil
}

// pdfWriter writes numbered objects and keeps their offsets for the cross-reference table;
// the first write error sticks.
type pdfWriter struct {
	w       *bufio.Writer
	n       int64
	offsets []int64
	err     error
}

func (pw *pdfWriter) write(b []byte) {
	if pw.err != nil {
		return
	}
	var k int
	k, pw.err = pw.w.Write(b)
	pw.n += int64(k)
}

func (pw *pdfWriter) printf(format string, args ...any) {
	pw.write(fmt.Appendf(nil, format, args...))
}

func (pw *pdfWriter) object(num int, body string) {
	pw.offsets[num] = pw.n
	pw.printf("%d 0 obj\n%s\nendobj\n", num, body)
}

// stream writes a stream object: dict entries (each followed by a space), /Length, data.
func (pw *pdfWriter) stream(num int, dict string, data []byte) {
	pw.offsets[num] = pw.n
	pw.printf("%d 0 obj\n<< %s/Length %d >>\nstream\n", num, dict, len(data))
	pw.write(data)
	pw.printf("\nendstream\nendobj\n")
}

// pdfNumber formats a page dimension in points to a hundredth of a point.
func pdfNumber(f float64) string { return strconv.FormatFloat(f, 'f', 2, 64) }

// pdfDate is a PDF date string (ISO 32000-1, 7.9.4) in UTC.
func pdfDate(t time.Time) string { return t.UTC().Format("D:20060102150405+00'00'") }
