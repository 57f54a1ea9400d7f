package ca

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"time"

	"sealvault/seal/keys"
)

var (
	oidExtKeyUsage    = asn1.ObjectIdentifier{2, 5, 29, 37}
	oidKPTimeStamping = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 8}
)

// IssueTSA issues the certificate of a timestamping authority's key pub: subject CN = name
// and O = sealvault, key usage digitalSignature and contentCommitment, and the extended key
// usage timeStamping alone, marked critical as RFC 3161 §2.3 requires (crypto/x509 writes
// the extension non-critical, so it is given whole). Validity is cut to the root's.
func (c *CA) IssueTSA(pub crypto.PublicKey, name string, notBefore, notAfter time.Time) (*x509.Certificate, error) {
	if err := c.check(); err != nil {
		return nil, fmt.Errorf("ca: issue TSA: %w", err)
	}
	if err := keys.CheckPublicKey(pub); err != nil {
		return nil, fmt.Errorf("ca: issue TSA: %w", err)
	}
	if notBefore.Before(c.Cert.NotBefore) {
		notBefore = c.Cert.NotBefore
	}
	if notAfter.After(c.Cert.NotAfter) {
		notAfter = c.Cert.NotAfter
	}
	if !notAfter.After(notBefore) {
		return nil, fmt.Errorf("ca: issue TSA: validity lies outside the root's")
	}
	subject, err := marshalName([]attr{
		{field: "organization", oid: oidOrganization, value: rootOrganization},
		{field: "TSA name", oid: oidCommonName, value: name},
	})
	if err != nil {
		return nil, fmt.Errorf("ca: issue TSA: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, fmt.Errorf("ca: issue TSA: serial: %w", err)
	}
	ski, err := keyID(pub)
	if err != nil {
		return nil, fmt.Errorf("ca: issue TSA: key identifier: %w", err)
	}
	eku, err := asn1.Marshal([]asn1.ObjectIdentifier{oidKPTimeStamping})
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		RawSubject:            subject,
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
		BasicConstraintsValid: true,
		SubjectKeyId:          ski,
		AuthorityKeyId:        c.Cert.SubjectKeyId,
		ExtraExtensions:       []pkix.Extension{{Id: oidExtKeyUsage, Critical: true, Value: eku}},
	}
	if c.CRLURL != "" {
		tmpl.CRLDistributionPoints = []string{c.CRLURL}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.Cert, pub, c.Key)
	if err != nil {
		return nil, fmt.Errorf("ca: issue TSA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("ca: issue TSA: %w", err)
	}
	if err := cert.CheckSignatureFrom(c.Cert); err != nil {
		return nil, fmt.Errorf("ca: issue TSA: the CA key's signature does not verify: %w", err)
	}
	return cert, nil
}
