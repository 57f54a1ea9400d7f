package vault

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"sync"

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

// Local is a verified copy of an object for a reader that needs random access to it, such
// as the signer: held in memory when it is small, else in a temporary file. Close releases
// it (removing the file).
type Local struct {
	io.ReaderAt
	Size int64
	// SHA256 is the SHA-256 state after the object's bytes, as they were verified: its Sum is
	// the digest. A reader that hashes the object again can go on from a clone of it (as
	// pades.Request.DocumentSHA256 does); it is not written to.
	SHA256 hash.Hash
	file   *os.File // nil when held in memory
	buf    *[]byte  // the memory held, back to fetchBuffers on Close
}

// InMemory reports whether the copy is held in memory rather than in a file.
func (l *Local) InMemory() bool { return l.file == nil }

// Close removes the file of a spooled copy, or lets the memory of one held in memory serve
// another Fetch: the copy must not be read after it. A nil *Local is fine.
func (l *Local) Close() error {
	if l == nil {
		return nil
	}
	if l.buf != nil {
		l.ReaderAt, l.SHA256 = nil, nil
		fetchBuffers.Put(l.buf)
		l.buf = nil
	}
	if l.file == nil {
		return nil
	}
	err := l.file.Close()
	if rerr := os.Remove(l.file.Name()); err == nil {
		err = rerr
	}
	return err
}

// Fetch returns object d once all its bytes hash to d: a *CorruptError if they do not, a
// *MissingError if it is missing. An object of at most inMemory bytes is read into memory
// once (the copy to a file and the reading back that SpoolObject costs are saved); a larger
// one is spooled to a new file in dir (the system temporary directory if empty), so that the
// memory it takes does not grow with its size. On any error nothing is left behind.
func Fetch(ctx context.Context, b Backend, d Digest, dir string, inMemory int64) (*Local, error) {
	r, err := Open(ctx, b, d)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	src := &ctxReader{ctx: ctx, r: r}
	// A store that hands out files tells the size, so that the copy is allocated once.
	size := int64(-1)
	if st, ok := r.(*verifier).rc.(interface{ Stat() (fs.FileInfo, error) }); ok {
		if fi, err := st.Stat(); err == nil && fi.Mode().IsRegular() {
			size = fi.Size()
		}
	}
	var prefix []byte
	if size <= inMemory {
		hint := int64(256 << 10)
		if size >= 0 {
			hint = size + 1 // room for the read that meets the end
		}
		buf := fetchBuffer(min(hint, inMemory+1))
		data, err := readUpTo(src, inMemory+1, (*buf)[:0])
		if err != nil {
			fetchBuffers.Put(buf)
			return nil, err
		}
		*buf = data
		if int64(len(data)) <= inMemory { // the end was read, and the verdict was good
			return &Local{ReaderAt: bytes.NewReader(data), Size: int64(len(data)), SHA256: r.(*verifier).h, buf: buf}, nil
		}
		prefix = data // longer than it said: on to a file, with what was read
		defer fetchBuffers.Put(buf)
	}
	f, err := os.CreateTemp(dir, "sealvault-object-*")
	if err != nil {
		return nil, fmt.Errorf("vault: spool %s: %w", d, err)
	}
	n, err := f.Write(prefix)
	if err == nil {
		var m int64
		m, err = io.Copy(f, src)
		n += int(m)
	}
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return &Local{ReaderAt: f, Size: int64(n), SHA256: r.(*verifier).h, file: f}, nil
}

// fetchBuffers keeps the memory of copies Fetch held, for the next ones: a document being
// sealed is read whole, and allocating (and clearing) its size again for every application
// costs more than reading it.
var fetchBuffers sync.Pool // *[]byte

// fetchBuffer returns an empty buffer with room for at least n bytes.
func fetchBuffer(n int64) *[]byte {
	if b, ok := fetchBuffers.Get().(*[]byte); ok {
		if int64(cap(*b)) >= n {
			return b
		}
		*b = make([]byte, 0, max(n, 2*int64(cap(*b))))
		return b
	}
	b := make([]byte, 0, max(512, n))
	return &b
}

// readUpTo reads r to its end or to limit bytes, whichever comes first, appending to buf.
func readUpTo(r io.Reader, limit int64, buf []byte) ([]byte, error) {
	for int64(len(buf)) < limit {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)] // let append pick the next capacity
		}
		end := int64(cap(buf))
		if end > limit {
			end = limit
		}
		n, err := r.Read(buf[len(buf):end])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		} else if err != nil {
			return nil, err
		}
	}
	return buf, nil
}
