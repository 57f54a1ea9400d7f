package vault

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"

	"sealvault/vault/pages"
)

// Spooled is an uploaded file written to a local temporary file as it arrived, with the
// digest and size computed on the way. Uploads are spooled rather than held in memory, so
// the memory an upload takes does not grow with its size.
type Spooled struct {
	Name   string // the name it was uploaded under; for messages only
	Path   string
	Size   int64
	Digest Digest
}

// Spool copies r into a new file in dir (the system temporary directory if empty), reading
// at most limit+1 bytes: a longer file is refused with a *pages.RejectError naming it. On
// any error nothing is left behind. The caller removes the file with Remove.
func Spool(dir, name string, r io.Reader, limit int64) (*Spooled, error) {
	f, err := os.CreateTemp(dir, "sealvault-upload-*")
	if err != nil {
		return nil, fmt.Errorf("vault: spool: %w", err)
	}
	s := &Spooled{Name: name, Path: f.Name()}
	h := sha256.New()
	src := &readErrs{r: io.LimitReader(r, limit+1)}
	n, err := io.Copy(io.MultiWriter(f, h), src)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	switch {
	case src.err != nil:
		err = &UploadReadError{Name: name, Err: src.err}
	case err != nil:
		err = fmt.Errorf("vault: spool %q: %w", name, err)
	case n > limit:
		err = &pages.RejectError{File: name,
			Reason:   fmt.Sprintf("the file is larger than the limit of %d bytes", limit),
			ReasonZh: fmt.Sprintf("文件超过 %d 字节的上限", limit)}
	}
	if err != nil {
		os.Remove(s.Path)
		return nil, err
	}
	s.Size, s.Digest = n, Digest(h.Sum(nil))
	return s, nil
}

// UploadReadError is a Spool that failed reading the upload (the client went away, or sent
// a malformed or too long body), rather than writing it.
type UploadReadError struct {
	Name string
	Err  error
}

func (e *UploadReadError) Error() string {
	return fmt.Sprintf("vault: reading upload %q: %v", e.Name, e.Err)
}
func (e *UploadReadError) Unwrap() error { return e.Err }

type readErrs struct {
	r   io.Reader
	err error
}

func (r *readErrs) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		r.err = err
	}
	return n, err
}

// Remove deletes the spooled file; a nil *Spooled is fine.
func (s *Spooled) Remove() {
	if s != nil {
		os.Remove(s.Path)
	}
}

// putFile stores the file at path (blob first, row second: see Put).
func putFile(ctx context.Context, b Backend, path string, pin Pinner) (Digest, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return Digest{}, 0, fmt.Errorf("vault: put: %w", err)
	}
	defer f.Close()
	return Put(ctx, b, f, pin)
}

// SpoolObject copies object d into a new file in dir (the system temporary directory if
// empty) and returns it once all its bytes hash to d: a *CorruptError if they do not, a
// *MissingError if it is missing. It is for readers that need random access to an object
// without holding it in memory, such as the signer. On any error nothing is left behind.
// The caller removes the file with Remove.
func SpoolObject(ctx context.Context, b Backend, d Digest, dir string) (*Spooled, error) {
	r, err := Open(ctx, b, d)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	f, err := os.CreateTemp(dir, "sealvault-object-*")
	if err != nil {
		return nil, fmt.Errorf("vault: spool %s: %w", d, err)
	}
	s := &Spooled{Name: d.String(), Path: f.Name(), Digest: d}
	n, err := io.Copy(f, &ctxReader{ctx: ctx, r: r})
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("vault: spool %s: %w", d, cerr)
	}
	if err != nil {
		os.Remove(s.Path)
		return nil, err
	}
	s.Size = n
	return s, nil
}
