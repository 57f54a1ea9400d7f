package pades

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/sm3"
	"github.com/emmansun/gmsm/smx509"

	"sealvault/seal/ca"
	"sealvault/seal/ses"
)

// testESeal is an SM2 seal: its key, its certificate from an SM2 root and its seal data
// from that root as maker, with the roots that trust both.
func testESeal(t testing.TB) (*ElectronicSeal, *smx509.CertPool) {
	t.Helper()
	now := time.Now()
	rootKey, _ := sm2.GenerateKey(rand.Reader)
	root, err := ca.NewSM2Root(rootKey, "某某市电子印章制章根证书", time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), 20)
	if err != nil {
		t.Fatal(err)
	}
	maker := &ca.Maker{Cert: root, Key: rootKey}
	key, _ := sm2.GenerateKey(rand.Reader)
	cert, err := maker.IssueSeal(key.Public(), ca.SealSubject{Department: "某某市市场监督管理局", DepartmentCode: "SCJG",
		SealName: sealName, SealCode: "S-2", SealType: "business"}, time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC), now.AddDate(3, 0, 0), "")
	if err != nil {
		t.Fatal(err)
	}
	seal, err := ses.Make(ses.Spec{VendorID: "sealvault", ESID: "S2", Type: ses.TypeOther, Name: sealName, Certs: [][]byte{cert.Raw},
		CreateDate: now, ValidStart: time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC), ValidEnd: now.AddDate(3, 0, 0),
		Picture: ses.Picture{Type: "PNG", Data: sealPNG(t), WidthMM: 40, HeightMM: 40}}, root, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	roots := smx509.NewCertPool()
	roots.AddCert(root)
	return &ElectronicSeal{Seal: seal, Signer: key, Cert: cert}, roots
}

// TestElectronicSeal (national cryptography, point 4): a seal of the national algorithms
// makes a PDF electronic seal: /SubFilter SubFilterSES, /Contents a GB/T 38540
// SES_Signature whose data hash is SM3 over the byte ranges, signed with SM2 by the seal's
// certificate, with the seal data and a timestamp of the signature value; B-LTA like a CMS
// signature. Verify reads it back valid against the SM2 root, and finds a flipped byte,
// another root and a changed seal.
func TestElectronicSeal(t *testing.T) {
	es, sm2Roots := testESeal(t)
	p := newPKI(t)
	ts := testTSA(t, signTime)
	doc := textPDF(t, 3)
	req := Request{ESeal: es, Image: sealPNG(t), Place: Placement{Page: 1, X: 300, Y: 80, Width: 120, Height: 120},
		Name: sealName, Reason: sealReason, Location: sealLocation, Time: signTime, Field: "Seal-R-1",
		Timestamp: ts, DSS: &ValidationData{Certs: append(slices.Clone(ts.Chain), ts.Cert)}, ArchiveTimestamp: true}
	out := mustSign(t, doc, req)
	if !bytes.Contains(out, []byte("/SubFilter /"+SubFilterSES)) && !bytes.Contains(out, []byte("/SubFilter/"+SubFilterSES)) {
		t.Fatalf("the signature dictionary does not name %s", SubFilterSES)
	}
	sigs, err := VerifyWith(out, VerifyOptions{Roots: p.roots, SM2Roots: sm2Roots})
	if err != nil {
		t.Fatal(err)
	}
	if len(sigs) != 2 || !sigs[1].DocumentTimestamp {
		t.Fatalf("want the electronic seal and the archive timestamp, got %d: %+v", len(sigs), sigs)
	}
	s := sigs[0]
	if s.ESeal == nil || !s.DigestValid || !s.ChainValid || s.Signer != nil || s.SubFilter != SubFilterSES || !s.OnlyAdditionsAfter {
		t.Fatalf("electronic seal: digest %t chain %t (%s) problems %v", s.DigestValid, s.ChainValid, s.ChainError, s.Problems)
	}
	if s.Timestamp == nil || !s.Timestamp.Valid || !s.Timestamp.Time.Equal(signTime) {
		t.Errorf("the signature value's timestamp: %+v", s.Timestamp)
	}
	sig := s.ESeal.Signature
	if sig.Seal.Name != sealName || sig.PropertyInfo != "Seal-R-1" || !bytes.Equal(sig.Signer.Raw, es.Cert.Raw) {
		t.Errorf("what the electronic signature states: seal %q, property %q", sig.Seal.Name, sig.PropertyInfo)
	}
	// The data hash is SM3 over exactly the byte ranges, computed here independently.
	br := s.ByteRange
	want := sm3.Sum(append(slices.Clone(out[:br[1]]), out[br[2]:br[2]+br[3]]...))
	if !bytes.Equal(sig.DataHash, want[:]) {
		t.Error("the data hash is not SM3 over the byte ranges")
	}
	names := map[string]bool{}
	for _, c := range s.ESeal.Checks {
		names[c.Name] = c.OK
	}
	for _, n := range []string{"data-digest", "signer-signature", "signer-chain", "signer-listed", "maker-signature"} {
		if !names[n] {
			t.Errorf("check %s did not pass: %+v", n, s.ESeal.Checks)
		}
	}

	// A flipped byte inside the signed range breaks the data hash.
	flipped := bytes.Clone(out[:br[2]+br[3]])
	flipped[br[1]/2] ^= 1
	if sigs, _ := VerifyWith(flipped, VerifyOptions{Roots: p.roots, SM2Roots: sm2Roots}); len(sigs) > 0 && sigs[0].DigestValid {
		t.Error("a flipped byte keeps the electronic seal valid")
	}
	// Another SM2 root trusts neither the signer nor the seal's maker.
	_, otherRoots := testESeal(t)
	if sigs, _ := VerifyWith(out, VerifyOptions{Roots: p.roots, SM2Roots: otherRoots}); sigs[0].ChainValid || !sigs[0].DigestValid ||
		!strings.Contains(sigs[0].ChainError, "root") {
		t.Errorf("another root: chain %t (%s)", sigs[0].ChainValid, sigs[0].ChainError)
	}
	// The seal data inside the signature cannot be swapped: the signer's signature covers it.
	contents := out[br[1]+1 : br[2]-1]
	der, _ := hex.DecodeString(string(contents))
	name := []byte(sealName)
	if i := bytes.Index(der, name); i < 0 {
		t.Fatal("the seal's name is not in the signature")
	} else {
		der[i+len(name)-1] ^= 1
	}
	changed := bytes.Clone(out)
	hex.Encode(changed[br[1]+1:], der)
	if sigs, _ := VerifyWith(changed[:br[2]+br[3]], VerifyOptions{Roots: p.roots, SM2Roots: sm2Roots}); len(sigs) > 0 && sigs[0].DigestValid && sigs[0].ChainValid {
		t.Error("a changed seal name inside the signature verifies")
	}
}

// The electronic seal's output passes qpdf's structural check and pdfcpu's validation.
func TestElectronicSealValidators(t *testing.T) {
	v := tools(t)
	es, _ := testESeal(t)
	req := Request{ESeal: es, Image: sealPNG(t), Place: Placement{Page: 1, X: 300, Y: 80, Width: 120, Height: 120},
		Name: sealName, Time: signTime, Field: "Seal-R-1"}
	path := writeTemp(t, "电子签章.pdf", mustSign(t, scanPDF(t, 1, 48, 64), req))
	v.requireQPDFCheck(t, path)
	if out, code := v.run(t, v.pdfcpu, "validate", path); code != 0 || !strings.Contains(out, "validation ok") {
		t.Errorf("pdfcpu validate exit %d:\n%s", code, out)
	}
}
