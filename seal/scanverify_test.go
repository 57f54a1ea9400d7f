package seal

import (
	"image"
	"image/color"
	"image/draw"
	"testing"

	qr "github.com/piglig/go-qr"
)

// TestDrawCode: the QR code a stamp carries, drawn a row of modules at a time, is pixel for
// pixel the code drawn module by module: black modules, white elsewhere, the quiet zone
// around it white.
func TestDrawCode(t *testing.T) {
	code, err := qr.EncodeText(DefaultPublicURL+"/v/AAAAAAAAAAAAAAAAAAAAAA/0123abcd", qr.Medium)
	if err != nil {
		t.Fatal(err)
	}
	for _, module := range []int{1, 3, 8} {
		n := (code.Size() + 2*stampQuiet) * module
		want := image.NewGray(image.Rect(0, 0, n, n))
		draw.Draw(want, want.Bounds(), image.NewUniform(color.Gray{0xff}), image.Point{}, draw.Src)
		for y := range code.Size() {
			for x := range code.Size() {
				if code.Module(x, y) {
					x0, y0 := (x+stampQuiet)*module, (y+stampQuiet)*module
					draw.Draw(want, image.Rect(x0, y0, x0+module, y0+module), image.NewUniform(color.Gray{0}), image.Point{}, draw.Src)
				}
			}
		}
		got := drawCode(code, module)
		if got.Bounds() != want.Bounds() || string(got.Pix) != string(want.Pix) {
			t.Errorf("module %d: the drawn code differs from the code drawn module by module", module)
		}
	}
}
