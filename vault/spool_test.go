package vault_test

import (
	"bytes"
	"errors"
	"os"
	"testing"

	"sealvault/vault"
	"sealvault/vault/fsstore"
)

// TestSpoolObjectVerifies: SpoolObject gives a file of exactly the object's bytes when they
// hash to its digest; a changed byte is a *CorruptError, a missing object a *MissingError,
// and neither leaves a file behind in the spool directory.
func TestSpoolObjectVerifies(t *testing.T) {
	store, err := fsstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("%PDF-1.7 spooled object\n"), 50_000)
	d, _, err := vault.Put(t.Context(), store, bytes.NewReader(data), nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	s, err := vault.SpoolObject(t.Context(), store, d, dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(s.Path)
	if err != nil || !bytes.Equal(got, data) || s.Size != int64(len(data)) || s.Digest != d {
		t.Fatalf("spooled %d bytes (size %d, %v), want the %d of the object", len(got), s.Size, err, len(data))
	}
	s.Remove()

	bad := append([]byte{}, data...)
	bad[len(bad)-3] ^= 1
	if err := os.Chmod(store.Path(d), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(store.Path(d), bad, 0o644); err != nil {
		t.Fatal(err)
	}
	var ce *vault.CorruptError
	if _, err := vault.SpoolObject(t.Context(), store, d, dir); !errors.As(err, &ce) || ce.Digest != d {
		t.Errorf("corrupt object: %v, want a *CorruptError", err)
	}
	other := vault.Digest{1}
	var me *vault.MissingError
	if _, err := vault.SpoolObject(t.Context(), store, other, dir); !errors.As(err, &me) {
		t.Errorf("missing object: %v, want a *MissingError", err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("the spool directory holds %d files after the refusals", len(left))
	}
}
