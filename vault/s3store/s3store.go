// Package s3store is the vault.Backend on an S3 service (MinIO, Ceph RGW, AWS S3, versitygw),
// through minio-go.
//
// Object d is stored under the key <prefix>aa/bb/aabb… (its 64 hex digits, sharded like the
// filesystem store, which suits gateways that keep keys as files).
//
// Staging: an upload is spooled to a local temporary file while vault.Put hashes it. Commit
// then knows the digest before a byte is sent, and stores the file with one PUT that
//
//   - carries x-amz-checksum-sha256 = the digest, so the service recomputes SHA-256 over
//     what it received and refuses the PUT (BadDigest) if the bytes changed on the way or
//     in the spool — nothing is stored then; and
//   - carries If-None-Match: *, so an existing object is never overwritten (the service
//     answers 412 and the existing object stays as it was).
//
// Uploading to a temporary key and copying it server-side was not chosen: it leaves
// orphaned temporary objects after a crash, copies of more than 5 GiB need multipart copy,
// and conditional copy is less widely supported than conditional PUT. The price of
// spooling is local disk for objects in flight. One PUT carries at most 5 GiB, which
// bounds the object size; vault documents (page scans, PDFs) are far smaller.
//
// A PUT refused with 409 Conflict (a write colliding with another operation on the key) is
// tried again; being conditional, the retry cannot overwrite anything.
//
// Services that ignore If-None-Match rewrite an existing object with the same bytes (its
// name is their hash, checked by the service), which is harmless. Services that refuse
// x-amz-checksum-sha256 need Config.DisableChecksum; Content-MD5 then guards the transfer.
package s3store

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"sealvault/vault"
)

// MaxObjectSize is the largest object the store accepts: what one S3 PUT may carry.
const MaxObjectSize = 5 << 30

// Config says where the objects live.
type Config struct {
	Endpoint  string // host[:port], without scheme
	Secure    bool   // HTTPS
	AccessKey string
	SecretKey string
	Region    string // empty: the client asks the service
	Bucket    string // must exist
	// Prefix is prepended to every key ("blobs/" puts objects under blobs/); a missing
	// trailing slash is added.
	Prefix string
	// SpoolDir holds uploads while they are hashed (empty: the system temporary directory).
	SpoolDir string
	// DisableChecksum leaves out the x-amz-checksum-sha256 header, for services that
	// refuse it.
	DisableChecksum bool
	// Transport replaces the default HTTP transport (for a private CA, say).
	Transport http.RoundTripper
}

// Store keeps objects in one bucket of an S3 service.
type Store struct {
	c      *minio.Client
	cfg    Config
	prefix string
}

var _ vault.Backend = (*Store)(nil)

// New connects to the service and checks that the bucket exists.
func New(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("s3store: no bucket configured")
	}
	c, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:     credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:    cfg.Secure,
		Region:    cfg.Region,
		Transport: cfg.Transport,
		// minio-go sends a caller-computed x-amz-checksum-* header only when this is set.
		// Every PUT of this package carries one, so no trailing checksum is ever used.
		TrailingHeaders: !cfg.DisableChecksum,
	})
	if err != nil {
		return nil, fmt.Errorf("s3store: %w", err)
	}
	ok, err := c.BucketExists(ctx, cfg.Bucket)
	if err != nil {
		return nil, fmt.Errorf("s3store: bucket %s at %s: %w", cfg.Bucket, cfg.Endpoint, err)
	}
	if !ok {
		return nil, fmt.Errorf("s3store: bucket %s does not exist at %s; create it first", cfg.Bucket, cfg.Endpoint)
	}
	prefix := cfg.Prefix
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	return &Store{c: c, cfg: cfg, prefix: prefix}, nil
}

// Bucket is the bucket the objects are in.
func (s *Store) Bucket() string { return s.cfg.Bucket }

// Key is the key that holds (or would hold) object d.
func (s *Store) Key(d vault.Digest) string {
	h := d.String()
	return s.prefix + h[0:2] + "/" + h[2:4] + "/" + h
}

// notFound reports whether err is the service saying the key does not exist.
func notFound(err error) bool {
	return minio.ToErrorResponse(err).Code == "NoSuchKey"
}

// unavailable marks an error of the service as the store being unavailable: no answer
// (network, timeouts), a server-side failure (5xx, SlowDown) or a refusal of the
// credentials or the bucket (403, a missing bucket). A request the service refused for
// what it carried (BadDigest, say) is left as it is: the store works, the upload was wrong.
func unavailable(err error) error {
	r := minio.ToErrorResponse(err)
	switch {
	case r.Code == "", r.StatusCode >= 500, r.StatusCode == http.StatusForbidden, r.Code == "NoSuchBucket", r.Code == "SlowDown":
		return vault.Unavailable(err)
	}
	return err
}

// Create stages a new object in a local spool file.
func (s *Store) Create(ctx context.Context) (vault.Upload, error) {
	f, err := os.CreateTemp(s.cfg.SpoolDir, "sealvault-s3-upload-*")
	if err != nil {
		return nil, fmt.Errorf("s3store: create: %w", vault.Unavailable(err))
	}
	return &upload{s: s, f: f}, nil
}

type upload struct {
	s    *Store
	f    *os.File
	n    int64
	done bool
}

func (u *upload) Write(p []byte) (int, error) {
	if u.done {
		return 0, errors.New("s3store: write after commit or abort")
	}
	if u.n+int64(len(p)) > MaxObjectSize {
		return 0, fmt.Errorf("s3store: object larger than %d bytes, the most one S3 PUT carries", int64(MaxObjectSize))
	}
	n, err := u.f.Write(p)
	u.n += int64(n)
	return n, vault.Unavailable(err) // the local spool: full or unwritable
}

func (u *upload) Commit(ctx context.Context, d vault.Digest) error {
	if u.done {
		return errors.New("s3store: commit after commit or abort")
	}
	defer u.Abort()
	if err := u.s.put(ctx, d, u.f, u.n); err != nil {
		return fmt.Errorf("s3store: commit %s: %w", d, unavailable(err))
	}
	return nil
}

// put stores the spooled bytes as d unless d exists.
func (s *Store) put(ctx context.Context, d vault.Digest, f *os.File, size int64) error {
	// The cheap way out for bytes the service already has.
	if _, err := s.c.StatObject(ctx, s.cfg.Bucket, s.Key(d), minio.StatObjectOptions{}); err == nil {
		return nil
	} else if !notFound(err) {
		return err
	}
	opts := minio.PutObjectOptions{ContentType: "application/octet-stream", DisableMultipart: true}
	if s.cfg.DisableChecksum {
		opts.SendContentMd5 = true
	} else {
		opts.UserMetadata = map[string]string{"x-amz-checksum-sha256": base64.StdEncoding.EncodeToString(d[:])}
	}
	opts.SetMatchETagExcept("*")
	for attempt := 1; ; attempt++ {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		_, err := s.c.PutObject(ctx, s.cfg.Bucket, s.Key(d), f, size, opts)
		resp := minio.ToErrorResponse(err)
		switch {
		case err == nil:
			return nil
		case resp.StatusCode == http.StatusPreconditionFailed || resp.Code == "PreconditionFailed":
			return nil // stored meanwhile by someone else; theirs stays
		case resp.StatusCode == http.StatusConflict && attempt < 5:
			// A write that collided with another operation on the key, to be retried:
			// AWS's ConditionalRequestConflict (another conditional write of it is in
			// flight) and versitygw's posix ExistingObjectIsDirectory (a DELETE removed
			// the emptied shard directory under the PUT). The retry is conditional too,
			// so it gets success or 412.
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(attempt) * 100 * time.Millisecond):
			}
		default:
			return err
		}
	}
}

func (u *upload) Abort() error {
	if u.done {
		return nil
	}
	u.done = true
	cerr := u.f.Close()
	if err := os.Remove(u.f.Name()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("s3store: abort: %w", err)
	}
	if cerr != nil {
		return fmt.Errorf("s3store: abort: %w", cerr)
	}
	return nil
}

// Open starts a GET of d; the response headers arrive before Open returns, so a missing
// object is reported here.
func (s *Store) Open(ctx context.Context, d vault.Digest) (io.ReadCloser, error) {
	obj, err := s.c.GetObject(ctx, s.cfg.Bucket, s.Key(d), minio.GetObjectOptions{})
	if err == nil {
		_, err = obj.Stat()
	}
	if err != nil {
		if obj != nil {
			obj.Close()
		}
		if notFound(err) {
			return nil, fmt.Errorf("s3store: open %s: %w", d, vault.ErrNotFound)
		}
		return nil, fmt.Errorf("s3store: open %s: %w", d, unavailable(err))
	}
	return obj, nil
}

// Stat describes d with a HEAD request.
func (s *Store) Stat(ctx context.Context, d vault.Digest) (vault.Info, error) {
	oi, err := s.c.StatObject(ctx, s.cfg.Bucket, s.Key(d), minio.StatObjectOptions{})
	if notFound(err) {
		return vault.Info{}, fmt.Errorf("s3store: stat %s: %w", d, vault.ErrNotFound)
	} else if err != nil {
		return vault.Info{}, fmt.Errorf("s3store: stat %s: %w", d, unavailable(err))
	}
	return vault.Info{Digest: d, Size: oi.Size, ModTime: oi.LastModified}, nil
}

// Delete removes d; S3 reports success for a missing key too.
func (s *Store) Delete(ctx context.Context, d vault.Digest) error {
	if err := s.c.RemoveObject(ctx, s.cfg.Bucket, s.Key(d), minio.RemoveObjectOptions{}); err != nil && !notFound(err) {
		return fmt.Errorf("s3store: delete %s: %w", d, unavailable(err))
	}
	return nil
}

// List pages through the keys under the prefix in lexical order. Keys that are not
// <prefix>aa/bb/<digest> with matching shards are not objects of this store and are skipped.
func (s *Store) List(ctx context.Context) iter.Seq2[vault.Info, error] {
	return func(yield func(vault.Info, error) bool) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel() // stops minio-go's pager if the caller breaks out early
		for oi := range s.c.ListObjectsIter(ctx, s.cfg.Bucket, minio.ListObjectsOptions{Prefix: s.prefix, Recursive: true}) {
			if oi.Err != nil {
				yield(vault.Info{}, fmt.Errorf("s3store: list %s/%s: %w", s.cfg.Bucket, s.prefix, unavailable(oi.Err)))
				return
			}
			d, ok := s.parseKey(oi.Key)
			if !ok {
				continue
			}
			if !yield(vault.Info{Digest: d, Size: oi.Size, ModTime: oi.LastModified}, nil) {
				return
			}
		}
	}
}

func (s *Store) parseKey(key string) (vault.Digest, bool) {
	rest, ok := strings.CutPrefix(key, s.prefix)
	if !ok || len(rest) != 2+1+2+1+64 || rest[2] != '/' || rest[5] != '/' {
		return vault.Digest{}, false
	}
	d, err := vault.ParseDigest(rest[6:])
	if err != nil || rest[0:2]+rest[3:5] != rest[6:10] {
		return vault.Digest{}, false
	}
	return d, true
}
