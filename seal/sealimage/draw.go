package sealimage

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"unicode/utf8"

	"golang.org/x/image/font"
	"golang.org/x/image/font/sfnt"
	"golang.org/x/image/math/fixed"
	"golang.org/x/image/vector"
)

// Shapes of a seal.
const (
	Round  = "round"  // 公章, 业务专用章, 合同专用章, 财务专用章
	Oval   = "oval"   // the oval variant of contract and finance seals
	Square = "square" // 法定代表人名章
)

// Spec is what a seal image shows. Sizes are in millimetres, as filed.
type Spec struct {
	Shape  string
	Width  float64 // diameter of a round seal, width of an oval or square one
	Height float64 // height of an oval seal; a round or square seal's is its width
	Unit   string  // round, oval: the unit's name, along the upper arc
	Title  string  // round, oval: the seal's name, straight across under the star
	Code   string  // round, oval: the seal's code, small along the lower arc (may be empty)
	Name   string  // square: the two to four characters of the name
}

// Limits of what can be drawn legibly.
const (
	MaxUnitChars  = 24
	MaxTitleChars = 12
	MaxCodeChars  = 20
	MinSize       = 10.0 // mm
	MaxSize       = 80.0 // mm
)

// Red is the colour of seal ink.
var Red = color.NRGBA{R: 218, G: 22, B: 34, A: 255}

// SpecError is a Spec that cannot be drawn; Field names the offending part.
type SpecError struct {
	Field, Reason string
}

func (e *SpecError) Error() string { return "sealimage: " + e.Field + " " + e.Reason }

// Validate checks a Spec's sizes and text lengths (not the characters: see Draw).
func (s Spec) Validate() error {
	bad := func(f, r string) error { return &SpecError{Field: f, Reason: r} }
	switch s.Shape {
	case Round, Oval, Square:
	default:
		return bad("shape", "must be round, oval or square")
	}
	inRange := func(v float64) bool { return v >= MinSize && v <= MaxSize }
	if !inRange(s.Width) {
		return bad("width_mm", fmt.Sprintf("must be %g to %g mm", MinSize, MaxSize))
	}
	if s.Shape == Oval && (!inRange(s.Height) || s.Height >= s.Width) {
		return bad("height_mm", fmt.Sprintf("must be %g to %g mm and less than the width", MinSize, MaxSize))
	}
	n := utf8.RuneCountInString
	if s.Shape == Square {
		if c := n(s.Name); c < 2 || c > 4 {
			return bad("name", "must be two to four characters")
		}
		return nil
	}
	switch {
	case n(s.Unit) == 0:
		return bad("unit", "must not be empty")
	case n(s.Unit) > MaxUnitChars:
		return bad("unit", fmt.Sprintf("is longer than %d characters", MaxUnitChars))
	case n(s.Title) > MaxTitleChars:
		return bad("title", fmt.Sprintf("is longer than %d characters", MaxTitleChars))
	case n(s.Code) > MaxCodeChars:
		return bad("code", fmt.Sprintf("is longer than %d characters", MaxCodeChars))
	}
	return nil
}

// Draw checks that the font has every character of the spec's text, then draws the seal as a
// PNG: red on transparent, at least 600 pixels across.
func Draw(f *Font, s Spec) ([]byte, error) {
	img, err := Render(f, s)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("sealimage: encode: %w", err)
	}
	return buf.Bytes(), nil
}

// Render is Draw without the PNG encoding.
func Render(f *Font, s Spec) (*image.NRGBA, error) {
	if s.Shape == Round || s.Shape == Square {
		s.Height = s.Width
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	var b sfnt.Buffer
	texts := map[string]string{"unit": s.Unit, "title": s.Title, "code": s.Code}
	if s.Shape == Square {
		texts = map[string]string{"name": s.Name}
	}
	glyphs := map[string][]sfnt.GlyphIndex{}
	for _, field := range []string{"unit", "title", "code", "name"} {
		t, ok := texts[field]
		if !ok {
			continue
		}
		g, err := f.check(&b, field, t)
		if err != nil {
			return nil, err
		}
		glyphs[field] = g
	}
	// 16 px/mm gives a 42 mm seal 688 px; small seals get more, so every image is ≥ 600 px.
	k := math.Max(16, 640/s.Width)
	const margin = 0.5 // mm of transparent edge
	c := &canvas{f: f, k: k, cx: (s.Width/2 + margin) * k, cy: (s.Height/2 + margin) * k}
	w, h := int(math.Ceil((s.Width+2*margin)*k)), int(math.Ceil((s.Height+2*margin)*k))
	c.mask = image.NewAlpha(image.Rect(0, 0, w, h))
	c.z.DrawOp = draw.Over
	if s.Shape == Square {
		if err := c.nameSeal(&b, s, glyphs["name"]); err != nil {
			return nil, err
		}
	} else if err := c.roundSeal(&b, s, glyphs); err != nil {
		return nil, err
	}
	out := image.NewNRGBA(c.mask.Bounds())
	for i, a := range c.mask.Pix {
		if a != 0 {
			out.Pix[4*i], out.Pix[4*i+1], out.Pix[4*i+2], out.Pix[4*i+3] = Red.R, Red.G, Red.B, a
		}
	}
	return out, nil
}

// canvas draws filled shapes into an anti-aliased mask, in millimetres from the seal's centre
// (y down).
type canvas struct {
	f      *Font
	k      float64 // pixels per millimetre
	cx, cy float64 // centre, in pixels
	mask   *image.Alpha
	z      vector.Rasterizer
}

func (c *canvas) px(x, y float64) (float32, float32) {
	return float32(c.cx + x*c.k), float32(c.cy + y*c.k)
}

// fill draws one path (in the rasterizer's non-zero rule) over what is there.
func (c *canvas) fill(path func()) {
	c.z.Reset(c.mask.Rect.Dx(), c.mask.Rect.Dy())
	path()
	c.z.Draw(c.mask, c.mask.Bounds(), image.Opaque, image.Point{})
}

// ellipse adds an ellipse with semi-axes a, b, clockwise or not.
func (c *canvas) ellipse(a, b float64, clockwise bool) {
	const n = 720
	for i := 0; i <= n; i++ {
		t := 2 * math.Pi * float64(i) / n
		if !clockwise {
			t = -t
		}
		x, y := c.px(a*math.Sin(t), -b*math.Cos(t))
		if i == 0 {
			c.z.MoveTo(x, y)
		} else {
			c.z.LineTo(x, y)
		}
	}
	c.z.ClosePath()
}

// ring draws an elliptical band of width w inside semi-axes a, b.
func (c *canvas) ring(a, b, w float64) {
	c.fill(func() { c.ellipse(a, b, true); c.ellipse(a-w, b-w, false) })
}

// star draws a five-pointed star of outer radius r pointing up, centred at (x, y).
func (c *canvas) star(x, y, r float64) {
	c.fill(func() {
		for i := range 10 {
			rr := r
			if i%2 == 1 {
				rr = r * 0.382
			}
			t := float64(i) * math.Pi / 5
			px, py := c.px(x+rr*math.Sin(t), y-rr*math.Cos(t))
			if i == 0 {
				c.z.MoveTo(px, py)
			} else {
				c.z.LineTo(px, py)
			}
		}
		c.z.ClosePath()
	})
}

// emCentre is where the centre of a CJK font's ideographic em box lies above the baseline, in
// ems (Noto CJK: the box runs from −0.12 to 0.88 em).
const emCentre = 0.38

// glyph draws glyph g with its em box centred at (x, y) mm, em box sw mm wide (per em of
// advance) and sh mm high, turned clockwise by theta (its top pointing that way from up).
func (c *canvas) glyph(b *sfnt.Buffer, g sfnt.GlyphIndex, x, y, sw, sh, theta float64) error {
	const ppem = 1000 // load in thousandths of an em, then scale
	segs, err := c.f.f.LoadGlyph(b, g, fixed.I(ppem), nil)
	if err != nil {
		return fmt.Errorf("sealimage: load glyph: %w", err)
	}
	adv, err := c.f.f.GlyphAdvance(b, g, fixed.I(ppem), font.HintingNone)
	if err != nil {
		return fmt.Errorf("sealimage: glyph advance: %w", err)
	}
	half := float64(adv) / 64 / 2
	sin, cos := math.Sincos(theta)
	tr := func(p fixed.Point26_6) (float32, float32) {
		lx := (float64(p.X)/64 - half) / ppem * sw
		ly := (float64(p.Y)/64 + emCentre*ppem) / ppem * sh
		return c.px(x+lx*cos-ly*sin, y+lx*sin+ly*cos)
	}
	c.fill(func() {
		for _, s := range segs {
			switch s.Op {
			case sfnt.SegmentOpMoveTo:
				c.z.MoveTo(tr(s.Args[0]))
			case sfnt.SegmentOpLineTo:
				c.z.LineTo(tr(s.Args[0]))
			case sfnt.SegmentOpQuadTo:
				x1, y1 := tr(s.Args[0])
				x2, y2 := tr(s.Args[1])
				c.z.QuadTo(x1, y1, x2, y2)
			case sfnt.SegmentOpCubeTo:
				x1, y1 := tr(s.Args[0])
				x2, y2 := tr(s.Args[1])
				x3, y3 := tr(s.Args[2])
				c.z.CubeTo(x1, y1, x2, y2, x3, y3)
			}
		}
	})
	return nil
}

// advance is glyph g's advance in ems.
func (c *canvas) advance(b *sfnt.Buffer, g sfnt.GlyphIndex) (float64, error) {
	adv, err := c.f.f.GlyphAdvance(b, g, fixed.I(1000), font.HintingNone)
	if err != nil {
		return 0, fmt.Errorf("sealimage: glyph advance: %w", err)
	}
	return float64(adv) / 64 / 1000, nil
}

// arc is an elliptical path of character centres, semi-axes a, b; t is the angle from the
// top, clockwise.
type arc struct{ a, b float64 }

func (e arc) point(t float64) (x, y float64) { return e.a * math.Sin(t), -e.b * math.Cos(t) }

// normal is the direction of the outward normal at t, as an angle clockwise from up.
func (e arc) normal(t float64) float64 { return math.Atan2(math.Sin(t)/e.a, math.Cos(t)/e.b) }

// spread returns n parameters from t0 to t1 evenly spaced along the path, and the spacing in
// mm.
func (e arc) spread(t0, t1 float64, n int) ([]float64, float64) {
	if n == 1 {
		return []float64{(t0 + t1) / 2}, 0
	}
	const steps = 2000
	cum := make([]float64, steps+1)
	px, py := e.point(t0)
	for i := 1; i <= steps; i++ {
		x, y := e.point(t0 + (t1-t0)*float64(i)/steps)
		cum[i] = cum[i-1] + math.Hypot(x-px, y-py)
		px, py = x, y
	}
	total, out, j := cum[steps], make([]float64, n), 0
	for i := range n {
		want := total * float64(i) / float64(n-1)
		for j < steps && cum[j+1] < want {
			j++
		}
		frac := 0.0
		if j < steps && cum[j+1] > cum[j] {
			frac = (want - cum[j]) / (cum[j+1] - cum[j])
		}
		out[i] = t0 + (t1-t0)*(float64(j)+frac)/steps
	}
	return out, total / float64(n-1)
}

// roundSeal draws the round or oval seal of a unit.
func (c *canvas) roundSeal(b *sfnt.Buffer, s Spec, g map[string][]sfnt.GlyphIndex) error {
	A, B := s.Width/2, s.Height/2
	D := math.Min(s.Width, s.Height) // proportions follow the shorter axis
	ring := 1.0 * D / 40
	c.ring(A, B, ring)

	// The unit's name: characters em-high h, upright to the path, from the lower left
	// clockwise over the top to the lower right.
	h := 0.155 * D
	gap := 0.035 * D
	inset := ring + gap + h/2
	upper := arc{A - inset, B - inset}
	n := len(g["unit"])
	rMean := (upper.a + upper.b) / 2
	pitch := 1.08 * h
	span := float64(n-1) * pitch / rMean
	span = math.Max(span, math.Min(float64(n-1)*1.6*h/rMean, 150*math.Pi/180))
	span = math.Min(span, 236*math.Pi/180)
	if s.Shape == Oval {
		span = math.Min(span, 210*math.Pi/180)
	}
	ts, step := upper.spread(-span/2, span/2, n)
	wf := 1.0
	if n > 1 {
		wf = math.Min(1, step/pitch)
	}
	for i, gi := range g["unit"] {
		x, y := upper.point(ts[i])
		if err := c.glyph(b, gi, x, y, h*wf, h, upper.normal(ts[i])); err != nil {
			return err
		}
	}

	// The star in the centre, raised a little on an oval.
	rs := 0.175 * D
	sy := 0.0
	if s.Shape == Oval {
		rs, sy = 0.16*D, -0.06*D
	}
	c.star(0, sy, rs)

	// The seal's name across, under the star, narrowed to fit the ring.
	if n := len(g["title"]); n > 0 {
		th := 0.115 * D
		ty := sy + rs + 0.04*D + th*0.5
		if s.Shape == Oval {
			th, ty = 0.13*D, sy+rs+0.04*D+0.065*D
		}
		bottom := ty + th/2
		innerA, innerB := A-ring-gap, B-ring-gap
		halfChord := innerA * math.Sqrt(math.Max(0, 1-bottom*bottom/(innerB*innerB)))
		maxW := 2 * (halfChord - 0.04*D)
		// Keep clear of the ends of the unit's name when they reach down beside the title.
		ex, ey := upper.point(span / 2)
		if ty-th/2 < ey+0.75*h {
			maxW = math.Min(maxW, 2*(ex-0.75*h-0.02*D))
		}
		var total float64
		advs := make([]float64, n)
		for i, gi := range g["title"] {
			a, err := c.advance(b, gi)
			if err != nil {
				return err
			}
			advs[i] = a * th
			total += advs[i]
		}
		f := math.Min(1, maxW/total)
		x := -total * f / 2
		for i, gi := range g["title"] {
			w := advs[i] * f
			if err := c.glyph(b, gi, x+w/2, ty, th*f, th, 0); err != nil {
				return err
			}
			x += w
		}
	}

	// The code, small along the lower arc, read left to right, tops toward the centre.
	if n := len(g["code"]); n > 0 {
		ch := 0.055 * D
		ci := ring + 0.03*D + ch/2
		lower := arc{A - ci, B - ci}
		var total float64
		advs := make([]float64, n)
		for i, gi := range g["code"] {
			a, err := c.advance(b, gi)
			if err != nil {
				return err
			}
			advs[i] = a * ch * 1.05
			total += advs[i]
		}
		r := (lower.a + lower.b) / 2
		span := math.Min((total-advs[0]/2-advs[n-1]/2)/r, 80*math.Pi/180)
		ts, step := lower.spread(math.Pi+span/2, math.Pi-span/2, n)
		f := 1.0
		if n > 1 {
			f = math.Min(1, step/(total/float64(n)))
		}
		for i, gi := range g["code"] {
			x, y := lower.point(ts[i])
			theta := lower.normal(ts[i]) + math.Pi
			if err := c.glyph(b, gi, x, y, ch*f, ch, theta); err != nil {
				return err
			}
		}
	}
	return nil
}

// nameSeal draws a square name seal: a frame, and the characters in two columns read right
// column first, top to bottom; a column of one character is stretched to the full height.
func (c *canvas) nameSeal(b *sfnt.Buffer, s Spec, g []sfnt.GlyphIndex) error {
	S := s.Width
	frame := 0.06 * S
	h := S / 2
	c.fill(func() {
		rect := func(r float64, cw bool) {
			pts := [][2]float64{{-r, -r}, {r, -r}, {r, r}, {-r, r}}
			if !cw {
				pts = [][2]float64{{-r, -r}, {-r, r}, {r, r}, {r, -r}}
			}
			for i, p := range pts {
				x, y := c.px(p[0], p[1])
				if i == 0 {
					c.z.MoveTo(x, y)
				} else {
					c.z.LineTo(x, y)
				}
			}
			c.z.ClosePath()
		}
		rect(h, true)
		rect(h-frame, false)
	})
	pad := 0.04 * S
	inner := S - 2*frame - 2*pad // the square the characters fill
	colW := inner / 2
	var cols [][]sfnt.GlyphIndex // right column first
	switch len(g) {
	case 2:
		cols = [][]sfnt.GlyphIndex{g[:1], g[1:]}
	case 3:
		cols = [][]sfnt.GlyphIndex{g[:1], g[1:]}
	default:
		cols = [][]sfnt.GlyphIndex{g[:2], g[2:]}
	}
	for ci, col := range cols {
		x := colW/2 - float64(ci)*colW // right column at +colW/2
		cellH := inner / float64(len(col))
		for ri, gi := range col {
			y := -inner/2 + cellH*(float64(ri)+0.5)
			if err := c.glyph(b, gi, x, y, colW*1.02, cellH*1.02, 0); err != nil {
				return err
			}
		}
	}
	return nil
}
