package audit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Damage kinds a verification can report.
const (
	DamageEdited     = "edited"            // an event's bytes differ from what the tree committed to
	DamageDeleted    = "deleted"           // a sequence number is missing
	DamageReordered  = "reordered"         // an event sits at another position than it was committed at
	DamageTruncated  = "truncated"         // a checkpoint covers events that are gone
	DamageForged     = "forged-checkpoint" // a checkpoint's signature does not verify
	DamageTreeDiffer = "tree-differs"      // the tree differs from a signed checkpoint, hashes rewritten too
)

// Damage is one finding of a verification: its kind and the first sequence number affected.
type Damage struct {
	Kind   string `json:"kind"`
	Seq    int64  `json:"seq"`
	Detail string `json:"detail"`
}

func (d Damage) String() string { return fmt.Sprintf("%s at seq %d: %s", d.Kind, d.Seq, d.Detail) }

// Report is the outcome of a verification.
type Report struct {
	Events      int64       `json:"events"`
	Checkpoints int         `json:"checkpoints"`
	Root        tlog.Hash   `json:"root"`
	Damage      []Damage    `json:"damage,omitempty"`
	Newest      *Checkpoint `json:"newest_checkpoint,omitempty"`
}

// OK reports whether nothing was found.
func (r *Report) OK() bool { return len(r.Damage) == 0 }

// First returns the finding with the lowest sequence number.
func (r *Report) First() Damage {
	best := r.Damage[0]
	for _, d := range r.Damage[1:] {
		if d.Seq < best.Seq {
			best = d
		}
	}
	return best
}

// Entry is one sequenced event as a verifier sees it: its position, its exact bytes and the
// leaf hash recorded for it when it was sequenced.
type Entry struct {
	Seq  int64
	Body []byte
	Leaf tlog.Hash
}

// Checker recomputes the tree from entries given in sequence order and checks it against
// signed checkpoints. It needs no database; both verification modes feed it.
type Checker struct {
	hashes   []tlog.Hash // stored hashes of the recomputed tree
	recorded []tlog.Hash // leaf hash recorded with each entry
	computed []tlog.Hash // leaf hash computed from each entry's bytes
	seqs     []int64     // seq each entry is labelled with
	// committed, when set, is the leaf hash the tree committed to at each position, as the
	// store keeps it (audit_hashes), rows or no rows. Trusted only where it hashes to a
	// signed checkpoint's root; then it says exactly where the events differ.
	committed []tlog.Hash
	closedUp  int64      // events deleted with the later ones renumbered, found by classifyLeaves
	next      int64      // one past the highest seq seen
	gaps      [][2]int64 // seq ranges [from, to) skipped and not seen since, in order
	damage    []Damage
}

// memHashes reads the checker's in-memory stored hashes.
type memHashes []tlog.Hash

func (m *memHashes) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(*m)) {
			return nil, fmt.Errorf("audit: hash %d not computed", x)
		}
		out[i] = (*m)[x]
	}
	return out, nil
}

// Add takes the next entry.
func (c *Checker) Add(e Entry) error {
	switch {
	case e.Seq > c.next:
		// Missing unless it turns up later: reported by Finish.
		c.gaps = append(c.gaps, [2]int64{c.next, e.Seq})
	case e.Seq < c.next:
		c.damage = append(c.damage, Damage{DamageReordered, e.Seq,
			fmt.Sprintf("seq %d appears after seq %d", e.Seq, c.next-1)})
		c.fill(e.Seq)
	}
	leaf := tlog.RecordHash(e.Body)
	m := memHashes(c.hashes)
	hs, err := tlog.StoredHashesForRecordHash(int64(len(c.computed)), leaf, &m)
	if err != nil {
		return err
	}
	c.hashes = append(c.hashes, hs...)
	c.computed = append(c.computed, leaf)
	c.recorded = append(c.recorded, e.Leaf)
	c.seqs = append(c.seqs, e.Seq)
	c.next = max(c.next, e.Seq+1)
	return nil
}

// fill takes seq out of the gaps: it came out of order, it is not missing.
func (c *Checker) fill(seq int64) {
	i, found := slices.BinarySearchFunc(c.gaps, seq, func(g [2]int64, s int64) int {
		switch {
		case g[1] <= s:
			return -1
		case g[0] > s:
			return 1
		}
		return 0
	})
	if !found {
		return
	}
	g := c.gaps[i]
	var rest [][2]int64
	if g[0] < seq {
		rest = append(rest, [2]int64{g[0], seq})
	}
	if seq+1 < g[1] {
		rest = append(rest, [2]int64{seq + 1, g[1]})
	}
	c.gaps = slices.Replace(c.gaps, i, i+1, rest...)
}

// Finish classifies leaf mismatches, checks every checkpoint (signed notes) against the
// recomputed tree, and returns the report.
func (c *Checker) Finish(checkpoints [][]byte, verifier note.Verifier) (*Report, error) {
	n := int64(len(c.computed))
	r := &Report{Events: n, Checkpoints: len(checkpoints), Damage: slices.Clone(c.damage)}
	for _, g := range c.gaps {
		r.Damage = append(r.Damage, Damage{DamageDeleted, g[0],
			fmt.Sprintf("sequence jumps from %d to %d: %d event(s) missing", g[0]-1, g[1], g[1]-g[0])})
	}
	c.classifyLeaves(r)
	m := memHashes(c.hashes)
	if n > 0 {
		root, err := tlog.TreeHash(n, &m)
		if err != nil {
			return nil, err
		}
		r.Root = root
	}
	var matched, differ []int64 // sizes of checkpoints the tree matches, and does not for no known reason
	seen := make(map[string]bool, len(checkpoints))
	for _, msg := range checkpoints {
		if seen[string(msg)] {
			continue // the same checkpoint from the table and from a file
		}
		seen[string(msg)] = true
		cp, err := ParseCheckpoint(msg, verifier)
		if err != nil {
			size := int64(-1)
			if lines := bytes.SplitN(msg, []byte("\n"), 3); len(lines) == 3 {
				size, _ = strconv.ParseInt(string(lines[1]), 10, 64)
			}
			r.Damage = append(r.Damage, Damage{DamageForged, size, err.Error()})
			continue
		}
		if r.Newest == nil || cp.Size > r.Newest.Size {
			cp := cp
			r.Newest = &cp
		}
		if cp.Size > c.next {
			if cp.Size <= c.next+c.closedUp {
				continue // the deletion found accounts for the missing tail
			}
			if d, ok := c.localize(cp); ok {
				r.Damage = appendNew(r.Damage, d)
				continue
			}
			r.Damage = append(r.Damage, Damage{DamageTruncated, c.next,
				fmt.Sprintf("a signed checkpoint covers %d events but none is present from seq %d on; seq %d onward is gone", cp.Size, c.next, c.next)})
			continue
		}
		if cp.Size == 0 {
			continue
		}
		if cp.Size > n {
			// Fewer events than seqs below cp.Size: the missing ones account for it.
			if c.explained(r, cp.Size) {
				continue
			}
			if d, ok := c.localize(cp); ok {
				r.Damage = appendNew(r.Damage, d)
			} else {
				differ = append(differ, cp.Size)
			}
			continue
		}
		root, err := tlog.TreeHash(cp.Size, &m)
		if err != nil {
			return nil, err
		}
		switch {
		case root == cp.Root:
			matched = append(matched, cp.Size)
		case c.explained(r, cp.Size):
		default:
			if d, ok := c.localize(cp); ok {
				r.Damage = appendNew(r.Damage, d)
			} else {
				differ = append(differ, cp.Size)
			}
		}
	}
	// The damage lies past the largest checkpoint below that still matches.
	for _, size := range differ {
		from := int64(0)
		for _, ok := range matched {
			if ok < size {
				from = max(from, ok)
			}
		}
		detail := fmt.Sprintf("the tree of the first %d events does not match its signed checkpoint, though every recorded leaf hash matches its event: the recorded hashes were rewritten too", size)
		if from > 0 {
			detail += fmt.Sprintf(" (the first %d events match their checkpoint)", from)
		}
		r.Damage = append(r.Damage, Damage{DamageTreeDiffer, from, detail})
	}
	return r, nil
}

// SetCommitted gives the checker the leaf hash the tree committed to at each position
// (from the stored tree), so that a mismatch with a checkpoint whose hashes were rewritten
// in the rows can be placed at the exact sequence number.
func (c *Checker) SetCommitted(leaves []tlog.Hash) { c.committed = leaves }

// localize finds where the events first differ from what checkpoint cp signed, using leaf
// hashes that cp's root authenticates: the committed leaves, or else the recorded leaves
// of entries that run gapless from seq 0. The finding is an edit, a move (the event's
// bytes were committed at another position) or a deletion closed up by renumbering (every
// later event sits k places early). ok is false when no authenticated leaves cover cp.
func (c *Checker) localize(cp Checkpoint) (d Damage, ok bool) {
	leaves := c.committed
	if int64(len(leaves)) < cp.Size {
		if !slices.Equal(c.seqs, seqRange(int64(len(c.seqs)))) {
			return d, false
		}
		leaves = c.recorded
	}
	if int64(len(leaves)) < cp.Size {
		return d, false
	}
	leaves = leaves[:cp.Size]
	var m memHashes
	for i, leaf := range leaves {
		hs, err := tlog.StoredHashesForRecordHash(int64(i), leaf, &m)
		if err != nil {
			return d, false
		}
		m = append(m, hs...)
	}
	if root, err := tlog.TreeHash(cp.Size, &m); err != nil || root != cp.Root {
		return d, false // the stored leaves are not what was signed either
	}
	n := min(int64(len(c.computed)), cp.Size)
	i := int64(0)
	for i < n && c.computed[i] == leaves[i] {
		i++
	}
	if i == n {
		return d, false // the events present are the signed ones: truncation, told elsewhere
	}
	seq := c.seqs[i]
	for k := int64(1); i+k < cp.Size; k++ {
		if c.computed[i] != leaves[i+k] {
			continue
		}
		shifted := true
		for j := i; j < n && j+k < cp.Size; j++ {
			shifted = shifted && c.computed[j] == leaves[j+k]
		}
		if shifted && (i+1 < n || i+k+1 == cp.Size) {
			return Damage{DamageDeleted, seq, fmt.Sprintf("%d event(s) from seq %d on were deleted and the later events renumbered to close the gap (the event now at seq %d was committed at seq %d)",
				k, seq, seq, seq+k)}, true
		}
		return Damage{DamageReordered, seq, fmt.Sprintf("the event at seq %d was committed at seq %d", seq, i+k)}, true
	}
	if j := slices.Index(leaves, c.computed[i]); j >= 0 {
		return Damage{DamageReordered, seq, fmt.Sprintf("the event at seq %d was committed at seq %d", seq, j)}, true
	}
	return Damage{DamageEdited, seq, fmt.Sprintf("the event at seq %d differs from the bytes the signed checkpoint of %d events committed to", seq, cp.Size)}, true
}

func seqRange(n int64) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = int64(i)
	}
	return out
}

// appendNew appends d unless the same finding is there already.
func appendNew(ds []Damage, d Damage) []Damage {
	if slices.ContainsFunc(ds, func(e Damage) bool { return e.Kind == d.Kind && e.Seq == d.Seq }) {
		return ds
	}
	return append(ds, d)
}

// explained reports whether a finding already accounts for a root mismatch within size.
func (c *Checker) explained(r *Report, size int64) bool {
	for _, d := range r.Damage {
		if d.Kind != DamageForged && d.Kind != DamageTruncated && d.Seq < size {
			return true
		}
	}
	return false
}

// classifyLeaves compares each entry's bytes with the leaf hash recorded for it: an entry
// whose hash was recorded at another position was moved; otherwise it was edited.
func (c *Checker) classifyLeaves(r *Report) {
	var bad []int
	for i := range c.computed {
		if c.recorded[i] != (tlog.Hash{}) && c.computed[i] != c.recorded[i] {
			bad = append(bad, i)
		}
	}
	if len(bad) == 0 {
		return
	}
	if k := c.shift(bad[0]); k > 0 {
		i := bad[0]
		r.Damage = append(r.Damage, Damage{DamageDeleted, c.seqs[i], fmt.Sprintf("%d event(s) from seq %d on were deleted and the later events renumbered to close the gap (the event now at seq %d was committed at seq %d)",
			k, c.seqs[i], c.seqs[i], c.seqs[i]+int64(k))})
		c.closedUp = int64(k)
		return
	}
	at := make(map[tlog.Hash]int, len(bad))
	for _, i := range bad {
		at[c.recorded[i]] = i
	}
	for _, i := range bad {
		if j, ok := at[c.computed[i]]; ok && j != i {
			r.Damage = append(r.Damage, Damage{DamageReordered, c.seqs[i],
				fmt.Sprintf("the event at seq %d was committed at seq %d", c.seqs[i], c.seqs[j])})
		} else {
			r.Damage = append(r.Damage, Damage{DamageEdited, c.seqs[i],
				fmt.Sprintf("the event at seq %d differs from the bytes committed to the tree", c.seqs[i])})
		}
	}
}

// shift reports k > 0 when, from entry i to the last, every event is the one committed k
// positions later: k events were deleted at i and the rest renumbered down. It needs the
// entries to run gapless from seq 0 (their index is their position); the last k events
// have no recorded leaf to compare with unless the committed leaves are known.
func (c *Checker) shift(i int) int {
	n := len(c.computed)
	if !slices.Equal(c.seqs, seqRange(int64(n))) {
		return 0
	}
	leaves := c.recorded
	if len(c.committed) > n {
		leaves = c.committed
	}
	j := slices.Index(leaves[i+1:], c.computed[i])
	if j < 0 {
		return 0
	}
	k := j + 1
	for b := i; b < n; b++ {
		if b+k < len(leaves) && c.computed[b] != leaves[b+k] {
			return 0
		}
	}
	if i+1 == n && len(leaves) <= n {
		return 0 // one event out of place at the end: a move, not a closed-up gap
	}
	return k
}

// WriteExportLine writes one line of the JSON Lines export: {"seq":N,"leaf":"…","event":{…}}
// with the event's exact bytes.
func WriteExportLine(w io.Writer, seq int64, leaf tlog.Hash, body []byte) error {
	_, err := fmt.Fprintf(w, `{"seq":%d,"leaf":"%s","event":%s}`+"\n", seq, base64.StdEncoding.EncodeToString(leaf[:]), body)
	return err
}

// ParseExportLine splits an export line into its entry; the event bytes are taken exactly
// as they stand in the line.
func ParseExportLine(line []byte) (Entry, error) {
	var e Entry
	rest, ok := bytes.CutPrefix(line, []byte(`{"seq":`))
	if !ok {
		return e, fmt.Errorf("line does not start with {\"seq\":")
	}
	i := bytes.IndexByte(rest, ',')
	if i < 0 {
		return e, fmt.Errorf("no seq")
	}
	seq, err := strconv.ParseInt(string(rest[:i]), 10, 64)
	if err != nil {
		return e, fmt.Errorf("seq: %w", err)
	}
	rest, ok = bytes.CutPrefix(rest[i:], []byte(`,"leaf":"`))
	if !ok || len(rest) < 44 {
		return e, fmt.Errorf("no leaf hash")
	}
	var leaf [33]byte // 44 characters without padding decode to 33 bytes
	if n, err := base64.StdEncoding.Decode(leaf[:], rest[:44]); err != nil || n != 32 {
		return e, fmt.Errorf("leaf hash is not base64 of 32 bytes")
	}
	body, ok := bytes.CutPrefix(rest[44:], []byte(`","event":`))
	if !ok {
		return e, fmt.Errorf("no event")
	}
	body, ok = bytes.CutSuffix(bytes.TrimRight(body, "\r\n"), []byte("}"))
	// The event is an object of its own: a line cut short before its last brace leaves one.
	if !ok || len(body) < 2 || body[0] != '{' || body[len(body)-1] != '}' {
		return e, fmt.Errorf("event is not an object")
	}
	return Entry{Seq: seq, Body: body, Leaf: tlog.Hash(leaf[:32])}, nil
}

// VerifyExport checks an export read from r against signed checkpoints, without a
// database. progress, if not nil, is told how many bytes have been read.
func VerifyExport(r io.Reader, checkpoints [][]byte, verifier note.Verifier, progress func(bytes int)) (*Report, error) {
	var c Checker
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<20), 16<<20)
	line := 0
	for sc.Scan() {
		line++
		if progress != nil {
			progress(len(sc.Bytes()) + 1)
		}
		e, err := ParseExportLine(sc.Bytes())
		if err != nil {
			return nil, fmt.Errorf("audit: export line %d: %w", line, err)
		}
		if err := c.Add(e); err != nil {
			return nil, err
		}
		// Full JSON validation only where the bytes are not the recorded ones: bytes whose
		// hash matches (and whose tree matches a signed checkpoint) are the stored event.
		if n := len(c.computed); c.computed[n-1] != e.Leaf && !json.Valid(e.Body) {
			return nil, fmt.Errorf("audit: export line %d: event is not an object", line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("audit: read export: %w", err)
	}
	return c.Finish(checkpoints, verifier)
}

// Export streams every sequenced event with seq in [from, to) as JSON Lines.
func (l *Log) Export(ctx context.Context, w io.Writer, from, to int64) error {
	return l.scan(ctx, from, to, func(e Entry, _ columns) error { return WriteExportLine(w, e.Seq, e.Leaf, e.Body) })
}

// columns are an event row's query columns, as stored ("" for NULL).
type columns [7]string

// columnNames name columns' entries, for reports.
var columnNames = [7]string{"at", "action", "actor_id", "department_id", "seal_id", "case_id", "material_id"}

// columnsOf derives the query columns from an event's bytes, as Append writes them.
func columnsOf(body []byte) (columns, error) {
	var b struct {
		Time     string            `json:"time"`
		Action   string            `json:"action"`
		Actor    Actor             `json:"actor"`
		Subjects map[string]string `json:"subjects"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		return columns{}, err
	}
	return columns{b.Time, b.Action, b.Actor.UserID, b.Actor.DepartmentID,
		b.Subjects[SubjectSeal], b.Subjects[SubjectCase], b.Subjects[SubjectMaterial]}, nil
}

// scan calls fn for each sequenced event in seq order within [from, to), with its query
// columns. An entry's leaf is the one the stored tree holds at its position (level 0 of
// audit_hashes), which is what sequencing committed to; the copy in audit_log is used only
// where the tree lacks it. Rows moved in audit_log then show as moved, exports included.
func (l *Log) scan(ctx context.Context, from, to int64, fn func(Entry, columns) error) error {
	rows, err := l.db.Query(ctx, `
		SELECT l.seq, e.body, coalesce(h.hash, l.leaf), coalesce(e.at, ''), coalesce(e.action, ''), coalesce(e.actor_id, ''),
			coalesce(e.department_id, ''), coalesce(e.seal_id, ''), coalesce(e.case_id, ''), coalesce(e.material_id, '')
		FROM audit_log l JOIN audit_events e ON e.id = l.event_id
		LEFT JOIN audit_hashes h ON h.idx = 2 * l.seq - bit_count(l.seq::bit(64))
		WHERE l.seq >= $1 AND l.seq < $2 ORDER BY l.seq`, from, to)
	if err != nil {
		return fmt.Errorf("audit: scan: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var e Entry
		var body string
		var leaf []byte
		var cols columns
		if err := rows.Scan(&e.Seq, &body, &leaf, &cols[0], &cols[1], &cols[2], &cols[3], &cols[4], &cols[5], &cols[6]); err != nil {
			return fmt.Errorf("audit: scan: %w", err)
		}
		e.Body = []byte(body)
		copy(e.Leaf[:], leaf)
		if err := fn(e, cols); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Verify recomputes the tree from the database rows and checks it against every checkpoint
// stored in the database and in the checkpoint directory. progress, if not nil, is told
// of each event checked.
func (l *Log) Verify(ctx context.Context, progress func()) (*Report, error) {
	var c Checker
	err := l.scan(ctx, 0, 1<<62, func(e Entry, stored columns) error {
		if progress != nil {
			progress()
		}
		// The query columns must say what the bytes say: a column edited on its own would
		// hide an event from the auditors' searches.
		if want, err := columnsOf(e.Body); err == nil && want != stored {
			for i := range want {
				if want[i] != stored[i] {
					c.damage = append(c.damage, Damage{DamageEdited, e.Seq,
						fmt.Sprintf("the %s column of the event at seq %d disagrees with its bytes", columnNames[i], e.Seq)})
					break
				}
			}
		}
		return c.Add(e)
	})
	if err != nil {
		return nil, err
	}
	rows, err := l.db.Query(ctx, `SELECT note FROM audit_checkpoints ORDER BY size`)
	if err != nil {
		return nil, fmt.Errorf("audit: checkpoints: %w", err)
	}
	var cps [][]byte
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		cps = append(cps, []byte(n))
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if l.cfg.CheckpointDir != "" {
		ext, err := ExternalCheckpoints(l.cfg.CheckpointDir)
		if err != nil {
			return nil, err
		}
		cps = append(cps, ext...)
	}
	var size int64
	for _, msg := range cps {
		if lines := bytes.SplitN(msg, []byte("\n"), 3); len(lines) == 3 {
			if n, err := strconv.ParseInt(string(lines[1]), 10, 64); err == nil && n > size {
				size = n
			}
		}
	}
	committed, err := l.committedLeaves(ctx, size)
	if err != nil {
		return nil, err
	}
	c.SetCommitted(committed)
	return c.Finish(cps, l.verifier)
}

// committedLeaves reads the leaf hashes the stored tree holds for positions [0, size):
// level 0 of audit_hashes (tlog's numbering puts leaf n at 2n - popcount(n)). It stops at
// the first position the store lacks.
func (l *Log) committedLeaves(ctx context.Context, size int64) ([]tlog.Hash, error) {
	rows, err := l.db.Query(ctx, `
		SELECT h.hash FROM generate_series(0::bigint, $1::bigint - 1) s
		LEFT JOIN audit_hashes h ON h.idx = 2 * s - bit_count(s::bit(64)) ORDER BY s`, size)
	if err != nil {
		return nil, fmt.Errorf("audit: committed leaves: %w", err)
	}
	defer rows.Close()
	var out []tlog.Hash
	for rows.Next() {
		var h []byte
		if err := rows.Scan(&h); err != nil {
			return nil, fmt.Errorf("audit: committed leaves: %w", err)
		}
		if len(h) != len(tlog.Hash{}) {
			break
		}
		out = append(out, tlog.Hash(h))
	}
	return out, rows.Err()
}

// Verifier returns the checkpoint verifier of the log's key.
func (l *Log) Verifier() note.Verifier { return l.verifier }
