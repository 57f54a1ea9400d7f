// Package keys keeps the private keys of electronic seals (电子印章) and of the internal CA.
// Private keys never leave the service: in software custody they are stored only sealed
// under a key-encryption key (KEK), bound to the row that owns them, and are opened in
// memory to sign. Custody is the seam where a hardware module can take over.
package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"strings"

	"github.com/emmansun/gmsm/sm2"
)

// Algorithm names a key type a seal or the CA may have.
type Algorithm string

const (
	// ECDSAP256 is ECDSA on NIST P-256, the default: small keys and fast signatures.
	ECDSAP256 Algorithm = "ecdsa-p256"
	// RSA3072 is RSA with a 3072-bit modulus, for relying parties that accept only RSA.
	RSA3072 Algorithm = "rsa-3072"
	// SM2 is the Chinese national elliptic-curve algorithm (GB/T 32918), signing over SM3
	// digests: the seal maker's key (the CA's SM2 root, which signs GB/T 38540 seal data)
	// and the keys of seals of the national algorithms.
	SM2 Algorithm = "sm2"
)

// ParseAlgorithm reads an algorithm name as configured or requested, ignoring case and
// surrounding white space. The empty string means the default, ECDSAP256.
func ParseAlgorithm(s string) (Algorithm, error) {
	switch a := Algorithm(strings.ToLower(strings.TrimSpace(s))); a {
	case "":
		return ECDSAP256, nil
	case ECDSAP256, RSA3072, SM2:
		return a, nil
	}
	return "", fmt.Errorf("keys: unknown algorithm %q, want %q, %q or %q", s, SM2, ECDSAP256, RSA3072)
}

// Generate makes a new private key of the given algorithm from crypto/rand.
func Generate(alg Algorithm) (crypto.Signer, error) {
	switch alg {
	case ECDSAP256:
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("keys: generate %s: %w", alg, err)
		}
		return k, nil
	case RSA3072:
		k, err := rsa.GenerateKey(rand.Reader, 3072)
		if err != nil {
			return nil, fmt.Errorf("keys: generate %s: %w", alg, err)
		}
		return k, nil
	case SM2:
		k, err := sm2.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("keys: generate %s: %w", alg, err)
		}
		return k, nil
	}
	return nil, fmt.Errorf("keys: generate: unknown algorithm %q", alg)
}

// IsSM2 reports whether pub is an SM2 public key (an EC key on the SM2 curve).
func IsSM2(pub crypto.PublicKey) bool {
	k, ok := pub.(*ecdsa.PublicKey)
	return ok && k.Curve == sm2.P256()
}

// CheckPublicKey reports whether a key is of a type seals and the CA may use: ECDSA on
// P-256, or RSA with a modulus of at least 2048 bits. Generated keys always pass; the
// check is for imported keys and for certificates about to be issued.
func CheckPublicKey(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return fmt.Errorf("keys: ECDSA key on curve %s is not accepted, only P-256", k.Curve.Params().Name)
		}
		return nil
	case *rsa.PublicKey:
		if n := k.N.BitLen(); n < 2048 {
			return fmt.Errorf("keys: RSA key of %d bits is not accepted, at least 2048 bits are required", n)
		}
		return nil
	}
	return fmt.Errorf("keys: %T keys are not accepted, only ECDSA P-256 and RSA of at least 2048 bits", pub)
}
