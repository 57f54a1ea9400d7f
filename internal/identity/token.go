package identity

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// Keyring holds the Ed25519 keys that sign access tokens, one PEM file per key in a
// directory. The newest key signs; every key in the directory verifies, so tokens signed
// before a rotation stay valid until they expire. Several processes may share the
// directory: a token with an unknown key id makes the keyring re-read it (at most once a
// second).
type Keyring struct {
	dir string

	mu       sync.RWMutex
	keys     map[string]ed25519.PublicKey
	signKid  string
	signKey  ed25519.PrivateKey
	reloaded time.Time
}

// keyFilePrefix starts every key file name; the rest is a UTC timestamp and the key id, so
// lexical order is creation order.
const keyFilePrefix = "jwt-"

// OpenKeyring loads the keys in dir, creating dir and a first key when there are none.
func OpenKeyring(dir string) (*Keyring, error) {
	// Only the key directory itself is private; its parents stay traversable (the local
	// PostgreSQL cluster lives beside it and runs as another user).
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return nil, fmt.Errorf("identity: token key directory: %w", err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("identity: token key directory: %w", err)
	}
	k := &Keyring{dir: dir}
	if err := k.load(); err != nil {
		return nil, err
	}
	if k.signKey == nil {
		if _, err := k.Rotate(time.Now()); err != nil {
			return nil, err
		}
	}
	return k, nil
}

func kidOf(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return base64.RawURLEncoding.EncodeToString(sum[:12])
}

func (k *Keyring) files() ([]string, error) {
	names, err := filepath.Glob(filepath.Join(k.dir, keyFilePrefix+"*.pem"))
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	return names, nil
}

func (k *Keyring) load() error {
	names, err := k.files()
	if err != nil {
		return fmt.Errorf("identity: token keys: %w", err)
	}
	keys := make(map[string]ed25519.PublicKey, len(names))
	var signKid string
	var signKey ed25519.PrivateKey
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			return fmt.Errorf("identity: token key %s: %w", filepath.Base(name), err)
		}
		blk, _ := pem.Decode(b)
		if blk == nil || blk.Type != "PRIVATE KEY" {
			return fmt.Errorf("identity: token key %s: not a PEM private key", filepath.Base(name))
		}
		parsed, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
		if err != nil {
			return fmt.Errorf("identity: token key %s: %w", filepath.Base(name), err)
		}
		priv, ok := parsed.(ed25519.PrivateKey)
		if !ok {
			return fmt.Errorf("identity: token key %s: not an Ed25519 key", filepath.Base(name))
		}
		pub := priv.Public().(ed25519.PublicKey)
		kid := kidOf(pub)
		keys[kid] = pub
		signKid, signKey = kid, priv
	}
	k.mu.Lock()
	k.keys, k.signKid, k.signKey, k.reloaded = keys, signKid, signKey, time.Now()
	k.mu.Unlock()
	return nil
}

// Rotate makes a new signing key; the older keys keep verifying. It returns the new key id.
func (k *Keyring) Rotate(now time.Time) (string, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", fmt.Errorf("identity: generate token key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return "", fmt.Errorf("identity: encode token key: %w", err)
	}
	kid := kidOf(priv.Public().(ed25519.PublicKey))
	name := filepath.Join(k.dir, keyFilePrefix+now.UTC().Format("20060102T150405.000000000Z")+"-"+kid+".pem")
	tmp := name + ".tmp"
	if err := os.WriteFile(tmp, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return "", fmt.Errorf("identity: write token key: %w", err)
	}
	if err := os.Rename(tmp, name); err != nil {
		return "", fmt.Errorf("identity: write token key: %w", err)
	}
	return kid, k.load()
}

// Prune deletes keys that stopped signing more than keep ago (keep must exceed the longest
// token lifetime) and returns how many it deleted. The signing key is never deleted.
func (k *Keyring) Prune(now time.Time, keep time.Duration) (int, error) {
	names, err := k.files()
	if err != nil {
		return 0, fmt.Errorf("identity: token keys: %w", err)
	}
	n := 0
	for i := 0; i+1 < len(names); i++ {
		// A key stopped signing when its successor was created.
		succ := strings.TrimPrefix(filepath.Base(names[i+1]), keyFilePrefix)
		created, err := time.Parse("20060102T150405.000000000Z", strings.SplitN(succ, "-", 2)[0])
		if err != nil || now.Sub(created) <= keep {
			continue
		}
		if err := os.Remove(names[i]); err != nil {
			return n, fmt.Errorf("identity: prune token key: %w", err)
		}
		n++
	}
	return n, k.load()
}

// signerRefresh is how often the signing key is re-read, so every process sharing the
// directory moves to a rotated key well before the old one is pruned.
const signerRefresh = 30 * time.Second

// signer returns the current signing key and its id.
func (k *Keyring) signer() (string, ed25519.PrivateKey) {
	k.mu.RLock()
	stale := time.Since(k.reloaded) > signerRefresh
	k.mu.RUnlock()
	if stale {
		_ = k.load() // on error keep signing with the key already loaded
	}
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.signKid, k.signKey
}

// Public returns the verification key with kid, re-reading the directory once a second at
// most when kid is unknown.
func (k *Keyring) Public(kid string) (ed25519.PublicKey, bool) {
	k.mu.RLock()
	pub, ok := k.keys[kid]
	stale := time.Since(k.reloaded) > time.Second
	k.mu.RUnlock()
	if ok || !stale {
		return pub, ok
	}
	if err := k.load(); err != nil {
		return nil, false
	}
	k.mu.RLock()
	defer k.mu.RUnlock()
	pub, ok = k.keys[kid]
	return pub, ok
}

// TokenConfig configures token issue and verification.
type TokenConfig struct {
	Issuer   string
	Audience string
	TTL      time.Duration
	// External, when set, is a second issuer (single sign-on) whose tokens are accepted;
	// their subject is a sealvault username.
	External *ExternalIssuer
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// ExternalIssuer is an identity provider trusted for single sign-on: its issuer name,
// audience and public keys (a JWKS file of Ed25519 or P-256 keys).
type ExternalIssuer struct {
	Issuer   string
	Audience string
	keys     map[string]crypto.PublicKey
	algs     map[string]string
}

// LoadExternalIssuer reads a JWKS file. Only Ed25519 (EdDSA) and P-256 (ES256) public keys
// with a key id are accepted.
func LoadExternalIssuer(issuer, audience, jwksFile string) (*ExternalIssuer, error) {
	b, err := os.ReadFile(jwksFile)
	if err != nil {
		return nil, fmt.Errorf("identity: JWKS file: %w", err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(b, &set); err != nil {
		return nil, fmt.Errorf("identity: JWKS file %s: %w", jwksFile, err)
	}
	x := &ExternalIssuer{Issuer: issuer, Audience: audience, keys: map[string]crypto.PublicKey{}, algs: map[string]string{}}
	for _, jwk := range set.Keys {
		if jwk.KeyID == "" || !jwk.IsPublic() {
			return nil, fmt.Errorf("identity: JWKS file %s: every key needs a kid and must be public", jwksFile)
		}
		switch pub := jwk.Key.(type) {
		case ed25519.PublicKey:
			x.algs[jwk.KeyID] = "EdDSA"
		case *ecdsa.PublicKey:
			if pub.Curve != elliptic.P256() {
				return nil, fmt.Errorf("identity: JWKS key %s: only P-256 EC keys are accepted", jwk.KeyID)
			}
			x.algs[jwk.KeyID] = "ES256"
		default:
			return nil, fmt.Errorf("identity: JWKS key %s: unsupported key type (EdDSA or ES256 keys only)", jwk.KeyID)
		}
		x.keys[jwk.KeyID] = jwk.Key
	}
	if len(x.keys) == 0 {
		return nil, fmt.Errorf("identity: JWKS file %s has no keys", jwksFile)
	}
	return x, nil
}

// Tokens issues and verifies access tokens.
type Tokens struct {
	keys *Keyring
	cfg  TokenConfig
}

// NewTokens returns a token service signing with keys.
func NewTokens(keys *Keyring, cfg TokenConfig) *Tokens {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Tokens{keys: keys, cfg: cfg}
}

// Claims are the verified contents of an access token.
type Claims struct {
	// UserID is set for tokens this service issued.
	UserID uuid.UUID
	// Username is set for tokens of the external issuer.
	Username  string
	TokenID   string
	ExpiresAt time.Time
	// IssuedAt is when the token was issued (to the millisecond for this service's own).
	IssuedAt time.Time
}

// Issue signs a token for user.
func (t *Tokens) Issue(user uuid.UUID) (token string, expires time.Time, err error) {
	now := t.cfg.Now().Truncate(time.Millisecond)
	expires = now.Add(t.cfg.TTL).Truncate(time.Second)
	kid, key := t.keys.signer()
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.RegisteredClaims{
		Issuer:    t.cfg.Issuer,
		Subject:   user.String(),
		Audience:  jwt.ClaimStrings{t.cfg.Audience},
		ExpiresAt: jwt.NewNumericDate(expires),
		NotBefore: jwt.NewNumericDate(now.Truncate(time.Second)),
		IssuedAt:  jwt.NewNumericDate(now),
		ID:        uuid.NewString(),
	})
	tok.Header["kid"] = kid
	s, err := tok.SignedString(key)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("identity: sign token: %w", err)
	}
	return s, expires, nil
}

// ErrBadToken is returned for every token that fails verification; the cause is wrapped for
// logs but never shown to the client.
var ErrBadToken = errors.New("identity: invalid access token")

// maxTokenLen bounds what is handed to the JWT parser.
const maxTokenLen = 4096

// Verify checks a token's signature, algorithm, issuer, audience and times, and returns its
// claims.
func (t *Tokens) Verify(token string) (Claims, error) {
	if len(token) > maxTokenLen || strings.Count(token, ".") != 2 {
		return Claims{}, fmt.Errorf("%w: malformed", ErrBadToken)
	}
	iss, err := t.unverifiedIssuer(token)
	if err != nil {
		return Claims{}, err
	}
	if x := t.cfg.External; x != nil && iss == x.Issuer && iss != t.cfg.Issuer {
		return t.verifyExternal(token, x)
	}
	var rc jwt.RegisteredClaims
	_, err = t.parser(t.cfg.Issuer, t.cfg.Audience, "EdDSA").ParseWithClaims(token, &rc, func(tok *jwt.Token) (any, error) {
		kid, _ := tok.Header["kid"].(string)
		pub, ok := t.keys.Public(kid)
		if !ok {
			return nil, fmt.Errorf("unknown key id")
		}
		return pub, nil
	})
	if err != nil {
		return Claims{}, fmt.Errorf("%w: %w", ErrBadToken, err)
	}
	id, err := uuid.Parse(rc.Subject)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: subject is not a user id", ErrBadToken)
	}
	c := Claims{UserID: id, TokenID: rc.ID, ExpiresAt: rc.ExpiresAt.Time}
	if rc.IssuedAt != nil {
		c.IssuedAt = rc.IssuedAt.Time
	}
	return c, nil
}

// The tokens' times are written to the millisecond (RFC 7519 NumericDate may be a
// fraction): a token issued just after a password change must be told from one issued just
// before it, in the same second.
func init() { jwt.TimePrecision = time.Millisecond }

func (t *Tokens) parser(iss, aud, alg string) *jwt.Parser {
	return jwt.NewParser(
		jwt.WithValidMethods([]string{alg}),
		jwt.WithIssuer(iss),
		jwt.WithAudience(aud),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(30*time.Second),
		jwt.WithTimeFunc(t.cfg.Now),
	)
}

// unverifiedIssuer reads the iss claim only to choose which keys to verify with; nothing
// else of the unverified token is used.
func (t *Tokens) unverifiedIssuer(token string) (string, error) {
	var rc jwt.RegisteredClaims
	if _, _, err := jwt.NewParser().ParseUnverified(token, &rc); err != nil {
		return "", fmt.Errorf("%w: %w", ErrBadToken, err)
	}
	return rc.Issuer, nil
}

func (t *Tokens) verifyExternal(token string, x *ExternalIssuer) (Claims, error) {
	var rc jwt.RegisteredClaims
	var alg string
	// The algorithm is pinned per key: read the kid first, then parse allowing only that
	// key's algorithm.
	if tok, _, err := jwt.NewParser().ParseUnverified(token, &jwt.RegisteredClaims{}); err == nil {
		kid, _ := tok.Header["kid"].(string)
		alg = x.algs[kid]
	}
	if alg == "" {
		return Claims{}, fmt.Errorf("%w: unknown external key id", ErrBadToken)
	}
	_, err := t.parser(x.Issuer, x.Audience, alg).ParseWithClaims(token, &rc, func(tok *jwt.Token) (any, error) {
		kid, _ := tok.Header["kid"].(string)
		return x.keys[kid], nil
	})
	if err != nil {
		return Claims{}, fmt.Errorf("%w: %w", ErrBadToken, err)
	}
	if rc.Subject == "" {
		return Claims{}, fmt.Errorf("%w: no subject", ErrBadToken)
	}
	c := Claims{Username: rc.Subject, TokenID: rc.ID, ExpiresAt: rc.ExpiresAt.Time}
	if rc.IssuedAt != nil {
		c.IssuedAt = rc.IssuedAt.Time // without one, a user's revocation refuses the token
	}
	return c, nil
}
