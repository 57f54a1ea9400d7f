// Package pages checks what window staff upload as the pages of one material, scanned page
// images (JPEG, PNG, TIFF) or a single PDF, and turns page images into one PDF.
//
// Everything here is pure: bytes in, bytes or a decision out. A file that cannot be part of
// a material is refused with a *RejectError, whose reasons describe the file's form (format,
// size, pixel count), never its content, so they can be shown to staff and logged.
package pages

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"math"
	"os"

	"golang.org/x/image/tiff"
)

// Limits bound what one material may be. A zero field takes its default, so Limits{} is
// DefaultLimits().
type Limits struct {
	MaxFileBytes int64 // one uploaded page image
	MaxPDFBytes  int64 // one uploaded PDF
	MaxPixels    int64 // width × height of one page image, checked before it is decoded
	MaxPages     int   // pages of one material, as images or in a PDF
	MinSide      int   // pixels; a smaller image is a thumbnail or an icon, not a page scan
}

// DefaultLimits returns 20 MiB per page image, 200 MiB per PDF, 50 megapixels per page,
// 200 pages and 100 pixels on the shorter side. 50 megapixels is an A3 sheet at 600 DPI with
// room to spare, and bounds what one decode may allocate (about 200 MB for RGBA).
func DefaultLimits() Limits {
	return Limits{MaxFileBytes: 20 << 20, MaxPDFBytes: 200 << 20, MaxPixels: 50_000_000, MaxPages: 200, MinSide: 100}
}

func (l Limits) orDefaults() Limits {
	d := DefaultLimits()
	if l.MaxFileBytes <= 0 {
		l.MaxFileBytes = d.MaxFileBytes
	}
	if l.MaxPDFBytes <= 0 {
		l.MaxPDFBytes = d.MaxPDFBytes
	}
	if l.MaxPixels <= 0 {
		l.MaxPixels = d.MaxPixels
	}
	if l.MaxPages <= 0 {
		l.MaxPages = d.MaxPages
	}
	if l.MinSide <= 0 {
		l.MinSide = d.MinSide
	}
	return l
}

// Page is one decoded page image, as Inspect found it.
type Page struct {
	Name   string  // the name it was uploaded under; for messages only
	Format string  // "jpeg", "png" or "tiff", from the content, never from Name
	Width  int     // pixels
	Height int     // pixels
	DPI    float64 // horizontal resolution the file records; 0 if it records none
	Color  string  // "gray", "rgb", "cmyk", "paletted" or "bilevel"
	Data   []byte  `json:"-"` // the file's bytes, unchanged
}

// RejectError is returned when an uploaded file cannot be part of a material.
type RejectError struct {
	File     string // the name the file was uploaded under
	Reason   string // in English: what the file is and why it is refused
	ReasonZh string // the same for the window staff, in Chinese
}

// Error names the file and the reason, in English.
func (e *RejectError) Error() string { return fmt.Sprintf("pages: %q: %s", clip(e.File), e.Reason) }

// Fields returns the file name and the English reason, for a log line or a problem response.
func (e *RejectError) Fields() (file, reason string) { return e.File, e.Reason }

func reject(file, reason, reasonZh string) *RejectError {
	return &RejectError{File: file, Reason: reason, ReasonZh: reasonZh}
}

// clip shortens a file name for an error message, so a huge bogus name is not echoed whole.
func clip(s string) string {
	if r := []rune(s); len(r) > 80 {
		return string(r[:80]) + "…"
	}
	return s
}

// Inspect reads one uploaded page image and proves it is a whole JPEG, PNG or TIFF image
// within lim. It reads at most lim.MaxFileBytes+1 bytes of r, and checks the pixel count the
// header claims before decoding anything, so a decompression bomb is refused without
// allocating its pixels. name is used in messages only; the format comes from the content.
//
// A file that is not acceptable yields a *RejectError; any other error is a read error of r.
func Inspect(name string, r io.Reader, lim Limits) (Page, error) {
	p, _, err := inspect(name, r, lim, 0)
	return p, err
}

// inspect is Inspect that also returns the decoded pixels: a JPEG's reduced in its decode
// to the largest size at most want pixels wide (see decodeJPEG), any other image's whole.
func inspect(name string, r io.Reader, lim Limits, want int) (Page, image.Image, error) {
	lim = lim.orDefaults()
	data, err := readAllSized(r, lim.MaxFileBytes+1)
	if err != nil {
		return Page{}, nil, fmt.Errorf("pages: read %q: %w", clip(name), err)
	}
	if int64(len(data)) > lim.MaxFileBytes {
		return Page{}, nil, tooLarge(name, lim.MaxFileBytes)
	}
	if len(data) == 0 {
		return Page{}, nil, reject(name, "the file is empty", "文件为空")
	}
	k := sniff(data)
	if k.format == "" {
		return Page{}, nil, notPageImage(name, k)
	}

	cfg, err := decodeConfig(k.format, data)
	if err != nil {
		return Page{}, nil, undecodable(name, k, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return Page{}, nil, undecodable(name, k, nil)
	}
	if px := int64(cfg.Width) * int64(cfg.Height); px > lim.MaxPixels {
		return Page{}, nil, reject(name,
			fmt.Sprintf("the image is %d×%d pixels (%.1f megapixels), over the limit of %s megapixels per page",
				cfg.Width, cfg.Height, float64(px)/1e6, trimFloat(float64(lim.MaxPixels)/1e6)),
			fmt.Sprintf("图像为 %d×%d 像素（%s 万像素），超过每页 %s 万像素的上限",
				cfg.Width, cfg.Height, trimFloat(float64(px)/1e4), trimFloat(float64(lim.MaxPixels)/1e4)))
	}
	if min(cfg.Width, cfg.Height) < lim.MinSide {
		return Page{}, nil, reject(name,
			fmt.Sprintf("the image is only %d×%d pixels; a page image must be at least %d pixels on each side",
				cfg.Width, cfg.Height, lim.MinSide),
			fmt.Sprintf("图像仅 %d×%d 像素；页面图片每边至少需要 %d 像素", cfg.Width, cfg.Height, lim.MinSide))
	}

	var info tiffInfo
	if k.format == "tiff" {
		info, _ = parseTIFF(data)
		if info.pages > 1 {
			return Page{}, nil, reject(name,
				fmt.Sprintf("this is a multi-page TIFF (%d pages); upload each page as its own file, or the whole document as one PDF", info.pages),
				fmt.Sprintf("这是多页 TIFF（%d 页）；请将每页另存为单独的文件上传，或将整份文件作为一个 PDF 上传", info.pages))
		}
	}

	img, err := decodePage(k.format, data, cfg, want)
	if err != nil {
		return Page{}, nil, undecodable(name, k, err)
	}

	p := Page{Name: name, Format: k.format, Width: cfg.Width, Height: cfg.Height, Data: data}
	switch k.format {
	case "jpeg":
		p.DPI = jpegDPI(data)
		p.Color = jpegColor(cfg.ColorModel)
	case "png":
		p.DPI = pngDPI(data)
		p.Color = pngColor(data, cfg.ColorModel)
	case "tiff":
		p.DPI = info.dpi()
		p.Color = tiffColor(info, cfg.ColorModel)
	}
	return p, img, nil
}

func tooLarge(name string, limit int64) *RejectError {
	return reject(name,
		fmt.Sprintf("the file is larger than the %s limit", formatBytes(limit)),
		fmt.Sprintf("文件超过 %s 的大小上限", formatBytes(limit)))
}

func notPageImage(name string, k kind) *RejectError {
	switch {
	case k.pdf:
		return reject(name,
			"this is a PDF, not a page image; upload it as the material's single PDF instead of as a page",
			"这是 PDF 文件，不是页面图片；请将其作为本材料唯一的 PDF 上传，不要作为页面上传")
	case k.en == "":
		return reject(name,
			"this is not an image; page images must be JPEG, PNG or TIFF",
			"不是图片文件；页面图片须为 JPEG、PNG 或 TIFF 格式")
	}
	return reject(name,
		fmt.Sprintf("this is %s, not a JPEG, PNG or TIFF page image", k.en),
		fmt.Sprintf("这是%s，不是 JPEG、PNG 或 TIFF 页面图片", k.zh))
}

// undecodable tells a variant the decoders do not support (save it again in a plain form)
// from a damaged file (scan it again); the decoder's own message stays out of the reason.
func undecodable(name string, k kind, err error) *RejectError {
	var ju jpeg.UnsupportedError
	var pu png.UnsupportedError
	var tu tiff.UnsupportedError
	if errors.As(err, &ju) || errors.As(err, &pu) || errors.As(err, &tu) {
		return reject(name,
			fmt.Sprintf("this %s image uses a variant this service cannot read; save it again as a plain JPEG or PNG", k.name),
			fmt.Sprintf("该 %s 图片使用了本系统无法读取的格式变体；请重新保存为普通 JPEG 或 PNG", k.name))
	}
	return reject(name,
		fmt.Sprintf("this %s image is damaged or incomplete; scan or copy it again", k.name),
		fmt.Sprintf("该 %s 图片已损坏或不完整；请重新扫描或重新复制", k.name))
}

func decodeConfig(format string, data []byte) (image.Config, error) {
	r := bytes.NewReader(data)
	switch format {
	case "jpeg":
		return jpeg.DecodeConfig(r)
	case "png":
		return png.DecodeConfig(r)
	case "tiff":
		return tiff.DecodeConfig(r)
	}
	return image.Config{}, fmt.Errorf("pages: no decoder for %q", format)
}

// decodePage decodes all of a page image whose header said cfg. A JPEG goes through
// libjpeg-turbo where it can, reduced in the decode to the largest size at most want pixels
// wide, or to an eighth if that is still wider (want 0: to an eighth, in grey, only to prove
// it whole); any other image, and a JPEG libjpeg-turbo is not given, is decoded at full size
// and must be as large as its header said.
func decodePage(format string, data []byte, cfg image.Config, want int) (image.Image, error) {
	if format == "jpeg" {
		img, err := decodeJPEG(data, cfg.Width, cfg.Height, want, want == 0)
		if !errors.Is(err, errNotTurbo) {
			return img, err
		}
	}
	img, err := decode(format, data)
	if err != nil {
		return nil, err
	}
	if b := img.Bounds(); b.Dx() != cfg.Width || b.Dy() != cfg.Height {
		return nil, fmt.Errorf("pages: decoded %d×%d, the header said %d×%d", b.Dx(), b.Dy(), cfg.Width, cfg.Height)
	}
	return img, nil
}

// decode uses the decoder of the sniffed format rather than image.Decode, so the choice
// never depends on which decoders some other package registered.
func decode(format string, data []byte) (image.Image, error) {
	r := bytes.NewReader(data)
	switch format {
	case "jpeg":
		return jpeg.Decode(r)
	case "png":
		return png.Decode(r)
	case "tiff":
		return tiff.Decode(r)
	}
	return nil, fmt.Errorf("pages: no decoder for %q", format)
}

func jpegColor(m color.Model) string {
	switch m {
	case color.GrayModel:
		return "gray"
	case color.CMYKModel:
		return "cmyk"
	}
	return "rgb"
}

// pngColor reads the bit depth and colour type from IHDR, which DecodeConfig has already
// found in its place: a 1-bit greyscale PNG decodes to the same model as an 8-bit one.
func pngColor(data []byte, m color.Model) string {
	depth, ctype := data[24], data[25]
	switch ctype {
	case 0:
		if depth == 1 {
			return "bilevel"
		}
		return "gray"
	case 4:
		return "gray"
	case 3:
		return paletteColor(m)
	}
	return "rgb"
}

func tiffColor(info tiffInfo, m color.Model) string {
	switch m {
	case color.GrayModel, color.Gray16Model:
		if info.bits == 1 {
			return "bilevel"
		}
		return "gray"
	case color.CMYKModel:
		return "cmyk"
	}
	if _, ok := m.(color.Palette); ok {
		return paletteColor(m)
	}
	return "rgb"
}

// paletteColor calls a two-colour black-and-white palette bilevel, as scanners write it.
func paletteColor(m color.Model) string {
	p, ok := m.(color.Palette)
	if !ok || len(p) != 2 {
		return "paletted"
	}
	black, white := false, false
	for _, c := range p {
		switch color.GrayModel.Convert(c).(color.Gray).Y {
		case 0:
			black = true
		case 0xff:
			white = true
		}
	}
	if black && white {
		return "bilevel"
	}
	return "paletted"
}

func formatBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// trimFloat prints v with at most one decimal, and none when it is whole.
func trimFloat(v float64) string {
	if v == math.Trunc(v) {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}

// readAllSized reads up to limit bytes of r into one allocation of the file's size when r
// is a file (io.ReadAll grows its buffer step by step, copying a 1 MB page a dozen times).
func readAllSized(r io.Reader, limit int64) ([]byte, error) {
	f, ok := r.(*os.File)
	if !ok {
		return io.ReadAll(io.LimitReader(r, limit))
	}
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		return io.ReadAll(io.LimitReader(r, limit))
	}
	buf := bytes.NewBuffer(make([]byte, 0, min(st.Size(), limit)+bytes.MinRead))
	_, err = buf.ReadFrom(io.LimitReader(r, limit))
	return buf.Bytes(), err
}
