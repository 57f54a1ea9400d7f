// Package fsstore is the filesystem vault.Backend, the default (./var/blobs).
//
// Layout under the root directory:
//
//	aa/bb/aabb…     the object whose digest is aabb… (64 hex digits), mode 0444
//	tmp/            uploads being staged
//
// An upload is written to a file in tmp/, fsynced, made read-only and then hard-linked to
// its digest path: link(2) fails if the path exists, so a second store of the same bytes
// never rewrites the first (put-if-absent without a lock, across processes), and the final
// path only ever names a complete, durable file. The directory is fsynced after the link.
// tmp/ must be on the same filesystem as the objects, which it is, being inside the root.
package fsstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"os"
	"path/filepath"
	"strings"
	"time"

	"sealvault/vault"
)

// DefaultRoot is the root directory used when the configuration names none.
const DefaultRoot = "var/blobs"

// staleTemp is how old a staged file must be before New removes it as left by a crash.
const staleTemp = 24 * time.Hour

// Store keeps objects as files under a root directory.
type Store struct {
	root string
	tmp  string
}

var _ vault.Backend = (*Store)(nil)

// New opens the store at root, creating the directory if needed, and removes staged files
// that a crashed process left more than a day ago.
func New(root string) (*Store, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("fsstore: %w", err)
	}
	s := &Store{root: abs, tmp: filepath.Join(abs, "tmp")}
	if err := os.MkdirAll(s.tmp, 0o755); err != nil {
		return nil, fmt.Errorf("fsstore: %w", err)
	}
	entries, err := os.ReadDir(s.tmp)
	if err != nil {
		return nil, fmt.Errorf("fsstore: %w", err)
	}
	for _, e := range entries {
		if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > staleTemp {
			_ = os.Remove(filepath.Join(s.tmp, e.Name()))
		}
	}
	return s, nil
}

// Root is the absolute root directory.
func (s *Store) Root() string { return s.root }

// Path is the file that holds (or would hold) object d.
func (s *Store) Path(d vault.Digest) string {
	h := d.String()
	return filepath.Join(s.root, h[0:2], h[2:4], h)
}

// Create stages a new object in a temporary file.
func (s *Store) Create(ctx context.Context) (vault.Upload, error) {
	f, err := os.CreateTemp(s.tmp, "upload-*")
	if err != nil {
		return nil, fmt.Errorf("fsstore: create: %w", vault.Unavailable(err))
	}
	return &upload{s: s, f: f}, nil
}

type upload struct {
	s    *Store
	f    *os.File
	done bool
}

func (u *upload) Write(p []byte) (int, error) {
	if u.done {
		return 0, errors.New("fsstore: write after commit or abort")
	}
	n, err := u.f.Write(p)
	return n, vault.Unavailable(err)
}

func (u *upload) Commit(ctx context.Context, d vault.Digest) error {
	if u.done {
		return errors.New("fsstore: commit after commit or abort")
	}
	if err := u.commit(ctx, d); err != nil {
		return fmt.Errorf("fsstore: commit %s: %w", d, vault.Unavailable(err))
	}
	return nil
}

func (u *upload) commit(ctx context.Context, d vault.Digest) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := u.f.Chmod(0o444); err != nil {
		return err
	}
	if err := u.f.Sync(); err != nil {
		return err
	}
	if err := u.f.Close(); err != nil {
		return err
	}
	final := u.s.Path(d)
	if err := mkdirs(u.s.root, filepath.Dir(final)); err != nil {
		return err
	}
	err := os.Link(u.f.Name(), final)
	if errors.Is(err, fs.ErrExist) {
		u.release()
		return nil // already stored: keep it untouched
	} else if err != nil {
		return err
	}
	u.release()
	return syncDir(filepath.Dir(final))
}

// release removes the staged file; the object, if linked, keeps its own name.
func (u *upload) release() {
	u.done = true
	_ = os.Remove(u.f.Name())
}

func (u *upload) Abort() error {
	if u.done {
		return nil
	}
	u.done = true
	cerr := u.f.Close()
	if err := os.Remove(u.f.Name()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("fsstore: abort: %w", err)
	}
	if cerr != nil && !errors.Is(cerr, fs.ErrClosed) {
		return fmt.Errorf("fsstore: abort: %w", cerr)
	}
	return nil
}

// mkdirs creates dir and any missing parents up to root, fsyncing the parent of each
// directory it creates so the new entry is durable before anything is linked into it.
func mkdirs(root, dir string) error {
	if dir == root {
		return nil
	}
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	parent := filepath.Dir(dir)
	if err := mkdirs(root, parent); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o755); errors.Is(err, fs.ErrExist) {
		return nil // made by a concurrent upload, which syncs its parent
	} else if err != nil {
		return err
	}
	return syncDir(parent)
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Open opens the file of d.
func (s *Store) Open(ctx context.Context, d vault.Digest) (io.ReadCloser, error) {
	f, err := os.Open(s.Path(d))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("fsstore: open %s: %w", d, vault.ErrNotFound)
	} else if err != nil {
		return nil, fmt.Errorf("fsstore: open %s: %w", d, vault.Unavailable(err))
	}
	return f, nil
}

// Stat describes the file of d.
func (s *Store) Stat(ctx context.Context, d vault.Digest) (vault.Info, error) {
	fi, err := os.Stat(s.Path(d))
	if errors.Is(err, fs.ErrNotExist) {
		return vault.Info{}, fmt.Errorf("fsstore: stat %s: %w", d, vault.ErrNotFound)
	} else if err != nil {
		return vault.Info{}, fmt.Errorf("fsstore: stat %s: %w", d, vault.Unavailable(err))
	}
	return vault.Info{Digest: d, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// Delete removes the file of d and makes the removal durable.
func (s *Store) Delete(ctx context.Context, d vault.Digest) error {
	p := s.Path(d)
	err := os.Remove(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("fsstore: delete %s: %w", d, vault.Unavailable(err))
	}
	if err := syncDir(filepath.Dir(p)); err != nil {
		return fmt.Errorf("fsstore: delete %s: %w", d, vault.Unavailable(err))
	}
	return nil
}

// List walks the two levels of shard directories in lexical order. Files whose names are
// not digests, or that sit in the wrong shard, are not objects and are skipped.
func (s *Store) List(ctx context.Context) iter.Seq2[vault.Info, error] {
	return func(yield func(vault.Info, error) bool) {
		fail := func(err error) { yield(vault.Info{}, fmt.Errorf("fsstore: list: %w", vault.Unavailable(err))) }
		tops, err := readShards(s.root)
		if err != nil {
			fail(err)
			return
		}
		for _, a := range tops {
			subs, err := readShards(filepath.Join(s.root, a))
			if err != nil {
				fail(err)
				return
			}
			for _, b := range subs {
				if err := ctx.Err(); err != nil {
					fail(err)
					return
				}
				dir := filepath.Join(s.root, a, b)
				entries, err := os.ReadDir(dir)
				if errors.Is(err, fs.ErrNotExist) {
					continue
				} else if err != nil {
					fail(err)
					return
				}
				for _, e := range entries {
					d, err := vault.ParseDigest(e.Name())
					if err != nil || !e.Type().IsRegular() || !strings.HasPrefix(e.Name(), a+b) {
						continue
					}
					fi, err := e.Info()
					if errors.Is(err, fs.ErrNotExist) {
						continue // deleted since ReadDir
					} else if err != nil {
						fail(err)
						return
					}
					if !yield(vault.Info{Digest: d, Size: fi.Size(), ModTime: fi.ModTime()}, nil) {
						return
					}
				}
			}
		}
	}
}

// readShards returns the names of the two-hex-digit subdirectories of dir, sorted.
func readShards(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() && len(n) == 2 && isLowerHex(n) {
			names = append(names, n)
		}
	}
	return names, nil
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
