package ses

import (
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

// Seal types of SES_ESPropertyInfo, as the public-security seal registry codes them (GA 241:
// 01 official name seal … 99 other); a business-special seal (业务专用章, e.g. 行政审批专用章)
// is "other".
const (
	TypeOfficial = 1  // 单位专用章（法定名称章）
	TypeFinance  = 2  // 财务专用章
	TypeInvoice  = 3  // 发票专用章
	TypeContract = 4  // 合同专用章
	TypeName     = 5  // 法人名章
	TypeOther    = 99 // 其他（含业务专用章）
)

// Spec is what a seal's SES_Seal states.
type Spec struct {
	VendorID   string   // the header's vendor identifier (ASCII)
	ESID       string   // the seal's identifier (ASCII, unique for the maker)
	Type       int      // one of the Type constants
	Name       string   // the seal's name
	Certs      [][]byte // the DER certificates that may sign with the seal
	CreateDate time.Time
	ValidStart time.Time
	ValidEnd   time.Time
	Picture    Picture // a PNG and its size on paper
}

type sealOut struct {
	Info      asn1.RawValue
	Cert      []byte
	Algorithm asn1.ObjectIdentifier
	Value     asn1.BitString
}

type sealInfoOut struct {
	Header   headerOut
	ESID     string `asn1:"ia5"`
	Property propertyOut
	Picture  pictureOut
}

type headerOut struct {
	ID       string `asn1:"ia5"`
	Version  int
	VendorID string `asn1:"ia5"`
}

type propertyOut struct {
	Type         int
	Name         string `asn1:"utf8"`
	CertListType int
	CertList     [][]byte
	CreateDate   time.Time `asn1:"generalized"`
	ValidStart   time.Time `asn1:"generalized"`
	ValidEnd     time.Time `asn1:"generalized"`
}

type pictureOut struct {
	Type   string `asn1:"ia5"`
	Data   []byte
	Width  int
	Height int
}

var oidSM2WithSM3 = asn1.ObjectIdentifier{1, 2, 156, 10197, 1, 501}

// Make writes the SES_Seal (version 4) that spec describes, signed by the seal maker: key
// (an SM2 key, signing with SM3 and the default user identity) whose certificate is maker.
// Its maker's signature is over the DER of SES_SealInfo, as ParseSeal verifies it.
func Make(spec Spec, maker *smx509.Certificate, key crypto.Signer) ([]byte, error) {
	if err := spec.check(); err != nil {
		return nil, fmt.Errorf("ses: make: %w", err)
	}
	if pub, ok := key.Public().(*ecdsa.PublicKey); !ok || pub.Curve != sm2.P256() {
		return nil, errors.New("ses: make: the seal maker's key is not an SM2 key")
	}
	if !maker.PublicKey.(interface{ Equal(crypto.PublicKey) bool }).Equal(key.Public()) {
		return nil, errors.New("ses: make: the seal maker's key is not the one of its certificate")
	}
	info, err := asn1.Marshal(sealInfoOut{
		Header: headerOut{ID: "ES", Version: Version, VendorID: spec.VendorID},
		ESID:   spec.ESID,
		Property: propertyOut{Type: spec.Type, Name: spec.Name, CertListType: CertListCerts, CertList: spec.Certs,
			CreateDate: spec.CreateDate.UTC().Truncate(time.Second), ValidStart: spec.ValidStart.UTC().Truncate(time.Second),
			ValidEnd: spec.ValidEnd.UTC().Truncate(time.Second)},
		Picture: pictureOut{Type: spec.Picture.Type, Data: spec.Picture.Data, Width: spec.Picture.WidthMM, Height: spec.Picture.HeightMM},
	})
	if err != nil {
		return nil, fmt.Errorf("ses: make: %w", err)
	}
	sig, err := key.Sign(rand.Reader, info, sm2.DefaultSM2SignerOpts)
	if err != nil {
		return nil, fmt.Errorf("ses: make: sign: %w", err)
	}
	der, err := asn1.Marshal(sealOut{Info: asn1.RawValue{FullBytes: info}, Cert: maker.Raw, Algorithm: oidSM2WithSM3,
		Value: asn1.BitString{Bytes: sig, BitLength: 8 * len(sig)}})
	if err != nil {
		return nil, fmt.Errorf("ses: make: %w", err)
	}
	return der, nil
}

func (s Spec) check() error {
	switch {
	case !ascii(s.VendorID) || s.VendorID == "":
		return fmt.Errorf("vendor identifier %q must be printable ASCII", s.VendorID)
	case !ascii(s.ESID) || s.ESID == "":
		return fmt.Errorf("seal identifier %q must be printable ASCII", s.ESID)
	case s.Name == "":
		return errors.New("the seal has no name")
	case len(s.Certs) == 0:
		return errors.New("the seal names no signer's certificate")
	case !s.ValidEnd.After(s.ValidStart):
		return errors.New("the seal's validity ends before it begins")
	case len(s.Picture.Data) == 0 || s.Picture.Type == "" || !ascii(s.Picture.Type):
		return errors.New("the seal has no picture")
	case s.Picture.WidthMM <= 0 || s.Picture.HeightMM <= 0:
		return errors.New("the seal's picture has no size")
	}
	return nil
}

func ascii(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
