// Package tsa is sealvault's timestamping authority (RFC 3161): it answers timestamp
// queries with tokens signed by its own key, certified by the internal CA for timeStamping
// alone, with serial numbers drawn from a source that is monotonic across processes (a
// PostgreSQL sequence in the service).
package tsa

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/digitorus/pkcs7"
	"github.com/digitorus/timestamp"
)

// TSA signs timestamp tokens.
type TSA struct {
	Cert  *x509.Certificate // the TSA's certificate (timeStamping, critical)
	Chain []*x509.Certificate
	Key   crypto.Signer
	// Policy is the TSA policy every token names (TSTInfo.policy).
	Policy asn1.ObjectIdentifier
	// Accuracy is the accuracy tokens state (at least a microsecond).
	Accuracy time.Duration
	// Serial returns the next serial number: unique across every process that signs with
	// this TSA (RFC 3161 §2.4.2), and increasing within one.
	Serial func(ctx context.Context) (*big.Int, error)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// A QueryError is a query that is not a timestamp request this TSA answers.
type QueryError struct{ Reason string }

func (e *QueryError) Error() string { return "tsa: " + e.Reason }

var (
	oidTSTInfo              = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 1, 4}
	oidSigningCertificateV2 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 47}
	oidSHA256               = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	hashOIDs                = map[crypto.Hash]asn1.ObjectIdentifier{
		crypto.SHA256: oidSHA256,
		crypto.SHA384: {2, 16, 840, 1, 101, 3, 4, 2, 2},
		crypto.SHA512: {2, 16, 840, 1, 101, 3, 4, 2, 3},
	}
)

type tstInfo struct {
	Version        int
	Policy         asn1.ObjectIdentifier
	MessageImprint messageImprint
	SerialNumber   *big.Int
	GenTime        time.Time     `asn1:"generalized"`
	Accuracy       accuracy      `asn1:"optional,omitempty"`
	Ordering       bool          `asn1:"optional,default:false"`
	Nonce          *big.Int      `asn1:"optional,omitempty"`
	TSA            asn1.RawValue `asn1:"optional,omitempty,tag:0"`
}

type messageImprint struct {
	HashAlgorithm algorithm
	HashedMessage []byte
}

type algorithm struct {
	Algorithm asn1.ObjectIdentifier
}

type accuracy struct {
	Seconds int64 `asn1:"optional,omitempty"`
	Millis  int64 `asn1:"optional,omitempty,tag:0"`
	Micros  int64 `asn1:"optional,omitempty,tag:1"`
}

type essCertIDv2 struct {
	CertHash []byte // SHA-256, the default hash algorithm, so it is left out
}

type signingCertificateV2 struct {
	Certs []essCertIDv2
}

type pkiStatusInfo struct {
	Status int
}

type response struct {
	Status         pkiStatusInfo
	TimeStampToken asn1.RawValue `asn1:"optional"`
}

// Respond answers a DER TimeStampReq with a DER TimeStampResp: a granted token over the
// query's message imprint, or, for a policy other than the TSA's, a rejection
// (unacceptedPolicy) as RFC 3161 asks. A query that is not a request is a *QueryError.
func (t *TSA) Respond(ctx context.Context, query []byte) ([]byte, error) {
	req, err := timestamp.ParseRequest(query)
	if err != nil {
		return nil, &QueryError{Reason: "the body is not a timestamp request (RFC 3161 TimeStampReq, DER)"}
	}
	hashOID, ok := hashOIDs[req.HashAlgorithm]
	if !ok || len(req.HashedMessage) != req.HashAlgorithm.Size() {
		return nil, &QueryError{Reason: "the request's message imprint must be a SHA-256, SHA-384 or SHA-512 digest of its size"}
	}
	if len(req.TSAPolicyOID) > 0 && !req.TSAPolicyOID.Equal(t.Policy) {
		return timestamp.CreateErrorResponse(timestamp.Rejection, timestamp.UnacceptedPolicy)
	}
	tok, err := t.token(ctx, hashOID, req.HashedMessage, req.Nonce, req.Certificates)
	if err != nil {
		return nil, err
	}
	return asn1.Marshal(response{Status: pkiStatusInfo{Status: 0}, TimeStampToken: asn1.RawValue{FullBytes: tok.Token}})
}

// Token returns a timestamp token (CMS SignedData over a TSTInfo) for a SHA-256 digest,
// for the service's own signatures (PAdES signature timestamps).
func (t *TSA) Token(ctx context.Context, sha256Digest []byte) ([]byte, error) {
	s, err := t.Stamp(ctx, sha256Digest)
	return s.Token, err
}

// Stamped is a token and what it says, as the TSA made it.
type Stamped struct {
	Token  []byte
	Time   time.Time
	Serial *big.Int
}

// Stamp is Token, with the token's time and serial number, so that the caller need not
// parse the token back.
func (t *TSA) Stamp(ctx context.Context, sha256Digest []byte) (Stamped, error) {
	if len(sha256Digest) != sha256.Size {
		return Stamped{}, errors.New("tsa: token: not a SHA-256 digest")
	}
	return t.token(ctx, oidSHA256, sha256Digest, nil, true)
}

// Local reports that this TSA makes its tokens in this process, for the digest asked and
// within MaxTokenSize: a signer using it need not parse its tokens back to check them
// (pades.Timestamper).
func (t *TSA) Local() bool { return true }

// MaxTokenSize bounds the size of a token Token returns: its certificates, its name and
// room for the TSTInfo, the signed attributes and the signature.
func (t *TSA) MaxTokenSize() int {
	n := len(t.Cert.Raw) + len(t.Cert.RawSubject) + 1536
	for _, c := range t.Chain {
		n += len(c.Raw)
	}
	return n
}

func (t *TSA) token(ctx context.Context, hashOID asn1.ObjectIdentifier, digest []byte, nonce *big.Int, withCerts bool) (Stamped, error) {
	serial, err := t.Serial(ctx)
	if err != nil {
		return Stamped{}, fmt.Errorf("tsa: serial: %w", err)
	}
	now := time.Now
	if t.Now != nil {
		now = t.Now
	}
	info := tstInfo{Version: 1, Policy: t.Policy, MessageImprint: messageImprint{HashAlgorithm: algorithm{hashOID}, HashedMessage: digest},
		SerialNumber: serial, GenTime: now().UTC().Truncate(time.Second), Nonce: nonce, Accuracy: accuracyOf(t.Accuracy)}
	name, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 4, IsCompound: true, Bytes: t.Cert.RawSubject})
	if err != nil {
		return Stamped{}, err
	}
	info.TSA = asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: name}
	content, err := asn1.Marshal(info)
	if err != nil {
		return Stamped{}, fmt.Errorf("tsa: TSTInfo: %w", err)
	}
	sd, err := pkcs7.NewSignedData(content)
	if err != nil {
		return Stamped{}, fmt.Errorf("tsa: %w", err)
	}
	sd.SetContentType(oidTSTInfo)
	sd.SetDigestAlgorithm(pkcs7.OIDDigestAlgorithmSHA256)
	certHash := sha256.Sum256(t.Cert.Raw)
	cfg := pkcs7.SignerInfoConfig{SkipCertificates: !withCerts, ExtraSignedAttributes: []pkcs7.Attribute{
		{Type: oidSigningCertificateV2, Value: signingCertificateV2{Certs: []essCertIDv2{{CertHash: certHash[:]}}}},
	}}
	// AddSigner, not AddSignerChain: the latter verifies the chain's signatures on every
	// token, a third of a token's cost; the chain is the CA's own. The issuer named is the
	// certificate's RawIssuer either way.
	if err := sd.AddSigner(t.Cert, t.Key, cfg); err != nil {
		return Stamped{}, fmt.Errorf("tsa: sign: %w", err)
	}
	if withCerts {
		for _, c := range t.Chain {
			sd.AddCertificate(c)
		}
	}
	tok, err := sd.Finish()
	if err != nil {
		return Stamped{}, err
	}
	return Stamped{Token: tok, Time: info.GenTime, Serial: serial}, nil
}

func accuracyOf(d time.Duration) accuracy {
	if d < time.Microsecond {
		d = time.Microsecond
	}
	s := d.Truncate(time.Second)
	ms := (d - s).Truncate(time.Millisecond)
	us := (d - s - ms).Truncate(time.Microsecond)
	return accuracy{Seconds: int64(s / time.Second), Millis: int64(ms / time.Millisecond), Micros: int64(us / time.Microsecond)}
}
