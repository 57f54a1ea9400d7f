package ses

import (
	"crypto/ecdsa"
	"time"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"
)

// Description is a seal's fields in the form `sealvault seal inspect --json` prints and
// POST /api/v1/seal-data/inspect answers.
type Description struct {
	Header       Header        `json:"header"`
	ESID         string        `json:"es_id"`
	Type         int           `json:"type"`
	Name         string        `json:"name"`
	CertListType int           `json:"cert_list_type"`
	Certificates []CertSummary `json:"certificates"`
	CertDigests  []CertDigest  `json:"cert_digests,omitempty"`
	CreateDate   time.Time     `json:"create_date"`
	ValidStart   time.Time     `json:"valid_start"`
	ValidEnd     time.Time     `json:"valid_end"`
	Picture      PictureInfo   `json:"picture"`
	Extensions   int           `json:"extensions"`
	Maker        CertSummary   `json:"maker"`
	Algorithm    string        `json:"algorithm"`
}

// PictureInfo describes a seal's picture without its bytes.
type PictureInfo struct {
	Type     string `json:"type"`
	WidthMM  int    `json:"width_mm"`
	HeightMM int    `json:"height_mm"`
	Bytes    int    `json:"bytes"`
}

// CertSummary is what a person reads of a certificate.
type CertSummary struct {
	Subject   string    `json:"subject"`
	Issuer    string    `json:"issuer"`
	Serial    string    `json:"serial"`
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	Algorithm string    `json:"public_key_algorithm"`
}

// Summarize returns what a person reads of c.
func Summarize(c *smx509.Certificate) CertSummary {
	return CertSummary{Subject: c.Subject.String(), Issuer: c.Issuer.String(), Serial: c.SerialNumber.Text(16),
		NotBefore: c.NotBefore.UTC(), NotAfter: c.NotAfter.UTC(), Algorithm: publicKeyName(c)}
}

// publicKeyName names the key's algorithm, telling SM2 keys (on the SM2 curve, which X.509
// marks as EC keys) from other EC keys.
func publicKeyName(c *smx509.Certificate) string {
	if k, ok := c.PublicKey.(*ecdsa.PublicKey); ok {
		if k.Curve == sm2.P256() {
			return "SM2"
		}
		return "ECDSA " + k.Curve.Params().Name
	}
	return c.PublicKeyAlgorithm.String()
}

// Describe returns the seal's fields.
func (s *Seal) Describe() Description {
	d := Description{Header: s.Header, ESID: s.ESID, Type: s.Type, Name: s.Name, CertListType: s.CertList,
		Certificates: []CertSummary{}, CertDigests: s.Digests,
		CreateDate: s.CreateDate.UTC(), ValidStart: s.ValidStart.UTC(), ValidEnd: s.ValidEnd.UTC(),
		Picture:    PictureInfo{Type: s.Picture.Type, WidthMM: s.Picture.WidthMM, HeightMM: s.Picture.HeightMM, Bytes: len(s.Picture.Data)},
		Extensions: len(s.Extensions), Maker: Summarize(s.Maker), Algorithm: algorithmName(s.Algorithm)}
	for _, c := range s.Certs {
		d.Certificates = append(d.Certificates, Summarize(c))
	}
	return d
}
