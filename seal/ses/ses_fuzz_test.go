package ses_test

import (
	"bytes"
	"testing"

	"sealvault/internal/testkit"
	"sealvault/seal/ses"
)

// FuzzParseSeal: mutations of ofdrw's seal. Whatever parses verifies without a panic, and a
// maker's signature reported valid means the signed seal information is the original's.
func FuzzParseSeal(f *testing.F) {
	orig := testkit.Interop(f, "gbt38540/UserV4.esl")
	want, err := ses.ParseSeal(orig)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(orig)
	f.Add(orig[:100])
	f.Fuzz(func(t *testing.T, der []byte) {
		s, err := ses.ParseSeal(der)
		if err != nil {
			return
		}
		r := s.Verify(s.ValidStart, nil)
		if len(r.Checks) == 0 || r.Checks[0].Name != "maker-signature" {
			t.Fatalf("the first check is not the maker's signature: %+v", r.Checks)
		}
		if r.Checks[0].OK && (s.Name != want.Name || s.ESID != want.ESID || !bytes.Equal(s.Picture.Data, want.Picture.Data) ||
			!s.ValidEnd.Equal(want.ValidEnd) || len(s.Certs) != len(want.Certs)) {
			t.Fatalf("a changed seal (%q, %q, valid to %s) passes the maker's signature", s.Name, s.ESID, s.ValidEnd)
		}
	})
}

// FuzzVerifyOFD: any bytes as an OFD document. Nothing panics, and a signature reported
// valid has every referenced file unchanged.
func FuzzVerifyOFD(f *testing.F) {
	f.Add(testkit.Interop(f, "gbt38540/v4signed.ofd"))
	f.Add([]byte("PK\x05\x06\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		sigs, err := ses.VerifyOFD(bytes.NewReader(data), int64(len(data)), nil)
		if err != nil {
			return
		}
		for _, s := range sigs {
			if !s.Report.Valid {
				continue
			}
			for _, r := range s.References {
				if !r.OK {
					t.Fatalf("a valid signature with a changed reference %s", r.File)
				}
			}
		}
	})
}
