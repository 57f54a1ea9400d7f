//go:build !cgo

package pages

import (
	"bytes"
	"errors"
	"image"
	"image/jpeg"
)

// JPEGDecoder names the decoder JPEG page images go through. Without cgo there is no
// libjpeg-turbo, and image/jpeg decodes every page in full: slower, the same checks.
const JPEGDecoder = "image/jpeg"

var errNotTurbo = errors.New("pages: built without libjpeg-turbo")

func decodeJPEG([]byte, int, int, int, bool) (image.Image, error) { return nil, errNotTurbo }

func compressJPEG(img image.Image, q int) ([]byte, error) {
	var buf bytes.Buffer
	err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: q})
	return buf.Bytes(), err
}

// ReferenceDecode decodes a JPEG in full; without libjpeg-turbo it cannot be the floor the
// benchmarks name, and says so.
func ReferenceDecode([]byte) error { return errNotTurbo }
