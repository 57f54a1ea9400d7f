package api

import (
	"context"
	"crypto"
	"net/http"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"sealvault/internal/identity"
	"sealvault/seal"
	"sealvault/seal/keys"
	"sealvault/vault"
)

// approvedRequest files a request for the world's document as the center's window user and
// has the custodian approve it.
func (w *sealWorld) approvedRequest(t *testing.T) seal.Request {
	t.Helper()
	req := must[seal.Request](t, w.request(t, w.b.token[identity.RoleWindow], w.seal.ID, "440100-01-001", w.doc), http.StatusCreated)
	return must[seal.Request](t, w.b.do(t, http.MethodPost, "/api/v1/seal-requests/"+req.ID.String()+"/approve", w.token(w.custodian),
		map[string]any{"note": "同意"}), http.StatusOK)
}

func (w *sealWorld) apply(t *testing.T, id uuid.UUID) *http.Response {
	t.Helper()
	return w.b.do(t, http.MethodPost, "/api/v1/seal-requests/"+id.String()+"/apply", w.b.token[identity.RoleWindow], nil).Result()
}

func blobCount(t *testing.T, b vault.Backend) int {
	t.Helper()
	n := 0
	for _, err := range b.List(t.Context()) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	return n
}

// TestSealApplyRefusesACorruptDocument: a document whose stored bytes no longer hash to its
// digest is not sealed: the application fails as a corrupt stored object, and nothing is
// recorded (no register row, no seal.apply event, no signed copy in the blob store, the
// approval still unused). Once the bytes are good again, the same approval seals.
func TestSealApplyRefusesACorruptDocument(t *testing.T) {
	w := newSealWorld(t)
	b := w.b
	req := w.approvedRequest(t)
	d, err := vault.ParseDigest(w.doc)
	if err != nil {
		t.Fatal(err)
	}
	path := b.blobs.Path(d)
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	bad := append([]byte{}, good...)
	bad[len(bad)/2] ^= 0x20 // same size, one byte changed in the middle of the file
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	blobs := blobCount(t, b.blobs)

	rec := b.do(t, http.MethodPost, "/api/v1/seal-requests/"+req.ID.String()+"/apply", b.token[identity.RoleWindow], nil)
	if p := problemOf(t, rec); rec.Code != http.StatusInternalServerError || p.Type != ProblemBase+probCorrupt.slug {
		t.Fatalf("apply of a corrupt document: %d %s", rec.Code, rec.Body)
	}
	if n := count(t, b.pool, "seal_uses"); n != 0 {
		t.Errorf("%d register rows after a refused application", n)
	}
	var applies int
	b.pool.QueryRow(t.Context(), `SELECT count(*) FROM audit_events WHERE action = 'seal.apply'`).Scan(&applies)
	if applies != 0 {
		t.Errorf("%d seal.apply events after a refused application", applies)
	}
	if got := blobCount(t, b.blobs); got != blobs {
		t.Errorf("the blob store holds %d objects after the refused application, %d before", got, blobs)
	}

	if err := os.WriteFile(path, good, 0o644); err != nil {
		t.Fatal(err)
	}
	rec = b.do(t, http.MethodPost, "/api/v1/seal-requests/"+req.ID.String()+"/apply", b.token[identity.RoleWindow], nil)
	use := must[seal.Use](t, rec, http.StatusCreated)
	od, err := vault.ParseDigest(use.OutputDigest)
	if err != nil {
		t.Fatal(err)
	}
	out, err := vault.ReadAll(t.Context(), b.blobs, od)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) <= len(good) || string(out[:len(good)]) != string(good) || int64(len(out)) != use.OutputSize {
		t.Errorf("the sealed copy (%d bytes, recorded %d) does not start with the %d bytes of the document",
			len(out), use.OutputSize, len(good))
	}
}

// countingCustody counts the keys custody unwraps.
type countingCustody struct {
	keys.Custody
	unwrapped atomic.Int64
}

func (c *countingCustody) Signer(ctx context.Context, ref []byte, owner string) (crypto.Signer, error) {
	c.unwrapped.Add(1)
	return c.Custody.Signer(ctx, ref, owner)
}

// TestSealSignerCacheDroppedOnStatusChange: with the signer cache on, a seal applied twice
// has its key unwrapped once; suspending the seal drops its cached signer, so that an
// application while it is suspended is refused and the first one after its reactivation
// unwraps the key again.
func TestSealSignerCacheDroppedOnStatusChange(t *testing.T) {
	w := newSealWorld(t)
	b := w.b
	cc := &countingCustody{Custody: b.seals.Custody}
	b.seals.Custody, b.seals.SignerTTL = cc, time.Minute
	reqs := []seal.Request{w.approvedRequest(t), w.approvedRequest(t), w.approvedRequest(t)}
	admin := b.token[identity.RoleSealAdmin]

	for _, r := range reqs[:2] {
		if code := w.apply(t, r.ID).StatusCode; code != http.StatusCreated {
			t.Fatalf("apply %s: %d", r.Ref, code)
		}
	}
	if n := cc.unwrapped.Load(); n != 1 {
		t.Fatalf("two applications unwrapped the key %d times, want 1 (cached)", n)
	}
	status := func(to string) {
		t.Helper()
		must[seal.Seal](t, b.do(t, http.MethodPost, "/api/v1/seals/"+w.seal.ID.String()+"/status", admin,
			map[string]any{"status": to, "reason": "临时停用核查"}), http.StatusOK)
	}
	status(seal.StatusSuspended)
	refused(t, b.do(t, http.MethodPost, "/api/v1/seal-requests/"+reqs[2].ID.String()+"/apply", b.token[identity.RoleWindow], nil),
		"seal-not-active", w.seal.Ref)
	status(seal.StatusActive)
	if code := w.apply(t, reqs[2].ID).StatusCode; code != http.StatusCreated {
		t.Fatalf("apply after reactivation: %d", code)
	}
	if n := cc.unwrapped.Load(); n != 2 {
		t.Errorf("the key was unwrapped %d times, want 2: the status change must drop the cached signer", n)
	}
	if n := count(t, b.pool, "seal_uses"); n != 3 {
		t.Errorf("%d register rows, want 3", n)
	}
}
