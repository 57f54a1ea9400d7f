package pades

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"io"
	"sealvault/seal/ca"
	"slices"
	"testing"
	"time"

	"sealvault/internal/testkit"

	"github.com/digitorus/pdf"
	"github.com/digitorus/pdfsign/sign"
	"github.com/emmansun/gmsm/sm3"
)

// benchDoc is one input of the signing benchmarks.
type benchDoc struct {
	name string
	pdf  []byte
}

// benchDocs returns a 1-page text PDF (about 30 KB), a 1-page scan (about 600 KB, noisy so
// that it does not compress) and a 20-page scan.
func benchDocs(b *testing.B) []benchDoc {
	b.Helper()
	docs := []benchDoc{
		{"text-1p", textPDF(b, 400)},
		{"scan-1p", scanPDF(b, 1, 1500, 2120)},
		{"scan-20p", scanPDF(b, 20, 1000, 1414)},
	}
	for _, d := range docs {
		b.Logf("%s: %d bytes", d.name, len(d.pdf))
	}
	return docs
}

var benchConcurrency = []int{1, 2, 8}

var benchPlace = Placement{Page: 1, X: 380, Y: 60, Width: 120, Height: 120}

// BenchmarkSign measures Sign with a prepared Stamp, as a service applying the same seal to
// many documents uses it.
func BenchmarkSign(b *testing.B) {
	p := newPKI(b)
	stamp, err := NewStamp(sealPNG(b))
	if err != nil {
		b.Fatal(err)
	}
	for _, d := range benchDocs(b) {
		req := request(p.ecdsa, nil, benchPlace)
		req.Stamp = stamp
		for _, c := range benchConcurrency {
			b.Run(fmt.Sprintf("%s/c=%d", d.name, c), func(b *testing.B) {
				runConcurrent(b, c, func() error {
					_, err := Sign(d.pdf, req)
					return err
				})
			})
		}
	}
}

// BenchmarkSignTo measures SignTo as the service uses it, with a prepared Stamp: the
// document read through an io.ReaderAt, the signed document streamed to a writer (here one
// that discards it).
func BenchmarkSignTo(b *testing.B) {
	p := newPKI(b)
	stamp, err := NewStamp(sealPNG(b))
	if err != nil {
		b.Fatal(err)
	}
	for _, d := range benchDocs(b) {
		req := request(p.ecdsa, nil, benchPlace)
		req.Stamp = stamp
		for _, c := range benchConcurrency {
			b.Run(fmt.Sprintf("%s/c=%d", d.name, c), func(b *testing.B) {
				runConcurrent(b, c, func() error {
					_, err := SignTo(b.Context(), io.Discard, bytes.NewReader(d.pdf), int64(len(d.pdf)), req)
					return err
				})
			})
		}
	}
}

// BenchmarkSignPNG measures Sign given the seal PNG, converted on every call.
func BenchmarkSignPNG(b *testing.B) {
	p := newPKI(b)
	png := sealPNG(b)
	for _, d := range benchDocs(b) {
		req := request(p.ecdsa, png, benchPlace)
		for _, c := range benchConcurrency {
			b.Run(fmt.Sprintf("%s/c=%d", d.name, c), func(b *testing.B) {
				runConcurrent(b, c, func() error {
					_, err := Sign(d.pdf, req)
					return err
				})
			})
		}
	}
}

// BenchmarkFloor measures what any signer must do: hash the whole file once and make one
// signature with the same key.
func BenchmarkFloor(b *testing.B) {
	p := newPKI(b)
	for _, d := range benchDocs(b) {
		for _, c := range benchConcurrency {
			b.Run(fmt.Sprintf("%s/c=%d", d.name, c), func(b *testing.B) {
				runConcurrent(b, c, func() error {
					sum := sha256.Sum256(d.pdf)
					_, err := p.ecdsa.key.Sign(rand.Reader, sum[:], crypto.SHA256)
					return err
				})
			})
		}
	}
}

// BenchmarkPdfsign measures github.com/digitorus/pdfsign signing the same files with the
// same key, chain and visible seal image. Its text fields are ASCII: it corrupts files with
// Chinese ones.
func BenchmarkPdfsign(b *testing.B) {
	p := newPKI(b)
	png := sealPNG(b)
	for _, d := range benchDocs(b) {
		for _, c := range benchConcurrency {
			b.Run(fmt.Sprintf("%s/c=%d", d.name, c), func(b *testing.B) {
				runConcurrent(b, c, func() error {
					_, err := pdfsignOnce(d.pdf, p.ecdsa, png)
					return err
				})
			})
		}
	}
}

// pdfsignOnce signs in with pdfsign, with a visible seal on page 1.
func pdfsignOnce(in []byte, s seal, png []byte) ([]byte, error) {
	rdr, err := pdf.NewReader(bytes.NewReader(in), int64(len(in)))
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	err = sign.Sign(bytes.NewReader(in), &out, rdr, int64(len(in)), sign.SignData{
		Signature: sign.SignDataSignature{
			CertType: sign.ApprovalSignature,
			Info:     sign.SignDataSignatureInfo{Name: "Seal", Reason: "Approved", Location: "District", Date: signTime},
		},
		Signer:            s.key,
		DigestAlgorithm:   crypto.SHA256,
		Certificate:       s.chain[0],
		CertificateChains: [][]*x509.Certificate{s.chain},
		Appearance: sign.Appearance{
			Visible: true, Page: 1, Image: png,
			LowerLeftX: benchPlace.X, LowerLeftY: benchPlace.Y,
			UpperRightX: benchPlace.X + benchPlace.Width, UpperRightY: benchPlace.Y + benchPlace.Height,
		},
	})
	return out.Bytes(), err
}

// runConcurrent runs op b.N times on c goroutines and reports the median and 99th
// percentile latency and the throughput.
func runConcurrent(b *testing.B, c int, op func() error) {
	if err := op(); err != nil { // fail fast, and warm up
		b.Fatal(err)
	}
	testkit.RunConcurrent(b, c, "ops/s", func(_, _ int) error { return op() })
}

// BenchmarkSignBT is Sign with a signature timestamp from a TSA in the same process (ECDSA
// P-256), so the peer in the same run is BenchmarkSign: the gap is the TSA's work (one more
// signature, the TSTInfo and its CMS) and the larger CMS.
// BenchmarkSignLT is SignBT with the validation data (the seal's chain, the TSA's
// certificate, a CRL) after the signature: PAdES B-LT.
func BenchmarkSignLT(b *testing.B) { benchLongTerm(b, false) }

// BenchmarkSignLTA adds the archive timestamp every use now carries: PAdES B-LTA, two tokens
// from the in-process TSA.
func BenchmarkSignLTA(b *testing.B) { benchLongTerm(b, true) }

func benchLongTerm(b *testing.B, archive bool) {
	p := newPKI(b)
	stamp, err := NewStamp(sealPNG(b))
	if err != nil {
		b.Fatal(err)
	}
	ts := testTSA(b, time.Now())
	crl, err := (&ca.CA{Cert: p.root, Key: p.rootKey}).CRL(1, nil, time.Now(), time.Now().Add(time.Hour))
	if err != nil {
		b.Fatal(err)
	}
	for _, d := range benchDocs(b) {
		req := request(p.ecdsa, nil, benchPlace)
		req.Stamp, req.Timestamp, req.ArchiveTimestamp = stamp, ts, archive
		req.DSS = &ValidationData{Certs: append(slices.Clone(p.ecdsa.chain), ts.Cert), CRLs: [][]byte{crl}}
		for _, c := range benchConcurrency {
			b.Run(fmt.Sprintf("%s/c=%d", d.name, c), func(b *testing.B) {
				runConcurrent(b, c, func() error {
					_, err := Sign(d.pdf, req)
					return err
				})
			})
		}
	}
}

func BenchmarkSignBT(b *testing.B) {
	p := newPKI(b)
	stamp, err := NewStamp(sealPNG(b))
	if err != nil {
		b.Fatal(err)
	}
	ts := testTSA(b, time.Now())
	for _, d := range benchDocs(b) {
		req := request(p.ecdsa, nil, benchPlace)
		req.Stamp, req.Timestamp = stamp, ts
		for _, c := range benchConcurrency {
			b.Run(fmt.Sprintf("%s/c=%d", d.name, c), func(b *testing.B) {
				runConcurrent(b, c, func() error {
					_, err := Sign(d.pdf, req)
					return err
				})
			})
		}
	}
}

// BenchmarkSignSM2 is BenchmarkSign with a seal of the national algorithms: a PDF electronic
// seal (GB/T 38540 SES_Signature over SM3, signed with SM2), no timestamp, beside the ECDSA
// P-256 CMS of BenchmarkSign in the same run.
func BenchmarkSignSM2(b *testing.B) {
	es, _ := testESeal(b)
	stamp, err := NewStamp(sealPNG(b))
	if err != nil {
		b.Fatal(err)
	}
	for _, d := range benchDocs(b) {
		req := Request{ESeal: es, Stamp: stamp, Place: benchPlace, Name: sealName, Reason: sealReason, Location: sealLocation,
			Time: signTime, Field: "Seal-R-1"}
		for _, c := range benchConcurrency {
			b.Run(fmt.Sprintf("%s/c=%d", d.name, c), func(b *testing.B) {
				runConcurrent(b, c, func() error {
					_, err := Sign(d.pdf, req)
					return err
				})
			})
		}
	}
}

// BenchmarkFloorSM2 is BenchmarkFloor for SM2: SM3 of the whole file and one SM2 signature.
func BenchmarkFloorSM2(b *testing.B) {
	es, _ := testESeal(b)
	for _, d := range benchDocs(b) {
		for _, c := range benchConcurrency {
			b.Run(fmt.Sprintf("%s/c=%d", d.name, c), func(b *testing.B) {
				runConcurrent(b, c, func() error {
					sum := sm3.Sum(d.pdf)
					_, err := es.Signer.Sign(rand.Reader, sum[:], nil)
					return err
				})
			})
		}
	}
}
