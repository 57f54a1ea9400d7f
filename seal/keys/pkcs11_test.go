package keys_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sealvault/internal/softhsm"
	"sealvault/seal/keys"
)

// TestPKCS11Custody: ECDSA P-256 and RSA-3072 keys are made inside a SoftHSM2 token,
// sensitive and not extractable, sign verifiably, are bound to their owner, and are found
// again after the custody is closed and opened (a restart); SM2 and imported keys stay in
// software custody behind the same interface; a wrong PIN or token is a clear error.
func TestPKCS11Custody(t *testing.T) {
	ctx := context.Background()
	cfg := softhsm.Token(t)
	soft := keys.NewSoftCustody(testKEK(t))
	c, err := keys.OpenPKCS11(cfg, soft)
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte("准予注销登记"))
	type made struct {
		ref []byte
		pub crypto.PublicKey
	}
	refs := map[keys.Algorithm]made{}
	for _, alg := range []keys.Algorithm{keys.ECDSAP256, keys.RSA3072} {
		ref, pub, err := c.Create(ctx, alg, "seal-1-"+string(alg))
		if err != nil {
			t.Fatal(err)
		}
		if !keys.InToken(ref) || !strings.HasPrefix(string(ref), "pkcs11:id=") {
			t.Fatalf("%s: reference %q is not a token key's", alg, ref)
		}
		refs[alg] = made{ref, pub}
		extractable, sensitive, err := c.Extractable(ref, "seal-1-"+string(alg))
		if err != nil || extractable || !sensitive {
			t.Errorf("%s: extractable %t, sensitive %t (%v): want a sensitive, non-extractable key", alg, extractable, sensitive, err)
		}
		if _, err := c.Signer(ctx, ref, "seal-2"); !errors.Is(err, keys.ErrWrongKey) {
			t.Errorf("%s: the key signs for another owner: %v", alg, err)
		}
	}
	verify := func(c keys.Custody) {
		t.Helper()
		for alg, m := range refs {
			s, err := c.Signer(ctx, m.ref, "seal-1-"+string(alg))
			if err != nil {
				t.Fatal(err)
			}
			sig, err := s.Sign(rand.Reader, digest[:], crypto.SHA256)
			if err != nil {
				t.Fatal(err)
			}
			switch pub := m.pub.(type) {
			case *ecdsa.PublicKey:
				if !ecdsa.VerifyASN1(pub, digest[:], sig) {
					t.Errorf("%s: the signature does not verify", alg)
				}
			case *rsa.PublicKey:
				if rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig) != nil {
					t.Errorf("%s: the signature does not verify", alg)
				}
			}
		}
	}
	verify(c)

	// SM2 and imported keys: software custody, through the same custody.
	sm2Ref, _, err := c.Create(ctx, keys.SM2, "maker")
	if err != nil || keys.InToken(sm2Ref) {
		t.Errorf("SM2: %v, in token %t", err, keys.InToken(sm2Ref))
	}
	if _, err := c.Signer(ctx, sm2Ref, "maker"); err != nil {
		t.Errorf("SM2 signer: %v", err)
	}

	// A restart: the keys are still in the token.
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := keys.OpenPKCS11(cfg, soft)
	if err != nil {
		t.Fatal(err)
	}
	verify(again)
	if err := again.Close(); err != nil {
		t.Fatal(err)
	}

	// Wrong PIN, unknown token, no module: clear errors (with no session of this process
	// logged in, as at start-up).
	wrong := filepath.Join(t.TempDir(), "wrong-pin")
	os.WriteFile(wrong, []byte("000000\n"), 0o600)
	for _, tc := range []struct {
		cfg  keys.PKCS11Config
		says string
	}{
		{keys.PKCS11Config{Module: cfg.Module, Token: cfg.Token, PINFile: wrong}, "refused the PIN"},
		{keys.PKCS11Config{Module: cfg.Module, Token: "no-such-token", PINFile: cfg.PINFile}, `no token labelled "no-such-token"`},
		{keys.PKCS11Config{Module: "/nonexistent/libpkcs11.so", Token: cfg.Token, PINFile: cfg.PINFile}, "/nonexistent/libpkcs11.so"},
		{keys.PKCS11Config{Module: cfg.Module, Token: cfg.Token}, "--pkcs11-pin-file"},
	} {
		if c, err := keys.OpenPKCS11(tc.cfg, soft); err == nil || !strings.Contains(err.Error(), tc.says) {
			if c != nil {
				c.Close()
			}
			t.Errorf("OpenPKCS11(%+v): %v, want %q", tc.cfg, err, tc.says)
		}
	}
}
