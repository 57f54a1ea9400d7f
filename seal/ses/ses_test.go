package ses_test

import (
	"archive/zip"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"sealvault/internal/testkit"
	"sealvault/seal/ses"
)

func day(s string) time.Time {
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		panic(err)
	}
	return t
}

func failed(r ses.Report) []string {
	var out []string
	for _, c := range r.Checks {
		if !c.OK {
			out = append(out, c.Name)
		}
	}
	return out
}

// ofdrw's seal: its fields as ofdrw wrote them, valid at 2021-01-01 and expired at 2026-01-01.
func TestOfdrwSeal(t *testing.T) {
	s, err := ses.ParseSeal(testkit.Interop(t, "gbt38540/UserV4.esl"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Header != (ses.Header{ID: "ES", Version: 4, VendorID: "OFDR&WTest"}) {
		t.Errorf("header %+v", s.Header)
	}
	if s.Name != "OFD R&W 测试用印章" || s.ESID != "51f044b76510434e9bc67a1185c2fba5" {
		t.Errorf("name %q, esID %q", s.Name, s.ESID)
	}
	if s.Picture.Type != "PNG" || s.Picture.WidthMM != 40 || s.Picture.HeightMM != 40 || !bytes.HasPrefix(s.Picture.Data, []byte("\x89PNG")) {
		t.Errorf("picture %s %d×%d mm, %d bytes", s.Picture.Type, s.Picture.WidthMM, s.Picture.HeightMM, len(s.Picture.Data))
	}
	if s.CertList != ses.CertListCerts || len(s.Certs) != 1 {
		t.Errorf("certificate list type %d with %d certificates", s.CertList, len(s.Certs))
	}
	if !s.ValidStart.Equal(time.Date(2020, 4, 22, 2, 9, 0, 0, time.UTC)) || !s.ValidEnd.Equal(time.Date(2022, 4, 22, 2, 9, 0, 0, time.UTC)) {
		t.Errorf("validity %s to %s", s.ValidStart, s.ValidEnd)
	}
	if r := s.Verify(day("2021-01-01"), nil); !r.Valid {
		t.Errorf("at 2021-01-01 the seal does not verify: %+v", r.Checks)
	}
	r := s.Verify(day("2026-01-01"), nil)
	if r.Valid {
		t.Fatalf("at 2026-01-01 the seal verifies")
	}
	if got := strings.Join(failed(r), " "); got != "maker-certificate seal-validity" {
		t.Errorf("at 2026-01-01 the failed checks are %q, want the maker's certificate and the seal's validity", got)
	}
	for _, c := range r.Checks {
		if c.Name == "seal-validity" && !strings.Contains(c.Detail, "expired on 2022-04-22") {
			t.Errorf("the expiry says %q", c.Detail)
		}
	}
}

// One byte of the seal's name changed: the maker's signature no longer verifies.
func TestSealChangedIsRefused(t *testing.T) {
	der := testkit.Interop(t, "gbt38540/UserV4.esl")
	i := bytes.Index(der, []byte("OFD R&W"))
	changed := bytes.Clone(der)
	changed[i+2] = 'E'
	s, err := ses.ParseSeal(changed)
	if err != nil {
		t.Fatal(err)
	}
	if r := s.Verify(day("2021-01-01"), nil); r.Valid || strings.Join(failed(r), " ") != "maker-signature" {
		t.Errorf("a changed seal: valid %v, failed %v", r.Valid, failed(r))
	}
}

func TestNotASeal(t *testing.T) {
	der := testkit.Interop(t, "gbt38540/UserV4.esl")
	for name, in := range map[string][]byte{
		"empty":     nil,
		"truncated": der[:len(der)/2],
		"trailing":  append(bytes.Clone(der), 0),
		"text":      []byte("not a seal"),
	} {
		_, err := ses.ParseSeal(in)
		var fe *ses.FormatError
		if !errors.As(err, &fe) {
			t.Errorf("%s: %v, want a FormatError", name, err)
		}
	}
}

// The SES_Signature in an OFD invoice signed by another vendor's system: every referenced
// file unchanged, the signature, its seal and the signer's certificate valid at its time.
func TestOFDSignature(t *testing.T) {
	data := testkit.Interop(t, "gbt38540/v4signed.ofd")
	sigs, err := ses.VerifyOFD(bytes.NewReader(data), int64(len(data)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(sigs) != 1 {
		t.Fatalf("%d signatures", len(sigs))
	}
	s := sigs[0]
	if !s.Report.Valid {
		t.Errorf("the OFD's signature does not verify: %+v", s.Report.Checks)
	}
	if s.Path != "/Doc_0/Signs/Sign_0/Signature.xml" || len(s.References) != 13 || s.Type != "Seal" {
		t.Errorf("signature at %s, %d references, type %s", s.Path, len(s.References), s.Type)
	}
	if got := s.Signature.Time.UTC().Format(time.RFC3339); got != "2020-10-10T07:11:20Z" {
		t.Errorf("signed at %s", got)
	}
	if s.Signature.Seal.Name == "" || s.Signature.Seal.Header.VendorID != "GOMAIN" {
		t.Errorf("its seal %q by %q", s.Signature.Seal.Name, s.Signature.Seal.Header.VendorID)
	}
}

// The invoice with one amount changed: the signature names the changed file.
func TestOFDChangedIsRefused(t *testing.T) {
	data := testkit.Interop(t, "gbt38540/v4signed.ofd")
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	zw := zip.NewWriter(&out)
	for _, f := range zr.File {
		rc, _ := f.Open()
		b, _ := io.ReadAll(rc)
		rc.Close()
		if f.Name == "OFD.xml" {
			b = bytes.Replace(b, []byte("318.00"), []byte("918.00"), 1)
		}
		w, _ := zw.Create(f.Name)
		w.Write(b)
	}
	zw.Close()
	sigs, err := ses.VerifyOFD(bytes.NewReader(out.Bytes()), int64(out.Len()), nil)
	if err != nil {
		t.Fatal(err)
	}
	s := sigs[0]
	if s.Report.Valid || strings.Join(failed(s.Report), " ") != "references" {
		t.Errorf("a changed OFD: valid %v, failed %v", s.Report.Valid, failed(s.Report))
	}
	for _, r := range s.References {
		if r.OK == (r.File == "/OFD.xml") {
			t.Errorf("reference %s ok=%v", r.File, r.OK)
		}
	}
}

func TestNotAnOFD(t *testing.T) {
	for name, in := range map[string][]byte{"text": []byte("hello"), "empty zip": emptyZip()} {
		_, err := ses.VerifyOFD(bytes.NewReader(in), int64(len(in)), nil)
		var fe *ses.FormatError
		if !errors.As(err, &fe) {
			t.Errorf("%s: %v, want a FormatError", name, err)
		}
	}
}

func emptyZip() []byte {
	var b bytes.Buffer
	zip.NewWriter(&b).Close()
	return b.Bytes()
}
