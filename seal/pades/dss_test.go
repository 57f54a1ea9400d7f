package pades

import (
	"bytes"
	"fmt"
	"math/big"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"sealvault/seal/ca"
)

// testCRL is a CRL of the test root listing the given serials as revoked at the given times.
func testCRL(t *testing.T, p *pki, at time.Time, revoked map[int64]time.Time) []byte {
	t.Helper()
	var list []ca.Revoked
	for serial, when := range revoked {
		list = append(list, ca.Revoked{Serial: big.NewInt(serial), At: when})
	}
	der, err := (&ca.CA{Cert: p.root, Key: p.rootKey}).CRL(at.Unix(), list, at, at.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// TestLongTermValidation: a B-LT signature is followed by an update adding a DSS with the
// seal's and the TSA's chains and a CRL; Verify accepts the update as validation data only and judges the signer by the
// embedded CRL, or by a later one given to it; pdfsig, qpdf and pdfcpu accept the file.
func TestLongTermValidation(t *testing.T) {
	v := tools(t)
	p := newPKI(t)
	tsaTime := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	ts := testTSA(t, tsaTime)
	crl := testCRL(t, p, tsaTime, nil)
	for _, doc := range []struct {
		name string
		pdf  []byte
	}{{"xref table", textPDF(t, 30)}, {"xref stream", scanPDF(t, 1, 300, 420)}} {
		t.Run(doc.name, func(t *testing.T) {
			req := request(p.ecdsa, sealPNG(t), Placement{Page: 1, X: 60, Y: 60, Width: 110, Height: 110})
			req.Timestamp = ts
			req.DSS = &ValidationData{Certs: append(slices.Clone(p.ecdsa.chain), ts.Cert, p.root), CRLs: [][]byte{crl}}
			out := mustSign(t, doc.pdf, req)
			if bytes.Count(out[len(doc.pdf):], []byte("%%EOF")) != 2 {
				t.Fatal("want two incremental updates: the signature and the validation data")
			}

			s := mustVerify(t, out, 1)[0]
			requireGood(t, s, p.ecdsa, "Seal-1", false)
			if !s.OnlyAdditionsAfter || !slices.Equal(s.LaterAdditions, []string{"validation data (DSS)"}) || len(s.Problems) != 0 {
				t.Errorf("after the signature: only additions %t %q, problems %q", s.OnlyAdditionsAfter, s.LaterAdditions, s.Problems)
			}
			if s.ValidationData == nil || len(s.ValidationData.Certs) != 3 || len(s.ValidationData.CRLs) != 1 || s.VRI {
				t.Fatalf("validation data: %+v, VRI %t", s.ValidationData, s.VRI)
			}
			if r := s.Revocation; r == nil || r.Revoked || !r.Embedded || !r.CRLThisUpdate.Equal(tsaTime) {
				t.Errorf("revocation from the embedded CRL: %+v", r)
			}
			if bytes.Contains(out, []byte("/VRI")) {
				t.Error("a /VRI was written, which pdfcpu cannot take")
			}

			// A later CRL revoking the seal after the timestamp leaves the signature valid;
			// one revoking it before does not.
			later := tsaTime.Add(48 * time.Hour)
			for _, tt := range []struct {
				name      string
				revokedAt time.Time
				valid     bool
			}{{"after sealing", tsaTime.Add(time.Hour), true}, {"before sealing", tsaTime.Add(-time.Hour), false}} {
				sigs, err := VerifyWith(out, VerifyOptions{Roots: p.roots, CRLs: [][]byte{testCRL(t, p, later, map[int64]time.Time{2: tt.revokedAt})}})
				if err != nil {
					t.Fatal(err)
				}
				r := sigs[0].Revocation
				if r == nil || !r.Revoked || r.Embedded || !r.RevokedAt.Equal(tt.revokedAt.Truncate(time.Second)) || sigs[0].ChainValid != tt.valid {
					t.Errorf("revoked %s: revocation %+v, chain valid %t (%s), want %t", tt.name, r, sigs[0].ChainValid, sigs[0].ChainError, tt.valid)
				}
			}

			path := writeTemp(t, "lt.pdf", out)
			reports := v.pdfsig(t, path)
			if len(reports) != 1 {
				t.Fatalf("pdfsig found %d signatures", len(reports))
			}
			// pdfsig checks the byte range against the file: the DSS update is outside it.
			requireValidPdfsig(t, reports[0], false)
			v.requireQPDFCheck(t, path)
			pc := v.requirePdfcpuValid(t, path, 1)
			if !strings.Contains(pc, "DSS") && !strings.Contains(pc, "LTV") {
				t.Logf("pdfcpu does not mention the DSS:\n%s", pc)
			}
			if out, err := exec.Command("qpdf", "--show-object=trailer", path).CombinedOutput(); err != nil {
				t.Errorf("qpdf trailer: %v\n%s", err, out)
			}
		})
	}
}

// TestChangesAfterSigning: a later revision that changes the signed content, however it is
// wrapped, is reported, while one adding only a DSS or a signature is not.
func TestChangesAfterSigning(t *testing.T) {
	p := newPKI(t)
	pdf := textPDF(t, 20)
	signed := mustSign(t, pdf, request(p.ecdsa, sealPNG(t), Placement{Page: 1, X: 60, Y: 60, Width: 100, Height: 100}))

	// A second signature and validation data are additions.
	second := request(p.ecdsaKey2, nil, Placement{Page: 1})
	second.DSS = &ValidationData{Certs: p.ecdsaKey2.chain}
	twice := mustSign(t, signed, second)
	s := mustVerify(t, twice, 2)[0]
	if !s.OnlyAdditionsAfter || !slices.Equal(s.LaterAdditions, []string{"validation data (DSS)", "signature Seal-2"}) || len(s.Problems) != 0 {
		t.Errorf("first of two: additions %q (%t), problems %q", s.LaterAdditions, s.OnlyAdditionsAfter, s.Problems)
	}

	// An update redefining the page's content stream is a change.
	doc, err := readDocument(bytes.NewReader(signed), int64(len(signed)))
	if err != nil {
		t.Fatal(err)
	}
	catalog, _ := doc.resolve(doc.trailer.get("Root")).(dict)
	pageRef, page, _, err := doc.findPage(catalog, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name  string
		value func(u *update) object
		num   int
	}{
		{"the page's content", func(u *update) object {
			n := u.alloc()
			body := []byte("BT /F1 40 Tf 100 500 Td (VOID) Tj ET")
			u.objects = append(u.objects, writtenObject{num: n, stream: &stream{dict: dict{{"Length", number(fmt.Sprint(len(body)))}}, data: body, at: -1}})
			return page.with("Contents", ref{n, 0})
		}, pageRef.num},
		{"the catalog's open action", func(u *update) object {
			return catalog.with("OpenAction", array{pageRef, name("Fit")})
		}, doc.trailer.get("Root").(ref).num},
	} {
		t.Run(tt.name, func(t *testing.T) {
			u := &update{doc: doc, req: &Request{Time: signTime}, next: doc.size, base: doc.length, prev: doc.startxref}
			u.objects = append(u.objects, writtenObject{num: tt.num, value: tt.value(u)})
			changed := append(bytes.Clone(signed), u.write()...)
			s := mustVerify(t, changed, 1)[0]
			if s.OnlyAdditionsAfter || len(s.Problems) != 1 || !strings.Contains(s.Problems[0], "which change what it signed") {
				t.Errorf("a later revision changing %s: additions %t, problems %q", tt.name, s.OnlyAdditionsAfter, s.Problems)
			}
		})
	}
}

// TestBytesAfterValidationData: bytes that are not an incremental update, after a B-LT
// signature's validation data, are reported as appended, even when they end with %%EOF.
func TestBytesAfterValidationData(t *testing.T) {
	p := newPKI(t)
	req := request(p.ecdsa, nil, Placement{Page: 1})
	req.DSS = &ValidationData{Certs: p.ecdsa.chain, CRLs: [][]byte{testCRL(t, p, signTime, nil)}}
	lt := mustSign(t, textPDF(t, 10), req)
	// An update whose /Prev skips the validation data's section.
	doc, err := readDocument(bytes.NewReader(lt), int64(len(lt)))
	if err != nil {
		t.Fatal(err)
	}
	br := mustVerify(t, lt, 1)[0].ByteRange
	signedRev, err := readDocument(bytes.NewReader(lt), br[2]+br[3])
	if err != nil {
		t.Fatal(err)
	}
	catRef := doc.trailer.get("Root").(ref)
	u := &update{doc: doc, req: &Request{Time: signTime}, next: doc.size, base: doc.length, prev: signedRev.startxref}
	u.objects = append(u.objects, writtenObject{num: catRef.num, value: doc.resolve(catRef)})
	skipping := string(u.write())
	for _, junk := range []string{"\n%%EOF\n", "\n% a comment\n", skipping} {
		s := mustVerify(t, append(bytes.Clone(lt), junk...), 1)[0]
		if s.OnlyAdditionsAfter || len(s.Problems) != 1 || !strings.Contains(s.Problems[0], "bytes were appended after this signature") {
			t.Errorf("%q appended: additions %t %q, problems %q", junk, s.OnlyAdditionsAfter, s.LaterAdditions, s.Problems)
		}
	}
}
