package pades

import (
	"errors"
	"fmt"
	"io"
)

// PageSize returns the width and height, in points, of the visible area (CropBox, else
// MediaBox) of page n (from 1) of the document of size bytes that r holds: the box a stamp
// Placement is measured in. It reads only the objects SignTo reads, so a caller can fit a
// stamp to the page before signing without holding the document in memory.
func PageSize(r io.ReaderAt, size int64, n int) (w, h float64, err error) {
	defer func() {
		if r := recover(); r != nil {
			w, h, err = 0, 0, &DocumentError{Err: fmt.Errorf("the document cannot be read (%v)", r)}
		}
	}()
	doc, err := readDocument(r, size)
	if err != nil {
		return 0, 0, &DocumentError{Err: fmt.Errorf("read: %w", err)}
	}
	catalog, ok := doc.resolve(doc.trailer.get("Root")).(dict)
	if !ok {
		return 0, 0, &DocumentError{Err: errors.New("the document catalog is missing")}
	}
	_, _, box, err := doc.findPage(catalog, n)
	if err != nil {
		return 0, 0, &DocumentError{Err: err}
	}
	return box[2] - box[0], box[3] - box[1], nil
}
