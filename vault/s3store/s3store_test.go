package s3store_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/minio/minio-go/v7"

	"sealvault/internal/s3test"
	"sealvault/vault"
	"sealvault/vault/s3store"
	"sealvault/vault/vaulttest"
)

func newStore(t *testing.T, cfg s3store.Config) *s3store.Store {
	t.Helper()
	cfg.Endpoint, cfg.AccessKey, cfg.SecretKey = s3test.Server(t)
	if cfg.Bucket == "" {
		cfg.Bucket = s3test.Bucket(t)
	}
	cfg.SpoolDir = t.TempDir()
	s, err := s3store.New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// overwrite replaces an object's bytes with a plain PUT, bypassing the store.
func overwrite(t *testing.T, b vault.Backend, d vault.Digest, data []byte) {
	t.Helper()
	s := b.(*s3store.Store)
	_, err := s3test.Client(t).PutObject(t.Context(), s.Bucket(), s.Key(d), bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{})
	if err != nil {
		t.Fatalf("overwriting %s: %v", s.Key(d), err)
	}
}

func TestConformance(t *testing.T) {
	vaulttest.Run(t, vaulttest.Harness{
		New:       func(t *testing.T) vault.Backend { return newStore(t, s3store.Config{Prefix: "blobs"}) },
		Overwrite: overwrite,
	})
}

// TestConformanceWithoutChecksum runs the suite as for a service that refuses
// x-amz-checksum-sha256.
func TestConformanceWithoutChecksum(t *testing.T) {
	vaulttest.Run(t, vaulttest.Harness{
		New:       func(t *testing.T) vault.Backend { return newStore(t, s3store.Config{DisableChecksum: true}) },
		Overwrite: overwrite,
	})
}

// TestServiceChecksRecomputedSHA256 commits bytes under a digest that is not theirs, as a
// spool file damaged between hashing and sending would: the service must refuse them and
// store nothing.
func TestServiceChecksRecomputedSHA256(t *testing.T) {
	s := newStore(t, s3store.Config{})
	up, err := s.Create(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := up.Write([]byte("bytes that changed after hashing")); err != nil {
		t.Fatal(err)
	}
	d := vault.Sum([]byte("bytes as hashed"))
	err = up.Commit(t.Context(), d)
	if err == nil || minio.ToErrorResponse(errors.Unwrap(err)).Code != "BadDigest" {
		t.Fatalf("Commit of bytes under a wrong digest: %v, want the service's BadDigest", err)
	}
	if _, err := s.Stat(t.Context(), d); !errors.Is(err, vault.ErrNotFound) {
		t.Errorf("after the refused PUT, Stat: %v, want ErrNotFound", err)
	}
}

// racingTransport stores other bytes under the key just before the store's PUT of it goes
// out, as a concurrent writer that won the race would.
type racingTransport struct {
	t      *testing.T
	bucket string
	key    string
	data   []byte
	fired  atomic.Bool
}

func (r *racingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodPut && strings.HasSuffix(req.URL.Path, "/"+r.key) && r.fired.CompareAndSwap(false, true) {
		_, err := s3test.Client(r.t).PutObject(req.Context(), r.bucket, r.key, bytes.NewReader(r.data), int64(len(r.data)), minio.PutObjectOptions{})
		if err != nil {
			return nil, err
		}
	}
	return http.DefaultTransport.RoundTrip(req)
}

// TestExistingNeverOverwritten makes an object appear between the store's existence check
// and its PUT: the PUT must not replace it (If-None-Match: *), and Commit must treat that
// as the object being stored.
func TestExistingNeverOverwritten(t *testing.T) {
	bucket := s3test.Bucket(t)
	data := []byte("the store's bytes")
	d := vault.Sum(data)
	probe := newStore(t, s3store.Config{Bucket: bucket})
	rt := &racingTransport{t: t, bucket: bucket, key: probe.Key(d), data: []byte("the winner's bytes")}
	s := newStore(t, s3store.Config{Bucket: bucket, Transport: rt})

	got, _, err := vault.Put(t.Context(), s, bytes.NewReader(data), nil)
	if err != nil || got != d {
		t.Fatalf("Put losing the race: %s, %v; want success", got, err)
	}
	if !rt.fired.Load() {
		t.Fatal("the racing writer never ran")
	}
	r, err := s.Open(t.Context(), d)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := io.ReadAll(r)
	r.Close()
	if err != nil || string(stored) != "the winner's bytes" {
		t.Errorf("the object holds %q, %v: the PUT replaced what the winner stored", stored, err)
	}
}

// conflictTransport answers the first PUT of the key with 409 Conflict, as versitygw's
// posix backend does when a DELETE removes the shard directory under a PUT.
type conflictTransport struct {
	key   string
	fired atomic.Bool
}

func (c *conflictTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodPut && strings.HasSuffix(req.URL.Path, "/"+c.key) && c.fired.CompareAndSwap(false, true) {
		if req.Body != nil {
			_, _ = io.Copy(io.Discard, req.Body)
			req.Body.Close()
		}
		body := `<?xml version="1.0" encoding="UTF-8"?><Error><Code>ExistingObjectIsDirectory</Code>` +
			`<Message>Existing Object is a directory.</Message></Error>`
		return &http.Response{
			StatusCode: http.StatusConflict, Status: "409 Conflict", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header:        http.Header{"Content-Type": {"application/xml"}},
			Body:          io.NopCloser(strings.NewReader(body)),
			ContentLength: int64(len(body)), Request: req,
		}, nil
	}
	return http.DefaultTransport.RoundTrip(req)
}

// TestConflictRetried checks that a PUT refused with 409 Conflict is tried again.
func TestConflictRetried(t *testing.T) {
	data := []byte("stored on the second try")
	d := vault.Sum(data)
	bucket := s3test.Bucket(t)
	ct := &conflictTransport{key: newStore(t, s3store.Config{Bucket: bucket}).Key(d)}
	s := newStore(t, s3store.Config{Bucket: bucket, Transport: ct})
	if _, _, err := vault.Put(t.Context(), s, bytes.NewReader(data), nil); err != nil {
		t.Fatalf("Put after a 409: %v", err)
	}
	if !ct.fired.Load() {
		t.Fatal("the conflict was never injected")
	}
	if n, err := vault.Verify(t.Context(), s, d); err != nil || n != int64(len(data)) {
		t.Errorf("the object after the retry: %d bytes, %v", n, err)
	}
}

// TestMissingBucket checks that New names a bucket that does not exist.
func TestMissingBucket(t *testing.T) {
	endpoint, access, secret := s3test.Server(t)
	_, err := s3store.New(t.Context(), s3store.Config{Endpoint: endpoint, AccessKey: access, SecretKey: secret, Bucket: "no-such-bucket"})
	if err == nil || !strings.Contains(err.Error(), "no-such-bucket does not exist") {
		t.Errorf("New with a missing bucket: %v", err)
	}
}

// TestPrefixIsolates checks that two stores under different prefixes of one bucket do not
// see each other's objects.
func TestPrefixIsolates(t *testing.T) {
	bucket := s3test.Bucket(t)
	a := newStore(t, s3store.Config{Bucket: bucket, Prefix: "a/"})
	b := newStore(t, s3store.Config{Bucket: bucket, Prefix: "b"})
	d, _, err := vault.Put(t.Context(), a, strings.NewReader("only in a"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Stat(t.Context(), d); !errors.Is(err, vault.ErrNotFound) {
		t.Errorf("store b sees store a's object: %v", err)
	}
	for info, err := range b.List(t.Context()) {
		t.Errorf("store b lists %v, %v", info, err)
	}
	if !strings.HasPrefix(a.Key(d), "a/"+d.String()[0:2]+"/"+d.String()[2:4]+"/") {
		t.Errorf("key %s", a.Key(d))
	}
}
