package ses

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/asn1"
	"errors"
	"fmt"
	"time"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"
)

// SignSpec is what an electronic signature (电子签章, SES_Signature version 4) states and
// who makes it.
type SignSpec struct {
	// Seal is the SES_Seal (DER) applied; its certificate list must name Cert.
	Seal []byte
	// Key is the signer's SM2 key (signing with SM3 and the default user identity of GB/T
	// 35276) and Cert its certificate.
	Key  crypto.Signer
	Cert *smx509.Certificate
	// Time is timeInfo, the time the signer states.
	Time time.Time
	// DataHash is the SM3 digest of the signed data (in a PDF, of its byte ranges).
	DataHash []byte
	// PropertyInfo says where the signed data is (in a PDF, the signature field's name).
	PropertyInfo string
	// TimeStamp, when set, is asked for a timestamp token over the signature value, stored
	// as the signature's timeStamp (GB/T 38540 §7.3, GB/T 20520 token).
	TimeStamp func(value []byte) ([]byte, error)
}

type signatureOut struct {
	TBS       asn1.RawValue
	Cert      []byte
	Algorithm asn1.ObjectIdentifier
	Value     asn1.BitString
	TimeStamp asn1.BitString `asn1:"optional,explicit,tag:0"`
}

type tbsSignOut struct {
	Version      int
	Seal         asn1.RawValue
	Time         time.Time `asn1:"generalized"`
	DataHash     asn1.BitString
	PropertyInfo string `asn1:"ia5"`
}

// Sign writes the SES_Signature that spec describes: TBS_Sign (version, the seal, the time,
// the data's SM3 digest and where the data is) signed by the signer's SM2 key over its DER,
// as ParseSignature and Signature.Verify read it, then the optional timestamp.
func Sign(spec SignSpec) ([]byte, error) {
	if spec.Key == nil || spec.Cert == nil {
		return nil, errors.New("ses: sign: a signer's key and certificate are required")
	}
	if pub, ok := spec.Key.Public().(*ecdsa.PublicKey); !ok || pub.Curve != sm2.P256() {
		return nil, errors.New("ses: sign: the signer's key is not an SM2 key")
	}
	if !spec.Cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool }).Equal(spec.Key.Public()) {
		return nil, errors.New("ses: sign: the signer's key is not the one of its certificate")
	}
	if len(spec.DataHash) != 32 {
		return nil, fmt.Errorf("ses: sign: the data's digest has %d bytes, an SM3 digest 32", len(spec.DataHash))
	}
	if !ascii(spec.PropertyInfo) {
		return nil, fmt.Errorf("ses: sign: property information %q must be printable ASCII", spec.PropertyInfo)
	}
	seal, err := parseSeal(spec.Seal)
	if err != nil {
		return nil, fmt.Errorf("ses: sign: the seal: %w", err)
	}
	if !seal.Lists(spec.Cert) {
		return nil, errors.New("ses: sign: the seal does not name the signer's certificate")
	}
	tbs, err := asn1.Marshal(tbsSignOut{Version: Version, Seal: asn1.RawValue{FullBytes: spec.Seal},
		Time: spec.Time.UTC().Truncate(time.Second), DataHash: asn1.BitString{Bytes: spec.DataHash, BitLength: 8 * len(spec.DataHash)},
		PropertyInfo: spec.PropertyInfo})
	if err != nil {
		return nil, fmt.Errorf("ses: sign: %w", err)
	}
	sig, err := spec.Key.Sign(rand.Reader, tbs, sm2.DefaultSM2SignerOpts)
	if err != nil {
		return nil, fmt.Errorf("ses: sign: %w", err)
	}
	out := signatureOut{TBS: asn1.RawValue{FullBytes: tbs}, Cert: spec.Cert.Raw, Algorithm: oidSM2WithSM3,
		Value: asn1.BitString{Bytes: sig, BitLength: 8 * len(sig)}}
	if spec.TimeStamp != nil {
		tok, err := spec.TimeStamp(sig)
		if err != nil {
			return nil, err
		}
		out.TimeStamp = asn1.BitString{Bytes: tok, BitLength: 8 * len(tok)}
	}
	der, err := asn1.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("ses: sign: %w", err)
	}
	return der, nil
}

// MaxSignatureSize bounds the size of what Sign writes for seal (DER), a signer's
// certificate of certLen bytes, property information of propLen bytes and a timestamp token
// of at most tokenLen bytes (0: none).
func MaxSignatureSize(seal []byte, certLen, propLen, tokenLen int) int {
	n := len(seal) + certLen + propLen + 32 + 72 + 64
	if tokenLen > 0 {
		n += tokenLen + 16
	}
	return n
}

// VerifyDigest is Verify for signed data known by its digest under the signature's
// algorithm (a PDF's byte ranges, hashed as they are read), judged at time at: the time a
// trusted timestamp gives, or when zero the time the signature states.
func (s *Signature) VerifyDigest(digest []byte, roots *smx509.CertPool, at time.Time) Report {
	if at.IsZero() {
		at = s.Time
	}
	return s.verify(at, func(report *Report) {
		if bytes.Equal(digest, s.DataHash) {
			report.add("data-digest", true, "the signed data is unchanged")
		} else {
			report.add("data-digest", false, "the signed data has changed: its digest is not the one signed")
		}
	}, roots)
}
