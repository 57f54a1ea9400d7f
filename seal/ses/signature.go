package ses

import (
	"bytes"
	"encoding/asn1"
	"errors"
	"fmt"
	"time"

	"github.com/emmansun/gmsm/smx509"
)

// Signature is a parsed SES_Signature (电子签章数据) of version 4: a seal, the time, the
// digest of what was signed and where it is, signed by one of the seal's signers.
type Signature struct {
	Seal         *Seal
	Time         time.Time // timeInfo: when the signer says it signed
	DataHash     []byte    // the digest of the signed data
	PropertyInfo string    // where the signed data is (in an OFD, the Signature.xml path)
	Extensions   []Extension
	Signer       *smx509.Certificate
	Algorithm    asn1.ObjectIdentifier
	Value        []byte
	// TimeStamp is the optional timestamp token over the signature value (GB/T 20520), as
	// read; it is reported, not yet verified.
	TimeStamp []byte

	tbs []byte
}

type signatureASN1 struct {
	TBS       asn1.RawValue
	Cert      []byte
	Algorithm asn1.ObjectIdentifier
	Value     asn1.BitString
	TimeStamp asn1.BitString `asn1:"optional,explicit,tag:0"`
}

type tbsSignASN1 struct {
	Version      int
	Seal         asn1.RawValue
	Time         time.Time
	DataHash     asn1.BitString
	PropertyInfo string
	Ext          []extASN1 `asn1:"optional,explicit,tag:0"`
}

// ParseSignature parses a DER SES_Signature of version 4. What is not one is a
// *FormatError.
func ParseSignature(der []byte) (*Signature, error) {
	s, err := parseSignature(der)
	if err != nil {
		return nil, &FormatError{What: "SES_Signature", Err: err}
	}
	return s, nil
}

func parseSignature(der []byte) (*Signature, error) {
	var a signatureASN1
	rest, err := asn1.Unmarshal(der, &a)
	if err != nil {
		return nil, err
	}
	if len(rest) > 0 {
		return nil, fmt.Errorf("%d bytes after the structure", len(rest))
	}
	var tbs tbsSignASN1
	if rest, err := asn1.Unmarshal(a.TBS.FullBytes, &tbs); err != nil {
		return nil, fmt.Errorf("TBS_Sign: %w", err)
	} else if len(rest) > 0 {
		return nil, errors.New("TBS_Sign: trailing bytes")
	}
	if tbs.Version != Version {
		return nil, fmt.Errorf("TBS_Sign: version %d; only version %d (GB/T 38540-2020) is read", tbs.Version, Version)
	}
	seal, err := parseSeal(tbs.Seal.FullBytes)
	if err != nil {
		return nil, fmt.Errorf("its seal: %w", err)
	}
	s := &Signature{Seal: seal, Time: tbs.Time, DataHash: tbs.DataHash.RightAlign(), PropertyInfo: tbs.PropertyInfo,
		Algorithm: a.Algorithm, Value: a.Value.RightAlign(), TimeStamp: a.TimeStamp.RightAlign(), tbs: a.TBS.FullBytes}
	for _, e := range tbs.Ext {
		s.Extensions = append(s.Extensions, Extension(e))
	}
	if s.Signer, err = smx509.ParseCertificate(a.Cert); err != nil {
		return nil, fmt.Errorf("signer's certificate: %w", err)
	}
	return s, nil
}

// Verify checks the signature over data (the bytes whose digest it carries), judged at the
// time it states: the digest, the signer's signature, the signer's certificate valid then
// and listed by the seal, and the seal itself (Seal.Verify at that time). roots, when not
// nil, are the trusted roots of both the seal maker's and the signer's certificates.
func (s *Signature) Verify(data []byte, roots *smx509.CertPool) Report {
	return s.verify(s.Time, func(r *Report) {
		h, ok := digestFor(s.Algorithm)
		switch {
		case !ok:
			r.add("data-digest", false, "no digest is known for %s", algorithmName(s.Algorithm))
		case !bytes.Equal(h(data), s.DataHash):
			r.add("data-digest", false, "the signed data has changed: its digest is not the one signed")
		default:
			r.add("data-digest", true, "the signed data is unchanged")
		}
	}, roots)
}

// verify is Verify with the data's digest checked by checkData.
func (s *Signature) verify(at time.Time, checkData func(*Report), roots *smx509.CertPool) Report {
	r := Report{At: at}
	checkData(&r)
	if err := checkSignature(s.Signer, s.Algorithm, s.tbs, s.Value); err != nil {
		r.add("signer-signature", false, "the signer's signature does not verify: %v", err)
	} else {
		r.add("signer-signature", true, "signed by %s (%s)", s.Signer.Subject, algorithmName(s.Algorithm))
	}
	certValidAt(&r, "signer-certificate", "the signer's certificate", s.Signer, at)
	if roots != nil {
		chainTo(&r, "signer-chain", "the signer's certificate", s.Signer, roots, at)
	}
	if s.Seal.Lists(s.Signer) {
		r.add("signer-listed", true, "the seal names the signer's certificate")
	} else {
		r.add("signer-listed", false, "the seal does not name the signer's certificate: whoever signed may not use this seal")
	}
	sr := s.Seal.Verify(at, roots)
	r.Checks = append(r.Checks, sr.Checks...)
	r.finish()
	return r
}

// digestFor is the digest that goes with a signature algorithm.
func digestFor(oid asn1.ObjectIdentifier) (func([]byte) []byte, bool) {
	switch oid.String() {
	case "1.2.156.10197.1.501":
		return digestByName("sm3")
	case "1.2.840.10045.4.3.2", "1.2.840.113549.1.1.11":
		return digestByName("sha256")
	}
	return nil, false
}

// SignedData is the DER of TBS_Sign, which the signer's signature is over.
func (s *Signature) SignedData() []byte { return s.tbs }
