package pades

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
)

// errNotUpdate is bytes after a signature that are not a well-formed incremental update.
var errNotUpdate = errors.New("they are not an incremental update of the file")

// laterChanges compares the revision that ends at end with the newest one and returns what
// the later revisions add, when all they do is add what leaves the signed content as it
// was: validation data (a DSS), further signature fields (signatures and document
// timestamps) with their widgets on the pages' /Annots and in the form's /Fields. Any other
// change (an object redefined otherwise, or deleted) is an error naming it.
//
// The check is by objects, so it is sound without understanding them: an object the later
// revisions do not redefine is the signed one, and a new object can only matter through a
// redefined one that refers to it.
func (d *document) laterChanges(end int64) ([]string, error) {
	old, err := readDocument(d.r, end)
	if err != nil {
		return nil, fmt.Errorf("the signed revision cannot be read: %v", err)
	}
	if err := d.laterRevisions(end, old.startxref); err != nil {
		return nil, err
	}
	isNew := func(num int) bool {
		e, had := old.xref[num]
		return !had || e.kind == 0
	}
	var changed []int
	for num, e := range d.xref {
		oe, had := old.xref[num]
		switch {
		case had && oe == e:
		case isNew(num):
		case e.kind == 0:
			return nil, fmt.Errorf("object %d was deleted", num)
		default:
			changed = append(changed, num)
		}
	}
	slices.Sort(changed)

	c := &changeCheck{old: old, cur: d, isNew: isNew}
	oldRoot, _ := old.trailer.get("Root").(ref)
	newRoot, _ := d.trailer.get("Root").(ref)
	for _, x := range []struct {
		doc *document
		r   ref
		num *int
	}{{old, oldRoot, &c.oldDSS}, {d, newRoot, &c.newDSS}} {
		cat, _ := x.doc.resolve(x.r).(dict)
		if r, ok := cat.get("DSS").(ref); ok {
			*x.num = r.num
		}
	}
	if oldRoot != newRoot {
		if err := c.catalog(old.resolve(oldRoot), d.resolve(newRoot)); err != nil {
			return nil, err
		}
	}
	for _, num := range changed {
		o1, err1 := old.object(num)
		o2, err2 := d.object(num)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("object %d cannot be read", num)
		}
		if c.same(o1, o2) {
			continue
		}
		var err error
		switch {
		case num == newRoot.num:
			err = c.catalog(o1, o2)
		case num == c.oldDSS || num == c.newDSS:
			c.dss = true
		default:
			err = c.other(num, o1, o2)
		}
		if err != nil {
			return nil, err
		}
	}
	var adds []string
	if c.dss {
		adds = append(adds, "validation data (DSS)")
	}
	slices.Sort(c.fields)
	return append(adds, slices.Compact(c.fields)...), nil
}

// maxLaterRevisions bounds the revisions laterRevisions follows.
const maxLaterRevisions = 64

// laterRevisions checks that every byte after end belongs to an incremental update: each
// later revision ends with startxref and %%EOF, its newest cross-reference section lies in
// it, and its /Prev is the previous revision's section (prev for the first), so that the
// newest revision's objects are the ones compared.
func (d *document) laterRevisions(end, prev int64) error {
	for at, n := end, 0; ; n++ {
		blank, err := d.blankFrom(at)
		if err != nil {
			return err
		}
		if blank {
			return nil
		}
		if n >= maxLaterRevisions {
			return fmt.Errorf("%w: more than %d later revisions", errNotUpdate, maxLaterRevisions)
		}
		// The revision ends at the first %%EOF after which its startxref points into it
		// (an earlier one may be inside a stream's data); a bounded number are tried.
		var rev *document
		var revEnd int64
		for from, tries := at, 0; tries < maxEOFCandidates; tries++ {
			i, err := d.find(from, []byte("%%EOF"))
			if err != nil {
				return err
			}
			if i < 0 {
				break
			}
			revEnd = i + 5
			if r, err := readDocument(d.r, revEnd); err == nil && r.startxref >= at && r.startxref < revEnd {
				rev = r
				break
			}
			from = revEnd
		}
		if rev == nil {
			return fmt.Errorf("%w (after offset %d)", errNotUpdate, at)
		}
		if p, ok := rev.trailer.get("Prev").(number); !ok || string(p) != fmt.Sprint(prev) {
			return fmt.Errorf("%w: the update after offset %d does not follow the revision before it", errNotUpdate, at)
		}
		prev, at = rev.startxref, revEnd
	}
}

// maxEOFCandidates bounds the %%EOF markers tried as the end of one later revision.
const maxEOFCandidates = 64

// blankFrom reports whether the file holds only white space (and NULs) from off to its end.
func (d *document) blankFrom(off int64) (bool, error) {
	const chunk = 64 << 10
	for at := off; at < d.length; at += chunk {
		b, _, err := d.window(at, int(min(chunk, d.length-at)))
		if err != nil {
			return false, err
		}
		if len(bytes.TrimLeft(b, "\r\n \t\x00")) > 0 {
			return false, nil
		}
	}
	return true, nil
}

type changeCheck struct {
	old, cur       *document
	isNew          func(int) bool
	oldDSS, newDSS int // object numbers of the DSS dictionaries, 0 for none
	dss            bool
	fields         []string
}

// same reports whether two objects are the same, comparing streams by their dictionary and
// raw data.
func (c *changeCheck) same(o1, o2 object) bool {
	s1, ok1 := o1.(*stream)
	s2, ok2 := o2.(*stream)
	if ok1 != ok2 {
		return false
	}
	if ok1 {
		d1, err1 := c.old.streamData(s1)
		d2, err2 := c.cur.streamData(s2)
		return err1 == nil && err2 == nil && bytes.Equal(writeObject(nil, s1.dict), writeObject(nil, s2.dict)) && bytes.Equal(d1, d2)
	}
	return bytes.Equal(writeObject(nil, o1), writeObject(nil, o2))
}

// diff returns the keys whose values differ between two dictionaries.
func (c *changeCheck) diff(a, b dict) []string {
	var keys []string
	for _, e := range a {
		if !c.same(e.val, b.get(e.key)) {
			keys = append(keys, e.key)
		}
	}
	for _, e := range b {
		if a.get(e.key) == nil && e.val != nil {
			keys = append(keys, e.key)
		}
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}

// catalog checks a new version of the catalog: it may change /DSS, and /AcroForm by adding
// signature fields.
func (c *changeCheck) catalog(o1, o2 object) error {
	a, ok1 := o1.(dict)
	b, ok2 := o2.(dict)
	if !ok1 || !ok2 {
		return fmt.Errorf("the document catalog was replaced")
	}
	for _, k := range c.diff(a, b) {
		switch k {
		case "DSS":
			c.dss = true
		case "AcroForm":
			f1, _ := c.old.resolve(a.get("AcroForm")).(dict)
			f2, ok := c.cur.resolve(b.get("AcroForm")).(dict)
			if !ok {
				return fmt.Errorf("the document's form was removed")
			}
			if err := c.form(f1, f2); err != nil {
				return err
			}
		default:
			return fmt.Errorf("the document catalog's /%s was changed", k)
		}
	}
	return nil
}

// form checks a new version of the AcroForm: /Fields may gain signature fields, /SigFlags
// may change.
func (c *changeCheck) form(a, b dict) error {
	for _, k := range c.diff(a, b) {
		switch k {
		case "SigFlags":
		case "Fields":
			f1, _ := c.old.resolve(a.get("Fields")).(array)
			f2, _ := c.cur.resolve(b.get("Fields")).(array)
			if err := c.grown(f1, f2, "the form's fields"); err != nil {
				return err
			}
		default:
			return fmt.Errorf("the form's /%s was changed", k)
		}
	}
	return nil
}

// grown checks that b is a followed by new signature fields or widgets.
func (c *changeCheck) grown(a, b array, what string) error {
	if len(b) < len(a) || !c.same(a, b[:len(a)]) {
		return fmt.Errorf("%s were changed", what)
	}
	for _, o := range b[len(a):] {
		r, ok := o.(ref)
		f, isDict := c.cur.resolve(o).(dict)
		if !ok || !isDict || !c.isNew(r.num) || c.cur.resolve(f.get("FT")) != name("Sig") {
			return fmt.Errorf("%s gained something other than a new signature field", what)
		}
		t, _ := c.cur.resolve(f.get("T")).(*pdfString)
		sd, _ := c.cur.resolve(f.get("V")).(dict)
		kind := "signature"
		if sd.get("Type") == name("DocTimeStamp") {
			kind = "document timestamp"
		}
		if t != nil {
			c.fields = append(c.fields, fmt.Sprintf("%s %s", kind, decodeText(t.b)))
		} else {
			c.fields = append(c.fields, kind)
		}
	}
	return nil
}

// other checks a redefined object that is not the catalog: a page whose /Annots gained
// signature widgets, an /Annots or /Fields array that did, or the form.
func (c *changeCheck) other(num int, o1, o2 object) error {
	switch a := o1.(type) {
	case array:
		b, ok := o2.(array)
		if !ok {
			return fmt.Errorf("object %d was changed", num)
		}
		return c.grown(a, b, fmt.Sprintf("the entries of array %d", num))
	case dict:
		b, ok := o2.(dict)
		if !ok {
			return fmt.Errorf("object %d was changed", num)
		}
		keys := c.diff(a, b)
		if a.get("Type") == name("Page") && slices.Equal(keys, []string{"Annots"}) {
			a1, _ := c.old.resolve(a.get("Annots")).(array)
			a2, _ := c.cur.resolve(b.get("Annots")).(array)
			return c.grown(a1, a2, fmt.Sprintf("the annotations of page object %d", num))
		}
		if a.get("Fields") != nil && !slices.ContainsFunc(keys, func(k string) bool { return k != "Fields" && k != "SigFlags" }) {
			return c.form(a, b)
		}
		return fmt.Errorf("object %d was changed (%s)", num, joinKeys(keys))
	}
	return fmt.Errorf("object %d was changed", num)
}

func joinKeys(keys []string) string {
	var b []byte
	for i, k := range keys {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, '/')
		b = append(b, k...)
	}
	return string(b)
}
