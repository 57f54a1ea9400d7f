package pages

import (
	"archive/zip"
	"bytes"
	"errors"
	"image"
	"image/gif"
	"io"
	"runtime"
	"strings"
	"testing"
)

func mustInspect(t *testing.T, name string, data []byte) Page {
	t.Helper()
	p, err := Inspect(name, bytes.NewReader(data), DefaultLimits())
	if err != nil {
		t.Fatalf("Inspect(%q): %v", name, err)
	}
	return p
}

// rejected asserts that err is a *RejectError for file whose reason contains want.
func rejected(t *testing.T, err error, file, want string) *RejectError {
	t.Helper()
	var re *RejectError
	if !errors.As(err, &re) {
		t.Fatalf("err = %v (%T), want a *RejectError", err, err)
	}
	f, reason := re.Fields()
	if f != file {
		t.Errorf("file = %q, want %q", f, file)
	}
	if !strings.Contains(reason, want) {
		t.Errorf("reason = %q, want it to contain %q", reason, want)
	}
	if !strings.Contains(re.Error(), file) || !strings.Contains(re.Error(), reason) {
		t.Errorf("Error() = %q, want the file name and the reason", re.Error())
	}
	if re.ReasonZh == "" {
		t.Error("no Chinese reason")
	}
	return re
}

func TestInspectAccepts(t *testing.T) {
	t.Parallel()
	for _, tc := range accepted(t) {
		t.Run(tc.name, func(t *testing.T) {
			p := mustInspect(t, tc.name, tc.data)
			if p.Format != tc.format || p.Width != tc.w || p.Height != tc.h || p.Color != tc.color {
				t.Errorf("got %s %d×%d %s, want %s %d×%d %s", p.Format, p.Width, p.Height, p.Color, tc.format, tc.w, tc.h, tc.color)
			}
			if p.Name != tc.name {
				t.Errorf("Name = %q, want %q", p.Name, tc.name)
			}
			if !bytes.Equal(p.Data, tc.data) {
				t.Error("Data is not the uploaded bytes")
			}
		})
	}
}

func TestInspectFormatFromContent(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, format string
		data         []byte
	}{
		{"scan.jpg", "png", encodePNG(t, sheet(200, 300))},
		{"scan.png", "jpeg", encodeJPEG(t, sheet(200, 300))},
		{"scan.pdf", "tiff", encodeTIFF(t, sheet(200, 300))},
		{"scan", "jpeg", encodeJPEG(t, sheet(200, 300))},
	} {
		if p := mustInspect(t, tc.name, tc.data); p.Format != tc.format {
			t.Errorf("%s: Format = %q, want %q", tc.name, p.Format, tc.format)
		}
	}
}

func TestInspectRejects(t *testing.T) {
	t.Parallel()
	var zipped bytes.Buffer
	zw := zip.NewWriter(&zipped)
	f, err := zw.Create("page1.jpg")
	if err != nil {
		t.Fatal(err)
	}
	f.Write(encodeJPEG(t, sheet(200, 300)))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	var gifData bytes.Buffer
	if err := gif.Encode(&gifData, sheet(200, 300), nil); err != nil {
		t.Fatal(err)
	}
	pdf, err := Assemble([]Page{mustInspect(t, "p.png", encodePNG(t, sheet(200, 300)))})
	if err != nil {
		t.Fatal(err)
	}
	pngData := encodePNG(t, colourSheet(400, 300))
	jpegData := encodeJPEG(t, colourSheet(400, 300))
	tiffData := encodeTIFF(t, colourSheet(400, 300))

	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"notes.txt", []byte("申请人：张三\nID 110101199003070000\n"), "a text file"},
		{"scans.zip", zipped.Bytes(), "a ZIP archive"},
		{"contract.pdf", pdf, "upload it as the material's single PDF"},
		{"photo.gif", gifData.Bytes(), "a GIF image"},
		{"blob.bin", []byte{0x00, 0x01, 0x02, 0x9c, 0xfe, 0x80, 0x00, 0x13}, "not an image"},
		{"empty.jpg", nil, "empty"},
		{"cut.png", pngData[:len(pngData)/2], "PNG image is damaged or incomplete"},
		{"cut.jpg", jpegData[:len(jpegData)/2], "JPEG image is damaged or incomplete"},
		{"cut.tif", tiffData[:len(tiffData)/2], "TIFF image is damaged or incomplete"},
		{"header-only.png", pngData[:40], "PNG image is damaged or incomplete"},
		{"icon.png", encodePNG(t, sheet(99, 400)), "only 99×400 pixels; a page image must be at least 100 pixels on each side"},
		{"pages.tif", rawTIFF(rawPage{w: 200, h: 300, bits: 8}, rawPage{w: 200, h: 300, bits: 8}), "this is a multi-page TIFF (2 pages)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Inspect(tc.name, bytes.NewReader(tc.data), DefaultLimits())
			re := rejected(t, err, tc.name, tc.want)
			if strings.Contains(re.Error(), "张三") || strings.Contains(re.ReasonZh, "张三") {
				t.Errorf("the message repeats the file's content: %q", re.Error())
			}
		})
	}
}

func TestInspectTIFFThumbnailIsNotAPage(t *testing.T) {
	t.Parallel()
	data := rawTIFF(rawPage{w: 850, h: 1100, bits: 8, xRes: 100}, rawPage{w: 85, h: 110, bits: 8, reduced: true})
	p := mustInspect(t, "scan.tif", data)
	if p.Width != 850 || p.Height != 1100 || p.DPI != 100 {
		t.Errorf("got %d×%d at %v DPI, want the full page, 850×1100 at 100 DPI", p.Width, p.Height, p.DPI)
	}
}

func TestInspectFileSizeLimit(t *testing.T) {
	t.Parallel()
	lim := DefaultLimits()
	if lim.MaxFileBytes != 20<<20 {
		t.Fatalf("default MaxFileBytes = %d, want 20 MiB", lim.MaxFileBytes)
	}
	// A valid PNG padded after IEND, which decoders ignore, to exactly the limit.
	img := encodePNG(t, sheet(300, 400))
	atLimit := append(img, make([]byte, int(lim.MaxFileBytes)-len(img))...)
	if p := mustInspect(t, "big.png", atLimit); p.Width != 300 {
		t.Errorf("a file of exactly 20 MiB: width %d, want 300", p.Width)
	}

	src := &countingReader{r: io.MultiReader(bytes.NewReader(img), zeros{})}
	_, err := Inspect("huge.png", src, lim)
	rejected(t, err, "huge.png", "larger than the 20 MiB limit")
	if src.n > lim.MaxFileBytes+1 {
		t.Errorf("read %d bytes of an endless upload, want at most %d", src.n, lim.MaxFileBytes+1)
	}

	small := Limits{MaxFileBytes: 1 << 20}
	_, err = Inspect("noise.png", bytes.NewReader(encodePNG(t, noise(1024, 768))), small)
	rejected(t, err, "noise.png", "larger than the 1 MiB limit")
}

// noise is an image that does not compress, so its PNG is about 3 bytes a pixel.
func noise(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	x := uint32(2463534242)
	for i := range img.Pix {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		img.Pix[i] = byte(x)
		if i%4 == 3 {
			img.Pix[i] = 0xff
		}
	}
	return img
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func TestInspectDecompressionBomb(t *testing.T) {
	// Not parallel: TotalAlloc counts every goroutine's allocations.
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"bomb.png", withIHDRSize(encodePNG(t, sheet(100, 100)), 100000, 100000), "100000×100000 pixels (10000.0 megapixels), over the limit of 50 megapixels"},
		{"bomb.jpg", withSOFSize(t, encodeJPEG(t, sheet(100, 100)), 60000, 60000), "60000×60000 pixels (3600.0 megapixels)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := Inspect(tc.name, bytes.NewReader(tc.data), DefaultLimits())
			runtime.ReadMemStats(&after)
			rejected(t, err, tc.name, tc.want)
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 50<<20 {
				t.Errorf("Inspect allocated %d MB refusing a bomb, want under 50 MB", grew>>20)
			}
		})
	}

	lim := DefaultLimits()
	lim.MaxPixels = 1_000_000
	_, err := Inspect("a3.png", bytes.NewReader(encodePNG(t, sheet(1001, 1000))), lim)
	rejected(t, err, "a3.png", "1001×1000 pixels (1.0 megapixels), over the limit of 1 megapixels")
	inspectWith(t, "fits.png", encodePNG(t, sheet(1000, 1000)), lim)
}

func inspectWith(t *testing.T, name string, data []byte, lim Limits) Page {
	t.Helper()
	p, err := Inspect(name, bytes.NewReader(data), lim)
	if err != nil {
		t.Fatalf("Inspect(%q): %v", name, err)
	}
	return p
}

func TestInspectDPI(t *testing.T) {
	t.Parallel()
	grey := sheet(200, 300)
	for _, tc := range []struct {
		name string
		data []byte
		dpi  float64
	}{
		{"png 200 DPI", withPHYs(encodePNG(t, grey), 7874, 1), 200},
		{"png 300 DPI", withPHYs(encodePNG(t, grey), 11811, 1), 300},
		{"png aspect ratio only", withPHYs(encodePNG(t, grey), 1, 0), 0},
		{"png without pHYs", encodePNG(t, grey), 0},
		{"jpeg JFIF 300 per inch", withJFIF(encodeJPEG(t, grey), 1, 300), 300},
		{"jpeg JFIF 118 per cm", withJFIF(encodeJPEG(t, grey), 2, 118), 299.72},
		{"jpeg JFIF aspect ratio only", withJFIF(encodeJPEG(t, grey), 0, 1), 0},
		{"jpeg without JFIF", encodeJPEG(t, grey), 0},
		{"jpeg Exif 300 per inch", withExif(encodeJPEG(t, grey), rawTIFF(rawPage{w: 1, h: 1, bits: 8, xRes: 300})), 300},
		{"jpeg JFIF aspect ratio and Exif 240", withExif(withJFIF(encodeJPEG(t, grey), 0, 1), rawTIFF(rawPage{w: 1, h: 1, bits: 8, xRes: 240})), 240},
		{"tiff from x/image/tiff", encodeTIFF(t, grey), 72},
		{"tiff 600 DPI", withTIFFXRes(t, encodeTIFF(t, grey), 600, 1), 600},
		{"tiff 199.5 DPI", withTIFFXRes(t, encodeTIFF(t, grey), 399, 2), 199.5},
		{"tiff without resolution", rawTIFF(rawPage{w: 200, h: 300, bits: 8}), 0},
		{"bilevel tiff 300 DPI", rawTIFF(rawPage{w: 200, h: 300, bits: 1, xRes: 300}), 300},
	} {
		if p := mustInspect(t, "scan", tc.data); p.DPI != tc.dpi {
			t.Errorf("%s: DPI = %v, want %v", tc.name, p.DPI, tc.dpi)
		}
	}
}

func TestLimitsZeroMeansDefault(t *testing.T) {
	t.Parallel()
	_, err := Inspect("icon.png", bytes.NewReader(encodePNG(t, sheet(64, 64))), Limits{})
	rejected(t, err, "icon.png", "at least 100 pixels")
}
