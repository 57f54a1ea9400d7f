package pades

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
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
	// Many end-of-file markers: a bounded number are tried.
	many := strings.Repeat("%%EOF\n", 20000) + string(lt[bytes.LastIndex(lt, []byte("startxref")):])
	for _, junk := range []string{"\n%%EOF\n", "\n% a comment\n", skipping, many} {
		s := mustVerify(t, append(bytes.Clone(lt), junk...), 1)[0]
		if s.OnlyAdditionsAfter || len(s.Problems) != 1 || !strings.Contains(s.Problems[0], "bytes were appended after this signature") {
			t.Errorf("%q appended: additions %t %q, problems %q", junk, s.OnlyAdditionsAfter, s.LaterAdditions, s.Problems)
		}
	}
}

// TestArchiveTimestamp: a B-LTA output ends with a document timestamp over the whole file
// after the validation data, which Verify, OpenSSL, pdfsig, qpdf and pdfcpu accept; Archive
// renews it with a new DSS and a new document timestamp over everything before, leaving
// every earlier signature and timestamp valid.
func TestArchiveTimestamp(t *testing.T) {
	v := tools(t)
	p := newPKI(t)
	tsaTime := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	ts := testTSA(t, tsaTime)
	req := request(p.ecdsa, sealPNG(t), Placement{Page: 1, X: 60, Y: 60, Width: 110, Height: 110})
	req.Timestamp, req.ArchiveTimestamp = ts, true
	req.DSS = &ValidationData{Certs: append(slices.Clone(p.ecdsa.chain), ts.Cert), CRLs: [][]byte{testCRL(t, p, tsaTime, nil)}}
	var buf bytes.Buffer
	pdf := textPDF(t, 30)
	res, err := SignTo(t.Context(), &buf, bytes.NewReader(pdf), int64(len(pdf)), req)
	if err != nil {
		t.Fatal(err)
	}
	lta := buf.Bytes()
	if res.Size != int64(len(lta)) || len(res.ArchiveTimestamp) == 0 || bytes.Count(lta[len(pdf):], []byte("%%EOF")) != 3 {
		t.Fatalf("SignTo: %d bytes, token %d bytes, %d updates", res.Size, len(res.ArchiveTimestamp), bytes.Count(lta[len(pdf):], []byte("%%EOF")))
	}
	sigs := mustVerify(t, lta, 2)
	if want := []string{"validation data (DSS)", "document timestamp ArchiveTimestamp-1"}; !slices.Equal(sigs[0].LaterAdditions, want) || len(sigs[0].Problems) != 0 {
		t.Errorf("seal: additions %q, problems %q", sigs[0].LaterAdditions, sigs[0].Problems)
	}
	dts := sigs[1]
	if !dts.DocumentTimestamp || !dts.DigestValid || !dts.ChainValid || !dts.CoversWholeFile || dts.SubFilter != "ETSI.RFC3161" ||
		dts.Field != "ArchiveTimestamp-1" || !dts.Time.Equal(tsaTime) || len(dts.Problems) != 0 {
		t.Errorf("document timestamp: %v", dts)
	}

	// OpenSSL verifies the token over the byte ranges.
	dir := t.TempDir()
	tok := filepath.Join(dir, "doc-ts.der")
	os.WriteFile(tok, res.ArchiveTimestamp, 0o600)
	rootPEM := filepath.Join(dir, "root.pem")
	os.WriteFile(rootPEM, ca.CertPEM(p.root), 0o600)
	br := dts.ByteRange
	h := sha256.New()
	h.Write(lta[:br[1]])
	h.Write(lta[br[2] : br[2]+br[3]])
	if out, code := v.run(t, "openssl", "ts", "-verify", "-token_in", "-in", tok, "-digest", hex.EncodeToString(h.Sum(nil)), "-CAfile", rootPEM); code != 0 || !strings.Contains(out, "Verification: OK") {
		t.Errorf("openssl ts -verify of the document timestamp: exit %d\n%s", code, out)
	}
	path := writeTemp(t, "lta.pdf", lta)
	reports := v.pdfsig(t, path)
	// pdfsig 22.12 lists a document timestamp but does not check one ("Signature Type:
	// unknown"); OpenSSL did above, and pdfcpu does below.
	if len(reports) != 2 || !strings.Contains(reports[0], "Signature is Valid") || !strings.Contains(reports[1], "ArchiveTimestamp-1") ||
		!strings.Contains(reports[1], "Total document signed") {
		t.Errorf("pdfsig on the B-LTA file:\n%s", strings.Join(reports, "\n"))
	}
	v.requireQPDFCheck(t, path)
	out, code := v.run(t, v.pdfcpu, "signatures", "validate", "-a", "-f", path)
	if code != 0 || !strings.Contains(out, "document timestamp") || strings.Contains(strings.ToLower(out), "invalid") {
		t.Errorf("pdfcpu on the B-LTA file: exit %d\n%s", code, out)
	}

	// The renewal: the first timestamp's validation data and a new document timestamp.
	later := testTSA(t, tsaTime.Add(time.Hour))
	var renewed bytes.Buffer
	rres, err := Archive(t.Context(), &renewed, bytes.NewReader(lta), int64(len(lta)), ArchiveRequest{Timestamp: later, Time: tsaTime.Add(time.Hour),
		DSS: &ValidationData{Certs: []*x509.Certificate{later.Cert, p.root}, CRLs: [][]byte{testCRL(t, p, tsaTime.Add(time.Hour), nil)}}})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(renewed.Bytes(), lta) || rres.Size != int64(renewed.Len()) {
		t.Fatal("the renewal does not keep the file as its prefix")
	}
	sigs = mustVerify(t, renewed.Bytes(), 3)
	for i, s := range sigs {
		if !s.DigestValid || !s.ChainValid || len(s.Problems) != 0 || (i < 2) == s.CoversWholeFile {
			t.Errorf("after renewal, #%d: %v", i+1, s)
		}
	}
	if want := []string{"validation data (DSS)", "document timestamp ArchiveTimestamp-2"}; !slices.Equal(sigs[1].LaterAdditions, want) {
		t.Errorf("the first document timestamp is followed by %q", sigs[1].LaterAdditions)
	}
	if sigs[2].Field != "ArchiveTimestamp-2" || !sigs[2].Time.Equal(tsaTime.Add(time.Hour)) || len(sigs[2].ValidationData.CRLs) != 2 {
		t.Errorf("the renewal's timestamp: %v, validation data %+v", sigs[2], sigs[2].ValidationData)
	}
	path = writeTemp(t, "renewed.pdf", renewed.Bytes())
	if reports := v.pdfsig(t, path); len(reports) != 3 || !strings.Contains(reports[2], "Total document signed") {
		t.Errorf("pdfsig on the renewed file:\n%s", strings.Join(reports, "\n"))
	}
	v.requireQPDFCheck(t, path)
}
