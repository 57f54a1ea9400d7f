package pades

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

const (
	sealName     = "某某区市场监督管理局行政审批专用章"
	sealReason   = "准予许可"
	sealLocation = "某某区（市民中心）"
)

// signTime is a fixed signing time in China Standard Time.
var signTime = time.Date(2026, 3, 2, 9, 30, 15, 0, time.FixedZone("CST", 8*3600))

func request(s seal, stamp []byte, place Placement) Request {
	return Request{
		Signer: s.key, Chain: s.chain, Image: stamp, Place: place,
		Name: sealName, Reason: sealReason, Location: sealLocation, Time: signTime,
	}
}

func mustSign(t *testing.T, pdf []byte, req Request) []byte {
	t.Helper()
	out, err := Sign(pdf, req)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(out, pdf) {
		t.Fatal("the signed file does not keep the original as its prefix")
	}
	return out
}

func mustVerify(t *testing.T, pdf []byte, n int) []Signature {
	t.Helper()
	sigs, err := Verify(pdf, newPKI(t).roots)
	if err != nil {
		t.Fatal(err)
	}
	if len(sigs) != n {
		t.Fatalf("Verify found %d signatures, want %d: %v", len(sigs), n, sigs)
	}
	return sigs
}

// requireGood asserts that Verify accepts s as a whole, untouched signature of seal by
// field, with the request's text and time.
func requireGood(t *testing.T, s Signature, by seal, field string, whole bool) {
	t.Helper()
	if !s.DigestValid || !s.ChainValid {
		t.Errorf("signature %s not valid: %v (chain: %s)", field, s, s.ChainError)
	}
	if s.CoversWholeFile != whole || !s.CoversRevision {
		t.Errorf("signature %s covers whole file %t, revision %t; want %t, true", field, s.CoversWholeFile, s.CoversRevision, whole)
	}
	if whole && len(s.Problems) > 0 {
		t.Errorf("signature %s has problems: %v", field, s.Problems)
	}
	if s.Field != field || s.SubFilter != "ETSI.CAdES.detached" {
		t.Errorf("field %q subfilter %q, want %q ETSI.CAdES.detached", s.Field, s.SubFilter, field)
	}
	if s.Signer == nil || !s.Signer.Equal(by.chain[0]) || len(s.Chain) != len(by.chain) {
		t.Errorf("signature %s: wrong signer or chain", field)
	}
	if !s.Time.Equal(signTime) {
		t.Errorf("signing time %v, want %v", s.Time, signTime)
	}
}

func TestSignPassesIndependentValidators(t *testing.T) {
	v := tools(t)
	p := newPKI(t)
	stamp := sealPNG(t)
	box := Placement{Page: 1, X: 380, Y: 60, Width: 120, Height: 120}
	tests := []struct {
		name      string
		pdf       []byte
		seal      seal
		stamp     []byte
		xrefTable bool // the document and so its update use a classic xref table
	}{
		{"ecdsa text", textPDF(t, 300), p.ecdsa, stamp, true},
		{"rsa text", textPDF(t, 300), p.rsa, stamp, true},
		{"ecdsa one-page scan", scanPDF(t, 1, 800, 1130), p.ecdsa, stamp, false},
		{"rsa twenty-page scan", scanPDF(t, 20, 200, 283), p.rsa, stamp, false},
		{"ecdsa invisible", textPDF(t, 40), p.ecdsa, nil, true},
		{"ecdsa existing annots and form", textPDFWith(t, 40, true), p.ecdsa, stamp, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := mustSign(t, tt.pdf, request(tt.seal, tt.stamp, box))
			update := string(out[len(tt.pdf):])
			if got := strings.Contains(update, "\nxref\n"); got != tt.xrefTable {
				t.Errorf("update has a classic xref table: %t, want %t", got, tt.xrefTable)
			}
			if got := strings.Contains(update, "/Type /XRef") || strings.Contains(update, "/Type/XRef"); got == tt.xrefTable {
				t.Errorf("update has an xref stream: %t, want %t", got, !tt.xrefTable)
			}
			// Non-ASCII text is stored as UTF-16BE hex strings with a byte order mark.
			if !strings.Contains(update, "/Reason <FEFF") || strings.Contains(update, "/Reason (") {
				t.Error("the reason is not a UTF-16BE hex string")
			}

			s := mustVerify(t, out, 1)[0]
			requireGood(t, s, tt.seal, "Seal-1", true)
			if s.Name != sealName || s.Reason != sealReason || s.Location != sealLocation {
				t.Errorf("text round trip: %q %q %q", s.Name, s.Reason, s.Location)
			}

			path := writeTemp(t, "signed.pdf", out)
			reports := v.pdfsig(t, path)
			if len(reports) != 1 {
				t.Fatalf("pdfsig found %d signatures", len(reports))
			}
			requireValidPdfsig(t, reports[0], true)
			cn := "Signer Certificate Common Name: " + tt.seal.chain[0].Subject.CommonName
			if !strings.Contains(reports[0], cn) || !strings.Contains(reports[0], "Signature Field Name: Seal-1") {
				t.Errorf("pdfsig does not show %q and the field:\n%s", cn, reports[0])
			}
			v.requireQPDFCheck(t, path)
			// pdfcpu v0.15.0 shows /Name, /Reason and /Location only when they are literal
			// strings, so it prints them empty here; it does show the certificate's Chinese CN.
			pc := v.requirePdfcpuValid(t, path, 1)
			if want := "SignerIdentity: " + tt.seal.chain[0].Subject.CommonName; !strings.Contains(pc, want) {
				t.Errorf("pdfcpu does not show %q:\n%s", want, pc)
			}
		})
	}
}

func TestSignTwiceKeepsFirstSignatureValid(t *testing.T) {
	v := tools(t)
	p := newPKI(t)
	stamp := sealPNG(t)
	for _, doc := range []struct {
		name string
		pdf  []byte
	}{{"text", textPDF(t, 100)}, {"scan", scanPDF(t, 2, 400, 566)}} {
		t.Run(doc.name, func(t *testing.T) {
			once := mustSign(t, doc.pdf, request(p.ecdsa, stamp, Placement{Page: 1, X: 60, Y: 60, Width: 100, Height: 100}))
			second := request(p.ecdsaKey2, stamp, Placement{Page: 1, X: 200, Y: 60, Width: 100, Height: 100})
			second.Name = "某某区人民政府办公室"
			twice := mustSign(t, once, second)

			sigs := mustVerify(t, twice, 2)
			requireGood(t, sigs[0], p.ecdsa, "Seal-1", false)
			requireGood(t, sigs[1], p.ecdsaKey2, "Seal-2", true)
			if want := int64(len(twice) - len(once)); sigs[0].Appended != want {
				t.Errorf("first signature: %d bytes appended, want %d", sigs[0].Appended, want)
			}
			// The later revision only adds a signature: the first is followed by an addition,
			// not by a change.
			if len(sigs[0].Problems) != 0 || !sigs[0].OnlyAdditionsAfter || !slices.Equal(sigs[0].LaterAdditions, []string{"signature Seal-2"}) {
				t.Errorf("first signature: problems %q, additions %q (%t), want one signature added and no problem",
					sigs[0].Problems, sigs[0].LaterAdditions, sigs[0].OnlyAdditionsAfter)
			}
			if sigs[1].Name != "某某区人民政府办公室" {
				t.Errorf("second name %q", sigs[1].Name)
			}

			path := writeTemp(t, "twice.pdf", twice)
			reports := v.pdfsig(t, path)
			if len(reports) != 2 {
				t.Fatalf("pdfsig found %d signatures", len(reports))
			}
			requireValidPdfsig(t, reports[0], false)
			requireValidPdfsig(t, reports[1], true)
			v.requireQPDFCheck(t, path)
			v.requirePdfcpuValid(t, path, 2)
		})
	}
}

func TestStampIsVisibleWherePlaced(t *testing.T) {
	v := tools(t)
	p := newPKI(t)
	doc := scanPDF(t, 20, 200, 283)
	place := Placement{Page: 3, X: 300, Y: 100, Width: 144, Height: 144}
	out := mustSign(t, doc, request(p.ecdsa, sealPNG(t), place))
	mustVerify(t, out, 1)

	d, err := readDocument(bytes.NewReader(out), int64(len(out)))
	if err != nil {
		t.Fatal(err)
	}
	catalog, _ := d.resolve(d.trailer.get("Root")).(dict)
	_, _, box, err := d.findPage(catalog, 3)
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	path := filepath.Join(dir, "signed.pdf")
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	// 36 DPI: one pixel is two points.
	if msg, code := v.run(t, "pdftoppm", "-f", "3", "-l", "3", "-r", "36", "-png", "-singlefile", path, filepath.Join(dir, "page")); code != 0 {
		t.Fatalf("pdftoppm: %s", msg)
	}
	f, err := os.Open(filepath.Join(dir, "page.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	const scale = 0.5
	pageH := box[3] - box[1]
	x0, x1 := int((place.X)*scale), int((place.X+place.Width)*scale)
	y0, y1 := int((pageH-place.Y-place.Height)*scale), int((pageH-place.Y)*scale)
	inside, outside := 0, 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if r>>8 < 150 || g>>8 > 110 || bl>>8 > 110 {
				continue
			}
			if x >= x0-1 && x <= x1+1 && y >= y0-1 && y <= y1+1 {
				inside++
			} else {
				outside++
			}
		}
	}
	t.Logf("red pixels: %d inside the stamp box, %d outside", inside, outside)
	if inside < 200 || outside > 0 {
		t.Errorf("red pixels: %d inside the stamp box %d,%d-%d,%d, %d outside; want many inside, none outside",
			inside, x0, y0, x1, y1, outside)
	}
}

func TestVerifyReportsAppendedBytes(t *testing.T) {
	v := tools(t)
	p := newPKI(t)
	signed := mustSign(t, textPDF(t, 50), request(p.ecdsa, sealPNG(t), Placement{Page: 1, X: 50, Y: 50, Width: 100, Height: 100}))
	extra := []byte("% a comment added after signing\n1 0 obj\n<< /Type /Catalog >>\nendobj\n")
	appended := append(bytes.Clone(signed), extra...)

	s := mustVerify(t, appended, 1)[0]
	if !s.DigestValid || s.CoversWholeFile || !s.CoversRevision || s.Appended != int64(len(extra)) {
		t.Errorf("appended: %v, appended %d, want digest valid, %d bytes appended after the signed revision", s, s.Appended, len(extra))
	}
	if len(s.Problems) != 1 || !strings.Contains(s.Problems[0], "68 bytes were appended after this signature") || strings.Contains(s.Problems[0], "revision") {
		t.Errorf("problems %q do not report the appended bytes", s.Problems)
	}
	reports := v.pdfsig(t, writeTemp(t, "appended.pdf", appended))
	if !strings.Contains(reports[0], "Not total document signed") {
		t.Errorf("pdfsig:\n%s", reports[0])
	}
}

func TestVerifyDetectsTampering(t *testing.T) {
	v := tools(t)
	p := newPKI(t)
	signed := mustSign(t, textPDF(t, 50), request(p.ecdsa, sealPNG(t), Placement{Page: 1, X: 50, Y: 50, Width: 100, Height: 100}))
	i := bytes.Index(signed, []byte("Line 0007: The applicant's request is approved"))
	tampered := bytes.Clone(signed)
	tampered[i+len("Line 0007: The applicant's request is ")] = 'X' // "approved" becomes "Xpproved"

	s := mustVerify(t, tampered, 1)[0]
	if s.DigestValid {
		t.Errorf("tampered file verifies: %v", s)
	}
	if !strings.Contains(strings.Join(s.Problems, ";"), "changed") {
		t.Errorf("problems %q do not say the bytes were changed", s.Problems)
	}
	reports := v.pdfsig(t, writeTemp(t, "tampered.pdf", tampered))
	if !strings.Contains(reports[0], "Digest Mismatch") {
		t.Errorf("pdfsig does not report a digest mismatch:\n%s", reports[0])
	}
}

// TestVerifyAcceptsOtherSigners checks Verify on a signature it did not make: pdfsign's
// adbe.pkcs7.detached, whose CMS has a signing-time attribute and other encoding choices.
func TestVerifyAcceptsOtherSigners(t *testing.T) {
	p := newPKI(t)
	signed, err := pdfsignOnce(scanPDF(t, 1, 300, 424), p.ecdsa, sealPNG(t))
	if err != nil {
		t.Fatal(err)
	}
	s := mustVerify(t, signed, 1)[0]
	if !s.DigestValid || !s.ChainValid || !s.CoversWholeFile || s.SubFilter != "adbe.pkcs7.detached" || s.Name != "Seal" || s.Reason != "Approved" {
		t.Errorf("pdfsign's signature: %v, subfilter %q, name %q, reason %q", s, s.SubFilter, s.Name, s.Reason)
	}
	tampered := bytes.Clone(signed)
	tampered[len(tampered)/3] ^= 1
	if s := mustVerify(t, tampered, 1)[0]; s.DigestValid {
		t.Errorf("tampered pdfsign file verifies: %v", s)
	}
}

func TestVerifyUnsignedAndNonPDF(t *testing.T) {
	sigs, err := Verify(scanPDF(t, 1, 100, 141), newPKI(t).roots)
	if err != nil || len(sigs) != 0 {
		t.Errorf("unsigned PDF: %v, %v; want no signatures and no error", sigs, err)
	}
	if _, err := Verify([]byte("GIF89a not a pdf"), nil); err == nil {
		t.Error("Verify accepted a file that is not a PDF")
	}
}

func TestVerifyWithoutTrustedRoot(t *testing.T) {
	p := newPKI(t)
	signed := mustSign(t, textPDF(t, 10), request(p.rsa, nil, Placement{Page: 1}))
	sigs, err := Verify(signed, nil)
	if err != nil || len(sigs) != 1 {
		t.Fatalf("%v %v", sigs, err)
	}
	if !sigs[0].DigestValid || sigs[0].ChainValid || sigs[0].ChainError == "" {
		t.Errorf("without roots: %v, chain error %q; want digest valid, chain not", sigs[0], sigs[0].ChainError)
	}
}

func TestSignRejectsBadRequests(t *testing.T) {
	p := newPKI(t)
	doc := textPDF(t, 10)
	stamp := sealPNG(t)
	tests := []struct {
		name string
		req  Request
		want string
	}{
		{"page beyond the end", request(p.ecdsa, stamp, Placement{Page: 2, X: 10, Y: 10, Width: 50, Height: 50}), "fewer pages"},
		{"box off the page", request(p.ecdsa, stamp, Placement{Page: 1, X: 560, Y: 10, Width: 50, Height: 50}), "not inside page"},
		{"empty box", request(p.ecdsa, stamp, Placement{Page: 1, X: 10, Y: 10}), "empty"},
		{"page zero", request(p.ecdsa, stamp, Placement{Width: 50, Height: 50}), "numbered from 1"},
		{"key of another certificate", Request{Signer: p.rsa.key, Chain: p.ecdsa.chain, Place: Placement{Page: 1}, Time: signTime}, "not the signer's"},
		{"no signing time", Request{Signer: p.ecdsa.key, Chain: p.ecdsa.chain, Place: Placement{Page: 1}}, "signing time"},
		{"not a png", request(p.ecdsa, []byte("not an image"), Placement{Page: 1, Width: 50, Height: 50}), "seal image"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Sign(doc, tt.req)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
	if _, err := Sign([]byte("not a pdf"), request(p.ecdsa, nil, Placement{Page: 1})); err == nil {
		t.Error("Sign accepted a file that is not a PDF")
	}
	named := Request{Signer: p.ecdsa.key, Chain: p.ecdsa.chain, Place: Placement{Page: 1}, Time: signTime, Field: "Approval"}
	if _, err := Sign(mustSign(t, doc, named), named); err == nil {
		t.Error("Sign reused an existing field name")
	}
}

func TestPreparedStampSignsLikeImage(t *testing.T) {
	p := newPKI(t)
	st, err := NewStamp(sealPNG(t))
	if err != nil {
		t.Fatal(err)
	}
	req := request(p.ecdsa, nil, Placement{Page: 1, X: 50, Y: 50, Width: 100, Height: 100})
	req.Stamp = st
	doc := textPDF(t, 10)
	withStamp := mustSign(t, doc, req)
	req.Stamp, req.Image = nil, sealPNG(t)
	withImage := mustSign(t, doc, req)
	// The files differ only in their CMS (ECDSA signatures are randomised).
	a, b := withStamp[:bytes.Index(withStamp, []byte("/Contents <"))], withImage[:bytes.Index(withImage, []byte("/Contents <"))]
	if !bytes.Equal(a, b) || len(withStamp) != len(withImage) {
		t.Error("a prepared stamp and the same image give different documents")
	}
	requireGood(t, mustVerify(t, withStamp, 1)[0], p.ecdsa, "Seal-1", true)
}

func TestTextStrings(t *testing.T) {
	tests := []struct {
		in   string
		want string // as written by writeObject
	}{
		{"Approved (final)", `(Approved \(final\))`},
		{"准予许可", "<FEFF51C64E888BB853EF>"},
		{"用", "<FEFF7528>"}, // 0x28 is "(": must never be written raw in a literal string
	}
	for _, tt := range tests {
		s := textString(tt.in)
		if got := string(writeObject(nil, s)); got != tt.want {
			t.Errorf("%q written as %s, want %s", tt.in, got, tt.want)
		}
		l := lexer{data: []byte(tt.want)}
		o, err := l.object(0)
		if err != nil {
			t.Fatal(err)
		}
		if got := decodeText(o.(*pdfString).b); got != tt.in {
			t.Errorf("%s decoded as %q, want %q", tt.want, got, tt.in)
		}
	}
	if got := decodeText([]byte("caf\xe9 \x8dok\x8e \x93")); got != "café “ok” ﬁ" {
		t.Errorf("PDFDocEncoding decoded as %q", got)
	}
}

func TestDates(t *testing.T) {
	if got := pdfDate(signTime); got != "D:20260302093015+08'00'" {
		t.Errorf("pdfDate = %s", got)
	}
	for in, want := range map[string]time.Time{
		"D:20260302093015+08'00'": signTime,
		"D:20260302013015Z":       signTime,
		"D:20260302":              time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC),
		"D:20260302013015-05'30":  time.Date(2026, 3, 2, 7, 0, 15, 0, time.UTC),
	} {
		got, err := parseDate(in)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseDate(%s) = %v, %v; want %v", in, got, err, want)
		}
	}
}

func TestStampRectHonoursBoxOrigin(t *testing.T) {
	st := &Stamp{width: 10, height: 10}
	req := Request{Place: Placement{Page: 1, X: 20, Y: 30, Width: 100, Height: 50}}
	// A page whose visible box starts at 100,200 rather than at the origin.
	rect, err := stampRect(&req, st, [4]float64{100, 200, 695, 1042})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(writeObject(nil, rect)); got != "[120 230 220 280]" {
		t.Errorf("rect %s, want [120 230 220 280]", got)
	}
	req.Place.X = 550 // its right edge, 100+550+100, is past 695
	if _, err := stampRect(&req, st, [4]float64{100, 200, 695, 1042}); err == nil {
		t.Error("a box past the right edge was accepted")
	}
}
