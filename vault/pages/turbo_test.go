package pages

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
)

// The service is built with libjpeg-turbo; a build that silently fell back to image/jpeg
// would pass every other test at a third of the speed.
func TestJPEGDecoderIsLibjpegTurbo(t *testing.T) {
	if os.Getenv("CI") != "" && JPEGDecoder != "libjpeg-turbo" {
		t.Fatalf("JPEG pages are decoded with %s; build with cgo and libturbojpeg0-dev", JPEGDecoder)
	}
	t.Logf("JPEG decoder: %s", JPEGDecoder)
}

// noisyScan is a colour page with a gradient and noise, which compresses like a dense scan.
func noisyScan(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	rng := rand.New(rand.NewPCG(1, 2))
	for y := range h {
		for x := range w {
			n := uint8(rng.IntN(40))
			img.SetRGBA(x, y, color.RGBA{uint8(200-150*y/h) + n/2, 180 + n, uint8(40 + 150*x/w), 0xff})
		}
	}
	return img
}

// The pixels libjpeg-turbo gives are the ones image/jpeg gives, within the rounding of two
// inverse DCTs, in the same channel order and opaque.
func TestTurboPixelsMatchImageJPEG(t *testing.T) {
	t.Parallel()
	data := encodeJPEG(t, noisyScan(333, 401))
	want, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := decodeConfig("jpeg", data)
	got, err := decodePage("jpeg", data, cfg, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	if got.Bounds() != want.Bounds() {
		t.Fatalf("decoded to %v, image/jpeg to %v", got.Bounds(), want.Bounds())
	}
	var sum, n float64
	for y := range 401 {
		for x := range 333 {
			r1, g1, b1, a1 := got.At(x, y).RGBA()
			r2, g2, b2, _ := want.At(x, y).RGBA()
			if a1 != 0xffff {
				t.Fatalf("pixel %d,%d has alpha %#x", x, y, a1)
			}
			for _, d := range []int{int(r1>>8) - int(r2>>8), int(g1>>8) - int(g2>>8), int(b1>>8) - int(b2>>8)} {
				sum += float64(max(d, -d))
				n++
			}
		}
	}
	if mean := sum / n; mean > 2 {
		t.Errorf("mean difference from image/jpeg %.2f levels of 255, want ≤ 2", mean)
	}
}

// A page is reduced in its decode to the largest size at most the thumbnail's width, or to
// an eighth, in grey, when it is only proved whole; either way a damaged file is refused.
func TestReducedDecode(t *testing.T) {
	t.Parallel()
	if JPEGDecoder != "libjpeg-turbo" {
		t.Fatalf("JPEG pages are decoded with %s; build with cgo and libturbojpeg0-dev", JPEGDecoder)
	}
	data := encodeJPEG(t, noisyScan(1133, 1602))
	for _, tc := range []struct {
		want  int
		size  image.Point
		model color.Model
	}{
		{ThumbWidth, image.Pt(284, 401), color.RGBAModel}, // 1/4: 3/8 would be 425 wide
		{150, image.Pt(142, 201), color.RGBAModel},        // 1/8
		{100, image.Pt(142, 201), color.RGBAModel},        // 1/8, the smallest there is
		{0, image.Pt(142, 201), color.GrayModel},
		{2000, image.Pt(1133, 1602), color.RGBAModel},
	} {
		_, img, err := inspect("scan.jpg", bytes.NewReader(data), Limits{}, tc.want)
		if err != nil {
			t.Fatal(err)
		}
		if img.Bounds().Size() != tc.size || img.ColorModel() != tc.model {
			t.Errorf("want %d: %v %T, want %v", tc.want, img.Bounds().Size(), img, tc.size)
		}
	}
	// Damage that image/jpeg refuses, libjpeg-turbo reports only as a warning; those are
	// refusals here too, at every scale.
	for name, bad := range map[string][]byte{
		"cut short":      data[:len(data)*9/10],
		"a stray marker": append(append(append([]byte{}, data[:len(data)/2]...), 0xff, 0xd0), data[len(data)/2:]...),
	} {
		for _, want := range []int{0, ThumbWidth} {
			_, _, err := inspect("scan.jpg", bytes.NewReader(bad), Limits{}, want)
			if err == nil || !strings.Contains(err.Error(), "damaged or incomplete") {
				t.Errorf("%s, want %d: %v, want a refusal as damaged", name, want, err)
			}
		}
	}
}
