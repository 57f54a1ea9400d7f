package keys_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"testing"

	"sealvault/internal/softhsm"
	"sealvault/seal/keys"
)

// BenchmarkCustodySign is one seal signature (a SHA-256 digest) by a key in software
// custody (unwrapped once, as the signer cache does) against the same kind of key inside a
// SoftHSM2 token through PKCS#11, in the same run.
func BenchmarkCustodySign(b *testing.B) {
	ctx := context.Background()
	kek, err := keys.ParseKEK(testKEKText)
	if err != nil {
		b.Fatal(err)
	}
	soft := keys.NewSoftCustody(kek)
	hsm, err := keys.OpenPKCS11(softhsm.Token(b), soft)
	if err != nil {
		b.Fatal(err)
	}
	defer hsm.Close()
	digest := sha256.Sum256([]byte("准予注销登记"))
	for _, alg := range []keys.Algorithm{keys.ECDSAP256, keys.RSA3072} {
		for _, c := range []struct {
			name    string
			custody keys.Custody
		}{{"software", soft}, {"pkcs11-softhsm2", hsm}} {
			ref, _, err := c.custody.Create(ctx, alg, "bench")
			if err != nil {
				b.Fatal(err)
			}
			s, err := c.custody.Signer(ctx, ref, "bench")
			if err != nil {
				b.Fatal(err)
			}
			b.Run(fmt.Sprintf("%s/%s", alg, c.name), func(b *testing.B) {
				for b.Loop() {
					if _, err := s.Sign(rand.Reader, digest[:], crypto.SHA256); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
