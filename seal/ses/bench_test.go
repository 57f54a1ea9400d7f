package ses_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"testing"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/sm3"
)

// The signature algorithms side by side in one run: SM2 with SM3 (GB/T 32918, the user
// identity's Z digest included, as GB/T 38540 signs) against ECDSA P-256 with SHA-256, over
// the same 1 KB message, signing and verifying.
var benchMessage = make([]byte, 1024)

func BenchmarkAlgorithms(b *testing.B) {
	sk, err := sm2.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	sm2Sig, _ := sk.Sign(rand.Reader, benchMessage, sm2.DefaultSM2SignerOpts)
	eSum := sha256.Sum256(benchMessage)
	eSig, _ := ek.Sign(rand.Reader, eSum[:], crypto.SHA256)
	b.Run("sign/sm2-sm3", func(b *testing.B) {
		for b.Loop() {
			if _, err := sk.Sign(rand.Reader, benchMessage, sm2.DefaultSM2SignerOpts); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("sign/ecdsa-p256-sha256", func(b *testing.B) {
		for b.Loop() {
			sum := sha256.Sum256(benchMessage)
			if _, err := ek.Sign(rand.Reader, sum[:], crypto.SHA256); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("verify/sm2-sm3", func(b *testing.B) {
		for b.Loop() {
			if !sm2.VerifyASN1WithSM2(&sk.PublicKey, nil, benchMessage, sm2Sig) {
				b.Fatal("does not verify")
			}
		}
	})
	b.Run("verify/ecdsa-p256-sha256", func(b *testing.B) {
		for b.Loop() {
			sum := sha256.Sum256(benchMessage)
			if !ecdsa.VerifyASN1(&ek.PublicKey, sum[:], eSig) {
				b.Fatal("does not verify")
			}
		}
	})
	b.Run("digest/sm3", func(b *testing.B) {
		b.SetBytes(int64(len(benchMessage)))
		for b.Loop() {
			sm3.Sum(benchMessage)
		}
	})
	b.Run("digest/sha256", func(b *testing.B) {
		b.SetBytes(int64(len(benchMessage)))
		for b.Loop() {
			sha256.Sum256(benchMessage)
		}
	})
}
