package pages

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"math"

	"golang.org/x/image/draw"
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
		// A JPEG's thumbnail is its decode at 1/4, the largest reduction at most 320 wide.
		{"landscape photo", mustInspect(t, "photo.jpg", encodeJPEG(t, colourSheet(1200, 800))), 300, 200},
		{"A4 colour scan at 300 DPI", mustInspect(t, "a4.jpg", encodeJPEG(t, colourSheet(2480, 3508))), 310, 439},
		{"A3 scan at 300 DPI, scaled after its decode at 1/8", mustInspect(t, "a3.jpg", encodeJPEG(t, colourSheet(3508, 4961))), 320, 453},
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

// bilinearOpaque gives what draw.ApproxBiLinear gives over white paper, give or take the
// rounding, for grey and opaque colour pixels, and leaves translucent ones to it.
func TestBilinearOpaqueMatchesApproxBiLinear(t *testing.T) {
	t.Parallel()
	rgba := image.NewRGBA(image.Rect(0, 0, 425, 601))
	gray := image.NewGray(image.Rect(0, 0, 425, 601))
	for i := range rgba.Pix {
		rgba.Pix[i] = uint8(i*7 + i/1700)
		if i%4 == 3 {
			rgba.Pix[i] = 0xff
		}
	}
	for i := range gray.Pix {
		gray.Pix[i] = uint8(i*13 + i/425)
	}
	for _, tc := range []struct {
		name     string
		src      image.Image
		dst, ref draw.Image
	}{
		{"RGBA", rgba, image.NewRGBA(image.Rect(0, 0, 320, 452)), image.NewRGBA(image.Rect(0, 0, 320, 452))},
		{"grey", gray, image.NewGray(image.Rect(0, 0, 320, 452)), image.NewGray(image.Rect(0, 0, 320, 452))},
		{"grey, kept as it is", gray, image.NewGray(gray.Rect), image.NewGray(gray.Rect)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !bilinearOpaque(tc.dst, tc.src) {
				t.Fatal("not scaled")
			}
			r := tc.ref.Bounds()
			draw.Draw(tc.ref, r, image.White, image.Point{}, draw.Src)
			draw.ApproxBiLinear.Scale(tc.ref, r, tc.src, tc.src.Bounds(), draw.Over, nil)
			worst := 0
			for y := r.Min.Y; y < r.Max.Y; y++ {
				for x := r.Min.X; x < r.Max.X; x++ {
					a, b := color.RGBAModel.Convert(tc.dst.At(x, y)).(color.RGBA), color.RGBAModel.Convert(tc.ref.At(x, y)).(color.RGBA)
					for _, d := range []int{int(a.R) - int(b.R), int(a.G) - int(b.G), int(a.B) - int(b.B)} {
						worst = max(worst, d, -d)
					}
				}
			}
			if worst > 2 {
				t.Errorf("differs from draw.ApproxBiLinear by up to %d levels", worst)
			}
		})
	}
	translucent := image.NewRGBA(image.Rect(0, 0, 10, 10))
	if bilinearOpaque(image.NewRGBA(image.Rect(0, 0, 5, 5)), translucent) {
		t.Error("scaled translucent pixels, which must be drawn over paper")
	}
}
