package vault

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
)

// Pinner records, before a blob is committed, that an upload of it is under way, so that
// GC leaves the blob alone until the upload has had time to reference it. *Pins is the
// implementation; the commit of the pin must be durable before Pin returns.
type Pinner interface {
	Pin(ctx context.Context, d Digest) error
}

// Put streams r into b and returns the digest and size of what it read; the digest is
// computed here, while streaming, and is the object's name.
//
// pin, if not nil, is called with the digest after the bytes are staged and before they
// are committed; an error from it aborts the upload. Pass the *Pins of the database that
// will hold the referencing row whenever GC may run against b; nil is for stores no GC
// touches (tests, one-off tools).
//
// Storing bytes that are already stored is cheap and harmless: the existing object is
// kept. A failed Put may leave an unreferenced object, which GC removes.
func Put(ctx context.Context, b Backend, r io.Reader, pin Pinner) (Digest, int64, error) {
	up, err := b.Create(ctx)
	if err != nil {
		return Digest{}, 0, fmt.Errorf("vault: put: %w", err)
	}
	defer up.Abort()

	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(up, h), &ctxReader{ctx: ctx, r: r})
	if err != nil {
		return Digest{}, n, fmt.Errorf("vault: put: after %d bytes: %w", n, err)
	}
	d := Digest(h.Sum(nil))
	if pin != nil {
		if err := pin.Pin(ctx, d); err != nil {
			return d, n, fmt.Errorf("vault: put %s: %w", d, err)
		}
	}
	if err := up.Commit(ctx, d); err != nil {
		return d, n, fmt.Errorf("vault: put %s: %w", d, err)
	}
	return d, n, nil
}

// ctxReader stops a copy when its context is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// Open returns a reader of object d that re-hashes the bytes as they are read.
//
// The verdict comes at the end: the Read that reaches the end of the object returns io.EOF
// only if the bytes hash to d, and otherwise a *CorruptError (errors.Is(err, ErrCorrupt)).
// A caller must therefore read to io.EOF before treating the bytes as good, and must not
// report success for bytes it passed on before the verdict: an HTTP handler, say, aborts
// the response (the client sees a broken transfer) instead of finishing it. Every Read
// after an error returns the same error.
//
// A missing object is a *MissingError (which matches ErrNotFound), from Open itself: Open
// is for objects a record names, whose absence is lost data.
func Open(ctx context.Context, b Backend, d Digest) (io.ReadCloser, error) {
	rc, err := b.Open(ctx, d)
	if errors.Is(err, ErrNotFound) {
		return nil, &MissingError{Digest: d, Err: err}
	} else if err != nil {
		return nil, fmt.Errorf("vault: open %s: %w", d, err)
	}
	return &verifier{rc: rc, d: d, h: sha256.New()}, nil
}

// verifier hashes what passes through it and judges at EOF.
type verifier struct {
	rc  io.ReadCloser
	d   Digest
	h   hash.Hash
	n   int64
	err error // sticky: the verdict, or the first read error
}

func (v *verifier) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	n, err := v.rc.Read(p)
	v.h.Write(p[:n])
	v.n += int64(n)
	switch {
	case err == nil:
	case errors.Is(err, io.EOF):
		if got := Digest(v.h.Sum(nil)); got != v.d {
			err = &CorruptError{Digest: v.d, Got: got}
		} else {
			err = io.EOF
		}
		v.err = err
	default:
		err = fmt.Errorf("vault: read %s at byte %d: %w", v.d, v.n, Unavailable(err))
		v.err = err
	}
	return n, err
}

func (v *verifier) Close() error { return v.rc.Close() }

// Verify reads object d to the end and returns its size if its bytes hash to d: a
// *CorruptError if they do not, a *MissingError if it is missing.
func Verify(ctx context.Context, b Backend, d Digest) (int64, error) {
	r, err := Open(ctx, b, d)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	return io.Copy(io.Discard, &ctxReader{ctx: ctx, r: r})
}

// ReadAll returns the whole of object d once its bytes hash to d: a *CorruptError if they do
// not, a *MissingError if it is missing. For objects that fit in memory (a
// document to sign, a seal image, a PDF sent whole).
func ReadAll(ctx context.Context, b Backend, d Digest) ([]byte, error) {
	r, err := Open(ctx, b, d)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(&ctxReader{ctx: ctx, r: r})
}
