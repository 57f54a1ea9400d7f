package pades

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
)

// fuzzDocuments are real documents of both cross-reference kinds: a text PDF with a classic
// table, one with an AcroForm and annotations, and a scan as the service's assembler
// writes it (object and xref streams).
func fuzzDocuments(tb testing.TB) [][]byte {
	return [][]byte{textPDF(tb, 3), textPDFWith(tb, 2, true), scanPDF(tb, 1, 48, 64)}
}

var (
	fuzzStampOnce sync.Once
	fuzzStamp     *Stamp
)

// fuzzRequest is a visible seal on page 1, its stamp prepared once per process.
func fuzzRequest(tb testing.TB) Request {
	fuzzStampOnce.Do(func() {
		var err error
		if fuzzStamp, err = NewStamp(sealPNG(tb)); err != nil {
			tb.Fatal(err)
		}
	})
	req := request(newPKI(tb).ecdsa, nil, Placement{Page: 1, X: 20, Y: 20, Width: 60, Height: 60})
	req.Stamp = fuzzStamp
	return req
}

// FuzzReader feeds any bytes to the signer's reader (cross-reference tables and streams,
// object streams, the page tree) and then to Sign. Nothing panics; and whatever the signer
// accepts it seals so that Verify finds a valid, trusted signature over the whole result,
// with the original kept as its prefix: a document the signer takes never becomes a
// broken seal use.
func FuzzReader(f *testing.F) {
	for _, doc := range fuzzDocuments(f) {
		f.Add(doc)
		signed, err := Sign(doc, fuzzRequest(f))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(signed)
	}
	f.Add([]byte("%PDF-1.7\n1 0 obj<</Type/XRef/Size 2/W[1 2 1]/Index[0 2]/Root 1 0 R/Length 8>>stream\n\x00\x00\x00\xff\x01\x00\x09\x00\nendstream endobj\nstartxref\n9\n%%EOF"))
	f.Add([]byte("%PDF-1.4\nxref\n0 1\n0000000000 65535 f \ntrailer<</Root 1 0 R/XRefStm -5/Prev 9>>\nstartxref\n9\n%%EOF"))
	f.Fuzz(func(t *testing.T, data []byte) {
		// What the upload check accepts (Check), the signer signs, on its last page too.
		if n, err := Check(data); err == nil {
			req := fuzzRequest(t)
			req.Place = Placement{Page: n, X: 0, Y: 0, Width: 1, Height: 1}
			if _, err := Sign(data, req); err != nil {
				t.Fatalf("Check accepted %d pages, Sign on page %d: %v", n, n, err)
			}
		}
		d, err := readDocument(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		for num := range min(d.size, 256) {
			d.object(num)
		}
		catalog, _ := d.resolve(d.trailer.get("Root")).(dict)
		if _, _, box, err := d.findPage(catalog, 1); err == nil {
			for _, v := range box {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					t.Fatalf("page 1 has the visible box %v", box)
				}
			}
		}
		signed, err := Sign(data, fuzzRequest(t))
		if err != nil {
			return
		}
		if !bytes.HasPrefix(signed, data) {
			t.Fatal("the signed document does not keep the original as its prefix")
		}
		sigs, err := Verify(signed, newPKI(t).roots)
		if err != nil {
			t.Fatalf("Sign accepted a document whose sealed form Verify cannot read: %v", err)
		}
		for _, s := range sigs {
			if s.DigestValid && s.ChainValid && s.CoversWholeFile && s.CoversRevision && len(s.Problems) == 0 {
				return
			}
		}
		t.Fatalf("Sign accepted a document, but Verify finds no valid signature over the result: %v", sigs)
	})
}

// FuzzVerify feeds any bytes, mostly mutations of sealed documents, to the verifier behind
// POST /api/v1/verify and `sealvault verify`. Nothing panics; and a signature it reports
// with a valid digest covers exactly bytes that were signed: a change inside a signed range
// is never reported valid.
func FuzzVerify(f *testing.F) {
	signedBytes := map[[32]byte]bool{}
	for _, pdf := range verifySeeds(f) {
		sigs, err := Verify(pdf, newPKI(f).roots)
		if err != nil {
			f.Fatal(err)
		}
		for _, s := range sigs {
			if !s.DigestValid {
				f.Fatalf("a seed signature is not valid: %v", s)
			}
			signedBytes[signedDigest(pdf, s.ByteRange)] = true
		}
		f.Add(pdf)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sigs, err := Verify(data, newPKI(t).roots)
		if err != nil {
			return
		}
		for _, s := range sigs {
			if !s.DigestValid {
				if s.ChainValid && s.Signer == nil {
					t.Fatalf("a chain without a signer is valid: %v", s)
				}
				continue
			}
			br := s.ByteRange
			if br[0] != 0 || br[1] >= br[2] || br[2]+br[3] > int64(len(data)) {
				t.Fatalf("a valid signature has the byte range %v in a file of %d bytes", br, len(data))
			}
			if !signedBytes[signedDigest(data, br)] {
				t.Fatalf("Verify reports a valid digest over bytes that were never signed: %v", s)
			}
			if s.CoversWholeFile != (br[2]+br[3] == int64(len(data))) {
				t.Fatalf("covers whole file %t with byte range %v in %d bytes", s.CoversWholeFile, br, len(data))
			}
		}
	})
}

// updateSeeds rewrites the sealed seed documents of FuzzVerify.
var updateSeeds = flag.Bool("update-seeds", false, "rewrite testdata/verify-seeds")

// verifySeeds are sealed documents (once with ECDSA, then again with RSA; B-LTA; an SM2
// electronic seal) kept as files:
// keys and signatures are random, and under -fuzz the coordinator and each worker process
// run FuzzVerify's set-up on their own, so seeds made at run time would differ between them
// and every seed would look never signed to the workers. -update-seeds makes them anew.
func verifySeeds(f *testing.F) [][]byte {
	const dir = "testdata/verify-seeds"
	if *updateSeeds {
		os.RemoveAll(dir)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			f.Fatal(err)
		}
		for i, doc := range fuzzDocuments(f) {
			once, err := Sign(doc, fuzzRequest(f))
			if err != nil {
				f.Fatal(err)
			}
			req := fuzzRequest(f)
			req.Signer, req.Chain, req.Stamp = newPKI(f).rsa.key, newPKI(f).rsa.chain, nil
			twice, err := Sign(once, req)
			if err != nil {
				f.Fatal(err)
			}
			// A B-LTA seal: validation data and a document timestamp after it.
			lta := fuzzRequest(f)
			ts := testTSA(f, signTime)
			lta.Timestamp, lta.ArchiveTimestamp = ts, true
			lta.DSS = &ValidationData{Certs: append(slices.Clone(lta.Chain), ts.Cert)}
			archived, err := Sign(doc, lta)
			if err != nil {
				f.Fatal(err)
			}
			// A PDF electronic seal of the national algorithms (SM2, GB/T 38540), B-LTA too.
			es, _ := testESeal(f)
			sm2 := fuzzRequest(f)
			sm2.Signer, sm2.Chain, sm2.ESeal, sm2.Field = nil, nil, es, "Seal-R-1"
			sm2.Timestamp, sm2.ArchiveTimestamp = ts, true
			sm2.DSS = &ValidationData{Certs: []*x509.Certificate{ts.Cert}}
			electronic, err := Sign(doc, sm2)
			if err != nil {
				f.Fatal(err)
			}
			for j, pdf := range [][]byte{once, twice, archived, electronic} {
				if err := os.WriteFile(fmt.Sprintf("%s/%02d-%d.pdf", dir, i, j+1), pdf, 0o644); err != nil {
					f.Fatal(err)
				}
			}
		}
	}
	files, err := filepath.Glob(dir + "/*.pdf")
	if err != nil || len(files) == 0 {
		f.Fatalf("no seeds in %s (%v): run go test -run FuzzVerify -update-seeds ./seal/pades", dir, err)
	}
	var out [][]byte
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// signedDigest is the SHA-256 of the two byte ranges of br in pdf.
func signedDigest(pdf []byte, br [4]int64) [32]byte {
	h := sha256.New()
	h.Write(pdf[:br[1]])
	h.Write(pdf[br[2] : br[2]+br[3]])
	return [32]byte(h.Sum(nil))
}
