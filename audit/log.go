package audit

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Config configures a Log.
type Config struct {
	// Origin names the log in its checkpoints, e.g. "sealvault.th-zwfw.gov.cn/audit".
	Origin string
	// KeyDir holds the checkpoint signing key (audit-note.key, private) and its verifier
	// key (audit-note.pub, published to auditors); both are made on first start.
	KeyDir string
	// CheckpointDir receives every checkpoint as a file, outside the database, so the newest
	// survives a database rollback. Files are created once and never overwritten.
	CheckpointDir string
	// CheckpointEvery and CheckpointInterval: a checkpoint is issued when the tree has grown
	// by CheckpointEvery events or CheckpointInterval has passed since the last one (and the
	// tree has grown).
	CheckpointEvery    int64
	CheckpointInterval time.Duration
	// Batch is the most events one integration sequences.
	Batch int
	Log   *slog.Logger
}

// Log is the audit log of one database: it sequences events, grows the tree, issues
// checkpoints and answers proofs.
type Log struct {
	db       *pgxpool.Pool
	cfg      Config
	signer   note.Signer
	verifier note.Verifier
	vkey     string
}

// integrateLock is the advisory lock key under which sequence numbers are assigned.
const integrateLock = 0x5ea1a0d17 // "sealaudit"

// Open returns the log of db, loading or creating the checkpoint signing key.
func Open(db *pgxpool.Pool, cfg Config) (*Log, error) {
	if cfg.Origin == "" {
		return nil, errors.New("audit: origin is empty")
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 5000
	}
	if cfg.CheckpointEvery <= 0 {
		cfg.CheckpointEvery = 1000
	}
	if cfg.CheckpointInterval <= 0 {
		cfg.CheckpointInterval = time.Minute
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	skey, vkey, err := loadOrCreateKey(cfg.KeyDir, cfg.Origin)
	if err != nil {
		return nil, err
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		return nil, fmt.Errorf("audit: signing key: %w", err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, fmt.Errorf("audit: verifier key: %w", err)
	}
	if cfg.CheckpointDir != "" {
		if err := os.MkdirAll(cfg.CheckpointDir, 0o755); err != nil {
			return nil, fmt.Errorf("audit: checkpoint directory: %w", err)
		}
	}
	return &Log{db: db, cfg: cfg, signer: s, verifier: v, vkey: vkey}, nil
}

// VerifierKey is the public key (signed-note verifier format) that checks checkpoints.
func (l *Log) VerifierKey() string { return l.vkey }

// loadOrCreateKey reads the note key pair in dir, creating it if absent. Creation uses
// exclusive create, so processes starting together agree on one key.
func loadOrCreateKey(dir, origin string) (skey, vkey string, err error) {
	// Only the key directory is private; its parents stay traversable.
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", "", fmt.Errorf("audit: key directory: %w", err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return "", "", fmt.Errorf("audit: key directory: %w", err)
	}
	kf, pf := filepath.Join(dir, "audit-note.key"), filepath.Join(dir, "audit-note.pub")
	for attempt := 0; ; attempt++ {
		b, err := os.ReadFile(kf)
		if errors.Is(err, os.ErrNotExist) {
			if err := createKey(dir, kf, pf, origin); err != nil {
				return "", "", err
			}
			continue // read what is there now: this process's key or a faster one's
		} else if err != nil {
			return "", "", fmt.Errorf("audit: signing key: %w", err)
		}
		p, perr := os.ReadFile(pf)
		skey, vkey = strings.TrimSpace(string(b)), strings.TrimSpace(string(p))
		if perr == nil && keyPair(skey, vkey) {
			return skey, vkey, nil
		}
		// The process creating the key may not have finished writing both halves.
		if attempt == 100 {
			if perr != nil {
				return "", "", fmt.Errorf("audit: verifier key: %w", perr)
			}
			return "", "", fmt.Errorf("audit: %s and %s are not one key pair", kf, pf)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// createKey makes a key pair unless the private key file exists. The public half goes
// through a file of its own name, so processes creating keys at once cannot mix halves.
func createKey(dir, kf, pf, origin string) error {
	name := strings.NewReplacer("+", "-", " ", "-").Replace(origin)
	skey, vkey, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		return fmt.Errorf("audit: generate key: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "audit-note.pub.tmp*")
	if err != nil {
		return fmt.Errorf("audit: write key: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(vkey + "\n")
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err != nil {
		return fmt.Errorf("audit: write key: %w", err)
	}
	f, err := os.OpenFile(kf, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return nil // another process is making the key
	} else if err != nil {
		return fmt.Errorf("audit: write key: %w", err)
	}
	_, err = f.WriteString(skey + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), pf)
	}
	if err != nil {
		return fmt.Errorf("audit: write key: %w", err)
	}
	return nil
}

// keyPair reports whether vkey verifies what skey signs.
func keyPair(skey, vkey string) bool {
	s, err := note.NewSigner(skey)
	if err != nil {
		return false
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return false
	}
	msg, err := note.Sign(&note.Note{Text: "key pair\n"}, s)
	if err != nil {
		return false
	}
	_, err = note.Open(msg, note.VerifierList(v))
	return err == nil
}

// batchHashes reads stored hashes for one integration: the ones it adds, from memory; older
// ones, from the database.
type batchHashes struct {
	ctx   context.Context
	tx    pgx.Tx
	base  int64       // StoredHashCount of the tree before the batch
	added []tlog.Hash // hashes at base, base+1, …
	read  map[int64]tlog.Hash
}

func (b *batchHashes) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	var missing []int64
	for i, x := range indexes {
		if x >= b.base {
			if x-b.base >= int64(len(b.added)) {
				return nil, fmt.Errorf("audit: hash %d not yet stored", x)
			}
			out[i] = b.added[x-b.base]
		} else if h, ok := b.read[x]; ok {
			out[i] = h
		} else {
			missing = append(missing, x)
		}
	}
	if len(missing) == 0 {
		return out, nil
	}
	if err := readHashes(b.ctx, b.tx, missing, b.read); err != nil {
		return nil, err
	}
	for i, x := range indexes {
		if x < b.base {
			h, ok := b.read[x]
			if !ok {
				return nil, fmt.Errorf("audit: stored hash %d is missing", x)
			}
			out[i] = h
		}
	}
	return out, nil
}

func readHashes(ctx context.Context, db DB, indexes []int64, into map[int64]tlog.Hash) error {
	rows, err := db.Query(ctx, `SELECT idx, hash FROM audit_hashes WHERE idx = ANY($1)`, indexes)
	if err != nil {
		return fmt.Errorf("audit: read hashes: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var x int64
		var h []byte
		if err := rows.Scan(&x, &h); err != nil {
			return fmt.Errorf("audit: read hashes: %w", err)
		}
		into[x] = tlog.Hash(h)
	}
	return rows.Err()
}

// dbHashes is a tlog.HashReader over the committed stored hashes.
type dbHashes struct {
	ctx context.Context
	db  DB
}

func (r dbHashes) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	m := make(map[int64]tlog.Hash, len(indexes))
	if err := readHashes(r.ctx, r.db, indexes, m); err != nil {
		return nil, err
	}
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		h, ok := m[x]
		if !ok {
			return nil, fmt.Errorf("audit: stored hash %d is missing", x)
		}
		out[i] = h
	}
	return out, nil
}

// Size returns the number of sequenced events (the tree size).
func (l *Log) Size(ctx context.Context) (int64, error) {
	return size(ctx, l.db)
}

func size(ctx context.Context, db DB) (int64, error) {
	var n int64
	err := db.QueryRow(ctx, `SELECT coalesce(max(seq) + 1, 0) FROM audit_log`).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("audit: size: %w", err)
	}
	return n, nil
}

// Integrate sequences up to one batch of committed events, in the order they were appended,
// and stores their tree hashes. It holds an advisory lock while doing so, so processes
// integrating at once produce one gapless sequence. It returns the new tree size.
func (l *Log) Integrate(ctx context.Context) (int64, error) {
	var n int64
	err := pgx.BeginFunc(ctx, l.db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(integrateLock)); err != nil {
			return err
		}
		var err error
		if n, err = size(ctx, tx); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `
			WITH next AS (
				DELETE FROM audit_pending
				WHERE event_id IN (SELECT event_id FROM audit_pending ORDER BY event_id LIMIT $1)
				RETURNING event_id
			)
			SELECT e.id, e.body FROM audit_events e JOIN next ON next.event_id = e.id
			ORDER BY e.id`, l.cfg.Batch)
		if err != nil {
			return err
		}
		type ev struct {
			id   int64
			body string
		}
		evs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ev, error) {
			var e ev
			return e, r.Scan(&e.id, &e.body)
		})
		if err != nil || len(evs) == 0 {
			return err
		}
		hr := &batchHashes{ctx: ctx, tx: tx, base: tlog.StoredHashCount(n), read: map[int64]tlog.Hash{}}
		logRows := make([][]any, len(evs))
		for i, e := range evs {
			seq := n + int64(i)
			leaf := tlog.RecordHash([]byte(e.body))
			hs, err := tlog.StoredHashesForRecordHash(seq, leaf, hr)
			if err != nil {
				return fmt.Errorf("audit: hashes for %d: %w", seq, err)
			}
			hr.added = append(hr.added, hs...)
			logRows[i] = []any{seq, e.id, leaf[:]}
		}
		hashRows := make([][]any, len(hr.added))
		for i := range hr.added {
			hashRows[i] = []any{hr.base + int64(i), hr.added[i][:]}
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"audit_log"}, []string{"seq", "event_id", "leaf"}, pgx.CopyFromRows(logRows)); err != nil {
			return fmt.Errorf("audit: write sequence: %w", err)
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"audit_hashes"}, []string{"idx", "hash"}, pgx.CopyFromRows(hashRows)); err != nil {
			return fmt.Errorf("audit: write hashes: %w", err)
		}
		n += int64(len(evs))
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("audit: integrate: %w", err)
	}
	return n, nil
}

// IntegrateAll integrates until nothing is pending and returns the tree size.
func (l *Log) IntegrateAll(ctx context.Context) (int64, error) {
	prev := int64(-1)
	for {
		n, err := l.Integrate(ctx)
		if err != nil || n == prev {
			return n, err
		}
		prev = n
	}
}

// Checkpoint is a signed statement of the tree's size and root hash.
type Checkpoint struct {
	Origin string    `json:"origin"`
	Size   int64     `json:"size"`
	Root   tlog.Hash `json:"-"`
	// Note is the checkpoint in signed-note form: origin, size and base64 root hash, one per
	// line, then the signature.
	Note      string    `json:"note"`
	CreatedAt time.Time `json:"created_at"`
}

// RootHash is the base64 root hash, as in the note.
func (c Checkpoint) RootHash() string { return c.Root.String() }

func checkpointText(origin string, n int64, root tlog.Hash) string {
	return fmt.Sprintf("%s\n%d\n%s\n", origin, n, base64.StdEncoding.EncodeToString(root[:]))
}

// ParseCheckpoint opens a signed checkpoint note with verifier and returns its contents. A
// bad signature is a *ForgedError.
func ParseCheckpoint(msg []byte, verifier note.Verifier) (Checkpoint, error) {
	n, err := note.Open(msg, note.VerifierList(verifier))
	if err != nil {
		return Checkpoint{}, &ForgedError{Detail: err.Error()}
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) < 4 || lines[3] != "" {
		return Checkpoint{}, &ForgedError{Detail: "signed text is not origin, size and root hash"}
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 {
		return Checkpoint{}, &ForgedError{Detail: "size is not a number"}
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != 32 {
		return Checkpoint{}, &ForgedError{Detail: "root hash is not 32 base64 bytes"}
	}
	return Checkpoint{Origin: lines[0], Size: size, Root: tlog.Hash(root), Note: string(msg)}, nil
}

// ForgedError reports a checkpoint whose signature does not verify.
type ForgedError struct{ Detail string }

func (e *ForgedError) Error() string { return "audit: forged checkpoint: " + e.Detail }

// Latest returns the newest stored checkpoint, or ErrNoCheckpoint.
func (l *Log) Latest(ctx context.Context) (Checkpoint, error) {
	var c Checkpoint
	var root []byte
	err := l.db.QueryRow(ctx, `SELECT size, root_hash, note, created_at FROM audit_checkpoints ORDER BY size DESC LIMIT 1`).
		Scan(&c.Size, &root, &c.Note, &c.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, ErrNoCheckpoint
	} else if err != nil {
		return c, fmt.Errorf("audit: latest checkpoint: %w", err)
	}
	c.Origin, c.Root = l.cfg.Origin, tlog.Hash(root)
	return c, nil
}

// ErrNoCheckpoint is returned before the first checkpoint exists.
var ErrNoCheckpoint = errors.New("audit: no checkpoint yet")

// Checkpoint issues a checkpoint of the current tree if it grew enough or long enough ago
// (always, when force is set and the tree grew) and returns the newest checkpoint.
func (l *Log) Checkpoint(ctx context.Context, force bool) (Checkpoint, error) {
	n, err := l.Size(ctx)
	if err != nil {
		return Checkpoint{}, err
	}
	last, err := l.Latest(ctx)
	if err != nil && !errors.Is(err, ErrNoCheckpoint) {
		return last, err
	}
	due := n > last.Size && (force || n-last.Size >= l.cfg.CheckpointEvery || time.Since(last.CreatedAt) >= l.cfg.CheckpointInterval)
	if !due {
		return last, err
	}
	root, err := tlog.TreeHash(n, dbHashes{ctx, l.db})
	if err != nil {
		return last, fmt.Errorf("audit: tree hash: %w", err)
	}
	msg, err := note.Sign(&note.Note{Text: checkpointText(l.cfg.Origin, n, root)}, l.signer)
	if err != nil {
		return last, fmt.Errorf("audit: sign checkpoint: %w", err)
	}
	// The file outside the database first: a checkpoint the database has, the directory has.
	if err := l.writeExternal(n, msg); err != nil {
		return last, err
	}
	if _, err := l.db.Exec(ctx, `INSERT INTO audit_checkpoints (size, root_hash, note) VALUES ($1, $2, $3) ON CONFLICT (size) DO NOTHING`,
		n, root[:], string(msg)); err != nil {
		return last, fmt.Errorf("audit: store checkpoint: %w", err)
	}
	l.cfg.Log.Info("audit checkpoint", "size", n, "root", root.String())
	return l.Latest(ctx)
}

// CheckpointFileName is the name of the external file of the checkpoint of size n; names
// sort by size.
func CheckpointFileName(n int64) string { return fmt.Sprintf("checkpoint-%020d.note", n) }

func (l *Log) writeExternal(n int64, msg []byte) error {
	if l.cfg.CheckpointDir == "" {
		return nil
	}
	name := filepath.Join(l.cfg.CheckpointDir, CheckpointFileName(n))
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, os.ErrExist) {
		return nil // another process wrote the same size; signatures are deterministic
	} else if err != nil {
		return fmt.Errorf("audit: write checkpoint file: %w", err)
	}
	if _, err := f.Write(msg); err != nil {
		f.Close()
		return fmt.Errorf("audit: write checkpoint file: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("audit: write checkpoint file: %w", err)
	}
	return f.Close()
}

// ExternalCheckpoints returns the notes in the checkpoint directory, smallest size first.
func ExternalCheckpoints(dir string) ([][]byte, error) {
	names, err := filepath.Glob(filepath.Join(dir, "checkpoint-*.note"))
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	out := make([][]byte, 0, len(names))
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			return nil, fmt.Errorf("audit: read checkpoint file: %w", err)
		}
		out = append(out, b)
	}
	return out, nil
}

// InclusionProof proves the event at seq is in the tree of size n.
type InclusionProof struct {
	Seq      int64       `json:"seq"`
	Size     int64       `json:"size"`
	LeafHash tlog.Hash   `json:"leaf_hash"`
	RootHash tlog.Hash   `json:"root_hash"`
	Proof    []tlog.Hash `json:"proof"`
}

// ErrRange is returned for a proof request outside the tree.
var ErrRange = errors.New("audit: outside the tree")

// ProveInclusion returns the proof that event seq is in the tree of size n.
func (l *Log) ProveInclusion(ctx context.Context, seq, n int64) (InclusionProof, error) {
	cur, err := l.Size(ctx)
	if err != nil {
		return InclusionProof{}, err
	}
	if seq < 0 || n <= seq || n > cur {
		return InclusionProof{}, fmt.Errorf("%w: seq %d, size %d, tree size %d", ErrRange, seq, n, cur)
	}
	r := dbHashes{ctx, l.db}
	p, err := tlog.ProveRecord(n, seq, r)
	if err != nil {
		return InclusionProof{}, fmt.Errorf("audit: prove record: %w", err)
	}
	leaf, err := r.ReadHashes([]int64{tlog.StoredHashIndex(0, seq)})
	if err != nil {
		return InclusionProof{}, err
	}
	root, err := tlog.TreeHash(n, r)
	if err != nil {
		return InclusionProof{}, err
	}
	return InclusionProof{Seq: seq, Size: n, LeafHash: leaf[0], RootHash: root, Proof: p}, nil
}

// ConsistencyProof proves the tree of size From is a prefix of the tree of size To.
type ConsistencyProof struct {
	From     int64       `json:"from"`
	To       int64       `json:"to"`
	FromRoot tlog.Hash   `json:"from_root"`
	ToRoot   tlog.Hash   `json:"to_root"`
	Proof    []tlog.Hash `json:"proof"`
}

// ProveConsistency returns the proof that the tree of size from is a prefix of size to.
func (l *Log) ProveConsistency(ctx context.Context, from, to int64) (ConsistencyProof, error) {
	cur, err := l.Size(ctx)
	if err != nil {
		return ConsistencyProof{}, err
	}
	if from < 1 || to < from || to > cur {
		return ConsistencyProof{}, fmt.Errorf("%w: from %d, to %d, tree size %d", ErrRange, from, to, cur)
	}
	r := dbHashes{ctx, l.db}
	p, err := tlog.ProveTree(to, from, r)
	if err != nil {
		return ConsistencyProof{}, fmt.Errorf("audit: prove tree: %w", err)
	}
	fr, err := tlog.TreeHash(from, r)
	if err != nil {
		return ConsistencyProof{}, err
	}
	tr, err := tlog.TreeHash(to, r)
	if err != nil {
		return ConsistencyProof{}, err
	}
	return ConsistencyProof{From: from, To: to, FromRoot: fr, ToRoot: tr, Proof: p}, nil
}

// Run integrates and checkpoints every interval until ctx ends, then once more.
func (l *Log) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	step := func(ctx context.Context, force bool) {
		if _, err := l.IntegrateAll(ctx); err != nil {
			if ctx.Err() == nil {
				l.cfg.Log.Error("audit integrate", "error", err.Error())
			}
			return
		}
		if _, err := l.Checkpoint(ctx, force); err != nil && !errors.Is(err, ErrNoCheckpoint) && ctx.Err() == nil {
			l.cfg.Log.Error("audit checkpoint", "error", err.Error())
		}
	}
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			step(fctx, true)
			cancel()
			return
		case <-t.C:
			step(ctx, false)
		}
	}
}
