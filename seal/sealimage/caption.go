package sealimage

import (
	"image"
	"image/color"
	"math"

	"golang.org/x/image/font/sfnt"
)

// Caption draws text on one line in colour c, each character's em box em pixels high, on a
// transparent image just large enough (the line's advance across, 1.2 em high). Every
// character is looked up first; one the font lacks is a *MissingCharError.
func Caption(f *Font, text string, em float64, c color.NRGBA) (*image.NRGBA, error) {
	var b sfnt.Buffer
	glyphs, err := f.check(&b, "caption", text)
	if err != nil {
		return nil, err
	}
	cv := &canvas{f: f, k: 1}
	advances := make([]float64, len(glyphs))
	var width float64
	for i, g := range glyphs {
		if advances[i], err = cv.advance(&b, g); err != nil {
			return nil, err
		}
		width += advances[i] * em
	}
	pad := em * 0.1
	w, h := int(math.Ceil(width+2*pad)), int(math.Ceil(em*1.2))
	cv.mask = image.NewAlpha(image.Rect(0, 0, max(w, 1), max(h, 1)))
	x := pad
	for i, g := range glyphs {
		adv := advances[i] * em
		if err := cv.glyph(&b, g, x+adv/2, float64(h)/2, em, em, 0); err != nil {
			return nil, err
		}
		x += adv
	}
	out := image.NewNRGBA(cv.mask.Bounds())
	for i, a := range cv.mask.Pix {
		if a != 0 {
			out.Pix[4*i], out.Pix[4*i+1], out.Pix[4*i+2], out.Pix[4*i+3] = c.R, c.G, c.B, a
		}
	}
	return out, nil
}
