package keys

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"github.com/emmansun/gmsm/smx509"

	"software.sslmate.com/src/go-pkcs12"
)

// ErrWrongPassword is returned by ImportPKCS12 when the password does not open the file.
var ErrWrongPassword = errors.New("keys: PKCS#12 password is wrong")

// ImportPEM reads a key and certificate issued outside the service. certPEM holds the
// certificate chain in order: the key's certificate first, then each certificate's issuer
// (the root may be left out); blocks other than CERTIFICATE are skipped. keyPEM holds one
// unencrypted private key in PKCS#8 ("PRIVATE KEY"), PKCS#1 ("RSA PRIVATE KEY") or SEC1
// ("EC PRIVATE KEY") form. The key must be ECDSA P-256 or RSA of at least 2048 bits and
// must match the first certificate.
func ImportPEM(certPEM, keyPEM []byte) (crypto.Signer, []*x509.Certificate, error) {
	var certs []*x509.Certificate
	for rest := certPEM; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, nil, fmt.Errorf("keys: import PEM: certificate %d: %w", len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, nil, errors.New("keys: import PEM: no CERTIFICATE block in the certificate file")
	}
	key, err := parseKeyPEM(keyPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("keys: import PEM: %w", err)
	}
	if err := checkPair(key, certs[0]); err != nil {
		return nil, nil, fmt.Errorf("keys: import PEM: %w", err)
	}
	for i := 0; i+1 < len(certs); i++ {
		if err := certs[i].CheckSignatureFrom(certs[i+1]); err != nil {
			return nil, nil, fmt.Errorf("keys: import PEM: certificate %d (%q) is not issued by certificate %d (%q); "+
				"give the chain in order, each certificate followed by its issuer: %w",
				i+1, certs[i].Subject.CommonName, i+2, certs[i+1].Subject.CommonName, err)
		}
	}
	return key, certs, nil
}

// parseKeyPEM returns the one private key in data.
func parseKeyPEM(data []byte) (crypto.Signer, error) {
	var key any
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		var k any
		var err error
		switch b.Type {
		case "PRIVATE KEY":
			if k, err = x509.ParsePKCS8PrivateKey(b.Bytes); err != nil {
				// An SM2 key (GB/T 35276) is PKCS#8 with the SM2 curve.
				if sk, serr := smx509.ParsePKCS8PrivateKey(b.Bytes); serr == nil {
					k, err = sk, nil
				}
			}
		case "RSA PRIVATE KEY":
			if _, enc := b.Headers["Proc-Type"]; enc {
				return nil, errors.New("the private key is encrypted; decrypt it first (openssl pkey) or import a PKCS#12 file")
			}
			k, err = x509.ParsePKCS1PrivateKey(b.Bytes)
		case "EC PRIVATE KEY":
			if _, enc := b.Headers["Proc-Type"]; enc {
				return nil, errors.New("the private key is encrypted; decrypt it first (openssl pkey) or import a PKCS#12 file")
			}
			k, err = x509.ParseECPrivateKey(b.Bytes)
		case "ENCRYPTED PRIVATE KEY":
			return nil, errors.New("the private key is encrypted; decrypt it first (openssl pkey) or import a PKCS#12 file")
		default:
			continue // certificates, EC PARAMETERS and the like
		}
		if err != nil {
			return nil, fmt.Errorf("%s block: %w", b.Type, err)
		}
		if key != nil {
			return nil, errors.New("the key file holds more than one private key")
		}
		key = k
	}
	if key == nil {
		return nil, errors.New("no PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY block in the key file")
	}
	s, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%T keys cannot sign", key)
	}
	return s, nil
}

// ParseKeyPEM reads one unencrypted private key from PEM (PKCS#8, including SM2 keys;
// PKCS#1; SEC 1).
func ParseKeyPEM(data []byte) (crypto.Signer, error) {
	k, err := parseKeyPEM(data)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	return k, nil
}

// checkPair checks that key is of an accepted type and belongs to cert.
func checkPair(key crypto.Signer, cert *x509.Certificate) error {
	if err := CheckPublicKey(key.Public()); err != nil {
		return err
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return fmt.Errorf("the private key does not match the certificate %q (serial %X)",
			cert.Subject.CommonName, cert.SerialNumber)
	}
	return nil
}

// ImportPKCS12 reads a key and certificates from a PKCS#12 (.p12, .pfx) file, such as
// `openssl pkcs12 -export` makes (OpenSSL 3's default AES-256-CBC with PBKDF2 included).
// It returns the key and the chain in order: the certificate matching the key first, then
// each certificate's issuer; every certificate in the file must belong to that chain. The
// key must be ECDSA P-256 or RSA of at least 2048 bits. A wrong password is
// ErrWrongPassword.
func ImportPKCS12(data []byte, password string) (crypto.Signer, []*x509.Certificate, error) {
	k, leaf, cas, err := pkcs12.DecodeChain(data, password)
	if errors.Is(err, pkcs12.ErrIncorrectPassword) {
		return nil, nil, ErrWrongPassword
	} else if err != nil {
		return nil, nil, fmt.Errorf("keys: import PKCS#12: %w", err)
	}
	key, ok := k.(crypto.Signer)
	if !ok {
		return nil, nil, fmt.Errorf("keys: import PKCS#12: %T keys cannot sign", k)
	}
	if err := CheckPublicKey(key.Public()); err != nil {
		return nil, nil, fmt.Errorf("keys: import PKCS#12: %w", err)
	}
	// The file's order is not trusted: the key's certificate is found by its key, then
	// each issuer by signature.
	rest := append([]*x509.Certificate{leaf}, cas...)
	var chain []*x509.Certificate
	for i, c := range rest {
		if checkPair(key, c) == nil {
			chain = append(chain, c)
			rest = append(rest[:i:i], rest[i+1:]...)
			break
		}
	}
	if chain == nil {
		return nil, nil, fmt.Errorf("keys: import PKCS#12: %w", checkPair(key, leaf))
	}
	for len(rest) > 0 {
		last := chain[len(chain)-1]
		found := false
		for i, c := range rest {
			if last.CheckSignatureFrom(c) == nil {
				chain = append(chain, c)
				rest = append(rest[:i:i], rest[i+1:]...)
				found = true
				break
			}
		}
		if !found {
			return nil, nil, fmt.Errorf("keys: import PKCS#12: certificate %q is not part of the key's chain",
				rest[0].Subject.CommonName)
		}
	}
	return key, chain, nil
}
