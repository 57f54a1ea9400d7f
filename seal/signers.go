package seal

import (
	"bytes"
	"context"
	"crypto"
	"sync"
	"time"

	"github.com/google/uuid"

	"sealvault/seal/keys"
)

// DefaultSignerTTL is how long cmd/sealvault keeps an unwrapped seal key by default
// (--signer-cache-ttl).
const DefaultSignerTTL = time.Minute

// signerCache keeps the signers of recently applied seals for a short time, so that a seal
// applied to many documents does not have its key unwrapped by custody for every one. An
// entry is for one seal and the custody reference it was made from; a seal whose status
// changes loses its entry (forget), and every entry ends after the time to live.
//
// The cache only saves custody work: whether a seal may be used is decided for every use
// by the rules, on the seal's row as it is in the database.
type signerCache struct {
	mu sync.Mutex
	m  map[uuid.UUID]cachedSigner
}

type cachedSigner struct {
	ref    []byte
	signer crypto.Signer
	until  time.Time
}

// signer returns the signer of seal id for key reference ref: a cached one younger than
// ttl, or one custody unwraps, cached for ttl. ttl <= 0 caches nothing.
func (c *signerCache) signer(ctx context.Context, custody keys.Custody, id uuid.UUID, ref []byte, ttl time.Duration) (crypto.Signer, error) {
	now := time.Now()
	if ttl > 0 {
		c.mu.Lock()
		e, ok := c.m[id]
		c.mu.Unlock()
		if ok && now.Before(e.until) && bytes.Equal(e.ref, ref) {
			return e.signer, nil
		}
	}
	s, err := custody.Signer(ctx, ref, id.String())
	if err != nil || ttl <= 0 {
		return s, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[uuid.UUID]cachedSigner)
	}
	for k, e := range c.m { // expired entries go, so the cache holds only seals in use
		if !now.Before(e.until) {
			delete(c.m, k)
		}
	}
	c.m[id] = cachedSigner{ref: ref, signer: s, until: now.Add(ttl)}
	return s, nil
}

// forget drops the signer of seal id.
func (c *signerCache) forget(id uuid.UUID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, id)
}
