package pades

import (
	"context"
	"crypto"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"strings"
	"time"

	"github.com/emmansun/gmsm/sm3"
	"github.com/emmansun/gmsm/smx509"

	"sealvault/seal/ses"
)

// SubFilterSES is the /SubFilter of a PDF electronic seal whose /Contents is a GB/T 38540
// electronic signature (SES_Signature, version 4) over the SM3 digest of the byte ranges,
// with /Filter /Adobe.PPKLite. GM/T 0112-2021 §7 describes PDF electronic seals; its text
// (sold, not public) names the dictionary entries, and this name is sealvault's choice made
// without it (README, "Departures from the design"). Verify also reads an SES_Signature
// under another /SubFilter when its /Contents parses as one.
const SubFilterSES = "GB.SES_Signature.v4"

// ElectronicSeal is a seal applied with the national algorithms: the electronic seal data
// (SES_Seal) and the SM2 key and certificate of a signer it names. A Request with one makes
// a PDF electronic seal (SubFilterSES) instead of a CMS signature.
type ElectronicSeal struct {
	// Seal is the SES_Seal (DER); its picture is what a stamp should draw.
	Seal []byte
	// Signer is the SM2 key; Cert its certificate, listed by Seal.
	Signer crypto.Signer
	Cert   *smx509.Certificate
}

// contentsSigner makes what a signature's /Contents holds from the digest of its byte
// ranges.
type contentsSigner interface {
	// newHash is the digest of the byte ranges the contents are over.
	newHash() hash.Hash
	// size bounds the DER size of the contents.
	size() (int, error)
	// contents signs digest for the signature field named field.
	contents(ctx context.Context, digest []byte, field string) ([]byte, error)
}

func (s cmsSigner) newHash() hash.Hash { return sha256.New() }
func (s cmsSigner) size() (int, error) { return s.cmsSize() }

func (s cmsSigner) contents(ctx context.Context, digest []byte, _ string) ([]byte, error) {
	attrs, err := signedAttributes(digest, s.chain[0])
	if err != nil {
		return nil, err
	}
	sig, err := s.sign(attrs)
	if err != nil {
		return nil, fmt.Errorf("signer: %w", err)
	}
	var tok []byte
	if s.ts != nil {
		if tok, err = timestampSignature(ctx, s.ts, sig); err != nil {
			return nil, err
		}
	}
	return s.buildCMS(attrs, sig, tok)
}

// sesSigner writes a GB/T 38540 electronic signature.
type sesSigner struct {
	es  *ElectronicSeal
	req *Request
}

func (s sesSigner) newHash() hash.Hash { return sm3.New() }

func (s sesSigner) size() (int, error) {
	tok := 0
	if s.req.Timestamp != nil {
		tok = s.req.Timestamp.MaxTokenSize()
	}
	return ses.MaxSignatureSize(s.es.Seal, len(s.es.Cert.Raw), len(s.req.Field)+16, tok), nil
}

func (s sesSigner) contents(ctx context.Context, digest []byte, field string) ([]byte, error) {
	spec := ses.SignSpec{Seal: s.es.Seal, Key: s.es.Signer, Cert: s.es.Cert, Time: s.req.Time, DataHash: digest}
	if asciiName(field) {
		spec.PropertyInfo = field
	}
	if ts := s.req.Timestamp; ts != nil {
		spec.TimeStamp = func(v []byte) ([]byte, error) { return timestampSignature(ctx, ts, v) }
	}
	return ses.Sign(spec)
}

func asciiName(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// check rejects an electronic seal that cannot sign.
func (e *ElectronicSeal) check() error {
	if e.Signer == nil || e.Cert == nil || len(e.Seal) == 0 {
		return errors.New("an electronic seal needs its seal data, an SM2 key and its certificate")
	}
	pub, ok := e.Cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(e.Signer.Public()) {
		return errors.New("the electronic seal's certificate is not its signer's")
	}
	return nil
}

// ESealReport is what a PDF electronic seal (a GB/T 38540 SES_Signature in /Contents)
// states, and each check made of it.
type ESealReport struct {
	// Signature is the electronic signature as read: its seal data (Seal), signer's SM2
	// certificate (Signer), stated time and property information.
	Signature *ses.Signature
	// Checks are the checks of ses.Signature.VerifyDigest: the data's digest, the signer's
	// signature, certificate and chain, the seal naming the signer, and the seal data
	// itself (maker's signature, validity, maker's chain), judged at the trusted time.
	Checks []ses.Check
}

// knownCMSSubFilters are the /SubFilter values whose /Contents is a CMS.
var knownCMSSubFilters = map[string]bool{"ETSI.CAdES.detached": true, "adbe.pkcs7.detached": true, "adbe.pkcs7.sha1": true}

// isESeal reports whether a signature is a PDF electronic seal: named so, or under another
// vendor's /SubFilter with an SES_Signature in /Contents.
func (s *Signature) isESeal(der []byte) bool {
	if s.SubFilter == SubFilterSES {
		return true
	}
	if knownCMSSubFilters[s.SubFilter] || s.SubFilter == "ETSI.RFC3161" {
		return false
	}
	_, err := ses.ParseSignature(trimCMS(der))
	return err == nil
}

// checkESeal verifies an electronic seal: SM3 over the byte ranges against its data hash,
// the signer's SM2 signature, the signer's certificate against the SM2 roots, the seal
// data, and the timestamp of the signature value (whose time, when the token verifies, is
// the time everything is judged at).
func (s *Signature) checkESeal(data, der []byte, vc verifyContext) {
	sig, err := ses.ParseSignature(trimCMS(der))
	if err != nil {
		s.problem("the electronic signature (GB/T 38540) cannot be read: %v", err)
		return
	}
	h := sm3.New()
	br := s.ByteRange
	h.Write(data[:br[1]])
	h.Write(data[br[2] : br[2]+br[3]])
	if s.Time.IsZero() {
		s.Time = sig.Time
	}
	var at time.Time
	if len(sig.TimeStamp) > 0 {
		s.Timestamp = checkToken(sig.TimeStamp, func(h hash.Hash) { h.Write(sig.Value) }, vc.roots, "this signature's value")
		if s.Timestamp.Valid {
			at = s.Timestamp.Time
		} else {
			s.problem("the signature timestamp is not valid: %s", s.Timestamp.Error)
		}
	}
	roots := vc.sm2Roots
	if roots == nil {
		roots = smx509.NewCertPool()
	}
	r := sig.VerifyDigest(h.Sum(nil), roots, at)
	s.ESeal = &ESealReport{Signature: sig, Checks: r.Checks}
	s.DigestValid, s.ChainValid = true, true
	var chainErrs []string
	for _, c := range r.Checks {
		if c.OK {
			continue
		}
		if c.Name == "data-digest" || c.Name == "signer-signature" {
			s.DigestValid = false
			s.problem("%s", c.Detail)
			continue
		}
		s.ChainValid = false
		chainErrs = append(chainErrs, c.Detail)
	}
	if at.IsZero() {
		at = sig.Time
	}
	var embedded [][]byte
	if vc.vd != nil {
		embedded = vc.vd.CRLs
	}
	s.Revocation = sm2Revocation(sig.Signer, roots, embedded, vc.crls)
	if rv := s.Revocation; rv != nil && rv.Revoked && !rv.RevokedAt.After(at) {
		s.ChainValid = false
		chainErrs = append(chainErrs, fmt.Sprintf("the signer certificate was revoked on %s, before the signature's time %s",
			rv.RevokedAt.UTC().Format(time.RFC3339), at.UTC().Format(time.RFC3339)))
	}
	s.ChainError = strings.Join(chainErrs, "; ")
}

// sm2Revocation looks an SM2 signer certificate up in the CRLs of its issuer among the SM2
// roots; nil when it does not chain to one or no CRL of it is at hand.
func sm2Revocation(signer *smx509.Certificate, roots *smx509.CertPool, embedded, given [][]byte) *Revocation {
	chains, err := signer.Verify(smx509.VerifyOptions{Roots: roots, CurrentTime: signer.NotBefore.Add(time.Second),
		KeyUsages: []smx509.ExtKeyUsage{smx509.ExtKeyUsageAny}})
	if err != nil || len(chains) == 0 || len(chains[0]) < 2 {
		return nil
	}
	return revocation(signer.SerialNumber, chains[0][1], embedded, given)
}
