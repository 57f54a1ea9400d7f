package pades

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// maxPages bounds the page tree Check walks.
const maxPages = 100_000

// Check is CheckAt for a document in memory.
func Check(pdf []byte) (pages int, err error) {
	return CheckAt(bytes.NewReader(pdf), int64(len(pdf)))
}

// CheckAt reads the document of size bytes that r holds with SignTo's reader and returns
// its number of pages, or a *DocumentError naming what would stop SignTo: no readable
// cross-reference or trailer, encryption, no catalog or page tree, a page tree whose /Count
// does not match its pages (SignTo finds a page by the counts), a cycle in it, or a page
// without a usable MediaBox. A document CheckAt accepts can be signed on any of its pages,
// with a stamp box inside the page.
//
// CheckAt reads only what SignTo reads; it does not validate the rest of the document.
func CheckAt(r io.ReaderAt, size int64) (pages int, err error) {
	defer func() {
		if r := recover(); r != nil {
			pages, err = 0, &DocumentError{Err: fmt.Errorf("the document cannot be read (%v)", r)}
		}
	}()
	doc, err := readDocument(r, size)
	if err != nil {
		return 0, &DocumentError{Err: fmt.Errorf("read: %w", err)}
	}
	if doc.trailer.get("Encrypt") != nil {
		return 0, &DocumentError{Err: errEncrypted}
	}
	catalog, ok := doc.resolve(doc.trailer.get("Root")).(dict)
	if !ok {
		return 0, &DocumentError{Err: errors.New("the document catalog is missing")}
	}
	root, ok := doc.resolve(catalog.get("Pages")).(dict)
	if !ok {
		return 0, &DocumentError{Err: errors.New("the document has no page tree")}
	}
	w := pageWalk{doc: doc, seen: map[ref]bool{}}
	if err := w.node(root, nil, nil, 0); err != nil {
		return 0, &DocumentError{Err: err}
	}
	if w.pages == 0 {
		return 0, &DocumentError{Err: errors.New("the document has no pages")}
	}
	return w.pages, nil
}

// pageWalk visits the page tree the way findPage descends it.
type pageWalk struct {
	doc   *document
	seen  map[ref]bool
	pages int
}

func (w *pageWalk) node(n dict, media, crop object, depth int) error {
	if depth >= 64 {
		return errors.New("the page tree is too deep")
	}
	media, crop = inherit(media, n.get("MediaBox")), inherit(crop, n.get("CropBox"))
	kids, _ := w.doc.resolve(n.get("Kids")).(array)
	for _, k := range kids {
		kr, ok := k.(ref)
		kd, isDict := w.doc.resolve(k).(dict)
		if !ok || !isDict {
			continue // findPage skips these too
		}
		if w.seen[kr] {
			return fmt.Errorf("the page tree lists object %d twice", kr.num)
		}
		w.seen[kr] = true
		if kd.get("Type") == name("Pages") || kd.get("Kids") != nil {
			before := w.pages
			if err := w.node(kd, media, crop, depth+1); err != nil {
				return err
			}
			if count, _ := w.doc.intValue(kd.get("Count")); count != int64(w.pages-before) {
				return fmt.Errorf("page tree node %d says /Count %d but holds %d pages", kr.num, count, w.pages-before)
			}
			continue
		}
		w.pages++
		if w.pages > maxPages {
			return fmt.Errorf("the document has more than %d pages", maxPages)
		}
		if _, err := w.doc.visibleBox(inherit(media, kd.get("MediaBox")), inherit(crop, kd.get("CropBox"))); err != nil {
			return fmt.Errorf("page %d: %w", w.pages, err)
		}
	}
	return nil
}
