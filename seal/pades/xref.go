package pades

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strconv"
)

// findPage walks the page tree to page n (1-based) and returns its reference, its
// dictionary and its visible box (CropBox, else MediaBox, both inheritable).
func (d *document) findPage(catalog dict, n int) (ref, dict, [4]float64, error) {
	var box [4]float64
	var media, crop object
	node, ok := d.resolve(catalog.get("Pages")).(dict)
	if !ok {
		return ref{}, nil, box, errors.New("the document has no page tree")
	}
	want := n
	for depth := 0; depth < 64; depth++ {
		media, crop = inherit(media, node.get("MediaBox")), inherit(crop, node.get("CropBox"))
		kids, _ := d.resolve(node.get("Kids")).(array)
		var next dict
		for _, k := range kids {
			kr, ok := k.(ref)
			kd, isDict := d.resolve(k).(dict)
			if !ok || !isDict {
				continue
			}
			if kd.get("Type") == name("Pages") || kd.get("Kids") != nil {
				count, _ := d.intValue(kd.get("Count"))
				if int64(n) > count {
					n -= int(count)
					continue
				}
				next = kd
				break
			}
			if n--; n == 0 {
				media, crop = inherit(media, kd.get("MediaBox")), inherit(crop, kd.get("CropBox"))
				b, err := d.visibleBox(media, crop)
				return kr, kd, b, err
			}
		}
		if next == nil {
			return ref{}, nil, box, fmt.Errorf("page %d: the document has fewer pages", want)
		}
		node = next
	}
	return ref{}, nil, box, errors.New("the page tree is too deep")
}

func inherit(parent, own object) object {
	if own != nil {
		return own
	}
	return parent
}

// visibleBox returns the normalised CropBox, or MediaBox when there is no usable CropBox.
func (d *document) visibleBox(media, crop object) ([4]float64, error) {
	var box [4]float64
	for _, o := range []object{crop, media} {
		v, ok := d.floats(o)
		if !ok || len(v) != 4 {
			continue
		}
		box = [4]float64{min(v[0], v[2]), min(v[1], v[3]), max(v[0], v[2]), max(v[1], v[3])}
		if box[2] > box[0] && box[3] > box[1] {
			return box, nil
		}
	}
	return box, errors.New("the page has no usable MediaBox")
}

// appendXRef writes the update's cross-reference section, of the same kind as the
// document's newest one, with its trailer.
func (u *update) appendXRef(out []byte) []byte {
	if u.doc.xrefStream {
		return u.appendXRefStream(out)
	}
	return u.appendXRefTable(out)
}

// sortedObjects returns the update's objects ordered by number.
func (u *update) sortedObjects() []writtenObject {
	objs := slices.Clone(u.objects)
	slices.SortFunc(objs, func(a, b writtenObject) int { return a.num - b.num })
	return objs
}

// runs groups sorted objects into subsections of consecutive numbers.
func runs(objs []writtenObject) [][]writtenObject {
	var out [][]writtenObject
	start := 0
	for i := 1; i <= len(objs); i++ {
		if i == len(objs) || objs[i].num != objs[i-1].num+1 {
			out = append(out, objs[start:i])
			start = i
		}
	}
	return out
}

func (u *update) appendXRefTable(out []byte) []byte {
	xrefAt := u.base + int64(len(out))
	u.xrefAt = xrefAt
	out = append(out, "xref\n"...)
	for _, run := range runs(u.sortedObjects()) {
		out = fmt.Appendf(out, "%d %d\n", run[0].num, len(run))
		for _, o := range run {
			out = fmt.Appendf(out, "%010d %05d n \n", o.off, o.gen)
		}
	}
	out = append(out, "trailer\n"...)
	out = writeObject(out, u.trailer(u.next))
	return fmt.Appendf(out, "\nstartxref\n%d\n%%%%EOF\n", xrefAt)
}

func (u *update) appendXRefStream(out []byte) []byte {
	num := u.alloc()
	xrefAt := u.base + int64(len(out))
	u.xrefAt = xrefAt
	u.objects = append(u.objects, writtenObject{num: num, off: xrefAt})
	objs := u.sortedObjects()
	offW := 4
	if xrefAt >= 1<<32 {
		offW = 8
	}
	var index array
	for _, run := range runs(objs) {
		index = append(index, number(strconv.Itoa(run[0].num)), number(strconv.Itoa(len(run))))
	}
	rows := make([]byte, 0, len(objs)*(3+offW))
	for _, o := range objs {
		rows = append(rows, 1)
		for i := offW - 1; i >= 0; i-- {
			rows = append(rows, byte(o.off>>(8*i)))
		}
		rows = append(rows, byte(o.gen>>8), byte(o.gen))
	}
	d := append(dict{
		{"Type", name("XRef")},
		{"W", array{number("1"), number(strconv.Itoa(offW)), number("2")}},
		{"Index", index},
		{"Length", number(strconv.Itoa(len(rows)))},
	}, u.trailer(u.next)...)
	out = fmt.Appendf(out, "%d 0 obj\n", num)
	out = writeObject(out, d)
	out = append(out, "\nstream\n"...)
	out = append(out, rows...)
	out = append(out, "\nendstream\nendobj\n"...)
	return fmt.Appendf(out, "startxref\n%d\n%%%%EOF\n", xrefAt)
}

// trailer returns the update's trailer entries: /Size, /Root, /Info, /ID and /Prev.
func (u *update) trailer(size int) dict {
	t := u.doc.trailer
	d := dict{{"Size", number(strconv.Itoa(size))}, {"Root", t.get("Root")}}
	if info, ok := t.get("Info").(ref); ok {
		d = append(d, entry{"Info", info})
	}
	d = append(d, entry{"ID", u.id()})
	return append(d, entry{"Prev", number(strconv.FormatInt(u.prev, 10))})
}

// id keeps the first element of the document's /ID and makes a new second one, derived from
// the first, the original length, the signing time and the field, as a new revision should.
func (u *update) id() array {
	var first []byte
	if ids, ok := u.doc.resolve(u.doc.trailer.get("ID")).(array); ok && len(ids) == 2 {
		if s, ok := u.doc.resolve(ids[0]).(*pdfString); ok {
			first = s.b
		}
	}
	h := sha256.New()
	h.Write(first)
	fmt.Fprintf(h, "\x00%d\x00%s\x00%s", u.base, pdfDate(u.req.Time), u.field)
	second := h.Sum(nil)[:16]
	if first == nil {
		first = second
	}
	return array{
		&pdfString{b: first, hex: true, start: -1, end: -1},
		&pdfString{b: second, hex: true, start: -1, end: -1},
	}
}
