package pades

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"slices"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Object identifiers of the CMS (RFC 5652), ESS (RFC 5035) and algorithm (RFC 5754, 5758,
// 8017) structures written and read here.
var (
	oidData                 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidSignedData           = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidContentType          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	oidMessageDigest        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
	oidSigningTime          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 5}
	oidSigningCertificateV2 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 47}
	oidSHA1                 = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	oidSHA256               = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidSHA384               = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}
	oidSHA512               = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}
	oidRSAEncryption        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	oidSHA256WithRSA        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}
	oidSHA384WithRSA        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 12}
	oidSHA512WithRSA        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 13}
	oidECDSAWithSHA256      = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	oidECDSAWithSHA384      = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 3}
	oidECDSAWithSHA512      = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 4}
	oidECPublicKey          = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
)

// cmsSigner carries what buildCMS needs besides the digest.
type cmsSigner struct {
	key   crypto.Signer
	chain []*x509.Certificate
	// ts, when set, timestamps the signature value (PAdES B-T).
	ts Timestamper
}

// maxSignatureLen is the longest signature key can produce, which sizes /Contents.
func maxSignatureLen(key crypto.PublicKey) (int, error) {
	switch k := key.(type) {
	case *ecdsa.PublicKey:
		n := (k.Curve.Params().BitSize+7)/8 + 1 // an INTEGER may need a leading zero
		return 2 + 2*(n+2) + 2, nil
	case *rsa.PublicKey:
		return k.Size(), nil
	}
	return 0, fmt.Errorf("unsupported key type %T (want ECDSA or RSA)", key)
}

// signatureAlgorithm returns the CMS signature algorithm identifier for key with SHA-256.
func signatureAlgorithm(key crypto.PublicKey) (oid asn1.ObjectIdentifier, nullParams bool) {
	if _, ok := key.(*rsa.PublicKey); ok {
		return oidRSAEncryption, true
	}
	return oidECDSAWithSHA256, false
}

// signedAttributes returns the DER SET of the signed attributes: content type, message
// digest and the ESS signing-certificate-v2 that binds the signer certificate. PAdES
// baseline puts the signing time in the signature dictionary, not here.
func signedAttributes(digest []byte, cert *x509.Certificate) ([]byte, error) {
	certHash := sha256.Sum256(cert.Raw)
	attrs := [][]byte{
		attribute(oidContentType, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(oidData) }),
		attribute(oidMessageDigest, func(b *cryptobyte.Builder) { b.AddASN1OctetString(digest) }),
		attribute(oidSigningCertificateV2, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // SigningCertificateV2
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // certs
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // ESSCertIDv2
						// hashAlgorithm is omitted: SHA-256 is its DEFAULT.
						b.AddASN1OctetString(certHash[:])
						b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // IssuerSerial
							b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // GeneralNames
								b.AddASN1(cbasn1.Tag(4).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
									b.AddBytes(cert.RawIssuer)
								})
							})
							b.AddASN1BigInt(cert.SerialNumber)
						})
					})
				})
			})
		}),
	}
	for _, a := range attrs {
		if a == nil {
			return nil, errors.New("cannot encode signed attributes")
		}
	}
	// DER orders the elements of a SET OF by their encodings.
	slices.SortFunc(attrs, bytes.Compare)
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) {
		for _, a := range attrs {
			b.AddBytes(a)
		}
	})
	return b.Bytes()
}

func attribute(oid asn1.ObjectIdentifier, value func(*cryptobyte.Builder)) []byte {
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(oid)
		b.AddASN1(cbasn1.SET, value)
	})
	der, err := b.Bytes()
	if err != nil {
		return nil
	}
	return der
}

// sign signs the DER signed attributes with s.key: ECDSA signatures come DER-encoded from
// crypto.Signer, RSA ones are PKCS #1 v1.5.
func (s cmsSigner) sign(attrs []byte) ([]byte, error) {
	h := sha256.Sum256(attrs)
	return s.key.Sign(rand.Reader, h[:], crypto.SHA256)
}

// buildCMS returns a detached CMS SignedData (RFC 5652) with one signer, the signed
// attributes attrs (a DER SET), the signature sig and, when tok is not nil, the signature
// timestamp token tok as its one unsigned attribute.
func (s cmsSigner) buildCMS(attrs, sig, tok []byte) ([]byte, error) {
	cert := s.chain[0]
	sigAlg, null := signatureAlgorithm(cert.PublicKey)
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // ContentInfo
		b.AddASN1ObjectIdentifier(oidSignedData)
		b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // SignedData
				b.AddASN1Int64(1)
				b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) {
					addAlgorithm(b, oidSHA256, false)
				})
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // EncapsulatedContentInfo
					b.AddASN1ObjectIdentifier(oidData)
				})
				b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
					for _, c := range s.chain {
						b.AddBytes(c.Raw)
					}
				})
				b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) { // SignerInfos
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1Int64(1)
						b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // IssuerAndSerialNumber
							b.AddBytes(cert.RawIssuer)
							b.AddASN1BigInt(cert.SerialNumber)
						})
						addAlgorithm(b, oidSHA256, false)
						// The signed attributes are signed as a SET and stored as [0] IMPLICIT.
						b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
							var in cryptobyte.String = attrs
							var body cryptobyte.String
							if !in.ReadASN1(&body, cbasn1.SET) {
								b.SetError(errors.New("signed attributes are not a SET"))
								return
							}
							b.AddBytes(body)
						})
						addAlgorithm(b, sigAlg, null)
						b.AddASN1OctetString(sig)
						if tok != nil {
							addUnsignedTimestamp(b, tok)
						}
					})
				})
			})
		})
	})
	return b.Bytes()
}

func addAlgorithm(b *cryptobyte.Builder, oid asn1.ObjectIdentifier, nullParams bool) {
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(oid)
		if nullParams {
			b.AddASN1NULL()
		}
	})
}

// cmsSize returns an upper bound of the DER size of the CMS that s will produce.
func (s cmsSigner) cmsSize() (int, error) {
	maxSig, err := maxSignatureLen(s.chain[0].PublicKey)
	if err != nil {
		return 0, err
	}
	attrs, err := signedAttributes(make([]byte, sha256.Size), s.chain[0])
	if err != nil {
		return 0, err
	}
	var tok []byte
	if s.ts != nil {
		tok = make([]byte, s.ts.MaxTokenSize())
	}
	der, err := s.buildCMS(attrs, make([]byte, maxSig), tok)
	if err != nil {
		return 0, err
	}
	// Margin for length octets that may grow and for signers that pad differently.
	return len(der) + 64, nil
}

// parsedCMS is what Verify needs from a CMS SignedData with one signer.
type parsedCMS struct {
	certs        []*x509.Certificate
	signer       *x509.Certificate
	digestAlg    crypto.Hash
	sigAlg       asn1.ObjectIdentifier
	signedAttrs  []byte // as a DER SET, the bytes the signature covers
	signature    []byte
	digest       []byte // the message-digest attribute
	contentType  asn1.ObjectIdentifier
	essCertHash  []byte // from signing-certificate-v2, if present
	essHash      crypto.Hash
	hasESS       bool
	hasSignTime  bool
	extraSigners int
	// timestampToken is the first signature timestamp token among the unsigned attributes.
	timestampToken  []byte
	extraTimestamps int
}

// parseCMS parses a DER ContentInfo holding a detached SignedData. Trailing zero bytes (the
// unused part of /Contents) are ignored.
func parseCMS(der []byte) (*parsedCMS, error) {
	in := cryptobyte.String(der)
	var ci, sd, certs, infos cryptobyte.String
	var ctype asn1.ObjectIdentifier
	if !in.ReadASN1(&ci, cbasn1.SEQUENCE) || !ci.ReadASN1ObjectIdentifier(&ctype) {
		return nil, errors.New("not a DER ContentInfo")
	}
	if !ctype.Equal(oidSignedData) {
		return nil, fmt.Errorf("content type %v is not SignedData", ctype)
	}
	var explicit cryptobyte.String
	if !ci.ReadASN1(&explicit, cbasn1.Tag(0).Constructed().ContextSpecific()) || !explicit.ReadASN1(&sd, cbasn1.SEQUENCE) {
		return nil, errors.New("bad SignedData")
	}
	var version int64
	var digestAlgs, encap cryptobyte.String
	if !sd.ReadASN1Integer(&version) || !sd.ReadASN1(&digestAlgs, cbasn1.SET) || !sd.ReadASN1(&encap, cbasn1.SEQUENCE) {
		return nil, errors.New("bad SignedData")
	}
	var eType asn1.ObjectIdentifier
	if !encap.ReadASN1ObjectIdentifier(&eType) {
		return nil, errors.New("bad EncapsulatedContentInfo")
	}
	if !encap.Empty() {
		return nil, errors.New("SignedData is not detached")
	}
	p := &parsedCMS{}
	var hasCerts bool
	if !sd.ReadOptionalASN1(&certs, &hasCerts, cbasn1.Tag(0).Constructed().ContextSpecific()) {
		return nil, errors.New("bad certificates")
	}
	for !certs.Empty() {
		var raw cryptobyte.String
		if !certs.ReadASN1Element(&raw, cbasn1.SEQUENCE) {
			// Attribute certificates and other choices are skipped.
			var tag cbasn1.Tag
			if !certs.ReadAnyASN1Element(&raw, &tag) {
				return nil, errors.New("bad certificates")
			}
			continue
		}
		c, err := x509.ParseCertificate(raw)
		if err != nil {
			return nil, fmt.Errorf("certificate: %w", err)
		}
		p.certs = append(p.certs, c)
	}
	var skip cryptobyte.String
	var hasCRLs bool
	if !sd.ReadOptionalASN1(&skip, &hasCRLs, cbasn1.Tag(1).Constructed().ContextSpecific()) || !sd.ReadASN1(&infos, cbasn1.SET) {
		return nil, errors.New("bad SignerInfos")
	}
	var si cryptobyte.String
	if !infos.ReadASN1(&si, cbasn1.SEQUENCE) {
		return nil, errors.New("no SignerInfo")
	}
	for !infos.Empty() {
		var more cryptobyte.String
		if !infos.ReadASN1(&more, cbasn1.SEQUENCE) {
			break
		}
		p.extraSigners++
	}
	if err := p.parseSignerInfo(si); err != nil {
		return nil, fmt.Errorf("SignerInfo: %w", err)
	}
	return p, nil
}

func (p *parsedCMS) parseSignerInfo(si cryptobyte.String) error {
	var version int64
	if !si.ReadASN1Integer(&version) {
		return errors.New("bad version")
	}
	var sid cryptobyte.String
	var sidTag cbasn1.Tag
	if !si.ReadAnyASN1(&sid, &sidTag) {
		return errors.New("bad signer identifier")
	}
	switch sidTag {
	case cbasn1.SEQUENCE: // IssuerAndSerialNumber
		var issuer cryptobyte.String
		serial := new(big.Int)
		if !sid.ReadASN1Element(&issuer, cbasn1.SEQUENCE) || !sid.ReadASN1Integer(serial) {
			return errors.New("bad IssuerAndSerialNumber")
		}
		for _, c := range p.certs {
			if bytes.Equal(c.RawIssuer, issuer) && c.SerialNumber.Cmp(serial) == 0 {
				p.signer = c
			}
		}
	case cbasn1.Tag(0).ContextSpecific(): // SubjectKeyIdentifier
		for _, c := range p.certs {
			if len(c.SubjectKeyId) > 0 && bytes.Equal(c.SubjectKeyId, sid) {
				p.signer = c
			}
		}
	}
	var alg asn1.ObjectIdentifier
	var algSeq cryptobyte.String
	if !si.ReadASN1(&algSeq, cbasn1.SEQUENCE) || !algSeq.ReadASN1ObjectIdentifier(&alg) {
		return errors.New("bad digest algorithm")
	}
	p.digestAlg = hashFor(alg)
	if p.digestAlg == 0 {
		return fmt.Errorf("unsupported digest algorithm %v", alg)
	}
	var attrs cryptobyte.String
	var hasAttrs bool
	if !si.ReadOptionalASN1(&attrs, &hasAttrs, cbasn1.Tag(0).Constructed().ContextSpecific()) || !hasAttrs {
		return errors.New("no signed attributes")
	}
	// The signature covers the attributes encoded as a SET, not as [0].
	var set cryptobyte.Builder
	set.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) { b.AddBytes(attrs) })
	var err error
	if p.signedAttrs, err = set.Bytes(); err != nil {
		return err
	}
	if err := p.parseAttributes(attrs); err != nil {
		return err
	}
	var sigAlg cryptobyte.String
	if !si.ReadASN1(&sigAlg, cbasn1.SEQUENCE) || !sigAlg.ReadASN1ObjectIdentifier(&p.sigAlg) {
		return errors.New("bad signature algorithm")
	}
	var sig cryptobyte.String
	if !si.ReadASN1(&sig, cbasn1.OCTET_STRING) {
		return errors.New("bad signature")
	}
	p.signature = sig
	var unsigned cryptobyte.String
	var hasUnsigned bool
	if !si.ReadOptionalASN1(&unsigned, &hasUnsigned, cbasn1.Tag(1).Constructed().ContextSpecific()) {
		return errors.New("bad unsigned attributes")
	}
	if hasUnsigned {
		return p.parseUnsignedAttributes(unsigned)
	}
	return nil
}

func (p *parsedCMS) parseAttributes(attrs cryptobyte.String) error {
	for !attrs.Empty() {
		var attr, values cryptobyte.String
		var oid asn1.ObjectIdentifier
		if !attrs.ReadASN1(&attr, cbasn1.SEQUENCE) || !attr.ReadASN1ObjectIdentifier(&oid) || !attr.ReadASN1(&values, cbasn1.SET) {
			return errors.New("bad signed attribute")
		}
		switch {
		case oid.Equal(oidContentType):
			if !values.ReadASN1ObjectIdentifier(&p.contentType) {
				return errors.New("bad content-type attribute")
			}
		case oid.Equal(oidMessageDigest):
			var d cryptobyte.String
			if !values.ReadASN1(&d, cbasn1.OCTET_STRING) {
				return errors.New("bad message-digest attribute")
			}
			p.digest = d
		case oid.Equal(oidSigningTime):
			p.hasSignTime = true
		case oid.Equal(oidSigningCertificateV2):
			p.hasESS = true
			p.parseESS(values)
		}
	}
	return nil
}

// parseESS reads the first ESSCertIDv2 of a signing-certificate-v2 attribute.
func (p *parsedCMS) parseESS(values cryptobyte.String) {
	var scv2, certs, id cryptobyte.String
	if !values.ReadASN1(&scv2, cbasn1.SEQUENCE) || !scv2.ReadASN1(&certs, cbasn1.SEQUENCE) || !certs.ReadASN1(&id, cbasn1.SEQUENCE) {
		return
	}
	p.essHash = crypto.SHA256
	if id.PeekASN1Tag(cbasn1.SEQUENCE) {
		var alg cryptobyte.String
		var oid asn1.ObjectIdentifier
		if !id.ReadASN1(&alg, cbasn1.SEQUENCE) || !alg.ReadASN1ObjectIdentifier(&oid) {
			return
		}
		p.essHash = hashFor(oid)
	}
	var h cryptobyte.String
	if id.ReadASN1(&h, cbasn1.OCTET_STRING) {
		p.essCertHash = h
	}
}

func hashFor(oid asn1.ObjectIdentifier) crypto.Hash {
	switch {
	case oid.Equal(oidSHA256):
		return crypto.SHA256
	case oid.Equal(oidSHA384):
		return crypto.SHA384
	case oid.Equal(oidSHA512):
		return crypto.SHA512
	case oid.Equal(oidSHA1):
		return crypto.SHA1
	}
	return 0
}

// verifySignature checks p.signature over p.signedAttrs with the signer's public key.
func (p *parsedCMS) verifySignature() error {
	if p.signer == nil {
		return errors.New("the signer certificate is not in the CMS")
	}
	h := p.digestAlg.New()
	h.Write(p.signedAttrs)
	sum := h.Sum(nil)
	switch pub := p.signer.PublicKey.(type) {
	case *ecdsa.PublicKey:
		if !(p.sigAlg.Equal(oidECDSAWithSHA256) || p.sigAlg.Equal(oidECDSAWithSHA384) || p.sigAlg.Equal(oidECDSAWithSHA512) || p.sigAlg.Equal(oidECPublicKey)) {
			return fmt.Errorf("signature algorithm %v does not match an ECDSA key", p.sigAlg)
		}
		if !ecdsa.VerifyASN1(pub, sum, p.signature) {
			return errors.New("the ECDSA signature does not verify")
		}
	case *rsa.PublicKey:
		if !(p.sigAlg.Equal(oidRSAEncryption) || p.sigAlg.Equal(oidSHA256WithRSA) || p.sigAlg.Equal(oidSHA384WithRSA) || p.sigAlg.Equal(oidSHA512WithRSA)) {
			return fmt.Errorf("unsupported RSA signature algorithm %v", p.sigAlg)
		}
		if err := rsa.VerifyPKCS1v15(pub, p.digestAlg, sum, p.signature); err != nil {
			return fmt.Errorf("the RSA signature does not verify: %w", err)
		}
	default:
		return fmt.Errorf("unsupported signer key %T", pub)
	}
	return nil
}
