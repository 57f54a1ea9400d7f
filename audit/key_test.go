package audit_test

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"sealvault/audit"
)

// TestKeyCreatedOnceByConcurrentOpens: processes starting together on an empty key
// directory end up with one key pair, whose published half verifies what the private half
// signs; otherwise every checkpoint would later look forged.
func TestKeyCreatedOnceByConcurrentOpens(t *testing.T) {
	const rounds, openers = 40, 8
	for range rounds {
		dir := filepath.Join(t.TempDir(), "keys")
		cfg := audit.Config{Origin: trailOrigin, KeyDir: dir}
		keys := make([]string, openers)
		var wg sync.WaitGroup
		for i := range openers {
			wg.Go(func() {
				l, err := audit.Open(nil, cfg)
				if err != nil {
					t.Errorf("Open %d: %v", i, err)
					return
				}
				keys[i] = l.VerifierKey()
			})
		}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
		for i, k := range keys {
			if k != keys[0] {
				t.Fatalf("opener %d got verifier key %q, opener 0 %q", i, k, keys[0])
			}
		}
		skey, err := os.ReadFile(filepath.Join(dir, "audit-note.key"))
		if err != nil {
			t.Fatal(err)
		}
		vkey, err := os.ReadFile(filepath.Join(dir, "audit-note.pub"))
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSpace(string(vkey)) != keys[0] {
			t.Fatalf("audit-note.pub holds %q, the logs use %q", vkey, keys[0])
		}
		s, err := note.NewSigner(strings.TrimSpace(string(skey)))
		if err != nil {
			t.Fatal(err)
		}
		v, err := note.NewVerifier(keys[0])
		if err != nil {
			t.Fatal(err)
		}
		msg, err := note.Sign(&note.Note{Text: "probe\n"}, s)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := note.Open(msg, note.VerifierList(v)); err != nil {
			t.Fatalf("the published key does not verify what the private key signs: %v", err)
		}
		if leftovers, _ := filepath.Glob(filepath.Join(dir, "*.tmp*")); len(leftovers) > 0 {
			t.Fatalf("temporary files left in the key directory: %v", leftovers)
		}
	}
	// A private key directory: only its owner can read the signing key.
	dir := filepath.Join(t.TempDir(), "keys")
	if _, err := audit.Open(nil, audit.Config{Origin: trailOrigin, KeyDir: dir}); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]os.FileMode{"": 0o700, "audit-note.key": 0o600} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got&^want != 0 {
			t.Errorf("%s has mode %v, want at most %v", filepath.Join(dir, name), got, want)
		}
	}
}
