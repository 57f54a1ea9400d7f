package pades

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"hash"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/digitorus/timestamp"
)

// stampedValue is what the seed tokens of FuzzTimestampToken are over, as a signature
// timestamp is over a signature's value.
var stampedValue = []byte("签名值 signature value")

// FuzzTimestampToken feeds any bytes, mostly mutations of timestamp tokens, to the token
// check behind every signature timestamp and document timestamp that Verify reads (RFC 3161
// replies of another TSA, tokens inside any posted PDF). Nothing panics; and a token
// reported valid is one of the seeds' (same TSA certificate, time, serial and imprint): a
// changed token never verifies.
func FuzzTimestampToken(f *testing.F) {
	roots, tokens := timestampSeeds(f)
	type said struct {
		time   time.Time
		serial string
	}
	seeds := map[said]bool{}
	for _, tok := range tokens {
		ts := checkToken(tok, func(h hash.Hash) { h.Write(stampedValue) }, roots, "the value")
		if !ts.Valid {
			f.Fatalf("a seed token is not valid: %s", ts.Error)
		}
		seeds[said{ts.Time, ts.Serial.String()}] = true
		f.Add(tok)
	}
	f.Fuzz(func(t *testing.T, tok []byte) {
		ts := checkToken(tok, func(h hash.Hash) { h.Write(stampedValue) }, roots, "the value")
		if !ts.Valid {
			if ts.Error == "" {
				t.Fatal("an invalid token without a reason")
			}
			return
		}
		if !seeds[said{ts.Time, ts.Serial.String()}] {
			t.Fatalf("a token never made is valid: time %s, serial %s", ts.Time, ts.Serial)
		}
		p, err := timestamp.Parse(tok)
		if err != nil {
			t.Fatalf("a valid token does not parse on its own: %v", err)
		}
		h := p.HashAlgorithm.New()
		h.Write(stampedValue)
		if string(h.Sum(nil)) != string(p.HashedMessage) {
			t.Fatal("a valid token is over other bytes")
		}
	})
}

// timestampSeeds are tokens of a test TSA over stampedValue (one made for a signature, with
// certificates; one answered to a SHA-384 query with a nonce) and the root that issued the
// TSA's certificate, kept as files for the reason verifySeeds gives; -update-seeds makes
// them anew.
func timestampSeeds(f *testing.F) (*x509.CertPool, [][]byte) {
	const dir = "testdata/timestamp-seeds"
	if *updateSeeds {
		os.RemoveAll(dir)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			f.Fatal(err)
		}
		ts := testTSA(f, signTime)
		ctx := context.Background()
		h := crypto.SHA256.New()
		h.Write(stampedValue)
		tok1, err := ts.Token(ctx, h.Sum(nil))
		if err != nil {
			f.Fatal(err)
		}
		q, err := timestamp.CreateRequest(bytes.NewReader(stampedValue), &timestamp.RequestOptions{Hash: crypto.SHA384, Certificates: true, Nonce: big.NewInt(20261207)})
		if err != nil {
			f.Fatal(err)
		}
		reply, err := ts.Respond(ctx, q)
		if err != nil {
			f.Fatal(err)
		}
		resp, err := timestamp.ParseResponse(reply)
		if err != nil {
			f.Fatal(err)
		}
		files := map[string][]byte{
			"root.pem":    pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Chain[0].Raw}),
			"token-1.der": tok1,
			"token-2.der": resp.RawToken,
		}
		for name, b := range files {
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
				f.Fatal(err)
			}
		}
	}
	rootPEM, err := os.ReadFile(filepath.Join(dir, "root.pem"))
	if err != nil {
		f.Fatalf("%v: run go test -run FuzzTimestampToken -update-seeds ./seal/pades", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(rootPEM) {
		f.Fatal("root.pem holds no certificate")
	}
	var tokens [][]byte
	for i := 1; ; i++ {
		b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("token-%d.der", i)))
		if err != nil {
			break
		}
		tokens = append(tokens, b)
	}
	if len(tokens) == 0 {
		f.Fatalf("no tokens in %s", dir)
	}
	return roots, tokens
}
