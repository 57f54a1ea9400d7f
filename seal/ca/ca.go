// Package ca is the service's internal certificate authority: a self-signed root that
// issues each electronic seal's end-entity certificate directly, and revokes them by CRL.
// Its key is any crypto.Signer, so it may live in software custody or in a hardware module.
package ca

import (
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"sealvault/seal/keys"
)

// CA is the internal CA: its root certificate and the key that signs with it.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	// CRLURL, if set, is put in every seal certificate as its CRL distribution point: where
	// relying parties fetch the CRL that CRL issues.
	CRLURL string
}

// rootOrganization is the O of the root certificate's subject.
const rootOrganization = "sealvault"

// Attribute types of a distinguished name (X.520).
var (
	oidCommonName             = asn1.ObjectIdentifier{2, 5, 4, 3}
	oidSerialNumber           = asn1.ObjectIdentifier{2, 5, 4, 5}
	oidOrganization           = asn1.ObjectIdentifier{2, 5, 4, 10}
	oidOrganizationalUnit     = asn1.ObjectIdentifier{2, 5, 4, 11}
	oidOrganizationIdentifier = asn1.ObjectIdentifier{2, 5, 4, 97}
)

// maxAttrLen is the upper bound RFC 5280 (Appendix A) sets on the attributes used here, in
// characters.
const maxAttrLen = 64

// attr is one attribute of a distinguished name. printable selects PrintableString,
// which X.520 prescribes for serialNumber; all others are UTF8String, which RFC 5280
// requires of new certificates and which carries Chinese text.
type attr struct {
	field     string // for error messages
	oid       asn1.ObjectIdentifier
	value     string
	printable bool
}

// marshalName encodes attrs, in order, as a distinguished name, one attribute per RDN.
// Every string is encoded UTF8String (or PrintableString where marked) regardless of its
// characters, so that names are encoded one way whatever their script.
func marshalName(attrs []attr) ([]byte, error) {
	var rdns pkix.RDNSequence
	for _, a := range attrs {
		if err := checkAttr(a); err != nil {
			return nil, err
		}
		tag := asn1.TagUTF8String
		if a.printable {
			tag = asn1.TagPrintableString
		}
		rdns = append(rdns, pkix.RelativeDistinguishedNameSET{{
			Type:  a.oid,
			Value: asn1.RawValue{Class: asn1.ClassUniversal, Tag: tag, Bytes: []byte(a.value)},
		}})
	}
	return asn1.Marshal(rdns)
}

func checkAttr(a attr) error {
	if a.value == "" {
		return fmt.Errorf("%s is empty", a.field)
	}
	if !utf8.ValidString(a.value) {
		return fmt.Errorf("%s is not valid UTF-8", a.field)
	}
	if n := utf8.RuneCountInString(a.value); n > maxAttrLen {
		return fmt.Errorf("%s has %d characters, at most %d fit a certificate", a.field, n, maxAttrLen)
	}
	for _, r := range a.value {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("%s contains a control or invisible character (%U)", a.field, r)
		}
		if a.printable && !isPrintableStringChar(r) {
			return fmt.Errorf("%s may contain only letters, digits, spaces and '()+,-./:=? (%q is not allowed)", a.field, r)
		}
	}
	return nil
}

// isPrintableStringChar reports whether r is in ASN.1 PrintableString's alphabet.
func isPrintableStringChar(r rune) bool {
	return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' ||
		r == ' ' || r == '\'' || r == '(' || r == ')' || r == '+' || r == ',' || r == '-' ||
		r == '.' || r == '/' || r == ':' || r == '=' || r == '?'
}

// randomSerial returns a random positive 128-bit serial number. Random serials keep
// certificate contents unpredictable to whoever asks for one (CA/B Forum practice).
func randomSerial() (*big.Int, error) {
	b := make([]byte, 16)
	for {
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		if n := new(big.Int).SetBytes(b); n.Sign() > 0 {
			return n, nil
		}
	}
}

// keyID is the subject key identifier of pub: the leftmost 160 bits of the SHA-256 hash
// of its subjectPublicKey bits (RFC 7093, method 1).
func keyID(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(der, &spki); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(spki.PublicKey.Bytes)
	return sum[:20], nil
}

// NewRoot makes the self-signed root certificate for key: subject CN = name (UTF-8, e.g.
// "sealvault 政务服务电子印章根证书") and O = sealvault, valid from an hour before now (to
// allow for clocks behind ours) for the given number of years. It may sign certificates
// and CRLs, and only end-entity certificates below it (path length 0): seal certificates
// are issued by the root directly.
func NewRoot(key crypto.Signer, name string, now time.Time, years int) (*x509.Certificate, error) {
	if key == nil {
		return nil, errors.New("ca: new root: no key")
	}
	if years < 1 {
		return nil, fmt.Errorf("ca: new root: validity of %d years, want at least 1", years)
	}
	if err := keys.CheckPublicKey(key.Public()); err != nil {
		return nil, fmt.Errorf("ca: new root: %w", err)
	}
	subject, err := marshalName([]attr{
		{field: "organization", oid: oidOrganization, value: rootOrganization},
		{field: "root name", oid: oidCommonName, value: name},
	})
	if err != nil {
		return nil, fmt.Errorf("ca: new root: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, fmt.Errorf("ca: new root: serial: %w", err)
	}
	ski, err := keyID(key.Public())
	if err != nil {
		return nil, fmt.Errorf("ca: new root: key identifier: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		RawSubject:            subject,
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(years, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
		SubjectKeyId:          ski,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("ca: new root: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("ca: new root: %w", err)
	}
	// A signer that signs with another key than it claims (a misconfigured module) is
	// caught here rather than by every relying party.
	if err := cert.CheckSignatureFrom(cert); err != nil {
		return nil, fmt.Errorf("ca: new root: the key's signature does not verify: %w", err)
	}
	return cert, nil
}

// SealSubject names a seal in its certificate.
//
// The subject is O = Department, organizationIdentifier (2.5.4.97) = DepartmentCode,
// OU = SealType, CN = SealName, serialNumber = SealCode. The seal type goes in OU because
// a department has several seals (公章, 合同专用章, …) and the type is what tells them
// apart to a reader; the department's code is an identifier of the organization, which
// is what organizationIdentifier is for. Department and SealName are required; empty
// optional fields are left out. Each field is at most 64 characters; SealCode may use
// only letters, digits, spaces and '()+,-./:=? (X.520 makes serialNumber a
// PrintableString).
type SealSubject struct {
	Department     string // 单位名称, required
	DepartmentCode string // e.g. the unified social credit code (统一社会信用代码), optional
	SealName       string // 印章名称, required
	SealCode       string // 印章编码, optional
	SealType       string // 印章类型, optional
}

func (s SealSubject) attrs() []attr {
	as := []attr{{field: "department", oid: oidOrganization, value: s.Department}}
	if s.DepartmentCode != "" {
		as = append(as, attr{field: "department code", oid: oidOrganizationIdentifier, value: s.DepartmentCode})
	}
	if s.SealType != "" {
		as = append(as, attr{field: "seal type", oid: oidOrganizationalUnit, value: s.SealType})
	}
	as = append(as, attr{field: "seal name", oid: oidCommonName, value: s.SealName})
	if s.SealCode != "" {
		as = append(as, attr{field: "seal code", oid: oidSerialNumber, value: s.SealCode, printable: true})
	}
	return as
}

func (c *CA) check() error {
	if c == nil || c.Cert == nil || c.Key == nil {
		return errors.New("the CA has no certificate or no key")
	}
	if !c.Cert.IsCA {
		return errors.New("the CA certificate is not a CA certificate")
	}
	return nil
}

// IssueSeal issues a seal's end-entity certificate for pub, valid from notBefore to
// notAfter cut to the root's validity (a certificate outlasting its issuer would fail
// validation after the root expires). It is fit for signing documents only: key usage
// digitalSignature and contentCommitment (non-repudiation), no extended key usage. pub
// must be ECDSA P-256 or RSA of at least 2048 bits. If c.CRLURL is set, it is the
// certificate's CRL distribution point.
func (c *CA) IssueSeal(pub crypto.PublicKey, s SealSubject, notBefore, notAfter time.Time) (*x509.Certificate, error) {
	if err := c.check(); err != nil {
		return nil, fmt.Errorf("ca: issue seal: %w", err)
	}
	if !notAfter.After(notBefore) {
		return nil, fmt.Errorf("ca: issue seal: validity ends (%s) before it begins (%s)",
			notAfter.Format(time.RFC3339), notBefore.Format(time.RFC3339))
	}
	if notBefore.Before(c.Cert.NotBefore) {
		notBefore = c.Cert.NotBefore
	}
	if notAfter.After(c.Cert.NotAfter) {
		notAfter = c.Cert.NotAfter
	}
	if !notAfter.After(notBefore) {
		return nil, fmt.Errorf("ca: issue seal: validity lies outside the root's (%s to %s)",
			c.Cert.NotBefore.Format(time.RFC3339), c.Cert.NotAfter.Format(time.RFC3339))
	}
	if err := keys.CheckPublicKey(pub); err != nil {
		return nil, fmt.Errorf("ca: issue seal: %w", err)
	}
	subject, err := marshalName(s.attrs())
	if err != nil {
		return nil, fmt.Errorf("ca: issue seal: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, fmt.Errorf("ca: issue seal: serial: %w", err)
	}
	ski, err := keyID(pub)
	if err != nil {
		return nil, fmt.Errorf("ca: issue seal: key identifier: %w", err)
	}
	aki := c.Cert.SubjectKeyId
	if len(aki) == 0 {
		if aki, err = keyID(c.Cert.PublicKey); err != nil {
			return nil, fmt.Errorf("ca: issue seal: authority key identifier: %w", err)
		}
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		RawSubject:            subject,
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
		BasicConstraintsValid: true,
		IsCA:                  false,
		SubjectKeyId:          ski,
		AuthorityKeyId:        aki,
	}
	if c.CRLURL != "" {
		tmpl.CRLDistributionPoints = []string{c.CRLURL}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.Cert, pub, c.Key)
	if err != nil {
		return nil, fmt.Errorf("ca: issue seal: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("ca: issue seal: %w", err)
	}
	if err := cert.CheckSignatureFrom(c.Cert); err != nil {
		return nil, fmt.Errorf("ca: issue seal: the CA key's signature does not verify with the CA certificate: %w", err)
	}
	return cert, nil
}

// Revoked is a revoked certificate as a CRL lists it. Reason is an RFC 5280 CRLReason
// code: 0 unspecified (left out of the CRL, as RFC 5280 asks), 1 keyCompromise,
// 3 affiliationChanged, 4 superseded, 5 cessationOfOperation, 6 certificateHold, …;
// 7 is unused, 2 and 10 concern CAs.
type Revoked struct {
	Serial *big.Int
	At     time.Time
	Reason int
}

// CRL issues an X.509 v2 certificate revocation list, DER-encoded, signed by the root,
// listing revoked. number is the CRL number, which must grow with every CRL issued (the
// caller keeps it); thisUpdate is when it is issued and nextUpdate when the next one will
// be, and relying parties treat the CRL as stale after it.
func (c *CA) CRL(number int64, revoked []Revoked, thisUpdate, nextUpdate time.Time) ([]byte, error) {
	if err := c.check(); err != nil {
		return nil, fmt.Errorf("ca: crl: %w", err)
	}
	entries, err := crlEntries(number, revoked, thisUpdate, nextUpdate)
	if err != nil {
		return nil, fmt.Errorf("ca: crl: %w", err)
	}
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number:                    big.NewInt(number),
		ThisUpdate:                thisUpdate.UTC(),
		NextUpdate:                nextUpdate.UTC(),
		RevokedCertificateEntries: entries,
	}, c.Cert, c.Key)
	if err != nil {
		return nil, fmt.Errorf("ca: crl: %w", err)
	}
	return der, nil
}

// crlEntries checks a CRL's number, dates and revoked certificates and returns the entries
// in serial order.
func crlEntries(number int64, revoked []Revoked, thisUpdate, nextUpdate time.Time) ([]x509.RevocationListEntry, error) {
	if number < 0 {
		return nil, fmt.Errorf("CRL number %d is negative", number)
	}
	if !nextUpdate.After(thisUpdate) {
		return nil, errors.New("next update is not after this update")
	}
	entries := make([]x509.RevocationListEntry, 0, len(revoked))
	seen := make(map[string]bool, len(revoked))
	for _, r := range revoked {
		if r.Serial == nil || r.Serial.Sign() <= 0 {
			return nil, errors.New("a revoked certificate has no positive serial number")
		}
		if r.Reason < 0 || r.Reason > 10 || r.Reason == 7 {
			return nil, fmt.Errorf("serial %X: %d is not a CRL reason code", r.Serial, r.Reason)
		}
		key := r.Serial.Text(16)
		if seen[key] {
			return nil, fmt.Errorf("serial %X is listed twice", r.Serial)
		}
		seen[key] = true
		entries = append(entries, x509.RevocationListEntry{
			SerialNumber:   r.Serial,
			RevocationTime: r.At.UTC(),
			ReasonCode:     r.Reason,
		})
	}
	// A stable order makes equal lists give equal CRLs, apart from the signature.
	slices.SortFunc(entries, func(a, b x509.RevocationListEntry) int { return a.SerialNumber.Cmp(b.SerialNumber) })
	return entries, nil
}

// CertPEM encodes a certificate as a PEM CERTIFICATE block.
func CertPEM(cert *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
}

// ParseCertPEM returns the first certificate in PEM data, skipping blocks of other types.
func ParseCertPEM(data []byte) (*x509.Certificate, error) {
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return nil, errors.New("ca: parse certificate: no CERTIFICATE block")
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("ca: parse certificate: %w", err)
		}
		return cert, nil
	}
}

var orgIDHexRE = regexp.MustCompile(`2\.5\.4\.97=#([0-9a-f]+)`)

// NameString is n as RFC 2253 text, as pkix.Name.String writes it, but with the
// organizationIdentifier (2.5.4.97, the department code in a seal's subject) written by name
// and as text (organizationIdentifier=TH-SCJG) instead of the OID and its DER in hex.
func NameString(n pkix.Name) string {
	return orgIDHexRE.ReplaceAllStringFunc(n.String(), func(m string) string {
		der, err := hex.DecodeString(orgIDHexRE.FindStringSubmatch(m)[1])
		if err != nil {
			return m
		}
		var v string
		if rest, err := asn1.Unmarshal(der, &v); err != nil || len(rest) > 0 {
			return m
		}
		return "organizationIdentifier=" + escapeDN(v)
	})
}

// escapeDN escapes what RFC 2253 requires of an attribute value.
func escapeDN(v string) string {
	var b strings.Builder
	for i, r := range v {
		switch {
		case strings.ContainsRune(`,+"\<>;`, r), r == '#' && i == 0, r == ' ' && (i == 0 || i == len(v)-1):
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
