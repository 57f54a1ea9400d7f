//go:build cgo

package pages

// JPEG pages are decoded with libjpeg-turbo's TurboJPEG API (Debian libturbojpeg0-dev),
// which decodes a scan in well under half the time of image/jpeg and can reduce the image
// in its inverse DCT (by 1/2, 1/4 or 1/8), so one decode both proves the whole entropy-coded
// stream sound and yields the pixels the thumbnail needs. It runs in the page workers (see
// worker.go): a fault in the C decoder on a hostile file takes down a worker, not the server.

/*
#cgo LDFLAGS: -lturbojpeg
#include <stdlib.h>
#include <turbojpeg.h>
*/
import "C"

import (
	"errors"
	"fmt"
	"image"
	"unsafe"
)

// JPEGDecoder names the decoder JPEG page images go through.
const JPEGDecoder = "libjpeg-turbo"

// errNotTurbo says the JPEG is one libjpeg-turbo is not asked to decode here (CMYK and YCCK,
// whose Adobe inversion image/jpeg handles); the caller decodes it with image/jpeg.
var errNotTurbo = errors.New("pages: not for libjpeg-turbo")

// turboFlags make every warning (a truncated stream, a corrupt segment, data after the end)
// an error, as image/jpeg treats them, and refuse a progressive file with an unreasonable
// number of scans.
const turboFlags = C.TJFLAG_STOPONWARNING | C.TJFLAG_LIMITSCANS | C.TJFLAG_FASTDCT

// decodeJPEG decodes the whole of a JPEG (w×h pixels as its header says) reduced by the
// largest scaling factor that brings it to at most maxWidth pixels wide, or by the smallest
// there is, 1/8, if none does (maxWidth 0); every coefficient is decoded either way. gray
// asks for luminance only.
func decodeJPEG(data []byte, w, h, maxWidth int, gray bool) (image.Image, error) {
	if len(data) == 0 {
		return nil, errors.New("pages: empty JPEG")
	}
	handle := C.tjInitDecompress()
	if handle == nil {
		return nil, errors.New("pages: libjpeg-turbo: cannot start a decompressor")
	}
	defer C.tjDestroy(handle)

	src := (*C.uchar)(unsafe.Pointer(&data[0]))
	var cw, ch, subsamp, colorspace C.int
	if C.tjDecompressHeader3(handle, src, C.ulong(len(data)), &cw, &ch, &subsamp, &colorspace) != 0 {
		return nil, turboError(handle)
	}
	if int(cw) != w || int(ch) != h {
		return nil, fmt.Errorf("pages: libjpeg-turbo reads %d×%d, the header said %d×%d", cw, ch, w, h)
	}
	switch colorspace {
	case C.TJCS_CMYK, C.TJCS_YCCK:
		return nil, errNotTurbo
	case C.TJCS_GRAY:
		gray = true
	}

	num, denom := scaleFor(w, maxWidth)
	sw, sh := scaled(w, num, denom), scaled(h, num, denom)
	var img image.Image
	var pix []byte
	var stride int
	pf := C.int(C.TJPF_RGBA)
	if gray {
		g := image.NewGray(image.Rect(0, 0, sw, sh))
		img, pix, stride, pf = g, g.Pix, g.Stride, C.TJPF_GRAY
	} else {
		rgba := image.NewRGBA(image.Rect(0, 0, sw, sh))
		img, pix, stride = rgba, rgba.Pix, rgba.Stride
	}
	if C.tjDecompress2(handle, src, C.ulong(len(data)), (*C.uchar)(unsafe.Pointer(&pix[0])),
		C.int(sw), C.int(stride), C.int(sh), pf, turboFlags) != 0 {
		return nil, turboError(handle)
	}
	return img, nil
}

// scaleFor picks the largest of libjpeg-turbo's scaling factors (num/denom ≤ 1) that brings
// a w-pixel-wide image to at most maxWidth wide, or the smallest factor if none does.
func scaleFor(w, maxWidth int) (num, denom int) {
	var n C.int
	factors := C.tjGetScalingFactors(&n)
	if factors == nil {
		return 1, 1
	}
	var fit, least [2]int // the best fitting factor so far, and the smallest; {0, 0}: none yet
	for _, f := range unsafe.Slice(factors, int(n)) {
		fn, fd := int(f.num), int(f.denom)
		if fn > fd {
			continue // an enlargement
		}
		if least[0] == 0 || fn*least[1] < least[0]*fd {
			least = [2]int{fn, fd}
		}
		if scaled(w, fn, fd) <= maxWidth && (fit[0] == 0 || fn*fit[1] > fit[0]*fd) {
			fit = [2]int{fn, fd}
		}
	}
	if fit[0] == 0 {
		fit = least
	}
	return fit[0], fit[1]
}

// scaled is TJSCALED: a dimension reduced by num/denom, rounded up.
func scaled(d, num, denom int) int { return (d*num + denom - 1) / denom }

func turboError(handle C.tjhandle) error {
	return fmt.Errorf("pages: libjpeg-turbo: %s", C.GoString(C.tjGetErrorStr2(handle)))
}

// compressJPEG compresses a thumbnail (*image.Gray or *image.RGBA) at quality q.
func compressJPEG(img image.Image, q int) ([]byte, error) {
	var pix []byte
	var stride int
	pf, samp := C.int(C.TJPF_RGBA), C.int(C.TJSAMP_420)
	switch m := img.(type) {
	case *image.Gray:
		pix, stride, pf, samp = m.Pix, m.Stride, C.TJPF_GRAY, C.TJSAMP_GRAY
	case *image.RGBA:
		pix, stride = m.Pix, m.Stride
	default:
		return nil, fmt.Errorf("pages: cannot compress a %T", img)
	}
	b := img.Bounds()
	if b.Empty() {
		return nil, errors.New("pages: empty thumbnail")
	}
	handle := C.tjInitCompress()
	if handle == nil {
		return nil, errors.New("pages: libjpeg-turbo: cannot start a compressor")
	}
	defer C.tjDestroy(handle)
	var out *C.uchar
	var size C.ulong
	if C.tjCompress2(handle, (*C.uchar)(unsafe.Pointer(&pix[0])), C.int(b.Dx()), C.int(stride), C.int(b.Dy()),
		pf, &out, &size, samp, C.int(q), 0) != 0 {
		return nil, turboError(handle)
	}
	defer C.tjFree(out)
	return C.GoBytes(unsafe.Pointer(out), C.int(size)), nil
}

// ReferenceDecode decodes a JPEG in full with libjpeg-turbo, as its djpeg does, and keeps
// nothing: the decode every page must at least have, which the ingest benchmarks measure as
// their floor.
func ReferenceDecode(data []byte) error {
	cfg, err := decodeConfig("jpeg", data)
	if err != nil {
		return err
	}
	_, err = decodeJPEG(data, cfg.Width, cfg.Height, 1<<30, false)
	return err
}
