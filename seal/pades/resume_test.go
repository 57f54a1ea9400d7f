package pades

import (
	"bytes"
	"crypto/sha256"
	"hash"
	"slices"
	"testing"
)

// TestSignToResumesTheDocumentHash: given the SHA-256 state of the document, SignTo copies
// the document without hashing it again, and the output is what it makes otherwise: a CMS
// seal and an electronic seal (whose SM3 is still computed), each with its document
// timestamp, verify. A state over other bytes than the document's gives a seal (or a
// document timestamp) that does not verify: the state is trusted, not checked.
func TestSignToResumesTheDocumentHash(t *testing.T) {
	p := newPKI(t)
	ts := testTSA(t, signTime)
	es, sm2Roots := testESeal(t)
	pdf := scanPDF(t, 1, 600, 800)
	stateOf := func(b []byte) hash.Hash {
		h := sha256.New()
		h.Write(b)
		return h
	}
	for _, tc := range []struct {
		name string
		req  Request
	}{
		{"cms", request(p.ecdsa, sealPNG(t), benchPlace)},
		{"electronic seal", Request{ESeal: es, Image: sealPNG(t), Place: benchPlace, Name: sealName, Reason: sealReason,
			Location: sealLocation, Time: signTime}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := tc.req
			req.Timestamp, req.ArchiveTimestamp = ts, true
			req.DSS = &ValidationData{Certs: append(slices.Clone(p.ecdsa.chain), ts.Cert)}
			sign := func(state hash.Hash) []Signature {
				t.Helper()
				r := req
				r.DocumentSHA256 = state
				var buf bytes.Buffer
				if _, err := SignTo(t.Context(), &buf, bytes.NewReader(pdf), int64(len(pdf)), r); err != nil {
					t.Fatal(err)
				}
				if !bytes.HasPrefix(buf.Bytes(), pdf) {
					t.Fatal("the output does not start with the document")
				}
				sigs, err := VerifyWith(buf.Bytes(), VerifyOptions{Roots: p.roots, SM2Roots: sm2Roots})
				if err != nil || len(sigs) != 2 {
					t.Fatalf("verify: %v, %d signatures", err, len(sigs))
				}
				return sigs
			}
			right := stateOf(pdf)
			sigs := sign(right)
			if !sigs[0].DigestValid || !sigs[1].DocumentTimestamp || !sigs[1].DigestValid || !sigs[1].CoversWholeFile {
				t.Errorf("with the document's state: seal digest %t, document timestamp digest %t", sigs[0].DigestValid, sigs[1].DigestValid)
			}
			// The caller's state is cloned, not written to: it serves again.
			if again := sign(right); !again[0].DigestValid || !again[1].DigestValid {
				t.Error("the state given once no longer serves")
			}
			wrong := stateOf(append(slices.Clone(pdf[:len(pdf)-1]), pdf[len(pdf)-1]^1))
			sigs = sign(wrong)
			if tc.name == "cms" && sigs[0].DigestValid {
				t.Error("a state over other bytes gives a seal that verifies")
			}
			if sigs[1].DigestValid {
				t.Error("a state over other bytes gives a document timestamp that verifies")
			}
		})
	}
}
