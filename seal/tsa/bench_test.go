package tsa_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"testing"

	"sealvault/internal/testkit"
)

// BenchmarkToken measures the TSA's tokens a second (serials from memory, as a sequence's
// cached values would be), against its floor in the same run: BenchmarkTokenFloor, the one
// ECDSA P-256 signature every token needs.
func BenchmarkToken(b *testing.B) {
	ts, _ := newTSA(b)
	sum := sha256.Sum256([]byte("a signature value"))
	for _, c := range []int{1, 2, 8} {
		b.Run(fmt.Sprintf("c=%d", c), func(b *testing.B) {
			testkit.RunConcurrent(b, c, "tokens/s", func(_, _ int) error {
				_, err := ts.Token(b.Context(), sum[:])
				return err
			})
		})
	}
}

func BenchmarkTokenFloor(b *testing.B) {
	ts, _ := newTSA(b)
	key := ts.Key.(*ecdsa.PrivateKey)
	sum := sha256.Sum256([]byte("signed attributes"))
	for _, c := range []int{1, 2, 8} {
		b.Run(fmt.Sprintf("c=%d", c), func(b *testing.B) {
			testkit.RunConcurrent(b, c, "signatures/s", func(_, _ int) error {
				_, err := key.Sign(rand.Reader, sum[:], crypto.SHA256)
				return err
			})
		})
	}
}
