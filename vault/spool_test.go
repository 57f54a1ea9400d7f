package vault_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"sync"
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

// noStat hides the *os.File of a store's reader, as a store that does not hand out files
// (S3) gives a reader whose size Fetch cannot ask.
type noStat struct{ vault.Backend }

func (n noStat) Open(ctx context.Context, d vault.Digest) (io.ReadCloser, error) {
	rc, err := n.Backend.Open(ctx, d)
	if err != nil {
		return nil, err
	}
	return struct{ io.ReadCloser }{rc}, nil
}

// TestFetchVerifies: Fetch holds an object of at most the limit in memory and a larger one in
// a file of the spool directory, which Close removes, with exactly the object's bytes either
// way, whether or not the store tells the size; a changed byte is a *CorruptError and a
// missing object a *MissingError, on both paths, and neither leaves a file behind.
func TestFetchVerifies(t *testing.T) {
	store, err := fsstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("%PDF-1.7 fetched object\n"), 50_000) // 1.2 MB
	d, _, err := vault.Put(t.Context(), store, bytes.NewReader(data), nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	read := func(l *vault.Local) []byte {
		t.Helper()
		got := make([]byte, l.Size)
		if _, err := l.ReadAt(got, 0); err != nil {
			t.Fatal(err)
		}
		return got
	}
	for _, b := range []vault.Backend{store, noStat{store}} {
		for _, limit := range []int64{int64(len(data)), int64(len(data)) - 1, 1000} {
			l, err := vault.Fetch(t.Context(), b, d, dir, limit)
			if err != nil {
				t.Fatal(err)
			}
			files, _ := os.ReadDir(dir)
			if inMemory := limit >= int64(len(data)); l.InMemory() != inMemory || len(files) != map[bool]int{true: 0, false: 1}[inMemory] {
				t.Errorf("limit %d: in memory %t with %d spooled files, want in memory %t", limit, l.InMemory(), len(files), inMemory)
			}
			if got := read(l); l.Size != int64(len(data)) || !bytes.Equal(got, data) {
				t.Errorf("limit %d: %d bytes (size %d), not the %d of the object", limit, len(got), l.Size, len(data))
			}
			if vault.Digest(l.SHA256.Sum(nil)) != d {
				t.Errorf("limit %d: the SHA-256 state is not that of the object", limit)
			}
			if err := l.Close(); err != nil {
				t.Error(err)
			}
		}
	}

	bad := append([]byte{}, data...)
	bad[len(bad)-3] ^= 1
	if err := os.Chmod(store.Path(d), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(store.Path(d), bad, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, limit := range []int64{int64(len(data)), 1000} {
		var ce *vault.CorruptError
		if _, err := vault.Fetch(t.Context(), store, d, dir, limit); !errors.As(err, &ce) || ce.Digest != d {
			t.Errorf("corrupt object, limit %d: %v, want a *CorruptError", limit, err)
		}
		var me *vault.MissingError
		if _, err := vault.Fetch(t.Context(), store, vault.Digest{1}, dir, limit); !errors.As(err, &me) {
			t.Errorf("missing object, limit %d: %v, want a *MissingError", limit, err)
		}
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("the spool directory holds %d files after Close and the refusals", len(left))
	}
}

// TestFetchReusesMemory: copies held in memory and closed lend their memory to the next
// fetches, of objects large and small, from many goroutines at once: each copy holds its own
// object's bytes until it is closed, and a closed copy cannot be read.
func TestFetchReusesMemory(t *testing.T) {
	store, err := fsstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var objs [][]byte
	var digests []vault.Digest
	for i := range 6 {
		data := bytes.Repeat([]byte{byte('a' + i)}, 1000<<i)
		d, _, err := vault.Put(t.Context(), store, bytes.NewReader(data), nil)
		if err != nil {
			t.Fatal(err)
		}
		objs, digests = append(objs, data), append(digests, d)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 60 {
				k := (g + i) % len(objs)
				l, err := vault.Fetch(t.Context(), store, digests[k], "", 1<<20)
				if err != nil {
					t.Error(err)
					return
				}
				got := make([]byte, l.Size)
				if _, err := l.ReadAt(got, 0); err != nil || !bytes.Equal(got, objs[k]) || !l.InMemory() {
					t.Errorf("object %d: %d bytes (%v), not its own", k, len(got), err)
				}
				l.Close()
				if l.ReaderAt != nil {
					t.Error("a closed copy can still be read")
				}
			}
		})
	}
	wg.Wait()
}
