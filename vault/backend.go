// Package vault stores immutable bytes named by their SHA-256.
//
// A Backend (the filesystem in vault/fsstore, any S3 service in vault/s3store) only stores
// bytes. The hash is computed and checked in this package alone: Put hashes while it
// streams into a backend and names the object by the result, never by anything a client
// said; Open re-hashes while the caller reads and reports a mismatch as a *CorruptError.
//
// Blob first, row second: Put (with a Pinner) stores the blob before any metadata row can
// name it, and Pins.Hold, called in the transaction that inserts the row, makes sure the
// blob is still there and keeps GC off it until that transaction ends. A crash between the
// two leaves an unreferenced blob, which GC deletes once it is older than the grace period.
package vault

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"time"
)

// ErrNotFound is wrapped by every error that means "no object has this digest".
var ErrNotFound = errors.New("vault: object not found")

// ErrCorrupt is matched (errors.Is) by every *CorruptError.
var ErrCorrupt = errors.New("vault: object is corrupt")

// CorruptError reports stored bytes that do not hash to the digest they are stored under.
type CorruptError struct {
	Digest Digest // the name the object is stored under
	Got    Digest // what its bytes hash to
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("vault: object %s is corrupt: its bytes hash to %s", e.Digest, e.Got)
}

// Is makes errors.Is(err, ErrCorrupt) true for a *CorruptError.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

// MissingError reports that object d is not in the store although it was asked for by
// Open, ReadAll or Verify, which read objects that records name: a missing object there is
// lost data, not a wrong id. It matches ErrNotFound too (errors.Is), so callers that only
// ask "is it there?" need not know the difference.
type MissingError struct {
	Digest Digest
	Err    error // the backend's not-found error
}

func (e *MissingError) Error() string {
	return fmt.Sprintf("vault: object %s is missing from the store: %v", e.Digest, e.Err)
}

func (e *MissingError) Unwrap() error { return e.Err }

// ErrUnavailable is matched (errors.Is) by every error a backend returns because the store
// itself cannot be used: I/O errors, a full or read-only filesystem, permissions, an S3
// service that does not answer or refuses. Backends mark such errors with Unavailable.
var ErrUnavailable = errors.New("vault: blob store unavailable")

// Unavailable marks err, an error of the storage itself, as the store being unavailable.
// nil, context errors and errors that already mean "not found" are returned unchanged.
func Unavailable(err error) error {
	if err == nil || errors.Is(err, ErrNotFound) || errors.Is(err, ErrUnavailable) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return &unavailableError{err: err}
}

type unavailableError struct{ err error }

func (e *unavailableError) Error() string        { return e.err.Error() }
func (e *unavailableError) Unwrap() error        { return e.err }
func (e *unavailableError) Is(target error) bool { return target == ErrUnavailable }

// Info describes a stored object.
type Info struct {
	Digest Digest
	Size   int64
	// ModTime is when the object was stored; GC's grace period counts from it. Storing an
	// object that already exists does not change it.
	ModTime time.Time
}

// Backend stores objects under their digest. It trusts the digest it is given: hashing is
// Put's job, and verifying reads is Open's. Use the package functions, not a Backend
// directly, except in GC and scrub tools.
//
// Every method is safe for concurrent use by several goroutines and, for the backends in
// this module, by several processes sharing the same root or bucket. A missing object is
// reported as an error wrapping ErrNotFound, never as a nil error with a zero result; an
// error of the storage itself (I/O, network, a full or read-only store) matches
// ErrUnavailable.
type Backend interface {
	// Create starts staging a new object. Bytes written to the Upload are invisible to
	// Open, Stat and List until Commit returns nil.
	Create(ctx context.Context) (Upload, error)

	// Open returns the stored bytes of d, unverified (vault.Open verifies them). A missing
	// object is ErrNotFound from Open itself, not from the first Read.
	Open(ctx context.Context, d Digest) (io.ReadCloser, error)

	// Stat describes d, or returns ErrNotFound.
	Stat(ctx context.Context, d Digest) (Info, error)

	// Delete removes d. It is for GC only: nothing else ever removes an object. Deleting a
	// missing object is not an error, so a retried or concurrent Delete succeeds.
	Delete(ctx context.Context, d Digest) error

	// List yields every object committed before List was called, in no promised order,
	// and stops at the first error, which it yields. Objects committed or deleted while it
	// runs may or may not appear; staged uploads and anything not named by a digest never
	// do. Breaking out of the loop early releases everything List holds.
	List(ctx context.Context) iter.Seq2[Info, error]
}

// Upload is an object being staged by Backend.Create. An Upload is used by one goroutine.
type Upload interface {
	// Write appends bytes to the staged object.
	io.Writer

	// Commit makes the staged bytes the object d, durably, and releases the Upload. The
	// caller guarantees d is the SHA-256 of everything written. Put-if-absent: if d is
	// already stored, the existing object is kept untouched (not rewritten, ModTime
	// unchanged) and Commit returns nil; so concurrent Commits of the same digest all
	// succeed and leave exactly one object. After a failed Commit the object may or may not
	// exist, as after a crash; call Abort to release the Upload.
	Commit(ctx context.Context, d Digest) error

	// Abort discards the staged bytes. It may be called at any time, also after Commit
	// (then it does nothing), and more than once.
	Abort() error
}
