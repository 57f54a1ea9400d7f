package pages

import (
	"fmt"
	"image"
	"image/color"

	"golang.org/x/image/draw"
)

// ThumbWidth is the widest Thumbnail makes.
const ThumbWidth = 320

// ThumbQuality is the JPEG quality of thumbnails.
const ThumbQuality = 80

// Thumbnail returns a JPEG of p's image scaled down to ThumbWidth pixels wide at most, with
// p's aspect ratio; a narrower image keeps its size. A JPEG page is reduced in its decode
// (libjpeg-turbo's inverse DCT, by 1/8 to 7/8) to the largest size at most ThumbWidth wide,
// which becomes the thumbnail as it is, so its width is between half of ThumbWidth and
// ThumbWidth (a 1133-pixel scan gives 284, an A4 page at 300 DPI 310); only a page wider
// than 8 × ThumbWidth is scaled again after its decode. Transparent parts show as white paper,
// as they do on the assembled PDF page. Grey and bilevel pages give a grey JPEG. JPEG at
// quality 80 because a thumbnail is a preview and encoding it is part of every upload: it
// takes about half the time of the fastest PNG (320×452: 4.4–4.8 against 5.9–9.7 ms for a
// clean text page, 10.5–11.4 against 24–36 ms for a noisy scan); a noisy scan's JPEG is the
// smaller, a clean text page's the larger (19 against 2 KB).
func Thumbnail(p Page) ([]byte, error) {
	k := sniff(p.Data)
	if k.format == "" {
		return nil, notPageImage(p.Name, k)
	}
	cfg, err := decodeConfig(k.format, p.Data)
	if err != nil {
		return nil, undecodable(p.Name, k, err)
	}
	src, err := decodePage(k.format, p.Data, cfg, ThumbWidth)
	if err != nil {
		return nil, undecodable(p.Name, k, err)
	}
	if src.Bounds().Empty() {
		return nil, undecodable(p.Name, k, nil)
	}
	return thumbnailOf(p.Name, src)
}

// thumbnailOf is Thumbnail of pixels already decoded.
func thumbnailOf(name string, src image.Image) ([]byte, error) {
	sb := src.Bounds()
	w, h := sb.Dx(), sb.Dy()
	if w > ThumbWidth {
		w, h = ThumbWidth, max(1, (h*ThumbWidth+sb.Dx()/2)/sb.Dx())
	} else if asIs(src) {
		// A JPEG page reduced in its decode: the pixels are the thumbnail.
		return compressThumb(name, src)
	}

	r := image.Rect(0, 0, w, h)
	var dst draw.Image
	switch src.ColorModel() {
	case color.GrayModel, color.Gray16Model:
		dst = image.NewGray(r)
	default:
		dst = image.NewRGBA(r)
	}
	// A preview: four source pixels per thumbnail pixel (bilinear), which aliases fine print
	// a little but takes a tenth of the time of BiLinear's full-support filter (4 ms against
	// 34 ms for a 1133×1602 scan); the page itself is in the PDF untouched. Opaque grey and
	// RGBA pixels (every JPEG page) take bilinearOpaque, the same four-pixel sampling in
	// integer arithmetic at about a fifth of draw.ApproxBiLinear's time; anything else is
	// drawn over white paper by draw.ApproxBiLinear.
	if !bilinearOpaque(dst, src) {
		draw.Draw(dst, r, image.White, image.Point{}, draw.Src)
		draw.ApproxBiLinear.Scale(dst, r, src, sb, draw.Over, nil)
	}

	return compressThumb(name, dst)
}

// asIs reports whether src can be compressed as it is: grey, or RGBA without transparency
// (which a thumbnail would show over white paper).
func asIs(src image.Image) bool {
	switch m := src.(type) {
	case *image.Gray:
		return m.Rect.Min == image.Point{}
	case *image.RGBA:
		return m.Rect.Min == image.Point{} && m.Opaque()
	}
	return false
}

func compressThumb(name string, img image.Image) ([]byte, error) {
	b, err := compressJPEG(img, ThumbQuality)
	if err != nil {
		return nil, fmt.Errorf("pages: thumbnail %q: %w", clip(name), err)
	}
	return b, nil
}

// bilinearOpaque scales src onto the whole of dst by bilinear interpolation, if both are
// *image.Gray or both *image.RGBA and src is opaque (so drawing it over paper is drawing it
// as it is), and reports whether it did. Sample positions are those of draw.ApproxBiLinear:
// the centre of each destination pixel mapped into src, weights in 1/256ths.
func bilinearOpaque(dst draw.Image, src image.Image) bool {
	var sp, dp []uint8
	var sStride, dStride, channels int
	switch s := src.(type) {
	case *image.Gray:
		d, ok := dst.(*image.Gray)
		if !ok {
			return false
		}
		sp, sStride, dp, dStride, channels = s.Pix, s.Stride, d.Pix, d.Stride, 1
	case *image.RGBA:
		d, ok := dst.(*image.RGBA)
		if !ok || !s.Opaque() {
			return false
		}
		sp, sStride, dp, dStride, channels = s.Pix, s.Stride, d.Pix, d.Stride, 4
	default:
		return false
	}
	sb, db := src.Bounds(), dst.Bounds()
	sw, sh, dw, dh := sb.Dx(), sb.Dy(), db.Dx(), db.Dy()
	if sw == 0 || sh == 0 || dw == 0 || dh == 0 {
		return true
	}
	// axis returns, for each destination index, the two source indices it samples (the
	// second the last one again at the far edge) and the weight (0–256) of the second.
	axis := func(sn, dn int) (at, next, wt []int) {
		at, next, wt = make([]int, dn), make([]int, dn), make([]int, dn)
		for i := range dn {
			// (i+0.5)·sn/dn − 0.5 in 1/256ths.
			f := max(0, ((2*i+1)*sn*256)/(2*dn)-128)
			j, w := f>>8, f&0xff
			if j >= sn-1 {
				j, w = sn-1, 0
			}
			at[i], next[i], wt[i] = j, min(j+1, sn-1), w
		}
		return at, next, wt
	}
	xs, xn, xw := axis(sw, dw)
	ys, yn, yw := axis(sh, dh)
	for y := range dh {
		r0, r1, wy := ys[y]*sStride, yn[y]*sStride, yw[y]
		out := dp[y*dStride : y*dStride+dw*channels]
		for x := range dw {
			c0, c1 := xs[x]*channels, xn[x]*channels
			wx := xw[x]
			for k := range channels {
				top := int(sp[r0+c0+k])*(256-wx) + int(sp[r0+c1+k])*wx
				bottom := int(sp[r1+c0+k])*(256-wx) + int(sp[r1+c1+k])*wx
				out[x*channels+k] = uint8((top*(256-wy) + bottom*wy + 1<<15) >> 16)
			}
		}
	}
	return true
}
