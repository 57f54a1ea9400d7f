package pades

import (
	"bytes"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"sync"
)

// maxDecoded bounds what one xref or object stream may inflate to, and the raw data of a
// stream the reader loads.
const maxDecoded = 64 << 20

// The reader reads the file through a window: an object is parsed from firstWindow bytes at
// its offset, and the window doubles while the object does not fit, up to maxWindow.
const (
	firstWindow = 4 << 10
	maxWindow   = 64 << 20
)

// xrefEntry locates one object: in the file at off (kind 1), or as the idx-th object of
// object stream num (kind 2). Kind 0 is a free entry.
type xrefEntry struct {
	kind byte
	off  int64 // file offset (kind 1) or object stream number (kind 2)
	gen  int   // generation (kind 1) or index in the object stream (kind 2)
}

// document is a PDF read just far enough to look up objects: its merged cross-reference
// sections (the newest entry for each object wins) and its newest trailer. It reads the
// file at random through r and holds only the objects it parsed, never the whole file.
type document struct {
	r      io.ReaderAt
	length int64 // of the file
	last   byte  // the file's last byte
	buf    []byte

	xref      map[int]xrefEntry
	trailer   dict
	startxref int64
	// xrefStream reports whether the newest cross-reference section is a stream.
	xrefStream bool
	size       int
	cache      map[int]object
	objStms    map[int]*objStm
	// freed lists the objects the section being read marked free; a hybrid file's xref
	// stream may supply them.
	freed map[int]bool
}

// objStm is a decoded object stream: its content and each object's offset in it.
type objStm struct {
	content []byte
	offsets []int
}

// readDocument reads the cross-reference sections and trailer of the length bytes of r.
func readDocument(r io.ReaderAt, length int64) (*document, error) {
	d := &document{
		r:       r,
		length:  length,
		xref:    make(map[int]xrefEntry),
		cache:   make(map[int]object),
		objStms: make(map[int]*objStm),
	}
	if length <= 0 {
		return nil, errors.New("not a PDF file")
	}
	head, _, err := d.window(0, 1024)
	if err != nil {
		return nil, err
	}
	if !bytes.Contains(head, []byte("%PDF-")) {
		return nil, errors.New("not a PDF file")
	}
	start, err := d.findStartXRef()
	if err != nil {
		return nil, err
	}
	d.startxref = start
	if err := d.readSections(start); err != nil {
		return nil, err
	}
	if _, ok := d.trailer.get("Root").(ref); !ok {
		return nil, errors.New("trailer has no /Root")
	}
	d.size = d.maxObject() + 1
	if n, ok := d.trailer.get("Size").(number); ok {
		if v, ok := n.int(); ok && int(v) > d.size && v < 1<<24 {
			d.size = int(v)
		}
	}
	return d, nil
}

// window reads up to n bytes at off into the document's read buffer, which the next call
// reuses; eof reports that the bytes reach the end of the file. Parsed objects never keep
// a part of the buffer.
func (d *document) window(off int64, n int) (b []byte, eof bool, err error) {
	if off < 0 || off > d.length {
		return nil, false, fmt.Errorf("offset %d is outside the file", off)
	}
	if rest := d.length - off; int64(n) >= rest {
		n, eof = int(rest), true
	}
	if cap(d.buf) < n {
		d.buf = make([]byte, max(n, firstWindow))
	}
	b = d.buf[:n]
	if _, err := d.r.ReadAt(b, off); err != nil && !(errors.Is(err, io.EOF) && eof) {
		return nil, false, fmt.Errorf("read %d bytes at %d: %w", n, off, err)
	}
	return b, eof, nil
}

// readBytes reads n bytes at off into a new slice.
func (d *document) readBytes(off, n int64) ([]byte, error) {
	if off < 0 || n < 0 || off+n > d.length {
		return nil, fmt.Errorf("%d bytes at %d are outside the file", n, off)
	}
	if n > maxDecoded {
		return nil, fmt.Errorf("stream of %d bytes is too large", n)
	}
	b := make([]byte, n)
	if _, err := d.r.ReadAt(b, off); err != nil && !(errors.Is(err, io.EOF) && off+n == d.length) {
		return nil, fmt.Errorf("read %d bytes at %d: %w", n, off, err)
	}
	return b, nil
}

// parseAt parses what parse reads from the window at off, growing the window while parse
// runs into its end (short reports that) and the file goes on.
func (d *document) parseAt(off int64, parse func(l *lexer) error) error {
	for n := firstWindow; ; n *= 2 {
		b, eof, err := d.window(off, n)
		if err != nil {
			return err
		}
		l := &lexer{data: b, base: int(off)}
		err = parse(l)
		if eof || !l.short {
			return err
		}
		if n >= maxWindow {
			return fmt.Errorf("the object at offset %d is larger than %d bytes", off, maxWindow)
		}
	}
}

func (d *document) maxObject() int {
	m := 0
	for n := range d.xref {
		m = max(m, n)
	}
	return m
}

// findStartXRef returns the offset given after the last startxref keyword, and notes the
// file's last byte.
func (d *document) findStartXRef() (int64, error) {
	tail, err := d.readBytes(max(0, d.length-2048), min(d.length, 2048))
	if err != nil {
		return 0, err
	}
	d.last = tail[len(tail)-1]
	i := bytes.LastIndex(tail, []byte("startxref"))
	if i < 0 {
		return 0, errors.New("no startxref")
	}
	l := lexer{data: tail, pos: i + len("startxref")}
	l.skipSpace()
	off, ok := number(l.regular()).int()
	if !ok || off <= 0 || off >= d.length {
		return 0, errors.New("bad startxref offset")
	}
	return off, nil
}

// readSections reads the section at off and every section it points to with /Prev.
func (d *document) readSections(off int64) error {
	seen := make(map[int64]bool)
	first := true
	for off > 0 {
		if seen[off] || off >= d.length {
			return fmt.Errorf("bad cross-reference offset %d", off)
		}
		seen[off] = true
		d.freed = make(map[int]bool)
		isStream, trailer, err := d.readSection(off)
		if err != nil {
			return fmt.Errorf("cross-reference section at %d: %w", off, err)
		}
		if first {
			d.trailer, d.xrefStream, first = trailer, isStream, false
		}
		// A hybrid file's table points to a stream holding the compressed objects.
		if stm, ok := trailer.get("XRefStm").(number); ok && !isStream {
			if v, ok := stm.int(); ok && !seen[v] {
				seen[v] = true
				if _, _, err := d.readSection(v); err != nil {
					return fmt.Errorf("cross-reference stream at %d: %w", v, err)
				}
			}
		}
		off = 0
		if prev, ok := trailer.get("Prev").(number); ok {
			off, _ = prev.int()
		}
	}
	return nil
}

// readSection reads one classic table with its trailer, or one xref stream.
func (d *document) readSection(off int64) (isStream bool, trailer dict, err error) {
	if off <= 0 || off >= d.length { // /XRefStm is not checked by readSections
		return false, nil, fmt.Errorf("offset %d is outside the file", off)
	}
	var table bool
	err = d.parseAt(off, func(l *lexer) error {
		l.skipSpace()
		if l.pos+4 > len(l.data) {
			l.short = true
			return errSyntax
		}
		if table = bytes.HasPrefix(l.data[l.pos:], []byte("xref")); !table {
			return nil
		}
		l.pos += 4
		var entries []tableEntry
		trailer, entries, err = readTable(l)
		if err != nil {
			return err
		}
		d.addTable(entries)
		return nil
	})
	if table || err != nil {
		return false, trailer, err
	}
	o, _, err := d.parseIndirect(off)
	if err != nil {
		return true, nil, err
	}
	s, ok := o.(*stream)
	if !ok || s.dict.get("Type") != name("XRef") {
		return true, nil, errors.New("neither a table nor an xref stream")
	}
	return true, s.dict, d.readXRefStream(s)
}

// tableEntry is one entry of a classic cross-reference table.
type tableEntry struct {
	num  int
	off  int64
	gen  int
	free bool
}

// readTable reads the subsections of a classic table and its trailer.
func readTable(l *lexer) (dict, []tableEntry, error) {
	var entries []tableEntry
	for {
		kw := l.keyword()
		if kw == "trailer" {
			t, err := l.object(0)
			if err != nil {
				return nil, nil, err
			}
			td, ok := t.(dict)
			if !ok {
				return nil, nil, errors.New("trailer is not a dictionary")
			}
			return td, entries, nil
		}
		first, ok1 := number(kw).int()
		count, ok2 := number(l.keyword()).int()
		if !ok1 || !ok2 || first < 0 || count < 0 || count > 1<<24 {
			l.atEnd()
			return nil, nil, fmt.Errorf("bad subsection header at %d", l.base+l.pos)
		}
		for i := range count {
			off, ok1 := number(l.keyword()).int()
			gen, ok2 := number(l.keyword()).int()
			kind := l.keyword()
			if !ok1 || !ok2 || (kind != "n" && kind != "f") {
				l.atEnd()
				return nil, nil, fmt.Errorf("bad entry at %d", l.base+l.pos)
			}
			entries = append(entries, tableEntry{num: int(first + i), off: off, gen: int(gen), free: kind == "f"})
		}
	}
}

// addTable merges a table's entries; entries of newer sections, read first, win.
func (d *document) addTable(entries []tableEntry) {
	for _, e := range entries {
		if _, done := d.xref[e.num]; done {
			continue
		}
		if e.free {
			d.xref[e.num] = xrefEntry{}
			d.freed[e.num] = true
		} else {
			d.xref[e.num] = xrefEntry{kind: 1, off: e.off, gen: e.gen}
		}
	}
}

func (d *document) readXRefStream(s *stream) error {
	content, err := d.decode(s)
	if err != nil {
		return err
	}
	w, ok := s.dict.get("W").(array)
	if !ok || len(w) != 3 {
		return errors.New("bad /W")
	}
	var widths [3]int
	for i, o := range w {
		n, _ := o.(number)
		v, ok := n.int()
		if !ok || v < 0 || v > 8 {
			return errors.New("bad /W")
		}
		widths[i] = int(v)
	}
	index := []int64{0, 0}
	if n, ok := s.dict.get("Size").(number); ok {
		index[1], _ = n.int()
	}
	if a, ok := s.dict.get("Index").(array); ok {
		index = index[:0]
		for _, o := range a {
			n, _ := o.(number)
			v, _ := n.int()
			index = append(index, v)
		}
	}
	row := widths[0] + widths[1] + widths[2]
	p := 0
	for i := 0; i+1 < len(index); i += 2 {
		for j := range index[i+1] {
			if p+row > len(content) {
				return errors.New("xref stream too short")
			}
			f := [3]int64{1, 0, 0}
			for k, wk := range widths {
				if wk == 0 {
					continue
				}
				var v int64
				for _, c := range content[p : p+wk] {
					v = v<<8 | int64(c)
				}
				f[k] = v
				p += wk
			}
			n := int(index[i] + j)
			if _, done := d.xref[n]; (done && !d.freed[n]) || f[0] > 2 {
				continue
			}
			delete(d.freed, n)
			d.xref[n] = xrefEntry{kind: byte(f[0]), off: f[1], gen: int(f[2])}
		}
	}
	return nil
}

// parseIndirect parses the indirect object "n g obj ... endobj" at off. It returns the
// object number with the object. A stream's data is not read here but by streamData.
func (d *document) parseIndirect(off int64) (object, int, error) {
	if off < 0 || off >= d.length {
		return nil, 0, fmt.Errorf("no object at offset %d", off)
	}
	var o object
	var num int64
	err := d.parseAt(off, func(l *lexer) error {
		var ok1, ok2 bool
		num, ok1 = number(l.keyword()).int()
		_, ok2 = number(l.keyword()).int()
		if !ok1 || !ok2 || l.keyword() != "obj" {
			return fmt.Errorf("no object at offset %d", off)
		}
		var err error
		if o, err = l.object(0); err != nil {
			return err
		}
		dd, ok := o.(dict)
		if !ok {
			l.keyword() // endobj: a token cut by the window's end is noticed
			return nil
		}
		save := l.pos
		if l.keyword() != "stream" {
			l.pos = save
			return nil
		}
		// The keyword stream is followed by CRLF or LF.
		if l.pos < len(l.data) && l.data[l.pos] == '\r' {
			l.pos++
		}
		if l.pos < len(l.data) && l.data[l.pos] == '\n' {
			l.pos++
		}
		l.atEnd()
		o = &stream{dict: dd, at: int64(l.base + l.pos), num: int(num)}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return o, int(num), nil
}

// streamData returns the raw data of stream s read from the file, trusting /Length when
// endstream follows it and searching for endstream otherwise.
func (d *document) streamData(s *stream) ([]byte, error) {
	if s.at < 0 {
		return s.data, nil
	}
	start := s.at
	length := int64(-1)
	switch v := s.dict.get("Length").(type) {
	case number:
		length, _ = v.int()
	case ref:
		if n, ok := d.resolve(v).(number); ok {
			length, _ = n.int()
		}
	}
	if length >= 0 && length <= d.length-start {
		b, _, err := d.window(start+length, 64)
		if err != nil {
			return nil, err
		}
		if l := (&lexer{data: b}); l.keyword() == "endstream" {
			return d.readBytes(start, length)
		}
	}
	end, err := d.find(start, []byte("endstream"))
	if err != nil {
		return nil, err
	}
	if end < 0 {
		return nil, fmt.Errorf("object %d: stream without endstream", s.num)
	}
	eol, _, err := d.window(max(start, end-2), int(min(2, end-start)))
	if err != nil {
		return nil, err
	}
	if n := len(eol); n > 0 && eol[n-1] == '\n' {
		end, eol = end-1, eol[:n-1]
	}
	if n := len(eol); n > 0 && eol[n-1] == '\r' {
		end--
	}
	return d.readBytes(start, end-start)
}

// find returns the offset of the first occurrence of sep at or after off, or -1. It reads
// the file in windows, at most maxDecoded bytes from off.
func (d *document) find(off int64, sep []byte) (int64, error) {
	const chunk = 64 << 10
	for at := off; at < d.length && at-off < maxDecoded; at += chunk - int64(len(sep)) {
		b, eof, err := d.window(at, chunk)
		if err != nil {
			return -1, err
		}
		if i := bytes.Index(b, sep); i >= 0 {
			return at + int64(i), nil
		}
		if eof {
			break
		}
	}
	return -1, nil
}

// resolve returns the object o refers to, or o itself when it is not a reference. A missing
// or unreadable object resolves to null, as the PDF standard prescribes.
func (d *document) resolve(o object) object {
	r, ok := o.(ref)
	if !ok {
		return o
	}
	obj, _ := d.object(r.num)
	return obj
}

// object loads object num.
func (d *document) object(num int) (object, error) {
	if o, ok := d.cache[num]; ok {
		return o, nil
	}
	d.cache[num] = nil // guards against reference cycles through /Length
	e, ok := d.xref[num]
	var o object
	var err error
	switch {
	case !ok || e.kind == 0:
		return nil, nil
	case e.kind == 1:
		if e.off <= 0 || e.off >= d.length {
			return nil, fmt.Errorf("object %d: bad offset %d", num, e.off)
		}
		var got int
		o, got, err = d.parseIndirect(e.off)
		if err == nil && got != num {
			err = fmt.Errorf("object %d: offset %d holds object %d", num, e.off, got)
		}
	case e.kind == 2:
		o, err = d.compressed(int(e.off), e.gen)
	}
	if err != nil {
		return nil, err
	}
	d.cache[num] = o
	return o, nil
}

// compressed returns the idx-th object of object stream num.
func (d *document) compressed(num, idx int) (object, error) {
	os, ok := d.objStms[num]
	if !ok {
		var err error
		if os, err = d.loadObjStm(num); err != nil {
			return nil, fmt.Errorf("object stream %d: %w", num, err)
		}
		d.objStms[num] = os
	}
	if idx < 0 || idx >= len(os.offsets) {
		return nil, fmt.Errorf("object stream %d has no object %d", num, idx)
	}
	l := &lexer{data: os.content, pos: os.offsets[idx], base: -1 << 40}
	return l.object(0)
}

func (d *document) loadObjStm(num int) (*objStm, error) {
	e := d.xref[num]
	if e.kind != 1 {
		return nil, errors.New("not an uncompressed object")
	}
	o, _, err := d.parseIndirect(e.off)
	if err != nil {
		return nil, err
	}
	s, ok := o.(*stream)
	if !ok {
		return nil, errors.New("not a stream")
	}
	content, err := d.decode(s)
	if err != nil {
		return nil, err
	}
	n, _ := s.dict.get("N").(number)
	count, _ := n.int()
	f, _ := s.dict.get("First").(number)
	first, _ := f.int()
	if count < 0 || count > 1<<20 || first < 0 || first > int64(len(content)) {
		return nil, errors.New("bad /N or /First")
	}
	l := &lexer{data: content[:first]}
	os := &objStm{content: content, offsets: make([]int, count)}
	for i := range os.offsets {
		l.keyword()
		off, ok := number(l.keyword()).int()
		if !ok || first+off > int64(len(content)) {
			return nil, errors.New("bad object offset table")
		}
		os.offsets[i] = int(first + off)
	}
	return os, nil
}

// decode returns the decoded data of an xref or object stream: unfiltered or FlateDecode,
// with an optional PNG predictor.
func (d *document) decode(s *stream) ([]byte, error) {
	f := d.resolve(s.dict.get("Filter"))
	if a, ok := f.(array); ok && len(a) == 1 {
		f = a[0]
	}
	parms, _ := d.resolve(s.dict.get("DecodeParms")).(dict)
	if a, ok := d.resolve(s.dict.get("DecodeParms")).(array); ok && len(a) == 1 {
		parms, _ = d.resolve(a[0]).(dict)
	}
	if f != nil && f != name("FlateDecode") {
		return nil, fmt.Errorf("unsupported filter %v", f)
	}
	raw, err := d.streamData(s)
	if err != nil {
		return nil, err
	}
	if f == nil {
		return raw, nil
	}
	zr, err := inflater(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	out, err := io.ReadAll(io.LimitReader(zr, maxDecoded))
	inflaters.Put(zr)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, err
	}
	return unpredict(out, parms)
}

// inflaters keeps zlib readers for reuse (each holds a 32 KB window and its tables): a
// signature reads the document's cross-reference streams, and again after its update.
var inflaters sync.Pool

// inflater returns a zlib reader of r, reused from inflaters when one is there; the caller
// puts it back when done.
func inflater(r io.Reader) (io.ReadCloser, error) {
	if zr, ok := inflaters.Get().(io.ReadCloser); ok {
		if err := zr.(zlib.Resetter).Reset(r, nil); err != nil {
			inflaters.Put(zr)
			return nil, err
		}
		return zr, nil
	}
	return zlib.NewReader(r)
}

// unpredict reverses a PNG predictor (Predictor >= 10) row by row.
func unpredict(data []byte, parms dict) ([]byte, error) {
	intParm := func(key string, def int64) int64 {
		if n, ok := parms.get(key).(number); ok {
			if v, ok := n.int(); ok {
				return v
			}
		}
		return def
	}
	pred := intParm("Predictor", 1)
	if pred == 1 {
		return data, nil
	}
	if pred < 10 {
		return nil, fmt.Errorf("unsupported predictor %d", pred)
	}
	bpp := int((intParm("Colors", 1)*intParm("BitsPerComponent", 8) + 7) / 8)
	cols := int((intParm("Columns", 1)*intParm("Colors", 1)*intParm("BitsPerComponent", 8) + 7) / 8)
	if cols <= 0 || bpp <= 0 {
		return nil, errors.New("bad predictor parameters")
	}
	out := make([]byte, 0, len(data)/(cols+1)*cols)
	prev := make([]byte, cols)
	for p := 0; p+cols+1 <= len(data); p += cols + 1 {
		typ, row := data[p], data[p+1:p+1+cols]
		cur := make([]byte, cols)
		for i := range row {
			var left, upLeft byte
			if i >= bpp {
				left, upLeft = cur[i-bpp], prev[i-bpp]
			}
			up := prev[i]
			switch typ {
			case 0:
				cur[i] = row[i]
			case 1:
				cur[i] = row[i] + left
			case 2:
				cur[i] = row[i] + up
			case 3:
				cur[i] = row[i] + byte((int(left)+int(up))/2)
			case 4:
				cur[i] = row[i] + paeth(left, up, upLeft)
			default:
				return nil, fmt.Errorf("bad PNG predictor row type %d", typ)
			}
		}
		out = append(out, cur...)
		prev = cur
	}
	return out, nil
}

func paeth(a, b, c byte) byte {
	p := int(a) + int(b) - int(c)
	pa, pb, pc := abs(p-int(a)), abs(p-int(b)), abs(p-int(c))
	switch {
	case pa <= pb && pa <= pc:
		return a
	case pb <= pc:
		return b
	}
	return c
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// intValue resolves o to an integer.
func (d *document) intValue(o object) (int64, bool) {
	n, ok := d.resolve(o).(number)
	if !ok {
		return 0, false
	}
	return n.int()
}

// floats resolves o to an array of numbers.
func (d *document) floats(o object) ([]float64, bool) {
	a, ok := d.resolve(o).(array)
	if !ok {
		return nil, false
	}
	out := make([]float64, len(a))
	for i, e := range a {
		n, ok := d.resolve(e).(number)
		if !ok {
			return nil, false
		}
		if out[i], ok = n.float(); !ok {
			return nil, false
		}
	}
	return out, true
}
