package ses

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/asn1"
	"fmt"

	"github.com/emmansun/gmsm/sm3"
	"github.com/emmansun/gmsm/smx509"
)

// The signature algorithms a seal or a signature may name, by OID: SM2 with SM3 (GB/T
// 33560), and the ECDSA and RSA ones some vendors use outside China.
var algorithms = map[string]struct {
	name string
	alg  smx509.SignatureAlgorithm
}{
	"1.2.156.10197.1.501":   {"SM2-with-SM3", smx509.SM2WithSM3},
	"1.2.840.10045.4.3.2":   {"ECDSA-with-SHA256", smx509.ECDSAWithSHA256},
	"1.2.840.10045.4.3.3":   {"ECDSA-with-SHA384", smx509.ECDSAWithSHA384},
	"1.2.840.113549.1.1.11": {"RSA-with-SHA256", smx509.SHA256WithRSA},
}

func algorithmName(oid asn1.ObjectIdentifier) string {
	if a, ok := algorithms[oid.String()]; ok {
		return a.name
	}
	return oid.String()
}

// checkSignature verifies sig over signed with cert's key by the algorithm oid names (SM2
// with the default user identity of GB/T 35276, as every vendor uses).
func checkSignature(cert *smx509.Certificate, oid asn1.ObjectIdentifier, signed, sig []byte) error {
	a, ok := algorithms[oid.String()]
	if !ok {
		return fmt.Errorf("signature algorithm %s is not supported", oid)
	}
	return cert.CheckSignature(a.alg, signed, sig)
}

// The digest algorithms of OFD references (CheckMethod) and certificate digests, by OID or
// name.
var digests = map[string]func([]byte) []byte{
	"1.2.156.10197.1.401":    func(b []byte) []byte { h := sm3.Sum(b); return h[:] },
	"2.16.840.1.101.3.4.2.1": func(b []byte) []byte { h := sha256.Sum256(b); return h[:] },
	"1.3.14.3.2.26":          func(b []byte) []byte { h := sha1.Sum(b); return h[:] },
	"sm3":                    func(b []byte) []byte { h := sm3.Sum(b); return h[:] },
	"sha256":                 func(b []byte) []byte { h := sha256.Sum256(b); return h[:] },
	"sha1":                   func(b []byte) []byte { h := sha1.Sum(b); return h[:] },
}

func digestByName(name string) (func([]byte) []byte, bool) {
	h, ok := digests[normalDigestName(name)]
	return h, ok
}

func normalDigestName(n string) string {
	out := make([]byte, 0, len(n))
	for i := 0; i < len(n); i++ {
		c := n[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c == '-' || c == '_' {
			continue
		}
		out = append(out, c)
	}
	return string(out)
}
