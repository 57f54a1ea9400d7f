package pages

import (
	"bytes"
	"errors"
	"fmt"
	"image/png"
	"io"
	"math"

	"github.com/pdfcpu/pdfcpu/pkg/api"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
)

// DefaultDPI is the resolution Assemble lays out a page image at when the image records none
// (or an unusable one): what document scanners and cameras produce for office papers.
const DefaultDPI = 200

// Recorded resolutions outside this range are placeholders rather than scan resolutions:
// some writers record 1 DPI to mean only "square pixels".
const (
	minDPI = 72
	maxDPI = 4800
)

// maxPagePoints is 200 inches, the largest page side Acrobat opens (ISO 32000-1, annex C).
const maxPagePoints = 14400

// Assemble builds one PDF with one page per image, in the order given. Each page has the
// size of its image at the image's resolution (DefaultDPI if it records none), so an A4
// sheet scanned at 300 DPI is an A4 page. JPEG data is embedded as it is; PNG and TIFF
// pixels are stored losslessly. The format and size come from each page's Data, not from
// its other fields.
//
// A page whose data is not a JPEG, PNG or TIFF image yields a *RejectError naming it.
func Assemble(pages []Page) (pdf []byte, err error) {
	var buf bytes.Buffer
	if err := AssembleTo(&buf, pages); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// AssembleTo is Assemble writing the PDF to w. Pages that are all grey or colour JPEGs (what
// scanners produce) are written by writeJPEGPDF, their bytes passed through; any other mix
// goes through pdfcpu. On an error w may hold part of a PDF.
func AssembleTo(w io.Writer, pages []Page) (err error) {
	if len(pages) == 0 {
		return errors.New("pages: assemble: no pages")
	}
	images := make([]jpegImage, 0, len(pages))
	for _, p := range pages {
		img, ok := jpegPDFImage(p)
		if !ok {
			return assemblePDFCPU(w, pages)
		}
		images = append(images, img)
	}
	return writeJPEGPDF(w, pages, images)
}

// assemblePDFCPU is AssembleTo through pdfcpu, for any mix of pages.
func assemblePDFCPU(w io.Writer, pages []Page) (err error) {
	defer catchPanic(&err, "assemble")

	conf := PDFConfig()
	conf.Cmd = model.IMPORTIMAGES
	ctx, err := pdfcpu.CreateContextWithXRefTable(conf, types.PaperSize["A4"])
	if err != nil {
		return fmt.Errorf("pages: assemble: %w", err)
	}
	parent, err := ctx.Pages()
	if err != nil {
		return fmt.Errorf("pages: assemble: %w", err)
	}
	tree, err := ctx.DereferenceDict(*parent)
	if err != nil {
		return fmt.Errorf("pages: assemble: %w", err)
	}

	for i, p := range pages {
		data, iw, ih, err := pdfImage(p)
		if err != nil {
			return err
		}
		// Relative scale 1 on a page of the image's own aspect ratio fills the page exactly;
		// Import.DPI would round the resolution to whole dots per inch.
		dpi := layoutDPI(p.DPI, iw, ih)
		imp := &pdfcpu.Import{
			PageDim: &types.Dim{Width: float64(iw) * 72 / dpi, Height: float64(ih) * 72 / dpi},
			Pos:     types.Center,
			Scale:   1,
			InpUnit: types.POINTS,
		}
		refs, err := pdfcpu.NewPagesForImage(ctx.XRefTable, bytes.NewReader(data), parent, imp)
		if err != nil {
			return fmt.Errorf("pages: assemble: page %d %q: %w", i+1, clip(p.Name), err)
		}
		if len(refs) != 1 {
			return fmt.Errorf("pages: assemble: page %d %q: became %d pages", i+1, clip(p.Name), len(refs))
		}
		if err := ctx.SetValid(*refs[0]); err != nil {
			return fmt.Errorf("pages: assemble: page %d: %w", i+1, err)
		}
		if err := model.AppendPageTree(refs[0], 1, tree); err != nil {
			return fmt.Errorf("pages: assemble: page %d: %w", i+1, err)
		}
		ctx.PageCount++
	}

	if err := api.Write(ctx, w, conf); err != nil {
		return fmt.Errorf("pages: assemble: write: %w", err)
	}
	return nil
}

// pdfImage returns what pdfcpu is given for p: JPEG and PNG as they are, TIFF converted to
// PNG, so that the pixels on the page are the ones Inspect decoded (pdfcpu has a TIFF
// decoder of its own, and makes a page of every image in a multi-page TIFF).
func pdfImage(p Page) (data []byte, w, h int, err error) {
	k := sniff(p.Data)
	if k.format == "" {
		return nil, 0, 0, notPageImage(p.Name, k)
	}
	cfg, err := decodeConfig(k.format, p.Data)
	if err != nil {
		return nil, 0, 0, undecodable(p.Name, k, err)
	}
	if k.format != "tiff" {
		return p.Data, cfg.Width, cfg.Height, nil
	}
	img, err := decode(k.format, p.Data)
	if err != nil {
		return nil, 0, 0, undecodable(p.Name, k, err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, 0, 0, fmt.Errorf("pages: assemble: convert %q to PNG: %w", clip(p.Name), err)
	}
	return buf.Bytes(), cfg.Width, cfg.Height, nil
}

// layoutDPI is the resolution a w×h image is laid out at: the recorded one if plausible,
// else DefaultDPI, raised if need be to keep the page within maxPagePoints.
func layoutDPI(recorded float64, w, h int) float64 {
	dpi := recorded
	if !(dpi >= minDPI && dpi <= maxDPI) {
		dpi = DefaultDPI
	}
	if long := float64(max(w, h)); long*72/dpi > maxPagePoints {
		dpi = long * 72 / maxPagePoints
	}
	return dpi
}

// CheckPDF validates an uploaded PDF (pdfcpu, relaxed mode, which accepts the small faults
// common in scanner output) and returns its page count. It refuses a file over
// lim.MaxPDFBytes, anything that is not a PDF, an encrypted PDF (even one that opens
// without a password: it cannot be sealed as it is), a PDF without pages and one with more
// than lim.MaxPages pages, with a *RejectError.
func CheckPDF(name string, data []byte, lim Limits) (pageCount int, err error) {
	return checkPDF(name, bytes.NewReader(data), int64(len(data)), lim)
}

// pdfSource is what checkPDF reads a PDF from: bytes in memory, or a file, which pdfcpu
// reads as it needs rather than the caller holding it whole.
type pdfSource interface {
	io.ReadSeeker
	io.ReaderAt
}

// checkPDF is CheckPDF of the size bytes that r holds. The document is parsed once: its
// page sizes are read as PageSizes reads them (what a seal is placed by), from the same
// parse, before it is validated.
func checkPDF(name string, r pdfSource, size int64, lim Limits) (pageCount int, err error) {
	lim = lim.orDefaults()
	if size > lim.MaxPDFBytes {
		return 0, tooLarge(name, lim.MaxPDFBytes)
	}
	if size == 0 {
		return 0, reject(name, "the file is empty", "文件为空")
	}
	head := make([]byte, min(size, 1024))
	if _, err := r.ReadAt(head, 0); err != nil {
		return 0, fmt.Errorf("pages: read %q: %w", clip(name), err)
	}
	if k := sniff(head); !k.pdf {
		return 0, notPDF(name, k)
	}
	// pdfcpu's own message stays out of the reason: it can quote the document's bytes.
	damaged := reject(name,
		"this PDF is damaged or does not follow the PDF standard; save or export it again",
		"PDF 文件已损坏或不符合 PDF 标准；请重新保存或导出")
	defer func() {
		if recover() != nil {
			pageCount, err = 0, damaged
		}
	}()

	conf := PDFConfig()
	conf.Cmd = model.VALIDATE
	ctx, err := api.ReadContext(r, conf)
	switch {
	case errors.Is(err, pdfcpu.ErrWrongPassword), errors.Is(err, pdfcpu.ErrOwnerPasswordRequired),
		errors.Is(err, pdfcpu.ErrPermissionDenied), errors.Is(err, pdfcpu.ErrEncrypted):
		return 0, encrypted(name)
	case err != nil:
		return 0, damaged
	case ctx.Encrypt != nil || ctx.E != nil:
		return 0, encrypted(name)
	}
	// Every page must have a size as PageSizes reads it: a seal is placed by it.
	sizes, err := ctxPageSizes(ctx)
	if err != nil {
		return 0, damaged
	}
	if err := api.ValidateContext(ctx); err != nil {
		return 0, damaged
	}
	switch n := ctx.PageCount; {
	case n == 0:
		return 0, reject(name, "the PDF has no pages", "PDF 文件没有页面")
	case n > lim.MaxPages:
		return 0, reject(name,
			fmt.Sprintf("the PDF has %d pages, more than the limit of %d", n, lim.MaxPages),
			fmt.Sprintf("PDF 文件共 %d 页，超过 %d 页的上限", n, lim.MaxPages))
	case len(sizes) != n:
		return 0, damaged
	}
	return ctx.PageCount, nil
}

func encrypted(name string) *RejectError {
	return reject(name,
		"the PDF is encrypted or password-protected; save an unprotected copy and upload that",
		"PDF 文件已加密或受密码保护；请另存一份未加密的副本后上传")
}

func notPDF(name string, k kind) *RejectError {
	switch {
	case k.format != "":
		return reject(name,
			fmt.Sprintf("this is %s, not a PDF; upload page images as pages", k.en),
			fmt.Sprintf("这是%s，不是 PDF 文件；页面图片请按页上传", k.zh))
	case k.en == "":
		return reject(name, "this is not a PDF", "不是 PDF 文件")
	}
	return reject(name, fmt.Sprintf("this is %s, not a PDF", k.en), fmt.Sprintf("这是%s，不是 PDF 文件", k.zh))
}

// catchPanic turns a panic inside pdfcpu into an error. pdfcpu recovers only the panics it
// raises itself, and its parser and writer are fed what users upload.
func catchPanic(err *error, op string) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("pages: %s: pdfcpu panicked: %v", op, r)
	}
}

// PDFConfig is pdfcpu's default configuration, built here because
// model.NewDefaultConfiguration creates and reads a configuration directory under the
// user's home on first use; this one touches no file and no network.
func PDFConfig() *model.Configuration {
	return &model.Configuration{
		Version:                   model.VersionStr,
		Reader15:                  true,
		ValidationMode:            model.ValidationRelaxed,
		UnsupportedResourcePolicy: model.UnsupportedResourceSkip,
		Eol:                       types.EolLF,
		WriteObjectStream:         true,
		WriteXRefStream:           true,
		EncryptUsingAES:           true,
		EncryptKeyLength:          256,
		Permissions:               model.PermissionsPrint,
		TimestampFormat:           "2006-01-02 15:04",
		DateFormat:                "2006-01-02",
		Optimize:                  true,
		OptimizeBeforeWriting:     true,
		OptimizeResourceDicts:     true,
		Offline:                   true,
		Limits:                    model.DefaultResourceLimits(),
	}
}

// PageSizes returns the size of each page of a PDF in points, width then height (the media
// box, turned by the page's rotation).
func PageSizes(data []byte) (sizes [][2]float64, err error) {
	defer catchPanic(&err, "page sizes")
	conf := PDFConfig()
	conf.Cmd = model.VALIDATE
	ctx, err := api.ReadContext(bytes.NewReader(data), conf)
	if err != nil {
		return nil, fmt.Errorf("pages: page sizes: %w", err)
	}
	return ctxPageSizes(ctx)
}

// ctxPageSizes is the width and height of each page of a read document, each positive and
// finite.
func ctxPageSizes(ctx *model.Context) ([][2]float64, error) {
	if err := ctx.EnsurePageCount(); err != nil {
		return nil, fmt.Errorf("pages: page sizes: %w", err)
	}
	dims, err := ctx.PageDims()
	if err != nil {
		return nil, fmt.Errorf("pages: page sizes: %w", err)
	}
	sizes := make([][2]float64, 0, len(dims))
	for i, d := range dims {
		if !(d.Width > 0 && d.Height > 0) || math.IsInf(d.Width, 0) || math.IsInf(d.Height, 0) {
			return nil, fmt.Errorf("pages: page sizes: page %d is %v x %v pt", i+1, d.Width, d.Height)
		}
		sizes = append(sizes, [2]float64{d.Width, d.Height})
	}
	return sizes, nil
}

// Watermark returns pdf with text laid across every page, semi-transparent, on top: the
// rendition of a material shown to someone outside its department (who viewed it, when, in
// which case). The text is set in a standard PDF font, so it must be Latin characters.
func Watermark(pdf []byte, text string) (out []byte, err error) {
	defer catchPanic(&err, "watermark")
	wm, err := api.TextWatermark(text, "font:Helvetica, points:14, rot:0, opacity:0.4, fillcolor:0.8 0.1 0.1, scale:0.9 rel", true, false, types.POINTS)
	if err != nil {
		return nil, fmt.Errorf("pages: watermark: %w", err)
	}
	var buf bytes.Buffer
	if err := api.AddWatermarks(bytes.NewReader(pdf), &buf, nil, wm, PDFConfig()); err != nil {
		return nil, fmt.Errorf("pages: watermark: %w", err)
	}
	return buf.Bytes(), nil
}
