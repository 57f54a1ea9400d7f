package seal

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"math"
)

// DemoImage draws a seal image for demonstrations and tests: a red ring around a five-pointed
// star on a transparent background, 240 pixels square. Real seal images are scans or
// renderings of the filed seal (印模), uploaded by the seal administrator.
func DemoImage() []byte {
	const n = 240
	img := image.NewNRGBA(image.Rect(0, 0, n, n))
	red := color.NRGBA{R: 214, G: 24, B: 32, A: 255}
	c := float64(n) / 2
	for y := range n {
		for x := range n {
			dx, dy := float64(x)+0.5-c, float64(y)+0.5-c
			if d := math.Hypot(dx, dy); (d > 100 && d < 114) || inStar(dx, dy, 52) {
				img.SetNRGBA(x, y, red)
			}
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		panic(err) // encoding an in-memory image cannot fail
	}
	return buf.Bytes()
}

// inStar reports whether (x, y), relative to the centre (y down), is inside a five-pointed
// star of outer radius r pointing up.
func inStar(x, y, r float64) bool {
	d := math.Hypot(x, y)
	if d > r {
		return false
	}
	// The star's edge radius at angle a: between the inner radius (0.382 r) at the notches
	// and r at the points, linear in the angle within each 36° sector.
	a := math.Atan2(x, -y) // 0 at the top point
	sector := math.Mod(math.Abs(a), 2*math.Pi/5)
	t := math.Abs(sector-math.Pi/5) / (math.Pi / 5) // 1 at a point, 0 at a notch
	inner := 0.382 * r
	return d <= inner+(r-inner)*t
}
