package vault

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Digest is the SHA-256 of an object's bytes, and the object's only name.
type Digest [sha256.Size]byte

// ErrBadDigest is wrapped by every error ParseDigest returns, so callers (the HTTP layer)
// can tell a malformed name from a missing object.
var ErrBadDigest = errors.New("invalid digest")

// Sum returns the digest of b.
func Sum(b []byte) Digest { return sha256.Sum256(b) }

// ParseDigest parses the form String produces: exactly 64 lower-case hexadecimal digits.
// Upper case is refused rather than folded, so that one object never has two spellings in
// keys, paths or rows.
func ParseDigest(s string) (Digest, error) {
	var d Digest
	if strings.HasPrefix(s, "sha256:") {
		return d, fmt.Errorf("vault: %w %q: give the 64 hex digits alone, without \"sha256:\"", ErrBadDigest, clip(s))
	}
	if len(s) != 2*len(d) {
		return d, fmt.Errorf("vault: %w %q: has %d characters, want 64 hexadecimal digits", ErrBadDigest, clip(s), len(s))
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if ('0' <= c && c <= '9') || ('a' <= c && c <= 'f') {
			continue
		}
		if 'A' <= c && c <= 'F' {
			return d, fmt.Errorf("vault: %w %q: upper-case %q at position %d, digests are lower-case hex", ErrBadDigest, s, c, i)
		}
		return d, fmt.Errorf("vault: %w %q: %q at position %d is not a hexadecimal digit", ErrBadDigest, s, c, i)
	}
	if _, err := hex.Decode(d[:], []byte(s)); err != nil {
		return Digest{}, fmt.Errorf("vault: %w %q: %w", ErrBadDigest, s, err)
	}
	return d, nil
}

// clip shortens s for an error message, so a huge bogus input is not echoed whole.
func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// String returns the 64 lower-case hexadecimal digits of d.
func (d Digest) String() string { return hex.EncodeToString(d[:]) }

// IsZero reports whether d is the zero value, which names no object.
func (d Digest) IsZero() bool { return d == Digest{} }

// MarshalText encodes d as String does, so a Digest is a hex string in JSON.
func (d Digest) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText decodes what MarshalText produces, with ParseDigest's checks.
func (d *Digest) UnmarshalText(b []byte) error {
	p, err := ParseDigest(string(b))
	if err != nil {
		return err
	}
	*d = p
	return nil
}
