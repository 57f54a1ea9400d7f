package keys_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"sealvault/seal/keys"
)

// testKEKText is a fixed KEK: bytes 0x00–0x1f.
const testKEKText = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

func testKEK(t *testing.T) *keys.KEK {
	t.Helper()
	k, err := keys.ParseKEK(testKEKText)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// Keys are generated once per test binary: RSA-3072 generation takes a while under -race.
var (
	genOnce sync.Once
	genKeys map[keys.Algorithm]crypto.Signer
	genErr  error
)

func testKey(t *testing.T, alg keys.Algorithm) crypto.Signer {
	t.Helper()
	genOnce.Do(func() {
		genKeys = map[keys.Algorithm]crypto.Signer{}
		for _, a := range []keys.Algorithm{keys.ECDSAP256, keys.RSA3072} {
			var k crypto.Signer
			if k, genErr = keys.Generate(a); genErr != nil {
				return
			}
			genKeys[a] = k
		}
	})
	if genErr != nil {
		t.Fatal(genErr)
	}
	return genKeys[alg]
}

func TestParseAlgorithm(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want keys.Algorithm
		ok   bool
	}{
		{"", keys.ECDSAP256, true},
		{"ecdsa-p256", keys.ECDSAP256, true},
		{" RSA-3072 ", keys.RSA3072, true},
		{"rsa-2048", "", false},
		{"ed25519", "", false},
	} {
		got, err := keys.ParseAlgorithm(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseAlgorithm(%q) = %q, %v; want %q, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestGenerate(t *testing.T) {
	if k, ok := testKey(t, keys.ECDSAP256).(*ecdsa.PrivateKey); !ok || k.Curve != elliptic.P256() {
		t.Errorf("Generate(ECDSAP256) = %T, want a P-256 *ecdsa.PrivateKey", testKey(t, keys.ECDSAP256))
	}
	if k, ok := testKey(t, keys.RSA3072).(*rsa.PrivateKey); !ok || k.N.BitLen() != 3072 {
		t.Errorf("Generate(RSA3072) = %T, want a 3072-bit *rsa.PrivateKey", testKey(t, keys.RSA3072))
	}
	if _, err := keys.Generate("dsa-1024"); err == nil {
		t.Error("Generate of an unknown algorithm succeeded")
	}
}

func TestSealOpenRoundTrip(t *testing.T) {
	kek := testKEK(t)
	for _, alg := range []keys.Algorithm{keys.ECDSAP256, keys.RSA3072} {
		t.Run(string(alg), func(t *testing.T) {
			key := testKey(t, alg)
			aad := []byte("seal:0b9f3c1e-3a57-4d2b-9a55-3f0f4e1c2d7a")
			sealed, err := kek.Seal(key, aad)
			if err != nil {
				t.Fatal(err)
			}
			if sealed[0] != 1 {
				t.Errorf("format version byte = %d, want 1", sealed[0])
			}
			again, err := kek.Seal(key, aad)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(sealed, again) {
				t.Error("two seals of one key are equal; the nonce is not random")
			}
			got, err := kek.Open(sealed, aad)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(key.Public()) {
				t.Error("opened key differs from the sealed one")
			}
		})
	}
}

func TestOpenRefuses(t *testing.T) {
	kek := testKEK(t)
	other, err := keys.ParseKEK(keys.GenerateKEK())
	if err != nil {
		t.Fatal(err)
	}
	aad := []byte("seal-1")
	sealed, err := kek.Seal(testKey(t, keys.ECDSAP256), aad)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) []byte {
		b := bytes.Clone(sealed)
		b[i] ^= 0x01
		return b
	}
	for _, tc := range []struct {
		name     string
		kek      *keys.KEK
		sealed   []byte
		aad      []byte
		wrongKey bool // the error must be ErrWrongKey
	}{
		{"wrong aad", kek, sealed, []byte("seal-2"), true},
		{"empty aad", kek, sealed, nil, true},
		{"wrong KEK", other, sealed, aad, true},
		{"nonce changed", kek, flip(1), aad, true},
		{"ciphertext changed", kek, flip(20), aad, true},
		{"tag changed", kek, flip(len(sealed) - 1), aad, true},
		{"version changed", kek, flip(0), aad, false},
		{"truncated", kek, sealed[:20], aad, false},
		{"empty", kek, nil, aad, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := tc.kek.Open(tc.sealed, tc.aad)
			if err == nil {
				t.Fatalf("Open succeeded with %T", k)
			}
			if tc.wrongKey && !errors.Is(err, keys.ErrWrongKey) {
				t.Errorf("Open error = %v, want ErrWrongKey", err)
			}
		})
	}
}

func TestSealRefusesWeakKey(t *testing.T) {
	kek := testKEK(t)
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kek.Seal(p384, []byte("x")); err == nil || !strings.Contains(err.Error(), "P-256") {
		t.Errorf("Seal of a P-384 key: err = %v, want a refusal naming P-256", err)
	}
}

func TestParseKEK(t *testing.T) {
	secretish := "c2VjcmV0LXNlY3JldC1zZWNyZXQ=" // 21 bytes
	for _, tc := range []struct{ name, text string }{
		{"empty", ""},
		{"not base64", "not base64 at all!"},
		{"short", secretish},
		{"url-safe", strings.NewReplacer("+", "-", "/", "_").Replace("+/+/" + testKEKText[4:])},
		{"64 bytes", base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 64))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := keys.ParseKEK(tc.text)
			if err == nil {
				t.Fatal("ParseKEK succeeded")
			}
			if tc.text != "" && strings.Contains(err.Error(), tc.text) {
				t.Errorf("error %q contains the key text", err)
			}
		})
	}
	if _, err := keys.ParseKEK("  " + testKEKText + "\n"); err != nil {
		t.Errorf("ParseKEK with surrounding white space: %v", err)
	}
	if s := keys.GenerateKEK(); s == keys.GenerateKEK() || len(s) != 44 {
		t.Errorf("GenerateKEK = %q: want 44 characters, different each call", s)
	}
}

func TestKEKPrintsNoKey(t *testing.T) {
	kek := testKEK(t)
	for _, s := range []string{kek.String(), keys.KEK{}.GoString()} {
		if s != "keys.KEK{redacted}" {
			t.Errorf("printed KEK = %q", s)
		}
	}
}

func TestLoadKEK(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state", "keys")
	path := filepath.Join(dir, "kek")

	if _, err := keys.LoadKEK(path, false); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("LoadKEK of a missing file without create: err = %v, want ErrNotExist", err)
	}
	created, err := keys.LoadKEK(path, true)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if m := fi.Mode().Perm(); m != 0o600 {
		t.Errorf("KEK file mode = %o, want 600", m)
	}
	di, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if m := di.Mode().Perm(); m != 0o700 {
		t.Errorf("KEK directory mode = %o, want 700", m)
	}
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(text) != 45 || text[44] != '\n' {
		t.Errorf("KEK file = %d bytes, want 44 characters of base64 and a newline", len(text))
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries after create, want only the KEK", len(entries))
	}

	sealed, err := created.Seal(testKey(t, keys.ECDSAP256), []byte("owner"))
	if err != nil {
		t.Fatal(err)
	}
	for _, create := range []bool{false, true} {
		reloaded, err := keys.LoadKEK(path, create)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := reloaded.Open(sealed, []byte("owner")); err != nil {
			t.Errorf("LoadKEK(create=%v) after create gave another key: %v", create, err)
		}
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(text, after) {
		t.Error("reloading with create=true changed the file")
	}
}

// TestLoadKEKConcurrentCreate starts several instances on a fresh directory at once: all
// must end up with one KEK, or keys sealed by the losers would be lost.
func TestLoadKEKConcurrentCreate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kek")
	const n = 8
	keks := make([]*keys.KEK, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { keks[i], errs[i] = keys.LoadKEK(path, true) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	sealed, err := keks[0].Seal(testKey(t, keys.ECDSAP256), nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range keks {
		if _, err := k.Open(sealed, nil); err != nil {
			t.Errorf("instance %d has another KEK: %v", i, err)
		}
	}
}

func TestLoadKEKBadFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kek")
	content := "c2VjcmV0LXNlY3JldC1zZWNyZXQ=\n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := keys.LoadKEK(path, true)
	if err == nil {
		t.Fatal("LoadKEK of a 21-byte key succeeded")
	}
	if strings.Contains(err.Error(), strings.TrimSpace(content)) {
		t.Errorf("error %q contains the file's content", err)
	}
	if got, _ := os.ReadFile(path); string(got) != content {
		t.Error("LoadKEK with create=true replaced a bad file; it must leave it for a person to look at")
	}
}

func TestSoftCustody(t *testing.T) {
	ctx := t.Context()
	c := keys.NewSoftCustody(testKEK(t))
	msg := []byte("授权委托书 PDF 的摘要")
	digest := sha256.Sum256(msg)

	for _, alg := range []keys.Algorithm{keys.ECDSAP256, keys.RSA3072} {
		t.Run(string(alg), func(t *testing.T) {
			ref, pub, err := c.Create(ctx, alg, "seal-A")
			if err != nil {
				t.Fatal(err)
			}
			s, err := c.Signer(ctx, ref, "seal-A")
			if err != nil {
				t.Fatal(err)
			}
			sig, err := s.Sign(rand.Reader, digest[:], crypto.SHA256)
			if err != nil {
				t.Fatal(err)
			}
			verifySig(t, pub, digest[:], sig)

			if _, err := c.Signer(ctx, ref, "seal-B"); !errors.Is(err, keys.ErrWrongKey) {
				t.Errorf("Signer with another owner: err = %v, want ErrWrongKey", err)
			}
		})
	}

	t.Run("import", func(t *testing.T) {
		key := testKey(t, keys.RSA3072)
		ref, err := c.Import(ctx, key, "seal-C")
		if err != nil {
			t.Fatal(err)
		}
		s, err := c.Signer(ctx, ref, "seal-C")
		if err != nil {
			t.Fatal(err)
		}
		sig, err := s.Sign(rand.Reader, digest[:], crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		verifySig(t, key.Public(), digest[:], sig)
	})

	t.Run("empty owner", func(t *testing.T) {
		if _, _, err := c.Create(ctx, keys.ECDSAP256, ""); err == nil {
			t.Error("Create with an empty owner succeeded")
		}
		if _, err := c.Import(ctx, testKey(t, keys.ECDSAP256), ""); err == nil {
			t.Error("Import with an empty owner succeeded")
		}
	})

	t.Run("other KEK", func(t *testing.T) {
		ref, _, err := c.Create(ctx, keys.ECDSAP256, "seal-D")
		if err != nil {
			t.Fatal(err)
		}
		other, err := keys.ParseKEK(keys.GenerateKEK())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := keys.NewSoftCustody(other).Signer(ctx, ref, "seal-D"); !errors.Is(err, keys.ErrWrongKey) {
			t.Errorf("Signer under another KEK: err = %v, want ErrWrongKey", err)
		}
	})

	t.Run("canceled", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, _, err := c.Create(cctx, keys.ECDSAP256, "seal-E"); !errors.Is(err, context.Canceled) {
			t.Errorf("Create with a canceled context: err = %v", err)
		}
	})
}

func verifySig(t *testing.T, pub crypto.PublicKey, digest, sig []byte) {
	t.Helper()
	switch p := pub.(type) {
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(p, digest, sig) {
			t.Error("ECDSA signature does not verify with the public key")
		}
	case *rsa.PublicKey:
		if err := rsa.VerifyPKCS1v15(p, crypto.SHA256, digest, sig); err != nil {
			t.Errorf("RSA signature does not verify with the public key: %v", err)
		}
	default:
		t.Fatalf("public key is %T", pub)
	}
}
