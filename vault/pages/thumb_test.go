package pages

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"testing"
)

func TestThumbnail(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		page Page
		w, h int
	}{
		{"A4 grey scan", mustInspect(t, "a4.png", encodePNG(t, sheet(1654, 2339))), 320, 453},
		{"landscape photo", mustInspect(t, "photo.jpg", encodeJPEG(t, colourSheet(1200, 800))), 320, 213},
		{"TIFF", mustInspect(t, "slip.tif", encodeTIFF(t, colourSheet(640, 1000))), 320, 500},
		{"narrow slip, kept as it is", mustInspect(t, "slip.png", encodePNG(t, sheet(200, 300))), 200, 300},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Thumbnail(tc.page)
			if err != nil {
				t.Fatal(err)
			}
			img, err := jpeg.Decode(bytes.NewReader(b))
			if err != nil {
				t.Fatalf("not a JPEG: %v", err)
			}
			w, h := img.Bounds().Dx(), img.Bounds().Dy()
			if w != tc.w || h != tc.h {
				t.Errorf("%d×%d, want %d×%d", w, h, tc.w, tc.h)
			}
			if w > 320 {
				t.Errorf("%d pixels wide, want at most 320", w)
			}
			src, dst := float64(tc.page.Width)/float64(tc.page.Height), float64(w)/float64(h)
			if math.Abs(src-dst) > 0.01*src {
				t.Errorf("aspect ratio %.3f, page's %.3f", dst, src)
			}
			// The thumbnail shows the page: ink at the top, paper at the bottom.
			if top, bottom := lightness(img, image.Pt(w/2, h/8)), lightness(img, image.Pt(w/2, h*7/8)); top > 0.5 || bottom < 0.9 {
				t.Errorf("top %.2f, bottom %.2f; want a dark top and a white bottom", top, bottom)
			}
		})
	}
}

func TestThumbnailTransparentIsPaper(t *testing.T) {
	t.Parallel()
	img := image.NewNRGBA(image.Rect(0, 0, 640, 480)) // all transparent
	for x := range 640 {
		for y := range 240 {
			img.SetNRGBA(x, y, color.NRGBA{0, 0, 0, 0xff})
		}
	}
	b, err := Thumbnail(mustInspect(t, "alpha.png", encodePNG(t, img)))
	if err != nil {
		t.Fatal(err)
	}
	th, err := jpeg.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if l := lightness(th, image.Pt(160, 220)); l < 0.99 {
		t.Errorf("transparent area shows at lightness %.2f, want white paper", l)
	}
	if l := lightness(th, image.Pt(160, 20)); l > 0.01 {
		t.Errorf("black area shows at lightness %.2f, want black", l)
	}
}

func TestThumbnailRefusesWhatIsNotAnImage(t *testing.T) {
	t.Parallel()
	_, err := Thumbnail(Page{Name: "x.png", Format: "png", Data: []byte("%PDF-1.7\n")})
	rejected(t, err, "x.png", "this is a PDF")
}
