package fsstore_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sealvault/vault"
	"sealvault/vault/fsstore"
	"sealvault/vault/vaulttest"
)

func newStore(t *testing.T) *fsstore.Store {
	t.Helper()
	s, err := fsstore.New(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	vaulttest.Run(t, vaulttest.Harness{
		New: func(t *testing.T) vault.Backend { return newStore(t) },
		Overwrite: func(t *testing.T, b vault.Backend, d vault.Digest, data []byte) {
			t.Helper()
			p := b.(*fsstore.Store).Path(d)
			// In place, as bit rot would: same file, other bytes.
			if err := os.Chmod(p, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, data, 0o444); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(p, 0o444); err != nil {
				t.Fatal(err)
			}
		},
	})
}

// TestLayout checks where an object lands and that nothing else is left behind.
func TestLayout(t *testing.T) {
	s := newStore(t)
	d, _, err := vault.Put(t.Context(), s, strings.NewReader("hello"), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(s.Root(), "2c", "f2", "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")
	if s.Path(d) != want {
		t.Fatalf("object path %s, want %s", s.Path(d), want)
	}
	fi, err := os.Stat(want)
	if err != nil {
		t.Fatalf("the object is not at %s: %v", want, err)
	}
	if fi.Mode().Perm() != 0o444 {
		t.Errorf("object file mode %v, want read-only 0444", fi.Mode().Perm())
	}
	if b, _ := os.ReadFile(want); string(b) != "hello" {
		t.Errorf("object file holds %q", b)
	}
	if left, _ := os.ReadDir(filepath.Join(s.Root(), "tmp")); len(left) != 0 {
		t.Errorf("staged files left behind: %v", left)
	}
}

// TestExistingNotRewritten checks that storing existing bytes keeps the very same file.
func TestExistingNotRewritten(t *testing.T) {
	s := newStore(t)
	data := bytes.Repeat([]byte("sealvault "), 1000)
	d, _, err := vault.Put(t.Context(), s, bytes.NewReader(data), nil)
	if err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-48 * time.Hour).Truncate(time.Second)
	if err := os.Chtimes(s.Path(d), old, old); err != nil {
		t.Fatal(err)
	}
	before, err := os.Stat(s.Path(d))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := vault.Put(t.Context(), s, bytes.NewReader(data), nil); err != nil {
		t.Fatal(err)
	}
	after, err := os.Stat(s.Path(d))
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(before, after) || !after.ModTime().Equal(old) {
		t.Errorf("the second Put replaced the file (same file: %v, mtime %v, want %v)", os.SameFile(before, after), after.ModTime(), old)
	}
	if left, _ := os.ReadDir(filepath.Join(s.Root(), "tmp")); len(left) != 0 {
		t.Errorf("the second Put left staged files: %v", left)
	}
}

// TestListSkipsStrangers checks that files which are not objects are not listed.
func TestListSkipsStrangers(t *testing.T) {
	s := newStore(t)
	d, _, err := vault.Put(t.Context(), s, strings.NewReader("real"), nil)
	if err != nil {
		t.Fatal(err)
	}
	other := vault.Sum([]byte("elsewhere")).String()
	for _, p := range []string{
		"README",
		"zz/zz/" + strings.Repeat("0", 64),
		"2c/f2/notes.txt",
		filepath.Join(d.String()[0:2], d.String()[2:4], other), // in the wrong shard
		"tmp/upload-123",
	} {
		full := filepath.Join(s.Root(), p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var got []vault.Digest
	for info, err := range s.List(t.Context()) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, info.Digest)
	}
	if len(got) != 1 || got[0] != d {
		t.Errorf("List = %v, want only %s", got, d)
	}
}

// TestStaleUploadsRemoved checks that New clears staged files a crash left a day ago and
// keeps the ones of uploads that may still be running.
func TestStaleUploadsRemoved(t *testing.T) {
	root := filepath.Join(t.TempDir(), "blobs")
	if _, err := fsstore.New(root); err != nil {
		t.Fatal(err)
	}
	stale, fresh := filepath.Join(root, "tmp", "upload-stale"), filepath.Join(root, "tmp", "upload-fresh")
	for _, p := range []string{stale, fresh} {
		if err := os.WriteFile(p, []byte("partial"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-25 * time.Hour)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	if _, err := fsstore.New(root); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("a day-old staged file survived New: %v", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("a fresh staged file was removed: %v", err)
	}
}
