package pades

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"hash"
	"math/big"
	"time"

	"github.com/digitorus/pkcs7"
	"github.com/digitorus/timestamp"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// oidSignatureTimeStampToken is id-aa-signatureTimeStampToken (RFC 3161 appendix A): the
// unsigned attribute holding a timestamp token over the signature value, which makes a
// PAdES signature B-T.
var oidSignatureTimeStampToken = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 14}

// A Timestamper gives RFC 3161 timestamp tokens: Token returns the DER TimeStampToken (a CMS
// ContentInfo) of a SHA-256 digest, carrying the TSA's certificates; MaxTokenSize bounds the
// size of any token it returns, which sizes /Contents.
type Timestamper interface {
	Token(ctx context.Context, sha256Digest []byte) ([]byte, error)
	MaxTokenSize() int
}

// A TimestampError is a signature that could not be timestamped: the TSA did not answer, or
// answered something that is not a token for the signature. Nothing was signed.
type TimestampError struct{ Err error }

func (e *TimestampError) Error() string { return "timestamp: " + e.Err.Error() }
func (e *TimestampError) Unwrap() error { return e.Err }

// local reports whether ts makes its tokens in this process (it has a Local method saying
// so, like seal/tsa's TSA): such tokens are for the digest asked and within MaxTokenSize by
// construction, and are not parsed back, which would verify the TSA's signature again.
// Another TSA's tokens are checked.
func local(ts Timestamper) bool {
	l, ok := ts.(interface{ Local() bool })
	return ok && l.Local()
}

// timestampSignature asks ts for the token of the signature value sig and checks that it is
// one: a token whose imprint is the SHA-256 of sig.
func timestampSignature(ctx context.Context, ts Timestamper, sig []byte) ([]byte, error) {
	sum := sha256.Sum256(sig)
	tok, err := ts.Token(ctx, sum[:])
	if err != nil {
		return nil, &TimestampError{Err: err}
	}
	if local(ts) && len(tok) <= ts.MaxTokenSize() {
		return tok, nil
	}
	t, err := timestamp.Parse(tok)
	if err != nil {
		return nil, &TimestampError{Err: fmt.Errorf("the token cannot be read: %w", err)}
	}
	if t.HashAlgorithm != crypto.SHA256 || string(t.HashedMessage) != string(sum[:]) {
		return nil, &TimestampError{Err: errors.New("the token is not for this signature")}
	}
	if len(tok) > ts.MaxTokenSize() {
		return nil, &TimestampError{Err: fmt.Errorf("the token (%d bytes) is larger than the %d its TSA promised", len(tok), ts.MaxTokenSize())}
	}
	return tok, nil
}

// addUnsignedTimestamp writes the unsigned attributes ([1] IMPLICIT SET) with the one
// signature timestamp token tok.
func addUnsignedTimestamp(b *cryptobyte.Builder, tok []byte) {
	b.AddASN1(cbasn1.Tag(1).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(oidSignatureTimeStampToken)
			b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) { b.AddBytes(tok) })
		})
	})
}

// parseUnsignedAttributes reads the unsigned attributes of a SignerInfo, keeping the first
// signature timestamp token.
func (p *parsedCMS) parseUnsignedAttributes(attrs cryptobyte.String) error {
	for !attrs.Empty() {
		var attr, values cryptobyte.String
		var oid asn1.ObjectIdentifier
		if !attrs.ReadASN1(&attr, cbasn1.SEQUENCE) || !attr.ReadASN1ObjectIdentifier(&oid) || !attr.ReadASN1(&values, cbasn1.SET) {
			return errors.New("bad unsigned attribute")
		}
		if oid.Equal(oidSignatureTimeStampToken) {
			var tok cryptobyte.String
			if !values.ReadASN1Element(&tok, cbasn1.SEQUENCE) {
				return errors.New("bad signature timestamp attribute")
			}
			if p.timestampToken != nil {
				p.extraTimestamps++
				continue
			}
			p.timestampToken = tok
		}
	}
	return nil
}

// Timestamp is what Verify found out about a signature's timestamp (PAdES B-T).
type Timestamp struct {
	// Time is the TSA's time (TSTInfo genTime), Accuracy its stated accuracy.
	Time     time.Time
	Accuracy time.Duration
	// TSA is the TSA certificate's subject; Serial and Policy the token's.
	TSA    string
	Serial *big.Int
	Policy string
	// Cert is the TSA's certificate and Token the DER token.
	Cert  *x509.Certificate
	Token []byte
	// Valid reports that the token's signature verifies, that it is over this signature's
	// value, and that the TSA's certificate chains to the trusted roots at Time for
	// timestamping; Error says why not.
	Valid bool
	Error string

	// covers reports that the token was read, its signature verifies and it is over the
	// bytes asked, whatever its certificate's chain.
	covers bool
}

// checkTimestamp verifies the signature timestamp token of p, if it has one.
func (s *Signature) checkTimestamp(p *parsedCMS, roots *x509.CertPool) {
	if p.timestampToken == nil {
		return
	}
	if p.extraTimestamps > 0 {
		s.problem("the CMS has %d more signature timestamps; only the first is checked", p.extraTimestamps)
	}
	s.Timestamp = checkToken(p.timestampToken, func(h hash.Hash) { h.Write(p.signature) }, roots, "this signature's value")
	if !s.Timestamp.Valid {
		s.problem("the signature timestamp is not valid: %s", s.Timestamp.Error)
	}
}

// checkToken verifies the timestamp token tok over what covered writes, described by what.
func checkToken(tok []byte, covered func(hash.Hash), roots *x509.CertPool, what string) *Timestamp {
	ts := &Timestamp{Token: tok}
	fail := func(format string, args ...any) *Timestamp {
		ts.Error = fmt.Sprintf(format, args...)
		return ts
	}
	p7, err := pkcs7.Parse(tok)
	if err != nil {
		return fail("the token cannot be read: %v", err)
	}
	t, err := timestamp.Parse(tok)
	if err != nil {
		return fail("%v", err)
	}
	ts.Time, ts.Accuracy, ts.Serial, ts.Policy = t.Time, t.Accuracy, t.SerialNumber, t.Policy.String()
	signer := p7.GetOnlySigner()
	if signer == nil || len(t.Certificates) == 0 {
		return fail("the token does not carry its TSA's certificate")
	}
	ts.Cert, ts.TSA = signer, signer.Subject.String()
	if !t.HashAlgorithm.Available() {
		return fail("the token's digest algorithm is not supported")
	}
	h := t.HashAlgorithm.New()
	covered(h)
	if string(h.Sum(nil)) != string(t.HashedMessage) {
		return fail("the token is over other bytes than %s", what)
	}
	ts.covers = true
	if roots == nil {
		return fail("no trusted roots were given")
	}
	inter := x509.NewCertPool()
	for _, c := range p7.Certificates {
		if c != signer {
			inter.AddCert(c)
		}
	}
	if _, err := signer.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: t.Time,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping}}); err != nil {
		return fail("the TSA's certificate is not trusted for timestamping: %v", err)
	}
	ts.Valid = true
	return ts
}

// checkDocumentTimestamp verifies a document timestamp (/SubFilter /ETSI.RFC3161): its
// /Contents is a timestamp token over the byte ranges.
func (s *Signature) checkDocumentTimestamp(data, der []byte, roots *x509.CertPool) {
	s.DocumentTimestamp = true
	br := s.ByteRange
	ts := checkToken(trimCMS(der), func(h hash.Hash) {
		h.Write(data[:br[1]])
		h.Write(data[br[2] : br[2]+br[3]])
	}, roots, "the document's signed bytes")
	s.Timestamp, s.Time = ts, ts.Time
	if ts.Cert != nil {
		s.Signer, s.Chain = ts.Cert, []*x509.Certificate{ts.Cert}
	}
	s.DigestValid = ts.covers
	s.ChainValid = ts.Valid
	if !ts.Valid {
		s.ChainError = ts.Error
		s.problem("the document timestamp is not valid: %s", ts.Error)
	}
}
