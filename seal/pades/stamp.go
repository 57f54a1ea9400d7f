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
	"sync"
)

// Stamp is a seal image converted for embedding: its colour and alpha channels, each
// deflated. Converting a PNG costs more than the rest of signing a page, so a service that
// applies the same seal to many documents prepares its Stamp once with NewStamp and passes it
// in Request.Stamp. A Stamp is immutable and safe for concurrent use.
type Stamp struct {
	width, height int
	rgb           []byte // zlib-compressed 8-bit RGB samples (gray ones when gray is set)
	alpha         []byte // zlib-compressed 8-bit alpha samples; nil if the image is opaque
	gray          bool
	// overlays are opaque images drawn over this one, such as a use's QR code over a stamp
	// prepared once per seal, so that only the small overlay is compressed for each use.
	overlays []overlay
}

// overlay is an image drawn over a stamp, at pixel (x, y) from the stamp's top left, one
// pixel of the overlay per pixel of the stamp.
type overlay struct {
	img  *Stamp
	x, y int
}

// NewGrayOverlay converts an opaque grayscale picture (a QR code) for drawing over a stamp
// with WithOverlay.
func NewGrayOverlay(img *image.Gray) (*Stamp, error) {
	b := img.Bounds()
	if b.Dx() <= 0 || b.Dy() <= 0 || b.Dx()*b.Dy() > 16<<20 {
		return nil, fmt.Errorf("pades: overlay: unusable size %dx%d", b.Dx(), b.Dy())
	}
	samples := make([]byte, 0, b.Dx()*b.Dy())
	for y := b.Min.Y; y < b.Max.Y; y++ {
		samples = append(samples, img.Pix[img.PixOffset(b.Min.X, y):img.PixOffset(b.Max.X, y)]...)
	}
	z, err := deflate(samples)
	if err != nil {
		return nil, fmt.Errorf("pades: overlay: %w", err)
	}
	return &Stamp{width: b.Dx(), height: b.Dy(), rgb: z, gray: true}, nil
}

// WithOverlay returns s with the opaque picture o drawn over it, its top left at pixel (x,
// y) of s, at s's scale; s is unchanged, so a stamp prepared once serves every use.
func (s *Stamp) WithOverlay(o *Stamp, x, y int) (*Stamp, error) {
	if o == nil || o.alpha != nil || len(o.overlays) > 0 {
		return nil, fmt.Errorf("pades: overlay: not an opaque picture")
	}
	if x < 0 || y < 0 || x+o.width > s.width || y+o.height > s.height {
		return nil, fmt.Errorf("pades: overlay: %dx%d at %d,%d does not fit the %dx%d stamp", o.width, o.height, x, y, s.width, s.height)
	}
	c := *s
	c.overlays = append(s.overlays[:len(s.overlays):len(s.overlays)], overlay{img: o, x: x, y: y})
	return &c, nil
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
	w, _ := deflaters.Get().(*zlib.Writer)
	if w == nil {
		var err error
		if w, err = zlib.NewWriterLevel(&buf, zlib.BestSpeed); err != nil {
			return nil, err
		}
	} else {
		w.Reset(&buf)
	}
	if _, err := w.Write(p); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	deflaters.Put(w)
	return buf.Bytes(), nil
}

// deflaters keeps zlib writers for reuse: a new one allocates about a megabyte of state,
// more than compressing a use's QR code takes.
var deflaters sync.Pool

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
	if s.gray {
		d[4].val = name("DeviceGray")
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
// as large as fits with its aspect ratio kept, centred, then each overlay i, named /O<i+1>,
// where it goes on it.
func (s *Stamp) appearance(w, h float64) []byte {
	scale := math.Min(w/float64(s.width), h/float64(s.height))
	iw, ih := float64(s.width)*scale, float64(s.height)*scale
	ox, oy := (w-iw)/2, (h-ih)/2
	draw := func(b []byte, m [6]float64, name string) []byte {
		b = append(b, "q "...)
		for _, v := range m {
			b = appendReal(b, v)
			b = append(b, ' ')
		}
		return append(b, "cm /"+name+" Do Q\n"...)
	}
	b := draw(nil, [6]float64{iw, 0, 0, ih, ox, oy}, "Seal")
	for i, o := range s.overlays {
		ow, oh := float64(o.img.width)*scale, float64(o.img.height)*scale
		b = draw(b, [6]float64{ow, 0, 0, oh, ox + float64(o.x)*scale, oy + float64(s.height-o.y-o.img.height)*scale}, "O"+strconv.Itoa(i+1))
	}
	return b
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
