package seal

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"testing"
	"time"

	"github.com/google/uuid"

	"sealvault/seal/keys"
)

// unwrapCounter is a custody that hands out one fixed key and counts the unwraps.
type unwrapCounter struct {
	keys.Custody
	key     crypto.Signer
	unwraps int
}

func (c *unwrapCounter) Signer(context.Context, []byte, string) (crypto.Signer, error) {
	c.unwraps++
	return c.key, nil
}

func TestSignerCache(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	a, b := uuid.New(), uuid.New()
	ref := []byte("sealed key of a")
	for _, tt := range []struct {
		name    string
		ttl     time.Duration
		steps   func(c *signerCache, get func(id uuid.UUID, ref []byte))
		unwraps int
	}{
		{"cached within its time to live", time.Minute, func(c *signerCache, get func(uuid.UUID, []byte)) {
			get(a, ref)
			get(a, ref)
			get(a, ref)
		}, 1},
		{"0 disables the cache", 0, func(c *signerCache, get func(uuid.UUID, []byte)) {
			get(a, ref)
			get(a, ref)
		}, 2},
		{"expired entries are unwrapped again", time.Nanosecond, func(c *signerCache, get func(uuid.UUID, []byte)) {
			get(a, ref)
			time.Sleep(time.Millisecond)
			get(a, ref)
		}, 2},
		{"a status change (forget) drops the seal's signer only", time.Minute, func(c *signerCache, get func(uuid.UUID, []byte)) {
			get(a, ref)
			get(b, []byte("sealed key of b"))
			c.forget(a)
			get(a, ref)
			get(b, []byte("sealed key of b"))
		}, 3},
		{"a new key reference is unwrapped", time.Minute, func(c *signerCache, get func(uuid.UUID, []byte)) {
			get(a, ref)
			get(a, []byte("rotated key of a"))
		}, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			custody := &unwrapCounter{key: key}
			var c signerCache
			tt.steps(&c, func(id uuid.UUID, ref []byte) {
				s, err := c.signer(t.Context(), custody, id, ref, tt.ttl)
				if err != nil || s != crypto.Signer(key) {
					t.Fatalf("signer: %v, %v", s, err)
				}
			})
			if custody.unwraps != tt.unwraps {
				t.Errorf("custody unwrapped %d keys, want %d", custody.unwraps, tt.unwraps)
			}
		})
	}
}
