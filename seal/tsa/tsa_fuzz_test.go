package tsa_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"testing"

	"github.com/digitorus/timestamp"

	"sealvault/seal/tsa"
)

// FuzzRespond: any bytes as the body of POST /api/v1/tsa (public, no login). A query that
// is not a request is a *QueryError; whatever is answered is a TimeStampResp, and a granted
// one carries a token that verifies against the root over exactly the query's imprint and
// nonce, with a new serial number.
func FuzzRespond(f *testing.F) {
	ts, _ := newTSA(f)
	roots := x509.NewCertPool()
	roots.AddCert(ts.Chain[0])
	digest := sha256.Sum256([]byte("营业执照"))
	for _, opts := range []*timestamp.RequestOptions{
		{Hash: crypto.SHA256, Certificates: true},
		{Hash: crypto.SHA256},
		{Hash: crypto.SHA384, Certificates: true},
	} {
		q, err := timestamp.CreateRequest(bytes.NewReader([]byte("营业执照")), opts)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(q)
	}
	f.Add(digest[:])
	f.Add([]byte{0x30, 0x03, 0x02, 0x01, 0x01})
	var last int64
	f.Fuzz(func(t *testing.T, query []byte) {
		reply, err := ts.Respond(context.Background(), query)
		var qe *tsa.QueryError
		if errors.As(err, &qe) {
			if qe.Reason == "" {
				t.Fatal("a refusal with no reason")
			}
			return
		}
		if err != nil {
			t.Fatalf("an error that is not a refusal of the query: %v", err)
		}
		req, err := timestamp.ParseRequest(query)
		if err != nil {
			t.Fatalf("a query the parser refuses was answered: %v", err)
		}
		resp, err := timestamp.ParseResponse(reply)
		if err != nil {
			// a rejection (unaccepted policy) has no token to parse
			if len(req.TSAPolicyOID) > 0 && !req.TSAPolicyOID.Equal(ts.Policy) {
				return
			}
			t.Fatalf("the answer to a valid query does not parse: %v", err)
		}
		if !bytes.Equal(resp.HashedMessage, req.HashedMessage) || resp.HashAlgorithm != req.HashAlgorithm {
			t.Fatal("the token is over another imprint than the query's")
		}
		if (req.Nonce == nil) != (resp.Nonce == nil) || (req.Nonce != nil && req.Nonce.Cmp(resp.Nonce) != 0) {
			t.Fatalf("nonce %v answered with %v", req.Nonce, resp.Nonce)
		}
		if req.Certificates != (len(resp.Certificates) > 0) {
			t.Fatalf("certificates asked %v, carried %d", req.Certificates, len(resp.Certificates))
		}
		if s := resp.SerialNumber.Int64(); s <= last {
			t.Fatalf("serial %d after %d", s, last)
		} else {
			last = s
		}
		if _, err := ts.Cert.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: resp.Time,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping}}); err != nil {
			t.Fatalf("the TSA's certificate does not hold at the token's time: %v", err)
		}
	})
}
