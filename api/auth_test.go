package api

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"sealvault/internal/identity"
)

func TestLoginAndMe(t *testing.T) {
	b := setup(t)
	rec := b.do(t, http.MethodPost, "/api/v1/auth/login", "", map[string]string{"username": "U-Window", "password": testPassword})
	if rec.Code != http.StatusOK {
		t.Fatalf("login: %d %s", rec.Code, rec.Body)
	}
	tok := decode[tokenResponse](t, rec)
	if tok.TokenType != "Bearer" || tok.ExpiresIn < 14*60 || tok.ExpiresIn > 15*60 {
		t.Errorf("token response %+v", tok)
	}
	rec = b.do(t, http.MethodGet, "/api/v1/me", tok.AccessToken, nil)
	if rec.Code != http.StatusOK {
		t.Fatalf("me: %d %s", rec.Code, rec.Body)
	}
	me := decode[map[string]any](t, rec)
	if me["username"] != "u-window" || me["department"].(map[string]any)["name"] != "测试政务服务中心" {
		t.Errorf("me = %v", me)
	}
	if strings.Contains(rec.Body.String(), "argon2") || strings.Contains(rec.Body.String(), "password") {
		t.Errorf("me leaks the password hash: %s", rec.Body)
	}

	// The claims a relying party checks are all there.
	parts := strings.Split(tok.AccessToken, ".")
	hdr, _ := base64.RawURLEncoding.DecodeString(parts[0])
	pl, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var h, c map[string]any
	_ = json.Unmarshal(hdr, &h)
	_ = json.Unmarshal(pl, &c)
	if h["alg"] != "EdDSA" || h["kid"] == nil || h["kid"] == "" {
		t.Errorf("header %v", h)
	}
	for _, claim := range []string{"iss", "aud", "sub", "exp", "iat", "nbf", "jti"} {
		if c[claim] == nil {
			t.Errorf("token lacks %s: %v", claim, c)
		}
	}
}

func TestLoginFailures(t *testing.T) {
	b := setup(t)
	disabled := true
	if _, err := identity.UpdateUser(t.Context(), b.pool, b.users[identity.RoleAuditor].ID, identity.UserPatch{Disabled: &disabled}); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]map[string]string{
		"wrong password": {"username": "u-window", "password": "not the password"},
		"unknown user":   {"username": "nobody", "password": testPassword},
		"disabled user":  {"username": "u-auditor", "password": testPassword},
	} {
		rec := b.do(t, http.MethodPost, "/api/v1/auth/login", "", body)
		p := problemOf(t, rec)
		if rec.Code != http.StatusUnauthorized || p.Type != ProblemBase+"login-failed" {
			t.Errorf("%s: %d %+v", name, rec.Code, p)
		}
		if strings.Contains(rec.Body.String(), "nobody") || strings.Contains(rec.Body.String(), "auditor") {
			t.Errorf("%s: problem names the account: %s", name, rec.Body)
		}
	}
}

// signWith makes a token with the given header and claims, signed by method and key.
func signWith(t *testing.T, method jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// kidOf returns the key id and decoded payload of a token this server issued.
func kidOf(t *testing.T, token string) (string, map[string]any) {
	t.Helper()
	parts := strings.Split(token, ".")
	var h, c map[string]any
	hb, _ := base64.RawURLEncoding.DecodeString(parts[0])
	cb, _ := base64.RawURLEncoding.DecodeString(parts[1])
	if json.Unmarshal(hb, &h) != nil || json.Unmarshal(cb, &c) != nil {
		t.Fatal("cannot decode token")
	}
	return h["kid"].(string), c
}

func TestTokenAttacks(t *testing.T) {
	b := setup(t)
	good := b.token[identity.RoleAdmin]
	kid, claims := kidOf(t, good)
	admin := b.users[identity.RoleAdmin]
	pub, _ := b.keys.Public(kid)
	now := time.Now()
	valid := func() jwt.MapClaims {
		return jwt.MapClaims{"iss": "sealvault-test", "aud": "sealvault-api", "sub": admin.ID.String(),
			"exp": now.Add(10 * time.Minute).Unix(), "iat": now.Unix(), "nbf": now.Unix(), "jti": uuid.NewString()}
	}
	with := func(k string, v any) jwt.MapClaims { c := valid(); c[k] = v; return c }
	without := func(k string) jwt.MapClaims { c := valid(); delete(c, k); return c }
	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	seg := func(v any) string { js, _ := json.Marshal(v); return base64.RawURLEncoding.EncodeToString(js) }
	parts := strings.Split(good, ".")

	past := identity.NewTokens(b.keys, identity.TokenConfig{Issuer: "sealvault-test", Audience: "sealvault-api", TTL: 15 * time.Minute,
		Now: func() time.Time { return now.Add(-time.Hour) }})
	expired, _, _ := past.Issue(admin.ID)
	future := identity.NewTokens(b.keys, identity.TokenConfig{Issuer: "sealvault-test", Audience: "sealvault-api", TTL: 15 * time.Minute,
		Now: func() time.Time { return now.Add(time.Hour) }})
	notYet, _, _ := future.Issue(admin.ID)
	otherIss := identity.NewTokens(b.keys, identity.TokenConfig{Issuer: "someone-else", Audience: "sealvault-api", TTL: time.Minute})
	wrongIss, _, _ := otherIss.Issue(admin.ID)
	otherAud := identity.NewTokens(b.keys, identity.TokenConfig{Issuer: "sealvault-test", Audience: "other-api", TTL: time.Minute})
	wrongAud, _, _ := otherAud.Issue(admin.ID)

	claims["sub"] = b.users[identity.RoleWindow].ID.String()
	tampered := parts[0] + "." + seg(claims) + "." + parts[2]
	claims["sub"] = admin.ID.String()
	claims["exp"] = now.Add(24 * time.Hour).Unix()
	extended := parts[0] + "." + seg(claims) + "." + parts[2]

	cases := map[string]string{
		"alg none":                  seg(map[string]string{"alg": "none", "typ": "JWT", "kid": kid}) + "." + seg(valid()) + ".",
		"alg none, no signature":    seg(map[string]string{"alg": "none", "typ": "JWT"}) + "." + seg(valid()),
		"HS256 with the public key": signWith(t, jwt.SigningMethodHS256, []byte(pub), kid, valid()),
		"expired":                   expired,
		"not yet valid":             notYet,
		"wrong issuer":              wrongIss,
		"wrong audience":            wrongAud,
		"no exp":                    signWith(t, jwt.SigningMethodEdDSA, otherKey, kid, without("exp")),
		"unknown kid":               signWith(t, jwt.SigningMethodEdDSA, otherKey, "no-such-key", valid()),
		"known kid, other key":      signWith(t, jwt.SigningMethodEdDSA, otherKey, kid, valid()),
		"no kid":                    signWith(t, jwt.SigningMethodEdDSA, otherKey, "", valid()),
		"subject changed":           tampered,
		"expiry extended":           extended,
		"signature stripped":        parts[0] + "." + parts[1] + ".",
		"subject not a user id":     signWith(t, jwt.SigningMethodEdDSA, otherKey, kid, with("sub", "admin")),
		"garbage":                   "not.a.token",
		"empty":                     "",
	}
	for name, tok := range cases {
		rec := b.do(t, http.MethodGet, "/api/v1/me", tok, nil)
		if rec.Code != http.StatusUnauthorized {
			t.Errorf("%s: status %d, want 401: %s", name, rec.Code, rec.Body)
			continue
		}
		if p := problemOf(t, rec); p.Type != ProblemBase+"unauthenticated" {
			t.Errorf("%s: problem type %s", name, p.Type)
		}
		if rec.Header().Get("WWW-Authenticate") == "" {
			t.Errorf("%s: no WWW-Authenticate", name)
		}
	}
	// The genuine token still works, so the cases above failed for their own reason.
	if rec := b.do(t, http.MethodGet, "/api/v1/me", good, nil); rec.Code != http.StatusOK {
		t.Fatalf("genuine token: %d", rec.Code)
	}
}

func TestTokenOfDisabledUserStopsWorking(t *testing.T) {
	b := setup(t)
	tok := b.token[identity.RoleWindow]
	if rec := b.do(t, http.MethodGet, "/api/v1/me", tok, nil); rec.Code != http.StatusOK {
		t.Fatalf("before: %d", rec.Code)
	}
	rec := b.do(t, http.MethodPatch, "/api/v1/users/"+b.users[identity.RoleWindow].ID.String(), b.token[identity.RoleAdmin], map[string]bool{"disabled": true})
	if rec.Code != http.StatusOK {
		t.Fatalf("disable: %d %s", rec.Code, rec.Body)
	}
	if rec := b.do(t, http.MethodGet, "/api/v1/me", tok, nil); rec.Code != http.StatusUnauthorized {
		t.Fatalf("after disabling: %d, want 401", rec.Code)
	}
	// A role taken away takes effect on the next request too.
	rec = b.do(t, http.MethodPatch, "/api/v1/users/"+b.users[identity.RoleAdmin].ID.String(), b.token[identity.RoleAdmin], map[string]any{"roles": []string{"auditor"}})
	if rec.Code != http.StatusOK {
		t.Fatalf("change roles: %d %s", rec.Code, rec.Body)
	}
	if rec := b.do(t, http.MethodGet, "/api/v1/users", b.token[identity.RoleAdmin], nil); rec.Code != http.StatusForbidden {
		t.Fatalf("after losing admin: %d, want 403", rec.Code)
	}
}

func TestHugeBearerHeader(t *testing.T) {
	b := setup(t)
	header := strings.Repeat(".", 200_000)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	rec := b.do(t, http.MethodGet, "/api/v1/me", header, nil)
	runtime.ReadMemStats(&after)
	if rec.Code != http.StatusUnauthorized {
		t.Fatalf("status %d, want 401", rec.Code)
	}
	// The request itself holds the 200 kB header (a few copies); splitting it into 200,000
	// parts would cost several MB more.
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 4<<20 {
		t.Errorf("verifying a dots-only token allocated %d bytes", grew)
	}
}

func TestKeyRotationKeepsOldTokens(t *testing.T) {
	b := setup(t)
	old := b.token[identity.RoleWindow]
	oldKid, _ := kidOf(t, old)
	newKid, err := b.keys.Rotate(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	fresh, _, err := b.tokens.Issue(b.users[identity.RoleWindow].ID)
	if err != nil {
		t.Fatal(err)
	}
	if k, _ := kidOf(t, fresh); k != newKid || k == oldKid {
		t.Fatalf("after rotation tokens are signed by %s, want the new key %s", k, newKid)
	}
	for name, tok := range map[string]string{"old": old, "new": fresh} {
		if rec := b.do(t, http.MethodGet, "/api/v1/me", tok, nil); rec.Code != http.StatusOK {
			t.Errorf("%s token after rotation: %d", name, rec.Code)
		}
	}
	// Pruning keeps the old key while its tokens may live, and drops it after.
	if n, err := b.keys.Prune(time.Now(), 16*time.Minute); err != nil || n != 0 {
		t.Fatalf("prune within lifetime removed %d (%v)", n, err)
	}
	if n, err := b.keys.Prune(time.Now().Add(time.Hour), 16*time.Minute); err != nil || n != 1 {
		t.Fatalf("prune after lifetime removed %d (%v), want 1", n, err)
	}
	if rec := b.do(t, http.MethodGet, "/api/v1/me", old, nil); rec.Code != http.StatusUnauthorized {
		t.Errorf("token of a pruned key: %d, want 401", rec.Code)
	}
	if rec := b.do(t, http.MethodGet, "/api/v1/me", fresh, nil); rec.Code != http.StatusOK {
		t.Errorf("token of the signing key after prune: %d", rec.Code)
	}
}

func TestExternalIssuer(t *testing.T) {
	b := setup(t)
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: pub, KeyID: "sso-1", Algorithm: "EdDSA", Use: "sig"}}}
	js, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(file, js, 0o600); err != nil {
		t.Fatal(err)
	}
	ext, err := identity.LoadExternalIssuer("https://sso.example.gov.cn", "sealvault", file)
	if err != nil {
		t.Fatal(err)
	}
	b.tokens = identity.NewTokens(b.keys, identity.TokenConfig{Issuer: "sealvault-test", Audience: "sealvault-api", TTL: 15 * time.Minute, External: ext})
	deps := b.srv.deps
	deps.Tokens, deps.Registry = b.tokens, prometheus.NewRegistry()
	if b.srv, err = New(deps); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	claims := func(aud, sub string) jwt.MapClaims {
		return jwt.MapClaims{"iss": "https://sso.example.gov.cn", "aud": aud, "sub": sub,
			"exp": now.Add(5 * time.Minute).Unix(), "iat": now.Unix(), "nbf": now.Unix()}
	}
	ok := signWith(t, jwt.SigningMethodEdDSA, priv, "sso-1", claims("sealvault", "u-window"))
	rec := b.do(t, http.MethodGet, "/api/v1/me", ok, nil)
	if rec.Code != http.StatusOK || decode[map[string]any](t, rec)["username"] != "u-window" {
		t.Fatalf("SSO token: %d %s", rec.Code, rec.Body)
	}
	localKid, _ := kidOf(t, b.token[identity.RoleAdmin])
	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	for name, tok := range map[string]string{
		"wrong audience":     signWith(t, jwt.SigningMethodEdDSA, priv, "sso-1", claims("elsewhere", "u-window")),
		"unknown user":       signWith(t, jwt.SigningMethodEdDSA, priv, "sso-1", claims("sealvault", "nobody")),
		"other key, sso kid": signWith(t, jwt.SigningMethodEdDSA, otherKey, "sso-1", claims("sealvault", "u-admin")),
		"local kid":          signWith(t, jwt.SigningMethodEdDSA, priv, localKid, claims("sealvault", "u-admin")),
	} {
		if rec := b.do(t, http.MethodGet, "/api/v1/me", tok, nil); rec.Code != http.StatusUnauthorized {
			t.Errorf("%s: %d, want 401", name, rec.Code)
		}
	}
}

// TestLoginThrottling: after the maximum of failed logins for a username in the window,
// even the right password waits (429 with Retry-After), unchecked and audited; once the
// failures leave the window the account logs in again, and a success clears the count. Other
// usernames are not affected.
func TestLoginThrottling(t *testing.T) {
	b := setup(t)
	// A window far longer than the test: slow password hashing (the race detector on a loaded
	// machine) must not let failures leave it early. Leaving it is simulated by ageing the rows.
	b.srv.deps.LoginMaxFailures, b.srv.deps.LoginWindow = 3, time.Hour
	login := func(user, password string) *httptest.ResponseRecorder {
		return b.do(t, http.MethodPost, "/api/v1/auth/login", "", map[string]string{"username": user, "password": password})
	}
	for range 3 {
		if rec := login("u-window", "wrong password 1"); rec.Code != http.StatusUnauthorized {
			t.Fatalf("wrong password: %d", rec.Code)
		}
	}
	rec := login(" U-Window ", testPassword)
	p := problemOf(t, rec)
	if rec.Code != http.StatusTooManyRequests || p.Type != ProblemBase+"too-many-attempts" || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("fourth attempt: %d %s %v", rec.Code, rec.Body, rec.Header())
	}
	if rec := login("u-admin", testPassword); rec.Code != http.StatusOK {
		t.Errorf("another account is throttled too: %d", rec.Code)
	}
	var throttled int
	b.pool.QueryRow(t.Context(), `SELECT count(*) FROM audit_events WHERE action = 'auth.login.throttled' AND body LIKE '%' || $1 || '%'`,
		b.users[identity.RoleWindow].ID.String()).Scan(&throttled)
	if throttled != 1 {
		t.Errorf("%d auth.login.throttled events for the account, want 1", throttled)
	}
	var stored int
	b.pool.QueryRow(t.Context(), `SELECT count(*) FROM login_failures WHERE username_hash LIKE '%window%'`).Scan(&stored)
	if stored != 0 {
		t.Error("the username is stored in clear")
	}
	if _, err := b.pool.Exec(t.Context(), `UPDATE login_failures SET at = at - interval '61 minutes'`); err != nil {
		t.Fatal(err)
	}
	if rec := login("u-window", testPassword); rec.Code != http.StatusOK {
		t.Fatalf("after the window: %d %s", rec.Code, rec.Body)
	}
	var left int
	b.pool.QueryRow(t.Context(), `SELECT count(*) FROM login_failures`).Scan(&left)
	if left != 0 {
		t.Errorf("%d failures left after a successful login", left)
	}
}
