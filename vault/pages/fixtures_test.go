package pages

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"testing"

	"golang.org/x/image/tiff"
)

// sheet is a w×h page whose top half is dark ink and bottom half white paper, so that a
// rendering shows which way up it is and whether it fills its page.
func sheet(w, h int) *image.Gray {
	img := image.NewGray(image.Rect(0, 0, w, h))
	for y := range h {
		v := uint8(0xff)
		if y < h/2 {
			v = 0x20
		}
		for x := range w {
			img.Pix[y*img.Stride+x] = v
		}
	}
	return img
}

// colourSheet is sheet in colour: a dark blue top half.
func colourSheet(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		c := color.RGBA{0xff, 0xff, 0xff, 0xff}
		if y < h/2 {
			c = color.RGBA{0x10, 0x20, 0x60, 0xff}
		}
		for x := range w {
			img.SetRGBA(x, y, c)
		}
	}
	return img
}

func encodePNG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func encodeJPEG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 85}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// encodeTIFF writes img with x/image/tiff, which records 72 DPI.
func encodeTIFF(t testing.TB, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := tiff.Encode(&buf, img, &tiff.Options{Compression: tiff.Deflate}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// pngChunk encodes one PNG chunk with its CRC.
func pngChunk(typ string, data []byte) []byte {
	c := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	c = append(c, typ...)
	c = append(c, data...)
	return binary.BigEndian.AppendUint32(c, crc32.ChecksumIEEE(c[4:]))
}

// withPHYs inserts a pHYs chunk right after IHDR (which Go's encoder writes first, ending
// at byte 33).
func withPHYs(p []byte, perUnit uint32, unit byte) []byte {
	d := binary.BigEndian.AppendUint32(nil, perUnit)
	d = binary.BigEndian.AppendUint32(d, perUnit)
	d = append(d, unit)
	out := append([]byte{}, p[:33]...)
	out = append(out, pngChunk("pHYs", d)...)
	return append(out, p[33:]...)
}

// withIHDRSize rewrites the width and height IHDR claims, and its CRC.
func withIHDRSize(p []byte, w, h uint32) []byte {
	out := append([]byte{}, p...)
	binary.BigEndian.PutUint32(out[16:], w)
	binary.BigEndian.PutUint32(out[20:], h)
	binary.BigEndian.PutUint32(out[29:], crc32.ChecksumIEEE(out[12:29]))
	return out
}

// withJFIF inserts a JFIF APP0 segment after SOI; Go's encoder writes none.
func withJFIF(j []byte, units byte, density uint16) []byte {
	seg := []byte{0xff, 0xe0, 0, 16, 'J', 'F', 'I', 'F', 0, 1, 2, units}
	seg = binary.BigEndian.AppendUint16(seg, density)
	seg = binary.BigEndian.AppendUint16(seg, density)
	seg = append(seg, 0, 0)
	out := append([]byte{}, j[:2]...)
	out = append(out, seg...)
	return append(out, j[2:]...)
}

// withExif inserts an Exif APP1 segment holding tiff after SOI, as cameras write it.
func withExif(j, tiff []byte) []byte {
	seg := binary.BigEndian.AppendUint16([]byte{0xff, 0xe1}, uint16(2+6+len(tiff)))
	seg = append(seg, "Exif\x00\x00"...)
	seg = append(seg, tiff...)
	out := append([]byte{}, j[:2]...)
	out = append(out, seg...)
	return append(out, j[2:]...)
}

// withSOFSize rewrites the height and width of the baseline SOF0 segment.
func withSOFSize(t testing.TB, j []byte, w, h uint16) []byte {
	t.Helper()
	out := append([]byte{}, j...)
	i := bytes.Index(out, []byte{0xff, 0xc0})
	if i < 0 {
		t.Fatal("no SOF0 segment")
	}
	binary.BigEndian.PutUint16(out[i+5:], h)
	binary.BigEndian.PutUint16(out[i+7:], w)
	return out
}

// withTIFFXRes rewrites the XResolution rational of a little-endian TIFF's first IFD.
func withTIFFXRes(t testing.TB, b []byte, num, den uint32) []byte {
	t.Helper()
	out := append([]byte{}, b...)
	le := binary.LittleEndian
	ifd := le.Uint32(out[4:])
	for e := range int(le.Uint16(out[ifd:])) {
		ent := out[int(ifd)+2+12*e:]
		if le.Uint16(ent) == 282 {
			p := le.Uint32(ent[8:])
			le.PutUint32(out[p:], num)
			le.PutUint32(out[p+4:], den)
			return out
		}
	}
	t.Fatal("no XResolution tag")
	return nil
}

// rawPage is one image of a hand-made uncompressed greyscale TIFF.
type rawPage struct {
	w, h    int
	bits    int    // 1 (bilevel, 0 is white) or 8 (grey, 0 is black)
	xRes    uint32 // dots per inch; 0 to record none
	reduced bool   // a thumbnail copy, NewSubfileType 1
}

// rawTIFF writes pages as one little-endian TIFF, each page's IFD pointing to the next:
// what a scanner writes for a multi-page scan. Every pixel is white.
func rawTIFF(pages ...rawPage) []byte {
	le := binary.LittleEndian
	b := []byte("II*\x00\x00\x00\x00\x00")
	next := 4 // where the offset of the next IFD goes
	for _, p := range pages {
		rowBytes := (p.w*p.bits + 7) / 8
		strip := len(b)
		white := byte(0xff)
		if p.bits == 1 {
			white = 0 // WhiteIsZero
		}
		b = append(b, bytes.Repeat([]byte{white}, rowBytes*p.h)...)
		res := len(b)
		b = le.AppendUint32(b, p.xRes)
		b = le.AppendUint32(b, 1)
		if len(b)%2 == 1 {
			b = append(b, 0)
		}
		type entry struct {
			tag, typ uint16
			val      uint32
		}
		photometric := uint32(1)
		if p.bits == 1 {
			photometric = 0
		}
		subfile := uint32(0)
		if p.reduced {
			subfile = 1
		}
		es := []entry{
			{254, 4, subfile},
			{256, 4, uint32(p.w)},
			{257, 4, uint32(p.h)},
			{258, 3, uint32(p.bits)},
			{259, 3, 1},
			{262, 3, photometric},
			{273, 4, uint32(strip)},
			{277, 3, 1},
			{278, 4, uint32(p.h)},
			{279, 4, uint32(rowBytes * p.h)},
		}
		if p.xRes != 0 {
			es = append(es, entry{282, 5, uint32(res)}, entry{283, 5, uint32(res)}, entry{296, 3, 2})
		}
		le.PutUint32(b[next:], uint32(len(b)))
		b = le.AppendUint16(b, uint16(len(es)))
		for _, e := range es {
			b = le.AppendUint16(b, e.tag)
			b = le.AppendUint16(b, e.typ)
			b = le.AppendUint32(b, 1)
			if e.typ == 3 {
				b = le.AppendUint16(b, uint16(e.val))
				b = append(b, 0, 0)
			} else {
				b = le.AppendUint32(b, e.val)
			}
		}
		next = len(b)
		b = le.AppendUint32(b, 0)
	}
	return b
}

// fixture is a page image Inspect accepts, and what it should find.
type fixture struct {
	name   string
	data   []byte
	format string
	w, h   int
	color  string
}

// accepted is one of each kind of page image staff upload.
func accepted(t testing.TB) []fixture {
	t.Helper()
	paletted := image.NewPaletted(image.Rect(0, 0, 300, 200), color.Palette{color.Black, color.White, color.RGBA{0xff, 0, 0, 0xff}})
	bilevel := image.NewPaletted(image.Rect(0, 0, 300, 200), color.Palette{color.Black, color.White})
	deep := image.NewRGBA64(image.Rect(0, 0, 300, 200))
	for i := range deep.Pix {
		deep.Pix[i] = byte(i)
	}
	translucent := image.NewNRGBA(image.Rect(0, 0, 300, 200))
	for i := range translucent.Pix {
		translucent.Pix[i] = byte(i * 7)
	}
	return []fixture{
		{"grey.png", encodePNG(t, sheet(640, 480)), "png", 640, 480, "gray"},
		{"grey16.png", encodePNG(t, image.NewGray16(image.Rect(0, 0, 300, 200))), "png", 300, 200, "gray"},
		{"colour.png", encodePNG(t, colourSheet(480, 640)), "png", 480, 640, "rgb"},
		{"colour48.png", encodePNG(t, deep), "png", 300, 200, "rgb"},
		{"alpha.png", encodePNG(t, translucent), "png", 300, 200, "rgb"},
		{"paletted.png", encodePNG(t, paletted), "png", 300, 200, "paletted"},
		{"bilevel.png", encodePNG(t, bilevel), "png", 300, 200, "bilevel"},
		{"colour.jpg", encodeJPEG(t, colourSheet(600, 400)), "jpeg", 600, 400, "rgb"},
		{"grey.jpg", encodeJPEG(t, sheet(400, 600)), "jpeg", 400, 600, "gray"},
		{"colour.tif", encodeTIFF(t, colourSheet(320, 450)), "tiff", 320, 450, "rgb"},
		{"grey.tif", encodeTIFF(t, sheet(450, 320)), "tiff", 450, 320, "gray"},
		{"paletted.tif", encodeTIFF(t, paletted), "tiff", 300, 200, "paletted"},
		{"bilevel.tif", rawTIFF(rawPage{w: 850, h: 1100, bits: 1}), "tiff", 850, 1100, "bilevel"},
		{"exactly-min.png", encodePNG(t, sheet(100, 100)), "png", 100, 100, "gray"},
	}
}
