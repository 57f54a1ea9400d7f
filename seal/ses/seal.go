// Package ses reads and verifies the electronic seal (电子印章, SES_Seal) and the electronic
// signature (电子签章, SES_Signature) of GB/T 38540-2020 (安全电子签章密码技术规范), version 4,
// and the OFD signatures (GB/T 33190) that carry them.
//
// The structures follow the standard's ASN.1 as the open implementations read it (ofdrw's
// ofdrw-gm module is the most complete): where the paid text could not be read, the choice
// made is the one under which ofdrw's own samples and a second vendor's OFD signature verify.
// In particular, the seal maker's signature is over the DER of SES_SealInfo alone, and the
// signer's signature over the DER of TBS_Sign.
package ses

import (
	"bytes"
	"encoding/asn1"
	"errors"
	"fmt"
	"time"

	"github.com/emmansun/gmsm/smx509"
)

// Version is the only version of the structures this package reads (GB/T 38540-2020; the
// earlier GM/T 0031-2014 structures are version 1 to 3 and differ).
const Version = 4

// Header is SES_Header: "ES", the version and the vendor's identifier.
type Header struct {
	ID       string `json:"id"`
	Version  int    `json:"version"`
	VendorID string `json:"vendor_id"`
}

// CertListType says what a seal's certificate list holds.
const (
	CertListCerts   = 1 // the signers' certificates (DER)
	CertListDigests = 2 // digests of them (CertDigestObj)
)

// CertDigest is a CertDigestObj: a digest of a signer's certificate, by algorithm name.
type CertDigest struct {
	Type  string `json:"type"`
	Value []byte `json:"value"`
}

// Picture is SES_ESPictrueInfo: the seal's image and its size on paper in millimetres.
type Picture struct {
	Type     string // "PNG", "JPG", "GIF", "SVG" or "OFD" (an OFD document, as some vendors write)
	Data     []byte
	WidthMM  int
	HeightMM int
}

// Extension is one ExtData of a seal or a signature.
type Extension struct {
	ID       asn1.ObjectIdentifier
	Critical bool
	Value    []byte
}

// Seal is a parsed SES_Seal.
type Seal struct {
	Header     Header
	ESID       string // the seal's identifier (esID)
	Type       int    // the seal's kind (1 official seal, 2 personal seal, by the standard)
	Name       string
	CertList   int                   // CertListCerts or CertListDigests
	Certs      []*smx509.Certificate // with CertListCerts: the certificates that may sign with the seal
	Digests    []CertDigest          // with CertListDigests
	CreateDate time.Time
	ValidStart time.Time
	ValidEnd   time.Time
	Picture    Picture
	Extensions []Extension
	// Maker is the seal maker's (制章人) certificate, whose key signed the seal.
	Maker     *smx509.Certificate
	Algorithm asn1.ObjectIdentifier
	Value     []byte // the maker's signature over the DER of SES_SealInfo

	raw  []byte // the whole SES_Seal
	info []byte // the DER of SES_SealInfo, what the maker signed
}

// Raw returns the seal's DER, as read.
func (s *Seal) Raw() []byte { return s.raw }

// SignedInfo returns the DER of SES_SealInfo, what the maker's signature covers.
func (s *Seal) SignedInfo() []byte { return s.info }

// A FormatError says where input is not the structure it should be.
type FormatError struct {
	What string // the structure, e.g. "SES_Seal"
	Err  error
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("ses: not a GB/T 38540 %s: %s", e.What, plainASN1(e.Err))
}

// plainASN1 says what encoding/asn1's errors mean without their Go struct dumps.
func plainASN1(err error) string {
	var syn asn1.SyntaxError
	var st asn1.StructuralError
	switch {
	case errors.As(err, &syn):
		return "it is not well-formed DER (" + syn.Msg + ")"
	case errors.As(err, &st):
		return "its DER does not have the fields of the structure in order"
	}
	return err.Error()
}
func (e *FormatError) Unwrap() error { return e.Err }

type sealASN1 struct {
	Info      asn1.RawValue
	Cert      []byte
	Algorithm asn1.ObjectIdentifier
	Value     asn1.BitString
}

type sealInfoASN1 struct {
	Header   headerASN1
	ESID     string
	Property propertyASN1
	Picture  pictureASN1
	Ext      []extASN1 `asn1:"optional"`
}

type headerASN1 struct {
	ID       string
	Version  int
	VendorID string
}

type propertyASN1 struct {
	Type         int
	Name         string
	CertListType int
	CertList     asn1.RawValue
	CreateDate   time.Time
	ValidStart   time.Time
	ValidEnd     time.Time
}

type pictureASN1 struct {
	Type   string
	Data   []byte
	Width  int
	Height int
}

type extASN1 struct {
	ID       asn1.ObjectIdentifier
	Critical bool `asn1:"optional"`
	Value    []byte
}

type certDigestASN1 struct {
	Type  string
	Value []byte
}

// ParseSeal parses a DER SES_Seal of version 4. What is not one is a *FormatError.
func ParseSeal(der []byte) (*Seal, error) {
	s, err := parseSeal(der)
	if err != nil {
		return nil, &FormatError{What: "SES_Seal", Err: err}
	}
	return s, nil
}

func parseSeal(der []byte) (*Seal, error) {
	var a sealASN1
	rest, err := asn1.Unmarshal(der, &a)
	if err != nil {
		return nil, err
	}
	if len(rest) > 0 {
		return nil, fmt.Errorf("%d bytes after the structure", len(rest))
	}
	var info sealInfoASN1
	if rest, err := asn1.Unmarshal(a.Info.FullBytes, &info); err != nil {
		return nil, fmt.Errorf("SES_SealInfo: %w", err)
	} else if len(rest) > 0 {
		return nil, errors.New("SES_SealInfo: trailing bytes")
	}
	if info.Header.ID != "ES" {
		return nil, fmt.Errorf("header: identifier %q, want \"ES\"", info.Header.ID)
	}
	if info.Header.Version != Version {
		return nil, fmt.Errorf("header: version %d; only version %d (GB/T 38540-2020) is read", info.Header.Version, Version)
	}
	s := &Seal{
		Header: Header(info.Header), ESID: info.ESID,
		Type: info.Property.Type, Name: info.Property.Name, CertList: info.Property.CertListType,
		CreateDate: info.Property.CreateDate, ValidStart: info.Property.ValidStart, ValidEnd: info.Property.ValidEnd,
		Picture:   Picture{Type: info.Picture.Type, Data: info.Picture.Data, WidthMM: info.Picture.Width, HeightMM: info.Picture.Height},
		Algorithm: a.Algorithm, Value: a.Value.RightAlign(),
		raw: der, info: a.Info.FullBytes,
	}
	for _, e := range info.Ext {
		s.Extensions = append(s.Extensions, Extension(e))
	}
	switch s.CertList {
	case CertListCerts:
		var list [][]byte
		if _, err := asn1.Unmarshal(info.Property.CertList.FullBytes, &list); err != nil {
			return nil, fmt.Errorf("certificate list: %w", err)
		}
		for i, c := range list {
			cert, err := smx509.ParseCertificate(c)
			if err != nil {
				return nil, fmt.Errorf("certificate list: certificate %d: %w", i+1, err)
			}
			s.Certs = append(s.Certs, cert)
		}
	case CertListDigests:
		var list []certDigestASN1
		if _, err := asn1.Unmarshal(info.Property.CertList.FullBytes, &list); err != nil {
			return nil, fmt.Errorf("certificate digest list: %w", err)
		}
		for _, d := range list {
			s.Digests = append(s.Digests, CertDigest(d))
		}
	default:
		return nil, fmt.Errorf("certificate list type %d (want 1, certificates, or 2, digests)", s.CertList)
	}
	if s.Maker, err = smx509.ParseCertificate(a.Cert); err != nil {
		return nil, fmt.Errorf("maker's certificate: %w", err)
	}
	return s, nil
}

// Check is one thing a verification looked at.
type Check struct {
	Name   string `json:"name"` // e.g. "maker-signature", "seal-validity"
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// Report is what a verification found: valid only when every check is.
type Report struct {
	At     time.Time `json:"at"`
	Valid  bool      `json:"valid"`
	Checks []Check   `json:"checks"`
}

func (r *Report) add(name string, ok bool, format string, args ...any) {
	r.Checks = append(r.Checks, Check{Name: name, OK: ok, Detail: fmt.Sprintf(format, args...)})
}

func (r *Report) finish() {
	r.Valid = len(r.Checks) > 0
	for _, c := range r.Checks {
		r.Valid = r.Valid && c.OK
	}
}

// Verify checks the seal as it stood at time at: the maker's signature over the seal
// information, the maker's certificate valid then (and, when roots is not nil, chaining to
// one of them), and the seal within its validity.
func (s *Seal) Verify(at time.Time, roots *smx509.CertPool) Report {
	r := Report{At: at}
	if err := checkSignature(s.Maker, s.Algorithm, s.info, s.Value); err != nil {
		r.add("maker-signature", false, "the seal maker's signature does not verify: %v", err)
	} else {
		r.add("maker-signature", true, "signed by the seal maker %s (%s)", s.Maker.Subject, algorithmName(s.Algorithm))
	}
	certValidAt(&r, "maker-certificate", "the seal maker's certificate", s.Maker, at)
	if roots != nil {
		chainTo(&r, "maker-chain", "the seal maker's certificate", s.Maker, roots, at)
	}
	switch {
	case at.Before(s.ValidStart):
		r.add("seal-validity", false, "the seal is valid from %s, after %s", day(s.ValidStart), day(at))
	case at.After(s.ValidEnd):
		r.add("seal-validity", false, "the seal expired on %s, before %s", day(s.ValidEnd), day(at))
	default:
		r.add("seal-validity", true, "the seal is valid from %s to %s", day(s.ValidStart), day(s.ValidEnd))
	}
	r.finish()
	return r
}

// Lists reports whether cert is one the seal names as a signer's.
func (s *Seal) Lists(cert *smx509.Certificate) bool {
	for _, c := range s.Certs {
		if bytes.Equal(c.Raw, cert.Raw) {
			return true
		}
	}
	for _, d := range s.Digests {
		if h, ok := digestByName(d.Type); ok && bytes.Equal(h(cert.Raw), d.Value) {
			return true
		}
	}
	return false
}

func certValidAt(r *Report, name, what string, c *smx509.Certificate, at time.Time) {
	switch {
	case at.Before(c.NotBefore):
		r.add(name, false, "%s is valid from %s, after %s", what, day(c.NotBefore), day(at))
	case at.After(c.NotAfter):
		r.add(name, false, "%s expired on %s, before %s", what, day(c.NotAfter), day(at))
	default:
		r.add(name, true, "%s is valid from %s to %s", what, day(c.NotBefore), day(c.NotAfter))
	}
}

func chainTo(r *Report, name, what string, c *smx509.Certificate, roots *smx509.CertPool, at time.Time) {
	_, err := c.Verify(smx509.VerifyOptions{Roots: roots, CurrentTime: at, KeyUsages: []smx509.ExtKeyUsage{smx509.ExtKeyUsageAny}})
	if err != nil {
		r.add(name, false, "%s does not chain to a trusted root: %v", what, err)
		return
	}
	r.add(name, true, "%s chains to a trusted root", what)
}

func day(t time.Time) string { return t.UTC().Format("2006-01-02") }
