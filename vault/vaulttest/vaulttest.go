// Package vaulttest is the one conformance suite every vault.Backend passes, run by each
// backend's own test with a Harness. It drives the backend through the vault package (Put,
// Open, Verify, Scrub, GC, Pins) as the rest of sealvault does, against a real PostgreSQL
// from internal/dbtest for the pins and references.
package vaulttest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"iter"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"sealvault/internal/dbtest"
	"sealvault/vault"
)

// Harness is what Run needs from a backend's test.
type Harness struct {
	// New returns an empty backend used by t alone.
	New func(t *testing.T) vault.Backend
	// Overwrite replaces the stored bytes of object d of b with data behind b's back, as a
	// failing disk or a stray writer would: in the file for a filesystem, with a plain PUT
	// for S3.
	Overwrite func(t *testing.T, b vault.Backend, d vault.Digest, data []byte)
}

// Run runs the suite against the backends h makes.
func Run(t *testing.T, h Harness) {
	t.Run("KnownDigests", func(t *testing.T) { testKnownDigests(t, h) })
	t.Run("PutOpen", func(t *testing.T) { testPutOpen(t, h) })
	t.Run("NotFound", func(t *testing.T) { testNotFound(t, h) })
	t.Run("Dedupe", func(t *testing.T) { testDedupe(t, h) })
	t.Run("ConcurrentSameContent", func(t *testing.T) { testConcurrentSame(t, h) })
	t.Run("ConcurrentDistinct", func(t *testing.T) { testConcurrentDistinct(t, h) })
	t.Run("List", func(t *testing.T) { testList(t, h) })
	t.Run("Delete", func(t *testing.T) { testDelete(t, h) })
	t.Run("Abort", func(t *testing.T) { testAbort(t, h) })
	t.Run("FailedPut", func(t *testing.T) { testFailedPut(t, h) })
	t.Run("Corruption", func(t *testing.T) { testCorruption(t, h) })
	t.Run("Scrub", func(t *testing.T) { testScrub(t, h) })
	t.Run("GC", func(t *testing.T) { runGC(t, h) })
}

// randomBytes returns n bytes that depend only on seed.
func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 0x5ea1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func put(t *testing.T, b vault.Backend, data []byte) vault.Digest {
	t.Helper()
	d, n, err := vault.Put(t.Context(), b, bytes.NewReader(data), nil)
	if err != nil {
		t.Fatalf("Put of %d bytes: %v", len(data), err)
	}
	if n != int64(len(data)) {
		t.Fatalf("Put of %d bytes reported size %d", len(data), n)
	}
	return d
}

// read reads object d through vault.Open to the end.
func read(t *testing.T, b vault.Backend, d vault.Digest) ([]byte, error) {
	t.Helper()
	r, err := vault.Open(t.Context(), b, d)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

func list(t *testing.T, b vault.Backend) map[vault.Digest]vault.Info {
	t.Helper()
	m := map[vault.Digest]vault.Info{}
	for info, err := range b.List(t.Context()) {
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		if _, dup := m[info.Digest]; dup {
			t.Fatalf("List yielded %s twice", info.Digest)
		}
		m[info.Digest] = info
	}
	return m
}

func testKnownDigests(t *testing.T, h Harness) {
	b := h.New(t)
	for in, want := range map[string]string{
		"":    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"abc": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
	} {
		if got := put(t, b, []byte(in)).String(); got != want {
			t.Errorf("Put(%q) named the object %s, want its SHA-256 %s", in, got, want)
		}
	}
}

func testPutOpen(t *testing.T, h Harness) {
	b := h.New(t)
	for _, size := range []int{0, 1, 5<<20 + 3} {
		data := randomBytes(uint64(size), size)
		before := time.Now()
		d := put(t, b, data)
		after := time.Now()
		if want := vault.Digest(sha256.Sum256(data)); d != want {
			t.Fatalf("%d bytes: Put returned digest %s, want %s", size, d, want)
		}
		info, err := b.Stat(t.Context(), d)
		if err != nil {
			t.Fatalf("%d bytes: Stat: %v", size, err)
		}
		if info.Digest != d || info.Size != int64(size) {
			t.Errorf("%d bytes: Stat = %s, %d bytes", size, info.Digest, info.Size)
		}
		// Services report times to the second.
		if info.ModTime.Before(before.Add(-2*time.Second)) || info.ModTime.After(after.Add(2*time.Second)) {
			t.Errorf("%d bytes: ModTime %v is not the time of the Put (%v to %v)", size, info.ModTime, before, after)
		}
		got, err := read(t, b, d)
		if err != nil {
			t.Fatalf("%d bytes: reading back: %v", size, err)
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("%d bytes: read back %d different bytes", size, len(got))
		}
		if n, err := vault.Verify(t.Context(), b, d); err != nil || n != int64(size) {
			t.Errorf("%d bytes: Verify = %d, %v", size, n, err)
		}
		if l := list(t, b); l[d].Size != int64(size) {
			t.Errorf("%d bytes: List does not show the object with its size: %+v", size, l[d])
		}
	}
}

func testNotFound(t *testing.T, h Harness) {
	b := h.New(t)
	put(t, b, []byte("something else"))
	d := vault.Sum([]byte("never stored"))
	if _, err := b.Stat(t.Context(), d); !errors.Is(err, vault.ErrNotFound) {
		t.Errorf("Stat of a missing object: %v, want ErrNotFound", err)
	}
	if _, err := b.Open(t.Context(), d); !errors.Is(err, vault.ErrNotFound) {
		t.Errorf("backend Open of a missing object: %v, want ErrNotFound", err)
	}
	if r, err := vault.Open(t.Context(), b, d); !errors.Is(err, vault.ErrNotFound) || r != nil {
		t.Errorf("vault.Open of a missing object: %v, %v, want nil, ErrNotFound", r, err)
	}
	if _, err := vault.Verify(t.Context(), b, d); !errors.Is(err, vault.ErrNotFound) {
		t.Errorf("Verify of a missing object: %v, want ErrNotFound", err)
	}
	// Read through the package, a missing object is lost data a record names, and says so;
	// a reachable store is not "unavailable".
	var me *vault.MissingError
	if _, err := vault.ReadAll(t.Context(), b, d); !errors.As(err, &me) || me.Digest != d || errors.Is(err, vault.ErrUnavailable) {
		t.Errorf("ReadAll of a missing object: %v, want a *MissingError naming %s", err, d)
	}
	if err := b.Delete(t.Context(), d); err != nil {
		t.Errorf("Delete of a missing object: %v, want success", err)
	}
	if errors.Is(vault.ErrNotFound, vault.ErrCorrupt) {
		t.Error("ErrNotFound matches ErrCorrupt")
	}
}

func testDedupe(t *testing.T, h Harness) {
	b := h.New(t)
	data := randomBytes(1, 100_000)
	d1 := put(t, b, data)
	first, err := b.Stat(t.Context(), d1)
	if err != nil {
		t.Fatal(err)
	}
	// Long enough that a rewrite would show as a later ModTime, at one-second resolution.
	time.Sleep(1100 * time.Millisecond)
	d2 := put(t, b, bytes.Clone(data))
	if d1 != d2 {
		t.Fatalf("the same bytes got two names: %s, %s", d1, d2)
	}
	second, err := b.Stat(t.Context(), d2)
	if err != nil {
		t.Fatal(err)
	}
	if !second.ModTime.Equal(first.ModTime) {
		t.Errorf("storing existing bytes rewrote the object: ModTime %v, then %v", first.ModTime, second.ModTime)
	}
	if l := list(t, b); len(l) != 1 {
		t.Errorf("two puts of the same bytes left %d objects, want 1", len(l))
	}
}

func testConcurrentSame(t *testing.T, h Harness) {
	b := h.New(t)
	data := randomBytes(2, 2<<20)
	const n = 8
	digests := make([]vault.Digest, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			digests[i], _, errs[i] = vault.Put(t.Context(), b, bytes.NewReader(data), nil)
		})
	}
	close(start)
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("concurrent Put %d: %v", i, errs[i])
		}
		if digests[i] != digests[0] {
			t.Fatalf("concurrent puts of the same bytes returned %s and %s", digests[0], digests[i])
		}
	}
	if l := list(t, b); len(l) != 1 {
		t.Errorf("%d concurrent puts of the same bytes left %d objects, want 1", n, len(l))
	}
	got, err := read(t, b, digests[0])
	if err != nil || !bytes.Equal(got, data) {
		t.Errorf("after concurrent puts the object reads back as %d bytes, %v", len(got), err)
	}
}

func testConcurrentDistinct(t *testing.T, h Harness) {
	b := h.New(t)
	const n = 16
	want := map[vault.Digest]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			data := randomBytes(uint64(100+i), 10_000+i)
			d, _, err := vault.Put(t.Context(), b, bytes.NewReader(data), nil)
			if err != nil {
				t.Errorf("Put %d: %v", i, err)
				return
			}
			mu.Lock()
			want[d] = len(data)
			mu.Unlock()
		})
	}
	wg.Wait()
	got := list(t, b)
	if len(got) != n || len(want) != n {
		t.Fatalf("%d concurrent puts of distinct bytes: List shows %d objects, %d distinct digests returned", n, len(got), len(want))
	}
	for d, size := range want {
		if got[d].Size != int64(size) {
			t.Errorf("List shows %s with %d bytes, want %d", d, got[d].Size, size)
		}
	}
}

func testList(t *testing.T, h Harness) {
	b := h.New(t)
	if l := list(t, b); len(l) != 0 {
		t.Fatalf("a new store lists %d objects", len(l))
	}
	want := map[vault.Digest]int64{}
	for i := range 25 {
		data := randomBytes(uint64(1000+i), i*37)
		want[put(t, b, data)] = int64(len(data))
	}
	got := list(t, b)
	if len(got) != len(want) {
		t.Errorf("List shows %d objects, %d were stored", len(got), len(want))
	}
	for d, size := range want {
		info, ok := got[d]
		if !ok {
			t.Errorf("List misses %s", d)
		} else if info.Size != size || info.ModTime.IsZero() {
			t.Errorf("List shows %s as %d bytes at %v, want %d bytes and a time", d, info.Size, info.ModTime, size)
		}
	}
	n := 0
	for _, err := range b.List(t.Context()) {
		if err != nil {
			t.Fatal(err)
		}
		if n++; n == 3 {
			break
		}
	}
	if n != 3 {
		t.Errorf("breaking out of List after 3 objects saw %d", n)
	}
}

func testDelete(t *testing.T, h Harness) {
	b := h.New(t)
	keep := put(t, b, []byte("keep"))
	gone := put(t, b, []byte("gone"))
	if err := b.Delete(t.Context(), gone); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := b.Stat(t.Context(), gone); !errors.Is(err, vault.ErrNotFound) {
		t.Errorf("Stat after Delete: %v, want ErrNotFound", err)
	}
	if _, err := read(t, b, gone); !errors.Is(err, vault.ErrNotFound) {
		t.Errorf("Open after Delete: %v, want ErrNotFound", err)
	}
	if l := list(t, b); len(l) != 1 || l[keep].Digest != keep {
		t.Errorf("after deleting one of two objects List shows %v", slices.Collect(maps.Keys(l)))
	}
	if err := b.Delete(t.Context(), gone); err != nil {
		t.Errorf("second Delete: %v, want success", err)
	}
	put(t, b, []byte("gone"))
	if got, err := read(t, b, gone); err != nil || string(got) != "gone" {
		t.Errorf("object stored again after Delete reads %q, %v", got, err)
	}
}

func testAbort(t *testing.T, h Harness) {
	b := h.New(t)
	up, err := b.Create(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := up.Write([]byte("never committed")); err != nil {
		t.Fatal(err)
	}
	if l := list(t, b); len(l) != 0 {
		t.Errorf("a staged upload is listed: %d objects", len(l))
	}
	if err := up.Abort(); err != nil {
		t.Fatalf("Abort: %v", err)
	}
	if err := up.Abort(); err != nil {
		t.Errorf("second Abort: %v", err)
	}
	if err := up.Commit(t.Context(), vault.Sum([]byte("never committed"))); err == nil {
		t.Error("Commit after Abort succeeded")
	}
	if l := list(t, b); len(l) != 0 {
		t.Errorf("an aborted upload left %d objects", len(l))
	}
}

// failingReader yields n bytes and then err.
type failingReader struct {
	n   int
	err error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, r.err
	}
	k := min(len(p), r.n)
	clear(p[:k])
	r.n -= k
	return k, nil
}

func testFailedPut(t *testing.T, h Harness) {
	b := h.New(t)
	boom := errors.New("client went away")
	if _, _, err := vault.Put(t.Context(), b, &failingReader{n: 100_000, err: boom}, nil); !errors.Is(err, boom) {
		t.Errorf("Put from a failing reader: %v, want the reader's error", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, _, err := vault.Put(ctx, b, strings.NewReader("late"), nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Put with a cancelled context: %v, want context.Canceled", err)
	}
	if l := list(t, b); len(l) != 0 {
		t.Errorf("failed puts left %d objects", len(l))
	}
}

func testCorruption(t *testing.T, h Harness) {
	orig := randomBytes(3, 300_000)
	flipped := bytes.Clone(orig)
	flipped[len(flipped)/2] ^= 0x01
	for _, c := range []struct {
		name      string
		orig, bad []byte
	}{
		{"one bit flipped", orig, flipped},
		{"last byte lost", orig, orig[:len(orig)-1]},
		{"byte appended", orig, append(bytes.Clone(orig), 0)},
		{"empty object gains a byte", []byte{}, []byte{0}},
		{"emptied", orig, []byte{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := h.New(t)
			good := put(t, b, []byte("an intact neighbour"))
			d := put(t, b, c.orig)
			h.Overwrite(t, b, d, c.bad)

			r, err := vault.Open(t.Context(), b, d)
			if err != nil {
				t.Fatalf("Open of a corrupt object: %v (the verdict belongs at the end of the read)", err)
			}
			got, err := io.ReadAll(r)
			r.Close()
			var ce *vault.CorruptError
			if !errors.Is(err, vault.ErrCorrupt) || !errors.As(err, &ce) {
				t.Fatalf("reading a corrupt object to the end: %v after %d bytes, want a *CorruptError", err, len(got))
			}
			if ce.Digest != d || ce.Got != vault.Sum(c.bad) {
				t.Errorf("CorruptError{Digest: %s, Got: %s}, want {%s, %s}", ce.Digest, ce.Got, d, vault.Sum(c.bad))
			}
			if !strings.Contains(err.Error(), d.String()) {
				t.Errorf("the error does not name the object: %v", err)
			}
			if n, err := r.Read(make([]byte, 10)); n != 0 || !errors.Is(err, vault.ErrCorrupt) {
				t.Errorf("a Read after the verdict returned %d, %v", n, err)
			}
			if _, err := vault.Verify(t.Context(), b, d); !errors.Is(err, vault.ErrCorrupt) {
				t.Errorf("Verify of a corrupt object: %v", err)
			}
			if _, err := vault.Verify(t.Context(), b, good); err != nil {
				t.Errorf("Verify of the intact neighbour: %v", err)
			}
		})
	}
}

// digests yields ds, as a metadata table would.
func digests(ds ...vault.Digest) iter.Seq2[vault.Digest, error] {
	return func(yield func(vault.Digest, error) bool) {
		for _, d := range ds {
			if !yield(d, nil) {
				return
			}
		}
	}
}

func testScrub(t *testing.T, h Harness) {
	b := h.New(t)
	good1 := put(t, b, randomBytes(4, 3<<20))
	good2 := put(t, b, []byte("good"))
	bad := put(t, b, randomBytes(5, 1000))
	h.Overwrite(t, b, bad, randomBytes(6, 1000))
	missing := vault.Sum([]byte("named by a row, never stored"))
	total := int64(3<<20 + 4 + 1000)

	var calls []vault.Progress
	rep, err := vault.Scrub(t.Context(), b, digests(good1, bad, missing, good2, missing), func(p vault.Progress) {
		calls = append(calls, p)
	})
	if err != nil {
		t.Fatalf("Scrub: %v", err)
	}
	if rep.Objects != 3 || rep.Bytes != total {
		t.Errorf("Scrub hashed %d objects, %d bytes; want 3, %d", rep.Objects, rep.Bytes, total)
	}
	if !slices.Equal(rep.Corrupt, []vault.Digest{bad}) {
		t.Errorf("Corrupt = %v, want [%s]", rep.Corrupt, bad)
	}
	if !slices.Equal(rep.Missing, []vault.Digest{missing}) {
		t.Errorf("Missing = %v, want [%s] once", rep.Missing, missing)
	}
	if len(rep.Unreadable) != 0 {
		t.Errorf("Unreadable = %v", rep.Unreadable)
	}
	if !errors.Is(rep.Err(), vault.ErrDamaged) {
		t.Errorf("Err of a damaged report: %v", rep.Err())
	}
	if len(calls) < 3 {
		t.Fatalf("progress called %d times", len(calls))
	}
	for i, p := range calls {
		if p.TotalObjects != 3 || p.TotalBytes != total || (i > 0 && p.Bytes < calls[i-1].Bytes) {
			t.Fatalf("progress call %d: %+v (totals 3 objects, %d bytes; bytes never go back)", i, p, total)
		}
	}
	if last := calls[len(calls)-1]; last.Objects != 3 || last.Bytes != total {
		t.Errorf("last progress call %+v does not reach the totals", last)
	}

	var out strings.Builder
	err = vault.RunScrub(t.Context(), b, digests(missing), &out, nil)
	if !errors.Is(err, vault.ErrDamaged) {
		t.Errorf("RunScrub on a damaged store: %v", err)
	}
	for _, want := range []string{"objects: 3", "missing: 1\n  " + missing.String(), "corrupt: 1\n  " + bad.String()} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("scrub report lacks %q:\n%s", want, out.String())
		}
	}

	if err := b.Delete(t.Context(), bad); err != nil {
		t.Fatal(err)
	}
	rep, err = vault.Scrub(t.Context(), b, digests(good1, good2), nil)
	if err != nil || rep.Err() != nil || rep.Objects != 2 {
		t.Errorf("Scrub of a clean store: %+v, %v, %v", rep, err, rep.Err())
	}
}

// refsSQL stands in for the tables that name blobs (materials, signed outputs, …).
const refsSQL = `CREATE TABLE vault_test_refs (digest text NOT NULL)`

// gcDB returns a fresh migrated database (it has vault_pins) with a table of references, and a
// Referencer over that table.
func gcDB(t *testing.T) (*pgxpool.Pool, vault.Referencer) {
	t.Helper()
	pool := dbtest.Pool(t)
	if _, err := pool.Exec(t.Context(), refsSQL); err != nil {
		t.Fatal(err)
	}
	refs := vault.ReferencerFunc(func(ctx context.Context, d vault.Digest) (bool, error) {
		var ok bool
		err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM vault_test_refs WHERE digest = $1)`, d.String()).Scan(&ok)
		return ok, err
	})
	return pool, refs
}

// reference writes a row naming d the way the ingestion does: Hold, insert, commit in one
// transaction.
func reference(ctx context.Context, pool *pgxpool.Pool, pins *vault.Pins, b vault.Backend, d vault.Digest) error {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := pins.Hold(ctx, tx, b, d); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO vault_test_refs (digest) VALUES ($1)`, d.String()); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

func gc(t *testing.T, b vault.Backend, pins *vault.Pins, refs vault.Referencer, now time.Time) vault.GCReport {
	t.Helper()
	rep, err := vault.GC(t.Context(), b, pins, refs, 0, now)
	if err != nil {
		t.Fatalf("GC at %v: %v", now, err)
	}
	return rep
}

func exists(t *testing.T, b vault.Backend, d vault.Digest) bool {
	t.Helper()
	_, err := vault.Verify(t.Context(), b, d)
	if errors.Is(err, vault.ErrNotFound) {
		return false
	} else if err != nil {
		t.Fatalf("Verify %s: %v", d, err)
	}
	return true
}

func pinCount(t *testing.T, pool *pgxpool.Pool) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(t.Context(), `SELECT count(*) FROM vault_pins`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func runGC(t *testing.T, h Harness) {
	t.Run("CrashBetweenBlobAndRow", func(t *testing.T) {
		b := h.New(t)
		pool, refs := gcDB(t)
		pins := vault.NewPins(pool)
		stored := time.Now()
		// The upload pins and stores its blob, then dies before its row is written.
		d, _, err := vault.Put(t.Context(), b, strings.NewReader("orphan of a crash"), pins)
		if err != nil {
			t.Fatal(err)
		}
		for _, later := range []time.Duration{0, time.Hour, vault.DefaultGrace - time.Minute} {
			if rep := gc(t, b, pins, refs, stored.Add(later)); len(rep.Deleted) != 0 || !exists(t, b, d) {
				t.Fatalf("GC %v after the crash, within the grace period, deleted the blob: %+v", later, rep)
			}
		}
		rep := gc(t, b, pins, refs, stored.Add(vault.DefaultGrace+time.Minute))
		if !slices.Equal(rep.Deleted, []vault.Digest{d}) || rep.Freed != int64(len("orphan of a crash")) || exists(t, b, d) {
			t.Fatalf("GC past the grace period: %+v; want the orphan deleted", rep)
		}
		if n := pinCount(t, pool); n != 0 {
			t.Errorf("the orphan's pin outlived it: %d pins", n)
		}
	})

	t.Run("NeverReferenced", func(t *testing.T) {
		b := h.New(t)
		pool, refs := gcDB(t)
		pins := vault.NewPins(pool)
		kept, _, err := vault.Put(t.Context(), b, strings.NewReader("named by a row"), pins)
		if err != nil {
			t.Fatal(err)
		}
		if err := reference(t.Context(), pool, pins, b, kept); err != nil {
			t.Fatal(err)
		}
		orphan := put(t, b, []byte("named by nothing"))
		// A dry run names what would go and deletes nothing.
		plan, err := vault.GCDryRun(t.Context(), b, pins, refs, 0, time.Now().Add(10*vault.DefaultGrace))
		if err != nil {
			t.Fatal(err)
		}
		if !plan.DryRun || !slices.Equal(plan.Deleted, []vault.Digest{orphan}) || plan.StalePins != 1 || !exists(t, b, orphan) || pinCount(t, pool) != 1 {
			t.Errorf("dry run: %+v (orphan still there %v, %d pins); want the orphan named, nothing deleted", plan, exists(t, b, orphan), pinCount(t, pool))
		}
		rep := gc(t, b, pins, refs, time.Now().Add(10*vault.DefaultGrace))
		if !slices.Equal(rep.Deleted, []vault.Digest{orphan}) || rep.Referenced != 1 || rep.Objects != 2 {
			t.Errorf("GC long after: %+v; want only the unreferenced blob deleted", rep)
		}
		if !exists(t, b, kept) || exists(t, b, orphan) {
			t.Errorf("after GC: referenced blob present %v, orphan present %v", exists(t, b, kept), exists(t, b, orphan))
		}
		if rep.StalePins != 1 || pinCount(t, pool) != 0 {
			t.Errorf("GC dropped %d stale pins, %d left; want the referenced blob's old pin dropped", rep.StalePins, pinCount(t, pool))
		}
	})

	t.Run("RecentPin", func(t *testing.T) {
		b := h.New(t)
		pool, refs := gcDB(t)
		pins := vault.NewPins(pool)
		d := put(t, b, []byte("old bytes, uploaded again"))
		// At gcAt the blob is two days old and an upload of the same bytes pinned it an
		// hour ago (it found the blob stored and is about to write its row).
		gcAt := time.Now().Add(2 * vault.DefaultGrace)
		if err := pins.Pin(t.Context(), d); err != nil {
			t.Fatal(err)
		}
		if _, err := pool.Exec(t.Context(), `UPDATE vault_pins SET pinned_at = $2 WHERE digest = $1`, d.String(), gcAt.Add(-time.Hour)); err != nil {
			t.Fatal(err)
		}
		if rep := gc(t, b, pins, refs, gcAt); len(rep.Deleted) != 0 || rep.Pinned != 1 || !exists(t, b, d) {
			t.Fatalf("GC deleted a blob pinned an hour ago: %+v", rep)
		}
		if rep := gc(t, b, pins, refs, gcAt.Add(vault.DefaultGrace)); !slices.Equal(rep.Deleted, []vault.Digest{d}) {
			t.Fatalf("GC once the pin is stale: %+v; want the blob deleted", rep)
		}
	})

	t.Run("HoldBlocksGC", func(t *testing.T) {
		b := h.New(t)
		pool, refs := gcDB(t)
		pins := vault.NewPins(pool)
		d := put(t, b, []byte("old, unpinned, about to be named"))
		tx, err := pool.Begin(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(context.WithoutCancel(t.Context()))
		if err := pins.Hold(t.Context(), tx, b, d); err != nil {
			t.Fatalf("Hold of a stored blob: %v", err)
		}
		type result struct {
			rep vault.GCReport
			err error
		}
		done := make(chan result, 1)
		go func() {
			rep, err := vault.GC(t.Context(), b, pins, refs, 0, time.Now().Add(10*vault.DefaultGrace))
			done <- result{rep, err}
		}()
		// Wait until GC is blocked on the held pin, then write the row.
		deadline := time.Now().Add(30 * time.Second)
		for {
			var waiting int
			if err := pool.QueryRow(t.Context(), `
				SELECT count(*) FROM pg_stat_activity
				WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting); err != nil {
				t.Fatal(err)
			}
			if waiting > 0 {
				break
			}
			select {
			case r := <-done:
				t.Fatalf("GC finished while a transaction held the blob: %+v, %v", r.rep, r.err)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatal("GC never waited for the transaction holding the blob")
			}
			time.Sleep(10 * time.Millisecond)
		}
		if _, err := tx.Exec(t.Context(), `INSERT INTO vault_test_refs (digest) VALUES ($1)`, d.String()); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(t.Context()); err != nil {
			t.Fatal(err)
		}
		r := <-done
		if r.err != nil || len(r.rep.Deleted) != 0 || !exists(t, b, d) {
			t.Fatalf("GC racing a held blob: %+v, %v; the blob present: %v", r.rep, r.err, exists(t, b, d))
		}
	})

	t.Run("HoldAfterGC", func(t *testing.T) {
		b := h.New(t)
		pool, refs := gcDB(t)
		pins := vault.NewPins(pool)
		// An upload found the bytes stored, but took longer than the grace period to write
		// its row (its pin is stale), and GC deleted the blob meanwhile.
		d := put(t, b, []byte("slow upload"))
		if rep := gc(t, b, pins, refs, time.Now().Add(2*vault.DefaultGrace)); len(rep.Deleted) != 1 {
			t.Fatalf("GC: %+v", rep)
		}
		if err := reference(t.Context(), pool, pins, b, d); !errors.Is(err, vault.ErrNotFound) {
			t.Fatalf("writing a row for a blob GC deleted: %v, want ErrNotFound from Hold", err)
		}
		var rows int
		if err := pool.QueryRow(t.Context(), `SELECT count(*) FROM vault_test_refs`).Scan(&rows); err != nil || rows != 0 {
			t.Fatalf("a row names the deleted blob: %d rows, %v", rows, err)
		}
		// The retry stores the bytes again and succeeds.
		if _, _, err := vault.Put(t.Context(), b, strings.NewReader("slow upload"), pins); err != nil {
			t.Fatal(err)
		}
		if err := reference(t.Context(), pool, pins, b, d); err != nil || !exists(t, b, d) {
			t.Fatalf("retried upload: %v", err)
		}
	})

	t.Run("RaceUploadOfExistingContent", func(t *testing.T) {
		t.Run("pinned", func(t *testing.T) { raceGC(t, h, true) })
		t.Run("stale pin", func(t *testing.T) { raceGC(t, h, false) })
	})
}

// raceGC runs rounds of one upload of bytes that already exist as an old unreferenced blob
// against GC runs that find that blob due for deletion, and checks that every round ends
// with the row written and its blob stored. With pinned uploads no upload may even need a
// retry; without pins (as when a pin has gone stale) Hold must catch every deletion.
func raceGC(t *testing.T, h Harness, pinned bool) {
	const rounds = 30
	pool, refs := gcDB(t)
	pins := vault.NewPins(pool)
	var pinner vault.Pinner
	if pinned {
		pinner = pins
	}
	type round struct {
		b    vault.Backend
		data []byte
		d    vault.Digest
	}
	rs := make([]round, rounds)
	for i := range rs {
		b := h.New(t) // one store per round: each GC sees only its own round's blob
		data := randomBytes(uint64(7000+i), 2000+i)
		rs[i] = round{b: b, data: data, d: put(t, b, data)}
	}
	// Every orphan was stored before cutoff, every pin and new blob comes after it; on a
	// whole second, as services report times to the second.
	cutoff := time.Now().Truncate(time.Second).Add(time.Second)
	time.Sleep(time.Until(cutoff) + 50*time.Millisecond)
	gcAt := cutoff.Add(vault.DefaultGrace)

	var deleted, retried int
	for i, r := range rs {
		start := make(chan struct{})
		var wg sync.WaitGroup
		var upErr error
		var gcErrs [2]error
		var attempts int
		var reps [2]vault.GCReport
		wg.Go(func() {
			<-start
			time.Sleep(time.Duration(rand.IntN(1500)) * time.Microsecond)
			for attempts = 1; attempts <= 5; attempts++ {
				d, _, err := vault.Put(t.Context(), r.b, bytes.NewReader(r.data), pinner)
				if err == nil {
					err = reference(t.Context(), pool, pins, r.b, d)
				}
				if upErr = err; !errors.Is(err, vault.ErrNotFound) {
					return
				}
			}
		})
		for k := range reps {
			wg.Go(func() {
				<-start
				reps[k], gcErrs[k] = vault.GC(t.Context(), r.b, pins, refs, 0, gcAt)
			})
		}
		close(start)
		wg.Wait()
		if err := errors.Join(upErr, gcErrs[0], gcErrs[1]); err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
		if len(reps[0].Deleted)+len(reps[1].Deleted) > 0 {
			deleted++
		}
		if attempts > 1 {
			retried++
		}
		var rows int
		if err := pool.QueryRow(t.Context(), `SELECT count(*) FROM vault_test_refs WHERE digest = $1`, r.d.String()).Scan(&rows); err != nil {
			t.Fatal(err)
		}
		if rows == 0 {
			t.Fatalf("round %d: the upload succeeded but wrote no row", i)
		}
		if !exists(t, r.b, r.d) {
			t.Fatalf("round %d: a row names %s, which GC deleted", i, r.d)
		}
	}
	t.Logf("%d rounds: GC deleted the old blob in %d, the upload had to store it again after Hold in %d", rounds, deleted, retried)
	if pinned && retried > 0 {
		t.Errorf("%d pinned uploads failed in Hold; a fresh pin must keep GC off the blob", retried)
	}
}
