package pades

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"slices"
	"strconv"
	"time"
)

// Placement is where the stamp goes, in PDF points. Page is 1-based. X, Y is the lower-left
// corner of the stamp box measured from the lower-left corner of the page's visible area
// (its CropBox, or MediaBox when it has none), so a box whose origin is not at 0 0 is
// honoured. Width and Height are the box size.
//
// Coordinates are in the page's unrotated user space: on a page with /Rotate 90, 180 or 270
// the box is placed as if the page were not rotated, and the seal turns with the page
// content when it is displayed.
type Placement struct {
	Page                int
	X, Y, Width, Height float64
}

// Request is what Sign needs to apply one seal.
type Request struct {
	// Signer is the seal's private key: ECDSA (P-256 and other NIST curves) or RSA.
	Signer crypto.Signer
	// Chain is the signer certificate first, then its issuers; a root may be included.
	Chain []*x509.Certificate
	// Image is the seal image, a PNG, usually with an alpha channel. Nil with a nil Stamp
	// makes an invisible signature.
	Image []byte
	// Stamp is Image prepared with NewStamp; when set, Image is not used.
	Stamp *Stamp
	// Place is where the stamp goes. An invisible signature is attached to Place.Page.
	Place Placement
	// Name, Reason and Location are stored in the signature dictionary, as UTF-16 when
	// they are not plain ASCII.
	Name, Reason, Location string
	// Time is the claimed signing time, stored as /M with its zone; it is required.
	Time time.Time
	// Field is the signature field's name; empty means "Seal-<n>", unique in the document.
	Field string
	// Timestamp, when set, timestamps the signature value: the signature is PAdES B-T, and
	// signing fails with a *TimestampError when it gives no token. Nil signs B-B.
	Timestamp Timestamper
	// DSS, when set, is validation data added after the signature as a second incremental
	// update: a Document Security Store holding its certificates and CRLs, with a VRI entry
	// for the new signature. With a timestamp it makes the signature PAdES B-LT.
	DSS *ValidationData
	// ArchiveTimestamp, with Timestamp and DSS, ends the output with a document timestamp
	// (/SubFilter /ETSI.RFC3161) over the whole file after the validation data, from the
	// same timestamper: the signature is PAdES B-LTA.
	ArchiveTimestamp bool

	// ESeal, when set, applies a seal of the national algorithms: the signature is a PDF
	// electronic seal (SubFilterSES) whose /Contents is a GB/T 38540 SES_Signature over the
	// SM3 digest of the byte ranges, timestamped by Timestamp when set; Signer and Chain are
	// not used.
	ESeal *ElectronicSeal

	// DocumentSHA256, when set, is the SHA-256 state after exactly the bytes of the
	// document SignTo is given, as a caller that has just hashed them (verifying them, say)
	// holds it: SignTo then copies the document without hashing it again for the CMS
	// signature and the document timestamp, which are over SHA-256, resuming from a clone of
	// the state instead. It must be over the very bytes the reader holds, or the signature
	// does not verify. Sign does not use it.
	DocumentSHA256 hash.Hash

	// docTimestamp makes the update's signature a document timestamp.
	docTimestamp bool
}

// Signed is what SignTo wrote.
type Signed struct {
	// Size is the number of bytes written.
	Size int64
	// SignatureDigest is the SHA-256 of the new signature's /Contents value as the file
	// holds it (the CMS with its zero padding). It identifies the signature in this file and
	// in every later revision of it, whatever is appended.
	SignatureDigest [32]byte
	// ArchiveTimestamp is the document timestamp token (DER) ending the output, when one
	// was asked for.
	ArchiveTimestamp []byte
}

// DocumentError reports a document Sign cannot sign because of what the document is, or
// where the stamp was asked to go: an unreadable cross-reference or trailer, encryption, a
// broken page tree, a page that is not there or a stamp box outside its page. It is a
// defect of the input, not of the signer; Check finds the document's defects before a
// document is accepted for sealing.
type DocumentError struct{ Err error }

func (e *DocumentError) Error() string { return e.Err.Error() }
func (e *DocumentError) Unwrap() error { return e.Err }

var errEncrypted = errors.New("encrypted documents are not supported")

// contentsMargin is spare room in /Contents beyond the computed CMS size, in bytes.
const contentsMargin = 256

// Sign returns pdf with an incremental update appended that adds the stamp, a signature
// field and a PAdES baseline B-B signature; it is SignTo for a document in memory.
func Sign(pdf []byte, req Request) ([]byte, error) {
	p, err := prepare(bytes.NewReader(pdf), int64(len(pdf)), req)
	if err != nil {
		return nil, err
	}
	h, ah, all := p.hashes()
	for _, h := range all {
		h.Write(pdf)
	}
	if err := p.finish(context.Background(), h, ah, bytes.NewReader(pdf), int64(len(pdf))); err != nil {
		return nil, err
	}
	// Growing a full-capacity slice copies the original without first zeroing the copy.
	out := slices.Grow(pdf[:len(pdf):len(pdf)], len(p.tail)+len(p.dss)+len(p.archive))
	return append(append(append(out, p.tail...), p.dss...), p.archive...), nil
}

// SignTo writes to w the document of size bytes that r holds, followed by an incremental
// update that adds the stamp, a signature field and a PAdES baseline B-B signature
// (/SubFilter /ETSI.CAdES.detached) over the whole result, then, when req.DSS is set, a
// second update adding the validation data, and returns what it wrote. The document is copied through byte for byte as the prefix, so earlier
// signatures stay valid. The update's cross-reference section is of the same kind as the
// document's newest one. Encrypted documents are not supported. What is wrong with the
// document or the placement is a *DocumentError, returned before anything is written.
//
// SignTo holds neither the document nor the output in memory: it reads from r only the
// objects it needs (the cross-reference sections, the catalog, the page tree down to the
// stamped page, the form), and hashes the document while it copies it to w, then the update
// with the /Contents gap left out, and writes the update once it is signed. r must hold the
// same bytes throughout. When SignTo fails after writing began, w has a truncated
// document: a caller storing the output must discard it (an io.Pipe closed with the error
// does).
func SignTo(ctx context.Context, w io.Writer, r io.ReaderAt, size int64, req Request) (Signed, error) {
	p, err := prepare(r, size, req)
	if err != nil {
		return Signed{}, err
	}
	h, ah, all := p.hashes()
	if pre := req.DocumentSHA256; pre != nil {
		if h, ah, all, err = p.resume(pre, h, ah); err != nil {
			return Signed{}, fmt.Errorf("pades: sign: %w", err)
		}
	}
	n, err := copyHashed(ctx, w, r, size, all...)
	if err != nil {
		return Signed{Size: n}, fmt.Errorf("pades: sign: copy: %w", err)
	}
	if err := p.finish(ctx, h, ah, r, size); err != nil {
		return Signed{Size: n}, err
	}
	if n, err = writeUpdates(w, n, p.tail, p.dss, p.archive); err != nil {
		return Signed{Size: n}, fmt.Errorf("pades: sign: write: %w", err)
	}
	return Signed{Size: n, SignatureDigest: p.u.signatureDigest(p.tail), ArchiveTimestamp: p.token}, nil
}

// copyHashed copies the document of size bytes that r holds to w and into each of hs,
// returning the bytes written; it stops when ctx is done.
//
// A document held in memory (a *bytes.Reader of that size, as vault.Fetch hands out one of
// up to 8 MB) is written from its own bytes, chunk by chunk, rather than copied through a
// buffer first; a reader of any other kind (a spooled file) is copied through io.Copy's.
func copyHashed(ctx context.Context, w io.Writer, r io.ReaderAt, size int64, hs ...hash.Hash) (int64, error) {
	ws := []io.Writer{w}
	for _, h := range hs {
		ws = append(ws, h)
	}
	mw := io.MultiWriter(ws...)
	var n int64
	var err error
	if br, ok := r.(*bytes.Reader); ok && br.Size() == size {
		whole := *br // a reader of the same bytes from the start; the caller's keeps its offset
		if _, err = whole.Seek(0, io.SeekStart); err == nil {
			n, err = whole.WriteTo(&ctxChunks{ctx: ctx, w: mw})
		}
	} else {
		n, err = io.Copy(mw, &ctxReader{ctx: ctx, r: io.NewSectionReader(r, 0, size)})
	}
	if err == nil && n != size {
		err = fmt.Errorf("the document ended after %d of %d bytes", n, size)
	}
	return n, err
}

// writeUpdates writes the updates after the n bytes already written, returning the total.
func writeUpdates(w io.Writer, n int64, updates ...[]byte) (int64, error) {
	for _, b := range updates {
		m, err := w.Write(b)
		n += int64(m)
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// prepared is a signature planned for a document: the update with its byte range set and
// /Contents still empty.
type prepared struct {
	u      *update
	tail   []byte
	signer contentsSigner
	dss    []byte // the update adding validation data, once signed
	vd     *ValidationData
	// archive is the update adding the document timestamp, and token its token.
	archive []byte
	token   []byte
	req     Request
}

// prepare reads the document and plans and writes its update, all but the signature.
func prepare(r io.ReaderAt, size int64, req Request) (*prepared, error) {
	if err := req.check(); err != nil {
		return nil, fmt.Errorf("pades: sign: %w", err)
	}
	stamp := req.Stamp
	if stamp == nil && req.Image != nil {
		var err error
		if stamp, err = NewStamp(req.Image); err != nil {
			return nil, err
		}
	}
	doc, err := readDocument(r, size)
	if err != nil {
		return nil, fmt.Errorf("pades: sign: %w", &DocumentError{Err: fmt.Errorf("read: %w", err)})
	}
	if doc.trailer.get("Encrypt") != nil {
		return nil, fmt.Errorf("pades: sign: %w", &DocumentError{Err: errEncrypted})
	}
	var signer contentsSigner = cmsSigner{key: req.Signer, chain: req.Chain, ts: req.Timestamp}
	if req.ESeal != nil {
		signer = sesSigner{es: req.ESeal, req: &req}
	}
	cmsLen, err := signer.size()
	if err != nil {
		return nil, fmt.Errorf("pades: sign: %w", err)
	}
	u, err := planUpdate(doc, &req, stamp, cmsLen+contentsMargin)
	if err != nil {
		return nil, fmt.Errorf("pades: sign: %w", &DocumentError{Err: err})
	}
	tail := u.write()
	if err := u.setByteRange(tail); err != nil {
		return nil, fmt.Errorf("pades: sign: %w", err)
	}
	return &prepared{u: u, tail: tail, signer: signer, vd: req.DSS, req: req}, nil
}

// hashes returns the digest the signature is over and, when the signature's is not SHA-256
// and an archive timestamp is asked for, a SHA-256 for it; all is every hash the original
// document must be written to.
func (p *prepared) hashes() (h, archive hash.Hash, all []hash.Hash) {
	h = p.signer.newHash()
	all = []hash.Hash{h}
	if _, isCMS := p.signer.(cmsSigner); p.req.ArchiveTimestamp && !isCMS {
		archive = sha256.New()
		all = append(all, archive)
	}
	return h, archive, all
}

// resume replaces the SHA-256 among the hashes the document is written to (h for a CMS
// signature, else the archive timestamp's ah) with a clone of pre, the SHA-256 state after
// the document, and returns the hashes still to write it to.
func (p *prepared) resume(pre, h, ah hash.Hash) (hash.Hash, hash.Hash, []hash.Hash, error) {
	c, ok := pre.(hash.Cloner)
	if !ok {
		return nil, nil, nil, errors.New("the document's SHA-256 state cannot be cloned")
	}
	clone, err := c.Clone()
	if err != nil {
		return nil, nil, nil, err
	}
	if _, isCMS := p.signer.(cmsSigner); isCMS {
		return clone, nil, nil, nil
	}
	if ah != nil {
		return h, clone, []hash.Hash{h}, nil
	}
	return h, ah, []hash.Hash{h}, nil
}

// finish signs, and writes the validation data's update and the document timestamp's when
// asked: h holds the hash of the original document, whose size bytes r holds, and ah, when
// not nil, its SHA-256 for the document timestamp (else h is SHA-256 and serves).
func (p *prepared) finish(ctx context.Context, h, ah hash.Hash, r io.ReaderAt, size int64) error {
	afterOriginal := ah
	if p.req.ArchiveTimestamp && ah == nil {
		c, err := h.(hash.Cloner).Clone()
		if err != nil {
			return fmt.Errorf("pades: sign: %w", err)
		}
		afterOriginal = c
	}
	if err := p.u.fillSignature(ctx, p.tail, h, p.signer); err != nil {
		return fmt.Errorf("pades: sign: %w", err)
	}
	if p.vd != nil {
		var err error
		if p.dss, err = p.u.dssUpdate(p.tail, p.vd); err != nil {
			return fmt.Errorf("pades: sign: validation data: %w", err)
		}
	}
	if p.req.ArchiveTimestamp {
		afterOriginal.Write(p.tail)
		afterOriginal.Write(p.dss)
		var err error
		p.archive, p.token, err = documentTimestamp(ctx, concatReader(r, size, p.tail, p.dss), afterOriginal, p.req.Timestamp, p.req.Time)
		if err != nil {
			return fmt.Errorf("pades: sign: %w", err)
		}
	}
	return nil
}

// ctxChunks passes what is written to w in chunks of copyChunk bytes, and stops when its
// context is done, as ctxReader does for a copy.
type ctxChunks struct {
	ctx context.Context
	w   io.Writer
}

// copyChunk is the most ctxChunks writes at once: io.Copy's buffer size, so that w sees
// the same writes whichever way the document is copied.
const copyChunk = 32 << 10

func (c *ctxChunks) Write(p []byte) (int, error) {
	var n int
	for len(p) > 0 {
		if err := c.ctx.Err(); err != nil {
			return n, err
		}
		m, err := c.w.Write(p[:min(len(p), copyChunk)])
		n += m
		if err != nil {
			return n, err
		}
		p = p[m:]
	}
	return n, nil
}

// ctxReader stops a copy when its context is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// check rejects requests that cannot produce a valid signature.
func (r *Request) check() error {
	if r.ESeal != nil {
		if err := r.ESeal.check(); err != nil {
			return err
		}
	} else if err := r.checkSigner(); err != nil {
		return err
	}
	if r.Time.IsZero() {
		return errors.New("a signing time is required")
	}
	if r.ArchiveTimestamp && (r.Timestamp == nil || r.DSS == nil) {
		return errors.New("an archive timestamp needs a timestamper and validation data")
	}
	if r.Place.Page < 1 {
		return fmt.Errorf("page %d: pages are numbered from 1", r.Place.Page)
	}
	if r.Image != nil || r.Stamp != nil {
		p := r.Place
		if !(p.Width > 0 && p.Height > 0) || p.X != p.X || p.Y != p.Y {
			return fmt.Errorf("stamp box %gx%g at %g,%g is empty", p.Width, p.Height, p.X, p.Y)
		}
	}
	return nil
}

// checkSigner rejects a CMS signer that cannot produce a valid signature.
func (r *Request) checkSigner() error {
	if r.Signer == nil || len(r.Chain) == 0 || r.Chain[0] == nil {
		return errors.New("a signer and its certificate are required")
	}
	pub, ok := r.Chain[0].PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(r.Signer.Public()) {
		return errors.New("the first certificate of the chain is not the signer's")
	}
	if _, err := maxSignatureLen(r.Chain[0].PublicKey); err != nil {
		return err
	}
	for _, c := range r.Chain {
		if c == nil {
			return errors.New("nil certificate in the chain")
		}
	}
	return nil
}

// update is the incremental update being built: new objects and new versions of the page,
// catalog and AcroForm, to follow the original.
type update struct {
	doc     *document
	req     *Request
	stamp   *Stamp
	field   string
	next    int // next free object number
	objects []writtenObject

	contentsLen int // bytes reserved for the CMS

	// base is the update's offset in the output: the original's length, or for the update
	// adding validation data, the signed revision's. prev is the offset of the previous
	// cross-reference section, and catalog the newest catalog before the update.
	base    int64
	prev    int64
	catalog dict
	// Positions in the update, known after write.
	byteRangeAt, contentsAt, contentsEnd int
	xrefAt                               int64
}

type writtenObject struct {
	num, gen int
	off      int64
	// Exactly one of these is set before writing: a dictionary or array, a stream, or
	// sig for the signature dictionary.
	value  object
	stream *stream
	sig    bool
}

// planUpdate decides every object of the update without writing any bytes.
func planUpdate(doc *document, req *Request, stamp *Stamp, contentsLen int) (*update, error) {
	u := &update{doc: doc, req: req, stamp: stamp, next: doc.size, contentsLen: contentsLen, base: doc.length, prev: doc.startxref}
	catRef := doc.trailer.get("Root").(ref)
	catalog, ok := doc.resolve(catRef).(dict)
	if !ok {
		return nil, errors.New("the document catalog is missing")
	}
	u.catalog = catalog
	pageRef, page, box, err := doc.findPage(catalog, req.Place.Page)
	if err != nil {
		return nil, err
	}
	rect, err := stampRect(req, stamp, box)
	if err != nil {
		return nil, err
	}
	if u.field, err = u.fieldName(catalog); err != nil {
		return nil, err
	}

	sigNum := u.alloc()
	widgetNum := u.alloc()
	widget := dict{
		{"Type", name("Annot")},
		{"Subtype", name("Widget")},
		{"FT", name("Sig")},
		{"T", textString(u.field)},
		{"V", ref{sigNum, 0}},
		{"F", number("4")},
		{"Rect", rect},
		{"P", pageRef},
	}
	if stamp != nil {
		widget = append(widget, entry{"AP", dict{{"N", u.addAppearance()}}})
	}
	u.objects = append(u.objects,
		writtenObject{num: sigNum, sig: true},
		writtenObject{num: widgetNum, value: widget})
	widgetRef := ref{widgetNum, 0}
	u.addToPage(pageRef, page, widgetRef)
	u.addToAcroForm(catRef, catalog, widgetRef)
	return u, nil
}

func (u *update) alloc() int {
	u.next++
	return u.next - 1
}

// addAppearance adds the stamp's image, soft mask and appearance form XObject.
func (u *update) addAppearance() ref {
	var smask object
	if u.stamp.alpha != nil {
		n := u.alloc()
		u.objects = append(u.objects, writtenObject{num: n, stream: &stream{dict: u.stamp.maskDict(), data: u.stamp.alpha, at: -1}})
		smask = ref{n, 0}
	}
	img := u.alloc()
	u.objects = append(u.objects, writtenObject{num: img, stream: &stream{dict: u.stamp.imageDict(smask), data: u.stamp.rgb, at: -1}})
	xobjects := dict{{"Seal", ref{img, 0}}}
	for i, o := range u.stamp.overlays {
		n := u.alloc()
		u.objects = append(u.objects, writtenObject{num: n, stream: &stream{dict: o.img.imageDict(nil), data: o.img.rgb, at: -1}})
		xobjects = append(xobjects, entry{"O" + strconv.Itoa(i+1), ref{n, 0}})
	}
	w, h := u.req.Place.Width, u.req.Place.Height
	content := u.stamp.appearance(w, h)
	form := u.alloc()
	u.objects = append(u.objects, writtenObject{num: form, stream: &stream{dict: dict{
		{"Type", name("XObject")},
		{"Subtype", name("Form")},
		{"BBox", array{number("0"), number("0"), realNum(w), realNum(h)}},
		{"Resources", dict{{"XObject", xobjects}}},
		{"Length", number(strconv.Itoa(len(content)))},
	}, data: content, at: -1}})
	return ref{form, 0}
}

// addToPage appends the widget to the page's /Annots: a new version of the annotation array
// when the page refers to one, otherwise a new version of the page.
func (u *update) addToPage(pageRef ref, page dict, widget ref) {
	if r, ok := page.get("Annots").(ref); ok {
		if annots, ok := u.doc.resolve(r).(array); ok {
			u.objects = append(u.objects, writtenObject{num: r.num, gen: r.gen, value: append(annots[:len(annots):len(annots)], widget)})
			return
		}
	}
	annots, _ := page.get("Annots").(array)
	annots = append(annots[:len(annots):len(annots)], widget)
	u.objects = append(u.objects, writtenObject{num: pageRef.num, gen: pageRef.gen, value: page.with("Annots", annots)})
}

// addToAcroForm adds the field to the AcroForm's /Fields and sets /SigFlags 3 (signatures
// exist, append only): a new version of the AcroForm object when the catalog refers to one,
// otherwise a new version of the catalog.
func (u *update) addToAcroForm(catRef ref, catalog dict, field ref) {
	withField := func(form dict) dict {
		fields, _ := u.doc.resolve(form.get("Fields")).(array)
		fields = append(fields[:len(fields):len(fields)], field)
		return form.with("Fields", fields).with("SigFlags", number("3"))
	}
	switch af := catalog.get("AcroForm").(type) {
	case ref:
		if form, ok := u.doc.resolve(af).(dict); ok {
			u.objects = append(u.objects, writtenObject{num: af.num, gen: af.gen, value: withField(form)})
			return
		}
	case dict:
		u.objects = append(u.objects, writtenObject{num: catRef.num, gen: catRef.gen, value: catalog.with("AcroForm", withField(af))})
		return
	}
	n := u.alloc()
	u.objects = append(u.objects,
		writtenObject{num: n, value: withField(nil)},
		writtenObject{num: catRef.num, gen: catRef.gen, value: catalog.with("AcroForm", ref{n, 0})})
}

// newestCatalog is the catalog as the update leaves it.
func (u *update) newestCatalog() dict {
	catRef := u.doc.trailer.get("Root").(ref)
	for _, o := range u.objects {
		if o.num == catRef.num {
			if d, ok := o.value.(dict); ok {
				return d
			}
		}
	}
	return u.catalog
}

// fieldName returns the requested field name, or the first free "Seal-<n>". Names are
// compared with the document's top-level fields.
func (u *update) fieldName(catalog dict) (string, error) {
	taken := make(map[string]bool)
	form, _ := u.doc.resolve(catalog.get("AcroForm")).(dict)
	fields, _ := u.doc.resolve(form.get("Fields")).(array)
	for _, f := range fields {
		fd, _ := u.doc.resolve(f).(dict)
		if t, ok := u.doc.resolve(fd.get("T")).(*pdfString); ok {
			taken[decodeText(t.b)] = true
		}
	}
	if u.req.Field != "" {
		if taken[u.req.Field] {
			return "", fmt.Errorf("field %q already exists", u.req.Field)
		}
		return u.req.Field, nil
	}
	prefix := "Seal-"
	if u.req.docTimestamp {
		prefix = "ArchiveTimestamp-"
	}
	for n := 1; ; n++ {
		if name := prefix + strconv.Itoa(n); !taken[name] {
			return name, nil
		}
	}
}

// stampRect returns the widget rectangle in default user space; an invisible signature has
// an empty one.
func stampRect(req *Request, stamp *Stamp, box [4]float64) (array, error) {
	if stamp == nil {
		return array{number("0"), number("0"), number("0"), number("0")}, nil
	}
	p := req.Place
	x0, y0 := box[0]+p.X, box[1]+p.Y
	x1, y1 := x0+p.Width, y0+p.Height
	const slack = 0.5
	if x0 < box[0]-slack || y0 < box[1]-slack || x1 > box[2]+slack || y1 > box[3]+slack {
		return nil, fmt.Errorf("stamp box %gx%g at %g,%g is not inside page %d (%gx%g)",
			p.Width, p.Height, p.X, p.Y, p.Page, box[2]-box[0], box[3]-box[1])
	}
	return array{realNum(x0), realNum(y0), realNum(x1), realNum(y1)}, nil
}

// write returns the update, to follow the original, with /ByteRange and /Contents as
// placeholders.
func (u *update) write() []byte {
	size := 2*u.contentsLen + 4096
	if u.stamp != nil {
		size += len(u.stamp.rgb) + len(u.stamp.alpha)
		for _, o := range u.stamp.overlays {
			size += len(o.img.rgb) + 256
		}
	}
	out := make([]byte, 0, size)
	if c := u.doc.last; u.base == u.doc.length && c != '\n' && c != '\r' {
		out = append(out, '\n')
	}
	for i := range u.objects {
		o := &u.objects[i]
		o.off = u.base + int64(len(out))
		out = strconv.AppendInt(out, int64(o.num), 10)
		out = append(out, ' ')
		out = strconv.AppendInt(out, int64(o.gen), 10)
		out = append(out, " obj\n"...)
		switch {
		case o.sig:
			out = u.appendSigDict(out)
		case o.stream != nil:
			out = writeObject(out, o.stream.dict)
			out = append(out, "\nstream\n"...)
			out = append(out, o.stream.data...)
			out = append(out, "\nendstream"...)
		default:
			out = writeObject(out, o.value)
		}
		out = append(out, "\nendobj\n"...)
	}
	return u.appendXRef(out)
}

// byteRangeWidth is the room reserved for the four /ByteRange numbers.
const byteRangeWidth = 48

// appendSigDict writes the signature dictionary with placeholders and records where they are.
func (u *update) appendSigDict(out []byte) []byte {
	d := dict{
		{"Type", name("Sig")},
		{"Filter", name("Adobe.PPKLite")},
		{"SubFilter", name("ETSI.CAdES.detached")},
		{"M", &pdfString{b: []byte(pdfDate(u.req.Time))}},
	}
	if u.req.ESeal != nil {
		d[2].val = name(SubFilterSES)
	}
	if u.req.docTimestamp {
		// ISO 32000-2 §12.8.5: a document timestamp's dictionary names its type, and its
		// time is the token's.
		d = dict{{"Type", name("DocTimeStamp")}, {"Filter", name("Adobe.PPKLite")}, {"SubFilter", name("ETSI.RFC3161")}}
	}
	for _, kv := range [][2]string{{"Name", u.req.Name}, {"Reason", u.req.Reason}, {"Location", u.req.Location}} {
		if kv[1] != "" {
			d = append(d, entry{kv[0], textString(kv[1])})
		}
	}
	out = writeObject(out, d)
	out = out[:len(out)-2] // reopen the dictionary
	out = append(out, "/ByteRange ["...)
	u.byteRangeAt = len(out)
	for range byteRangeWidth {
		out = append(out, ' ')
	}
	out = append(out, "]/Contents "...)
	u.contentsAt = len(out)
	out = append(out, '<')
	for range 2 * u.contentsLen {
		out = append(out, '0')
	}
	out = append(out, '>')
	u.contentsEnd = len(out)
	return append(out, ">>"...)
}

// setByteRange writes the byte range into the update.
func (u *update) setByteRange(out []byte) error {
	at, end := u.base+int64(u.contentsAt), u.base+int64(u.contentsEnd)
	br := fmt.Appendf(nil, "0 %d %d %d", at, end, int64(len(out)-u.contentsEnd))
	if len(br) > byteRangeWidth {
		return errors.New("document too large for the byte range")
	}
	copy(out[u.byteRangeAt:], br)
	return nil
}

// fillSignature hashes the update, less the /Contents gap, into h, which holds the hash of
// the original, has s sign the digest, and writes what it made into /Contents.
func (u *update) fillSignature(ctx context.Context, out []byte, h hash.Hash, s contentsSigner) error {
	h.Write(out[:u.contentsAt])
	h.Write(out[u.contentsEnd:])
	der, err := s.contents(ctx, h.Sum(nil), u.field)
	if err != nil {
		return err
	}
	if len(der) > u.contentsLen {
		return fmt.Errorf("the signature (%d bytes) does not fit the %d reserved", len(der), u.contentsLen)
	}
	hex.Encode(out[u.contentsAt+1:], der)
	return nil
}
