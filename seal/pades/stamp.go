package pades

import (
	"bytes"
	"compress/zlib"
	"fmt"
	"image"
	"image/color"
	_ "image/png" // the seal images are PNG
	"math"
	"strconv"
)

// Stamp is a seal image converted for embedding: its colour and alpha channels, each
// deflated. Converting a PNG costs more than the rest of signing a page, so a service that
// applies the same seal to many documents prepares its Stamp once with NewStamp and passes it
// in Request.Stamp. A Stamp is immutable and safe for concurrent use.
type Stamp struct {
	width, height int
	rgb           []byte // zlib-compressed 8-bit RGB samples
	alpha         []byte // zlib-compressed 8-bit alpha samples; nil if the image is opaque
}

// NewStamp converts a seal image (PNG, usually with an alpha channel) for embedding.
func NewStamp(png []byte) (*Stamp, error) {
	img, format, err := image.Decode(bytes.NewReader(png))
	if err != nil {
		return nil, fmt.Errorf("pades: seal image: %w", err)
	}
	if format != "png" {
		return nil, fmt.Errorf("pades: seal image: %s, want png", format)
	}
	return NewStampImage(img)
}

// NewStampImage converts a decoded seal image for embedding, as NewStamp does a PNG: for an
// image drawn in memory (a stamp composed with its QR code), which need not be encoded and
// decoded again.
func NewStampImage(img image.Image) (*Stamp, error) {
	var err error
	b := img.Bounds()
	if b.Dx() <= 0 || b.Dy() <= 0 || b.Dx()*b.Dy() > 16<<20 {
		return nil, fmt.Errorf("pades: seal image: unusable size %dx%d", b.Dx(), b.Dy())
	}
	rgb, alpha, opaque := splitAlpha(img)
	s := &Stamp{width: b.Dx(), height: b.Dy()}
	if s.rgb, err = deflate(rgb); err != nil {
		return nil, fmt.Errorf("pades: seal image: %w", err)
	}
	if !opaque {
		if s.alpha, err = deflate(alpha); err != nil {
			return nil, fmt.Errorf("pades: seal image: %w", err)
		}
	}
	return s, nil
}

// splitAlpha separates img into non-premultiplied RGB samples and alpha samples. Fully
// transparent pixels get black colour, which deflates best and is never seen.
func splitAlpha(img image.Image) (rgb, alpha []byte, opaque bool) {
	b := img.Bounds()
	n := b.Dx() * b.Dy()
	rgb, alpha = make([]byte, 0, 3*n), make([]byte, 0, n)
	opaque = true
	add := func(r, g, bl, a uint8) {
		if a == 0 {
			r, g, bl = 0, 0, 0
		}
		rgb = append(rgb, r, g, bl)
		alpha = append(alpha, a)
		opaque = opaque && a == 255
	}
	if m, ok := img.(*image.NRGBA); ok {
		for y := b.Min.Y; y < b.Max.Y; y++ {
			row := m.Pix[m.PixOffset(b.Min.X, y):m.PixOffset(b.Max.X, y)]
			for i := 0; i < len(row); i += 4 {
				add(row[i], row[i+1], row[i+2], row[i+3])
			}
		}
		return rgb, alpha, opaque
	}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
			add(c.R, c.G, c.B, c.A)
		}
	}
	return rgb, alpha, opaque
}

func deflate(p []byte) ([]byte, error) {
	var buf bytes.Buffer
	w, err := zlib.NewWriterLevel(&buf, zlib.BestSpeed)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(p); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// imageDict is the image XObject dictionary of the stamp's colour samples.
func (s *Stamp) imageDict(smask object) dict {
	d := dict{
		{"Type", name("XObject")},
		{"Subtype", name("Image")},
		{"Width", number(strconv.Itoa(s.width))},
		{"Height", number(strconv.Itoa(s.height))},
		{"ColorSpace", name("DeviceRGB")},
		{"BitsPerComponent", number("8")},
		{"Filter", name("FlateDecode")},
		{"Length", number(strconv.Itoa(len(s.rgb)))},
	}
	if smask != nil {
		d = append(d, entry{"SMask", smask})
	}
	return d
}

// maskDict is the soft mask image dictionary of the stamp's alpha samples.
func (s *Stamp) maskDict() dict {
	return dict{
		{"Type", name("XObject")},
		{"Subtype", name("Image")},
		{"Width", number(strconv.Itoa(s.width))},
		{"Height", number(strconv.Itoa(s.height))},
		{"ColorSpace", name("DeviceGray")},
		{"BitsPerComponent", number("8")},
		{"Filter", name("FlateDecode")},
		{"Length", number(strconv.Itoa(len(s.alpha)))},
	}
}

// appearance returns the content stream that draws the image named /Seal into a w×h box,
// as large as fits with its aspect ratio kept, centred.
func (s *Stamp) appearance(w, h float64) []byte {
	scale := math.Min(w/float64(s.width), h/float64(s.height))
	iw, ih := float64(s.width)*scale, float64(s.height)*scale
	b := []byte("q ")
	for _, v := range []float64{iw, 0, 0, ih, (w - iw) / 2, (h - ih) / 2} {
		b = appendReal(b, v)
		b = append(b, ' ')
	}
	return append(b, "cm /Seal Do Q\n"...)
}

// appendReal writes v with at most four decimals, as PDF reals have no exponent form.
func appendReal(b []byte, v float64) []byte {
	v = math.Round(v*1e4) / 1e4
	if v == 0 {
		v = 0 // no negative zero
	}
	return strconv.AppendFloat(b, v, 'f', -1, 64)
}

func realNum(v float64) number { return number(appendReal(nil, v)) }
