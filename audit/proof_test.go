package audit_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"sealvault/audit"
)

// TestProofs: inclusion and consistency proofs check out with tlog alone, against a tree the
// test computes from the exported event bytes; requests outside the tree are refused.
func TestProofs(t *testing.T) {
	const n = 37
	tr := newTrail(t, nil)
	tr.appendEvents(t, 0, n)
	tr.integrate(t, n)
	ctx := t.Context()

	entries := exportEntries(t, tr.export(t))
	if len(entries) != n {
		t.Fatalf("export has %d entries, want %d", len(entries), n)
	}
	bodies := make([][]byte, n)
	for i, e := range entries {
		bodies[i] = e.Body
		if want, _ := audit.Canonical(trailEvent(i)); string(e.Body) != string(want) {
			t.Fatalf("seq %d holds %s, want event %d: %s", i, e.Body, i, want)
		}
	}
	tree := treeOf(t, bodies)

	for _, c := range [][2]int64{{0, 1}, {0, 2}, {1, 2}, {0, n}, {5, 8}, {7, n}, {16, 17}, {20, 33}, {31, 32}, {32, 37}, {36, n}} {
		seq, size := c[0], c[1]
		p, err := tr.log.ProveInclusion(ctx, seq, size)
		if err != nil {
			t.Errorf("ProveInclusion(%d, %d): %v", seq, size, err)
			continue
		}
		if p.Seq != seq || p.Size != size {
			t.Errorf("ProveInclusion(%d, %d) answers for seq %d, size %d", seq, size, p.Seq, p.Size)
		}
		if want := tlog.RecordHash(bodies[seq]); p.LeafHash != want {
			t.Errorf("ProveInclusion(%d, %d): leaf hash %v, want the record hash of the event bytes %v", seq, size, p.LeafHash, want)
		}
		if want := rootOf(t, tree, size); p.RootHash != want {
			t.Errorf("ProveInclusion(%d, %d): root %v, want %v", seq, size, p.RootHash, want)
		}
		if err := tlog.CheckRecord(p.Proof, size, p.RootHash, seq, p.LeafHash); err != nil {
			t.Errorf("ProveInclusion(%d, %d): proof does not verify: %v", seq, size, err)
		}
		// The proof is specific: it does not prove another event or another position.
		if seq+1 < size {
			if err := tlog.CheckRecord(p.Proof, size, p.RootHash, seq, tlog.RecordHash(bodies[seq+1])); err == nil {
				t.Errorf("ProveInclusion(%d, %d): proof also verifies for the next event's bytes", seq, size)
			}
		}
	}

	for _, c := range [][2]int64{{1, 1}, {1, 2}, {1, n}, {2, 3}, {8, n}, {13, 21}, {16, 32}, {20, 33}, {32, 33}, {n, n}} {
		from, to := c[0], c[1]
		p, err := tr.log.ProveConsistency(ctx, from, to)
		if err != nil {
			t.Errorf("ProveConsistency(%d, %d): %v", from, to, err)
			continue
		}
		if p.From != from || p.To != to {
			t.Errorf("ProveConsistency(%d, %d) answers for %d, %d", from, to, p.From, p.To)
		}
		if want := rootOf(t, tree, from); p.FromRoot != want {
			t.Errorf("ProveConsistency(%d, %d): from root %v, want %v", from, to, p.FromRoot, want)
		}
		if want := rootOf(t, tree, to); p.ToRoot != want {
			t.Errorf("ProveConsistency(%d, %d): to root %v, want %v", from, to, p.ToRoot, want)
		}
		if err := tlog.CheckTree(p.Proof, to, p.ToRoot, from, p.FromRoot); err != nil {
			t.Errorf("ProveConsistency(%d, %d): proof does not verify: %v", from, to, err)
		}
		if from < to && from > 1 {
			if err := tlog.CheckTree(p.Proof, to, p.ToRoot, from, rootOf(t, tree, from-1)); err == nil {
				t.Errorf("ProveConsistency(%d, %d): proof also verifies for another prefix root", from, to)
			}
		}
	}

	for _, c := range [][2]int64{{-1, 5}, {5, 5}, {6, 5}, {0, 0}, {0, n + 1}, {n, n}, {n, n + 1}} {
		if _, err := tr.log.ProveInclusion(ctx, c[0], c[1]); !errors.Is(err, audit.ErrRange) {
			t.Errorf("ProveInclusion(%d, %d): %v, want ErrRange", c[0], c[1], err)
		}
	}
	for _, c := range [][2]int64{{0, 5}, {-1, 5}, {6, 5}, {1, n + 1}, {n + 1, n + 1}} {
		if _, err := tr.log.ProveConsistency(ctx, c[0], c[1]); !errors.Is(err, audit.ErrRange) {
			t.Errorf("ProveConsistency(%d, %d): %v, want ErrRange", c[0], c[1], err)
		}
	}

	// A checkpoint's root is the tree hash of its size, in the table, in the note and in the file.
	cp := tr.checkpoint(t, n)
	want := rootOf(t, tree, n)
	if cp.Root != want {
		t.Errorf("checkpoint root %v, want the tree hash %v", cp.Root, want)
	}
	parsed, err := audit.ParseCheckpoint([]byte(cp.Note), tr.log.Verifier())
	if err != nil {
		t.Fatalf("the checkpoint's own note does not verify: %v", err)
	}
	if parsed.Size != n || parsed.Root != want || parsed.Origin != trailOrigin {
		t.Errorf("note says origin %q, size %d, root %v; want %q, %d, %v", parsed.Origin, parsed.Size, parsed.Root, trailOrigin, n, want)
	}
	// A checkpoint of the prefix proves consistent with the later one.
	tr.appendEvents(t, n, 3)
	tr.integrate(t, n+3)
	later := tr.checkpoint(t, n+3)
	p, err := tr.log.ProveConsistency(ctx, n, n+3)
	if err != nil {
		t.Fatal(err)
	}
	if err := tlog.CheckTree(p.Proof, later.Size, later.Root, cp.Size, cp.Root); err != nil {
		t.Errorf("consistency between checkpoints %d and %d: %v", cp.Size, later.Size, err)
	}
}

// TestCheckpoints: when checkpoints are issued, where they are kept, and that a checkpoint
// file is never rewritten.
func TestCheckpoints(t *testing.T) {
	tr := newTrail(t, func(c *audit.Config) { c.CheckpointEvery = 10; c.CheckpointInterval = time.Hour })
	ctx := t.Context()
	rows := func() int64 { t.Helper(); return tr.count(t, `SELECT count(*) FROM audit_checkpoints`) }
	files := func() []string {
		t.Helper()
		names, err := filepath.Glob(filepath.Join(tr.cfg.CheckpointDir, "*"))
		if err != nil {
			t.Fatal(err)
		}
		for i := range names {
			names[i] = filepath.Base(names[i])
		}
		return names
	}
	check := func(force bool, want int64) audit.Checkpoint {
		t.Helper()
		cp, err := tr.log.Checkpoint(ctx, force)
		if err != nil {
			t.Fatalf("Checkpoint(%v): %v", force, err)
		}
		if cp.Size != want {
			t.Fatalf("Checkpoint(%v): newest checkpoint has size %d, want %d", force, cp.Size, want)
		}
		return cp
	}

	if _, err := tr.log.Checkpoint(ctx, true); !errors.Is(err, audit.ErrNoCheckpoint) {
		t.Fatalf("Checkpoint on an empty log: %v, want ErrNoCheckpoint", err)
	}
	if _, err := tr.log.Latest(ctx); !errors.Is(err, audit.ErrNoCheckpoint) {
		t.Fatalf("Latest on an empty log: %v, want ErrNoCheckpoint", err)
	}
	if rows() != 0 || len(files()) != 0 {
		t.Fatal("a checkpoint of the empty tree was written")
	}

	tr.appendEvents(t, 0, 5)
	tr.integrate(t, 5)
	first := check(false, 5) // the first checkpoint is due as soon as there is a tree
	for _, force := range []bool{false, true, false} {
		check(force, 5) // the tree did not grow: nothing new is signed, even when forced
	}
	if rows() != 1 || len(files()) != 1 {
		t.Fatalf("%d rows and files %v after checkpoints of an unchanged tree, want 1 of each", rows(), files())
	}

	tr.appendEvents(t, 5, 9)
	tr.integrate(t, 14)
	check(false, 5) // grew by 9 < CheckpointEvery, an hour has not passed
	tr.appendEvents(t, 14, 1)
	tr.integrate(t, 15)
	check(false, 15) // grew by 10
	// Another log on the same database with a short interval checkpoints any growth; one
	// with a long interval and a large step does not.
	tr.appendEvents(t, 15, 1)
	tr.integrate(t, 16)
	lazy := tr.reopen(t, func(c *audit.Config) { c.CheckpointEvery = 100; c.CheckpointInterval = time.Hour })
	if cp, err := lazy.Checkpoint(ctx, false); err != nil || cp.Size != 15 {
		t.Fatalf("lazy log: checkpoint size %d, %v; want 15 (not due)", cp.Size, err)
	}
	eager := tr.reopen(t, func(c *audit.Config) { c.CheckpointEvery = 100; c.CheckpointInterval = time.Millisecond })
	time.Sleep(5 * time.Millisecond)
	if cp, err := eager.Checkpoint(ctx, false); err != nil || cp.Size != 16 {
		t.Fatalf("eager log: checkpoint size %d, %v; want 16 (interval passed)", cp.Size, err)
	}
	tr.appendEvents(t, 16, 1)
	tr.integrate(t, 17)
	last := check(true, 17) // forced: any growth

	wantSizes := []int64{5, 15, 16, 17}
	if got := files(); len(got) != len(wantSizes) {
		t.Fatalf("checkpoint files %v, want %d", got, len(wantSizes))
	}
	notes := tr.fileNotes(t)
	dbNotes := tr.dbNotes(t)
	if len(notes) != len(wantSizes) || len(dbNotes) != len(wantSizes) {
		t.Fatalf("%d external and %d stored checkpoints, want %d of each", len(notes), len(dbNotes), len(wantSizes))
	}
	for i, size := range wantSizes {
		b, err := os.ReadFile(filepath.Join(tr.cfg.CheckpointDir, audit.CheckpointFileName(size)))
		if err != nil {
			t.Fatalf("no file for checkpoint %d: %v", size, err)
		}
		if string(b) != string(notes[i]) || string(b) != string(dbNotes[i]) {
			t.Errorf("checkpoint %d: file, ExternalCheckpoints and table disagree:\n%s\n%s\n%s", size, b, notes[i], dbNotes[i])
		}
		cp, err := audit.ParseCheckpoint(b, tr.log.Verifier())
		if err != nil {
			t.Errorf("checkpoint file %d does not verify: %v", size, err)
			continue
		}
		if cp.Size != size {
			t.Errorf("file %s holds the checkpoint of size %d", audit.CheckpointFileName(size), cp.Size)
		}
		var root []byte
		if err := tr.pool.QueryRow(ctx, `SELECT root_hash FROM audit_checkpoints WHERE size = $1`, size).Scan(&root); err != nil {
			t.Fatal(err)
		}
		if tlog.Hash(root) != cp.Root {
			t.Errorf("checkpoint %d: root_hash column %x, note says %v", size, root, cp.Root)
		}
		p, err := tr.log.ProveInclusion(ctx, 0, size)
		if err != nil {
			t.Fatal(err)
		}
		if p.RootHash != cp.Root {
			t.Errorf("checkpoint %d: root %v, tree hash %v", size, cp.Root, p.RootHash)
		}
	}
	if first.Note != string(notes[0]) || last.Note != string(notes[3]) {
		t.Error("Checkpoint returned notes other than those stored")
	}
	// The note verifies with the published verifier key, as an auditor holding only the
	// .pub file would check it.
	pub, err := os.ReadFile(filepath.Join(tr.cfg.KeyDir, "audit-note.pub"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(pub)) != tr.log.VerifierKey() {
		t.Errorf("audit-note.pub holds %q, VerifierKey is %q", pub, tr.log.VerifierKey())
	}

	// A file already present for a size is left as it is, never overwritten.
	const squatted = "placeholder\n"
	name := filepath.Join(tr.cfg.CheckpointDir, audit.CheckpointFileName(18))
	if err := os.WriteFile(name, []byte(squatted), 0o644); err != nil {
		t.Fatal(err)
	}
	tr.appendEvents(t, 17, 1)
	tr.integrate(t, 18)
	check(true, 18)
	if b, err := os.ReadFile(name); err != nil || string(b) != squatted {
		t.Errorf("the existing checkpoint file was rewritten: %q, %v", b, err)
	}
	for i, size := range wantSizes {
		if b, err := os.ReadFile(filepath.Join(tr.cfg.CheckpointDir, audit.CheckpointFileName(size))); err != nil || string(b) != string(notes[i]) {
			t.Errorf("checkpoint file %d changed: %q, %v", size, b, err)
		}
	}
	// The verifier notices the file that is not a signed checkpoint.
	r := tr.verifyOnline(t)
	if r.OK() || r.First().Kind != audit.DamageForged {
		t.Errorf("Verify with an unsigned checkpoint file: %v, want a forged checkpoint", r.Damage)
	}
}
