package pages

import (
	"bytes"
	"encoding/binary"
	"math"
)

// Resolution is read from the headers by hand: the standard decoders drop it.

// jpegDPI returns the density of the JFIF APP0 segment, or failing that the XResolution of
// the Exif APP1 segment (what cameras write), or 0.
func jpegDPI(data []byte) float64 {
	var exif float64
	for i := 2; i+4 <= len(data); {
		if data[i] != 0xff {
			return exif
		}
		marker := data[i+1]
		switch {
		case marker == 0xff: // fill byte
			i++
			continue
		case marker == 0x01 || (marker >= 0xd0 && marker <= 0xd8):
			i += 2 // no length
			continue
		case marker == 0xda || marker == 0xd9: // start of scan, end of image: headers are over
			return exif
		}
		n := int(binary.BigEndian.Uint16(data[i+2:]))
		if n < 2 || i+2+n > len(data) {
			return exif
		}
		seg := data[i+4 : i+2+n]
		switch {
		case marker == 0xe0 && len(seg) >= 12 && bytes.HasPrefix(seg, []byte("JFIF\x00")):
			// units: 0 = aspect ratio only, 1 = dots per inch, 2 = dots per centimetre
			if dpi := toDPI(float64(binary.BigEndian.Uint16(seg[8:])), int(seg[7])+1); dpi > 0 {
				return dpi
			}
		case marker == 0xe1 && exif == 0 && bytes.HasPrefix(seg, []byte("Exif\x00\x00")):
			if info, ok := parseTIFF(seg[6:]); ok {
				exif = info.dpi()
			}
		}
		i += 2 + n
	}
	return exif
}

// pngDPI returns the density of the pHYs chunk, or 0. pHYs must come before the first IDAT.
func pngDPI(data []byte) float64 {
	for i := 8; i+8 <= len(data); {
		n := int(binary.BigEndian.Uint32(data[i:]))
		typ := string(data[i+4 : i+8])
		if typ == "IDAT" || typ == "IEND" || i+12+n > len(data) {
			return 0
		}
		if typ == "pHYs" && n == 9 {
			c := data[i+8:]
			if c[8] != 1 { // 0: aspect ratio only; 1: pixels per metre
				return 0
			}
			return toDPI(float64(binary.BigEndian.Uint32(c)), unitMetre)
		}
		i += 12 + n
	}
	return 0
}

// Resolution units, numbered as TIFF's ResolutionUnit; JFIF's are one less.
const (
	unitNone = 1
	unitInch = 2
	unitCm   = 3
	// unitMetre is PNG's, outside TIFF's numbering.
	unitMetre = 100
)

// toDPI converts a density to dots per inch, rounded to hundredths so that 7874 pixels per
// metre reads as the 200 DPI it was written for. It returns 0 for no or no usable density.
func toDPI(v float64, unit int) float64 {
	switch unit {
	case unitInch:
	case unitCm:
		v *= 2.54
	case unitMetre:
		v *= 0.0254
	default:
		return 0
	}
	if !(v > 0) || math.IsInf(v, 0) {
		return 0
	}
	return math.Round(v*100) / 100
}

// tiffInfo is what the IFDs of a TIFF file (or an Exif block) say beyond image.Config.
type tiffInfo struct {
	xRes  float64 // XResolution of the first IFD; 0 if absent
	unit  int     // ResolutionUnit, unitInch if absent
	bits  int     // first BitsPerSample; 0 if absent
	pages int     // IFDs in the chain, less reduced-resolution copies (thumbnails)
}

func (t tiffInfo) dpi() float64 { return toDPI(t.xRes, t.unit) }

// TIFF tags and field types read here.
const (
	tagNewSubfileType = 254
	tagBitsPerSample  = 258
	tagXResolution    = 282
	tagResolutionUnit = 296

	typeShort    = 3
	typeLong     = 4
	typeRational = 5
)

// parseTIFF reads the IFD chain of b, which starts with a TIFF header. It reports false if
// the header or the first IFD is not there; a broken later IFD ends the chain.
func parseTIFF(b []byte) (tiffInfo, bool) {
	info := tiffInfo{unit: unitInch}
	if len(b) < 8 {
		return info, false
	}
	var bo binary.ByteOrder
	switch string(b[:4]) {
	case "II*\x00":
		bo = binary.LittleEndian
	case "MM\x00*":
		bo = binary.BigEndian
	default:
		return info, false
	}
	seen := map[uint32]bool{}
	off := bo.Uint32(b[4:])
	for n := 0; off != 0 && !seen[off] && n < 1000; n++ {
		seen[off] = true
		if uint64(off)+2 > uint64(len(b)) {
			break
		}
		count := int(bo.Uint16(b[off:]))
		entries := int(off) + 2
		if entries+12*count+4 > len(b) {
			break
		}
		reduced := false
		for e := range count {
			ent := b[entries+12*e : entries+12*e+12]
			tag, typ, cnt := bo.Uint16(ent), bo.Uint16(ent[2:]), bo.Uint32(ent[4:])
			switch {
			case tag == tagNewSubfileType && typ == typeLong:
				reduced = bo.Uint32(ent[8:])&1 != 0
			case n > 0:
				// Resolution and depth come from the first image only.
			case tag == tagBitsPerSample && typ == typeShort && cnt >= 1:
				v := ent[8:]
				if cnt > 2 {
					p := uint64(bo.Uint32(ent[8:]))
					if p+2 > uint64(len(b)) {
						continue
					}
					v = b[p:]
				}
				info.bits = int(bo.Uint16(v))
			case tag == tagResolutionUnit && typ == typeShort && cnt == 1:
				info.unit = int(bo.Uint16(ent[8:]))
			case tag == tagXResolution && typ == typeRational && cnt == 1:
				p := uint64(bo.Uint32(ent[8:]))
				if p+8 > uint64(len(b)) {
					continue
				}
				if den := bo.Uint32(b[p+4:]); den != 0 {
					info.xRes = float64(bo.Uint32(b[p:])) / float64(den)
				}
			}
		}
		if n == 0 || !reduced {
			info.pages++
		}
		off = bo.Uint32(b[entries+12*count:])
	}
	return info, info.pages > 0
}

// WithJPEGDensity returns the JPEG data with a JFIF APP0 segment stating dpi dots per inch
// right after SOI (replacing a JFIF segment there), as a scanner writes it. Data that is not
// a JPEG is returned as it is.
func WithJPEGDensity(data []byte, dpi int) []byte {
	if len(data) < 4 || data[0] != 0xFF || data[1] != 0xD8 || dpi <= 0 || dpi > 0xFFFF {
		return data
	}
	rest := data[2:]
	if len(rest) > 4 && rest[0] == 0xFF && rest[1] == 0xE0 {
		if n := 2 + int(rest[2])<<8 | int(rest[3]); n <= len(rest) {
			rest = rest[n:]
		}
	}
	d0, d1 := byte(dpi>>8), byte(dpi)
	out := make([]byte, 0, len(data)+18)
	out = append(out, 0xFF, 0xD8, 0xFF, 0xE0, 0, 16, 'J', 'F', 'I', 'F', 0, 1, 1, 1, d0, d1, d0, d1, 0, 0)
	return append(out, rest...)
}
