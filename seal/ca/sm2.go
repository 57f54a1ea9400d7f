package ca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"
)

// Maker is the seal maker (制章人) of GB/T 38540 seal data: the service's SM2 root, whose
// key signs every seal's SES_Seal. Relying parties find its certificate at
// GET /api/v1/ca/sm2-root.pem.
type Maker struct {
	Cert *smx509.Certificate
	Key  crypto.Signer
}

// NewSM2Root makes the self-signed SM2 root certificate for an SM2 key (SM2 with SM3, the
// GB/T 20518 profile: subject CN = name and O = sealvault, UTF-8), valid from an hour before
// now for the given number of years, for certificates, CRLs and seal data.
func NewSM2Root(key crypto.Signer, name string, now time.Time, years int) (*smx509.Certificate, error) {
	if key == nil {
		return nil, errors.New("ca: new SM2 root: no key")
	}
	if years < 1 {
		return nil, fmt.Errorf("ca: new SM2 root: validity of %d years, want at least 1", years)
	}
	pub, ok := key.Public().(*ecdsa.PublicKey)
	if !ok || pub.Curve != sm2.P256() {
		return nil, fmt.Errorf("ca: new SM2 root: a %T key is not an SM2 key", key.Public())
	}
	subject, err := marshalName([]attr{
		{field: "organization", oid: oidOrganization, value: rootOrganization},
		{field: "root name", oid: oidCommonName, value: name},
	})
	if err != nil {
		return nil, fmt.Errorf("ca: new SM2 root: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, fmt.Errorf("ca: new SM2 root: serial: %w", err)
	}
	spki, err := smx509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("ca: new SM2 root: %w", err)
	}
	ski := sha256.Sum256(spki)
	tmpl := &smx509.Certificate{
		SerialNumber:          serial,
		RawSubject:            subject,
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(years, 0, 0),
		KeyUsage:              smx509.KeyUsageCertSign | smx509.KeyUsageCRLSign | smx509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
		SubjectKeyId:          ski[:20],
		SignatureAlgorithm:    smx509.SM2WithSM3,
	}
	der, err := smx509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, key)
	if err != nil {
		return nil, fmt.Errorf("ca: new SM2 root: %w", err)
	}
	cert, err := smx509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("ca: new SM2 root: %w", err)
	}
	if err := cert.CheckSignatureFrom(cert); err != nil {
		return nil, fmt.Errorf("ca: new SM2 root: the key's signature does not verify: %w", err)
	}
	return cert, nil
}

// SM2CertPEM encodes an SM2 certificate as PEM.
func SM2CertPEM(cert *smx509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
}

// IssueSeal issues an SM2 seal certificate (SM2 with SM3, the GB/T 20518 profile) for an
// SM2 public key, with the same subject, key usages and validity rules as CA.IssueSeal:
// the certificate of a seal made with the national algorithms, whose signatures are GB/T
// 38540 electronic signatures (SES_Signature). crlURL, when set, is its CRL distribution
// point (the SM2 CRL).
func (m *Maker) IssueSeal(pub crypto.PublicKey, s SealSubject, notBefore, notAfter time.Time, crlURL string) (*smx509.Certificate, error) {
	if m == nil || m.Cert == nil || m.Key == nil {
		return nil, errors.New("ca: issue SM2 seal: no SM2 root")
	}
	k, ok := pub.(*ecdsa.PublicKey)
	if !ok || k.Curve != sm2.P256() {
		return nil, fmt.Errorf("ca: issue SM2 seal: a %T key is not an SM2 key", pub)
	}
	notBefore, notAfter = maxTime(notBefore, m.Cert.NotBefore), minTime(notAfter, m.Cert.NotAfter)
	if !notAfter.After(notBefore) {
		return nil, fmt.Errorf("ca: issue SM2 seal: validity ends (%s) before it begins (%s) within the root's",
			notAfter.Format(time.RFC3339), notBefore.Format(time.RFC3339))
	}
	subject, err := marshalName(s.attrs())
	if err != nil {
		return nil, fmt.Errorf("ca: issue SM2 seal: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, fmt.Errorf("ca: issue SM2 seal: serial: %w", err)
	}
	spki, err := smx509.MarshalPKIXPublicKey(k)
	if err != nil {
		return nil, fmt.Errorf("ca: issue SM2 seal: %w", err)
	}
	ski := sha256.Sum256(spki)
	tmpl := &smx509.Certificate{
		SerialNumber:          serial,
		RawSubject:            subject,
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              smx509.KeyUsageDigitalSignature | smx509.KeyUsageContentCommitment,
		BasicConstraintsValid: true,
		SubjectKeyId:          ski[:20],
		AuthorityKeyId:        m.Cert.SubjectKeyId,
		SignatureAlgorithm:    smx509.SM2WithSM3,
	}
	if crlURL != "" {
		tmpl.CRLDistributionPoints = []string{crlURL}
	}
	der, err := smx509.CreateCertificate(rand.Reader, tmpl, m.Cert, k, m.Key)
	if err != nil {
		return nil, fmt.Errorf("ca: issue SM2 seal: %w", err)
	}
	cert, err := smx509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("ca: issue SM2 seal: %w", err)
	}
	return cert, nil
}

// CRL is CA.CRL for the SM2 root: the SM2 seal certificates revoked, signed with SM2.
func (m *Maker) CRL(number int64, revoked []Revoked, thisUpdate, nextUpdate time.Time) ([]byte, error) {
	if m == nil || m.Cert == nil || m.Key == nil {
		return nil, errors.New("ca: SM2 crl: no SM2 root")
	}
	entries, err := crlEntries(number, revoked, thisUpdate, nextUpdate)
	if err != nil {
		return nil, fmt.Errorf("ca: SM2 crl: %w", err)
	}
	list := make([]smx509.RevocationListEntry, len(entries))
	for i, e := range entries {
		list[i] = smx509.RevocationListEntry{SerialNumber: e.SerialNumber, RevocationTime: e.RevocationTime, ReasonCode: e.ReasonCode}
	}
	der, err := smx509.CreateRevocationList(rand.Reader, &smx509.RevocationList{
		Number: big.NewInt(number), ThisUpdate: thisUpdate.UTC(), NextUpdate: nextUpdate.UTC(),
		RevokedCertificateEntries: list, SignatureAlgorithm: smx509.SM2WithSM3,
	}, m.Cert, m.Key)
	if err != nil {
		return nil, fmt.Errorf("ca: SM2 crl: %w", err)
	}
	return der, nil
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
