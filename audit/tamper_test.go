package audit_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"sealvault/audit"
)

// tamperedTrail is a log of 40 events with signed checkpoints at 20 and 40, in the
// database and in files.
func tamperedTrail(t *testing.T) *trail {
	t.Helper()
	tr := newTrail(t, nil)
	tr.appendEvents(t, 0, 20)
	tr.integrate(t, 20)
	tr.checkpoint(t, 20)
	tr.appendEvents(t, 20, 20)
	tr.integrate(t, 40)
	tr.checkpoint(t, 40)
	return tr
}

// eventAt returns the id of the event sequenced at seq.
func eventAt(t *testing.T, ctx context.Context, tx pgx.Tx, seq int64) int64 {
	t.Helper()
	var id int64
	if err := tx.QueryRow(ctx, `SELECT event_id FROM audit_log WHERE seq = $1`, seq).Scan(&id); err != nil {
		t.Fatalf("event at seq %d: %v", seq, err)
	}
	return id
}

// forgeNote signs a checkpoint text for size and root with a fresh key bearing the log's
// key name: what someone without the log's private key can produce.
func forgeNote(t *testing.T, tr *trail, size int64, root tlog.Hash) []byte {
	t.Helper()
	name, _, _ := strings.Cut(tr.log.VerifierKey(), "+")
	skey, _, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	text := fmt.Sprintf("%s\n%d\n%s\n", trailOrigin, size, base64.StdEncoding.EncodeToString(root[:]))
	msg, err := note.Sign(&note.Note{Text: text}, s)
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

// TestTamper plays a database administrator who turns the triggers off and rewrites the
// trail; both the online verifier and the offline one, given an export and signed
// checkpoints, must notice and name the kind of damage and where it starts.
func TestTamper(t *testing.T) {
	type notesFn func(t *testing.T, tr *trail) [][]byte
	dbNotes := func(t *testing.T, tr *trail) [][]byte { return tr.dbNotes(t) }
	fileNotes := func(t *testing.T, tr *trail) [][]byte { return tr.fileNotes(t) }
	cases := []struct {
		name   string
		tamper func(t *testing.T, ctx context.Context, tx pgx.Tx, tr *trail)
		kind   string
		seq    int64
		// offline are the checkpoints the offline verifier is given.
		offline notesFn
		// absent are kinds that must not be reported: a finding that is not true misleads
		// the auditor.
		absent []string
		// also are further findings that must be reported.
		also []audit.Damage
	}{
		{
			name: "edited details",
			tamper: func(t *testing.T, ctx context.Context, tx pgx.Tx, tr *trail) {
				mustExec(t, ctx, tx, 1, `UPDATE audit_events SET body = replace(body, '"note":"routine"', '"note":"approved by director"') WHERE id = $1`,
					eventAt(t, ctx, tx, 17))
			},
			kind: audit.DamageEdited, seq: 17, offline: dbNotes,
			absent: []string{audit.DamageDeleted, audit.DamageReordered, audit.DamageTruncated, audit.DamageTreeDiffer},
		},
		{
			name: "edited actor, query column follows",
			tamper: func(t *testing.T, ctx context.Context, tx pgx.Tx, tr *trail) {
				mustExec(t, ctx, tx, 1, `UPDATE audit_events SET body = replace(body, '"user_id":"user-2"', '"user_id":"user-9"') WHERE id = $1`,
					eventAt(t, ctx, tx, 5))
			},
			kind: audit.DamageEdited, seq: 5, offline: fileNotes,
		},
		{
			name: "deleted sequence row",
			tamper: func(t *testing.T, ctx context.Context, tx pgx.Tx, tr *trail) {
				mustExec(t, ctx, tx, 1, `DELETE FROM audit_log WHERE seq = 12`)
			},
			kind: audit.DamageDeleted, seq: 12, offline: dbNotes,
			absent: []string{audit.DamageTruncated, audit.DamageReordered, audit.DamageEdited},
		},
		{
			name: "deleted sequence row and event",
			tamper: func(t *testing.T, ctx context.Context, tx pgx.Tx, tr *trail) {
				id := eventAt(t, ctx, tx, 12)
				mustExec(t, ctx, tx, 1, `DELETE FROM audit_log WHERE seq = 12`)
				mustExec(t, ctx, tx, 1, `DELETE FROM audit_events WHERE id = $1`, id)
			},
			kind: audit.DamageDeleted, seq: 12, offline: fileNotes,
			absent: []string{audit.DamageTruncated},
		},
		{
			name: "deleted event only",
			tamper: func(t *testing.T, ctx context.Context, tx pgx.Tx, tr *trail) {
				mustExec(t, ctx, tx, 1, `DELETE FROM audit_events WHERE id = $1`, eventAt(t, ctx, tx, 0))
			},
			kind: audit.DamageDeleted, seq: 0, offline: dbNotes,
		},
		{
			name: "deleted row, later row edited",
			tamper: func(t *testing.T, ctx context.Context, tx pgx.Tx, tr *trail) {
				id := eventAt(t, ctx, tx, 17)
				mustExec(t, ctx, tx, 1, `DELETE FROM audit_log WHERE seq = 12`)
				mustExec(t, ctx, tx, 1, `UPDATE audit_events SET body = replace(body, '"note":"routine"', '"note":"none"') WHERE id = $1`, id)
			},
			kind: audit.DamageDeleted, seq: 12, offline: dbNotes,
			absent: []string{audit.DamageTruncated},
			also:   []audit.Damage{{Kind: audit.DamageEdited, Seq: 17}},
		},
		{
			name: "swapped events",
			tamper: func(t *testing.T, ctx context.Context, tx pgx.Tx, tr *trail) {
				a, b := eventAt(t, ctx, tx, 5), eventAt(t, ctx, tx, 6)
				// Through an id no event has: event_id is unique, and the foreign key is a
				// trigger, which is off.
				mustExec(t, ctx, tx, 1, `UPDATE audit_log SET event_id = -1 WHERE seq = 5`)
				mustExec(t, ctx, tx, 1, `UPDATE audit_log SET event_id = $1 WHERE seq = 6`, a)
				mustExec(t, ctx, tx, 1, `UPDATE audit_log SET event_id = $1 WHERE seq = 5`, b)
			},
			kind: audit.DamageReordered, seq: 5, offline: dbNotes,
			absent: []string{audit.DamageEdited, audit.DamageDeleted},
			also:   []audit.Damage{{Kind: audit.DamageReordered, Seq: 6}},
		},
		{
			name: "newest rows deleted and their checkpoint removed",
			tamper: func(t *testing.T, ctx context.Context, tx pgx.Tx, tr *trail) {
				mustExec(t, ctx, tx, 5, `DELETE FROM audit_log WHERE seq >= 35`)
				mustExec(t, ctx, tx, 1, `DELETE FROM audit_checkpoints WHERE size > 35`)
			},
			kind: audit.DamageTruncated, seq: 35, offline: fileNotes,
			absent: []string{audit.DamageDeleted, audit.DamageEdited, audit.DamageTreeDiffer},
		},
		{
			name: "newest rows and events deleted",
			tamper: func(t *testing.T, ctx context.Context, tx pgx.Tx, tr *trail) {
				mustExec(t, ctx, tx, 5, `DELETE FROM audit_events WHERE id IN (SELECT event_id FROM audit_log WHERE seq >= 35)`)
				mustExec(t, ctx, tx, 5, `DELETE FROM audit_log WHERE seq >= 35`)
				mustExec(t, ctx, tx, 1, `DELETE FROM audit_checkpoints WHERE size > 35`)
			},
			kind: audit.DamageTruncated, seq: 35, offline: fileNotes,
		},
		{
			name: "checkpoint replaced by one signed with another key",
			tamper: func(t *testing.T, ctx context.Context, tx pgx.Tx, tr *trail) {
				root := tlog.RecordHash([]byte("another history"))
				mustExec(t, ctx, tx, 1, `UPDATE audit_checkpoints SET note = $1, root_hash = $2 WHERE size = 40`,
					string(forgeNote(t, tr, 40, root)), root[:])
			},
			kind: audit.DamageForged, seq: 40, offline: dbNotes,
			absent: []string{audit.DamageEdited, audit.DamageDeleted, audit.DamageReordered, audit.DamageTruncated, audit.DamageTreeDiffer},
		},
		{
			name: "checkpoint text altered under its signature",
			tamper: func(t *testing.T, ctx context.Context, tx pgx.Tx, tr *trail) {
				var msg string
				if err := tx.QueryRow(ctx, `SELECT note FROM audit_checkpoints WHERE size = 40`).Scan(&msg); err != nil {
					t.Fatal(err)
				}
				lines := strings.SplitN(msg, "\n", 4)
				root := tlog.RecordHash([]byte("another history"))
				lines[2] = base64.StdEncoding.EncodeToString(root[:])
				mustExec(t, ctx, tx, 1, `UPDATE audit_checkpoints SET note = $1, root_hash = $2 WHERE size = 40`,
					strings.Join(lines, "\n"), root[:])
			},
			kind: audit.DamageForged, seq: 40, offline: dbNotes,
		},
		{
			name: "event edited and its recorded leaf rewritten",
			tamper: func(t *testing.T, ctx context.Context, tx pgx.Tx, tr *trail) {
				mustExec(t, ctx, tx, 1, `UPDATE audit_events SET body = replace(body, '"note":"routine"', '"note":"void"') WHERE id = $1`,
					eventAt(t, ctx, tx, 27))
				mustExec(t, ctx, tx, 1, `
					UPDATE audit_log l SET leaf = sha256('\x00'::bytea || convert_to(e.body, 'UTF8'))
					FROM audit_events e WHERE e.id = l.event_id AND l.seq = 27`)
			},
			// The stored tree still holds the leaf committed at 27, and it hashes to the
			// signed roots: the edit is found exactly.
			kind: audit.DamageEdited, seq: 27, offline: fileNotes,
			absent: []string{audit.DamageTreeDiffer},
		},
		{
			name: "event edited and its leaf rewritten in the row and in the stored tree",
			tamper: func(t *testing.T, ctx context.Context, tx pgx.Tx, tr *trail) {
				mustExec(t, ctx, tx, 1, `UPDATE audit_events SET body = replace(body, '"note":"routine"', '"note":"void"') WHERE id = $1`,
					eventAt(t, ctx, tx, 27))
				mustExec(t, ctx, tx, 1, `
					UPDATE audit_log l SET leaf = sha256('\x00'::bytea || convert_to(e.body, 'UTF8'))
					FROM audit_events e WHERE e.id = l.event_id AND l.seq = 27`)
				// Leaf 27 is stored hash 2*27 - popcount(27) = 50.
				mustExec(t, ctx, tx, 1, `UPDATE audit_hashes SET hash = (SELECT leaf FROM audit_log WHERE seq = 27) WHERE idx = 50`)
			},
			// Nothing kept says which event changed; the checkpoint of 20 still matches, so
			// the damage is at 20 or later.
			kind: audit.DamageTreeDiffer, seq: 20, offline: fileNotes,
		},
		{
			name: "hardening 7: rows renumbered to swap two events with their leaves",
			tamper: func(t *testing.T, ctx context.Context, tx pgx.Tx, tr *trail) {
				mustExec(t, ctx, tx, 1, `UPDATE audit_log SET seq = 1000 WHERE seq = 25`)
				mustExec(t, ctx, tx, 1, `UPDATE audit_log SET seq = 25 WHERE seq = 26`)
				mustExec(t, ctx, tx, 1, `UPDATE audit_log SET seq = 26 WHERE seq = 1000`)
			},
			// The stored tree says what was committed where: the first swapped seq is named.
			kind: audit.DamageReordered, seq: 25, offline: dbNotes,
			absent: []string{audit.DamageTreeDiffer, audit.DamageEdited},
			also:   []audit.Damage{{Kind: audit.DamageReordered, Seq: 26}},
		},
		{
			name: "row deleted and the gap closed by renumbering",
			tamper: func(t *testing.T, ctx context.Context, tx pgx.Tx, tr *trail) {
				mustExec(t, ctx, tx, 1, `DELETE FROM audit_log WHERE seq = 12`)
				mustExec(t, ctx, tx, 27, `UPDATE audit_log SET seq = seq + 1000 WHERE seq > 12`)
				mustExec(t, ctx, tx, 27, `UPDATE audit_log SET seq = seq - 1001 WHERE seq > 1000`)
			},
			kind: audit.DamageDeleted, seq: 12, offline: fileNotes,
			absent: []string{audit.DamageTreeDiffer, audit.DamageTruncated, audit.DamageReordered},
		},
	}

	t.Run("control", func(t *testing.T) {
		t.Parallel()
		tr := tamperedTrail(t)
		r := tr.verifyOnline(t)
		wantOK(t, "online", r)
		if r.Events != 40 || r.Checkpoints != 4 || r.Newest == nil || r.Newest.Size != 40 {
			t.Errorf("online: %d events, %d checkpoints, newest %+v; want 40, 4 (2 stored, 2 files), size 40", r.Events, r.Checkpoints, r.Newest)
		}
		latest, err := tr.log.Latest(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if r.Root != latest.Root {
			t.Errorf("online: root %v, newest checkpoint %v", r.Root, latest.Root)
		}
		for _, notes := range [][][]byte{tr.dbNotes(t), tr.fileNotes(t)} {
			r := tr.verifyOffline(t, notes)
			wantOK(t, "offline", r)
			if r.Events != 40 || r.Root != latest.Root {
				t.Errorf("offline: %d events, root %v; want 40, %v", r.Events, r.Root, latest.Root)
			}
		}
	})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			tr := tamperedTrail(t)
			tr.asDBA(t, func(ctx context.Context, tx pgx.Tx) { c.tamper(t, ctx, tx, tr) })
			for mode, r := range map[string]*audit.Report{
				"online":  tr.verifyOnline(t),
				"offline": tr.verifyOffline(t, c.offline(t, tr)),
			} {
				wantDamage(t, mode, r, c.kind, c.seq)
				for _, d := range r.Damage {
					for _, k := range c.absent {
						if d.Kind == k {
							t.Errorf("%s: untrue finding %v", mode, d)
						}
					}
				}
				for _, w := range c.also {
					if !slices.ContainsFunc(r.Damage, func(d audit.Damage) bool { return d.Kind == w.Kind && d.Seq == w.Seq }) {
						t.Errorf("%s: no %s at seq %d among %v", mode, w.Kind, w.Seq, r.Damage)
					}
				}
			}
		})
	}
}

// TestTamperedExport: an export file edited after it was written is caught by the
// offline verifier.
func TestTamperedExport(t *testing.T) {
	tr := tamperedTrail(t)
	export := tr.export(t)
	lines := bytes.SplitAfter(export, []byte("\n"))
	lines = lines[:len(lines)-1] // after the last newline
	if len(lines) != 40 {
		t.Fatalf("export has %d lines, want 40", len(lines))
	}
	edit := func(f func(ls [][]byte) [][]byte) []byte {
		ls := make([][]byte, len(lines))
		for i := range lines {
			ls[i] = bytes.Clone(lines[i])
		}
		return bytes.Join(f(ls), nil)
	}
	cases := []struct {
		name   string
		export []byte
		kind   string
		seq    int64
		absent []string
	}{
		{"line removed", edit(func(ls [][]byte) [][]byte { return append(ls[:30], ls[31:]...) }),
			audit.DamageDeleted, 30, []string{audit.DamageTruncated}},
		{"lines swapped", edit(func(ls [][]byte) [][]byte { ls[8], ls[9] = ls[9], ls[8]; return ls }),
			audit.DamageReordered, 8, []string{audit.DamageDeleted, audit.DamageEdited}},
		{"line moved far back", edit(func(ls [][]byte) [][]byte {
			moved := ls[3]
			ls = append(ls[:3], ls[4:]...)
			return append(ls[:30], append([][]byte{moved}, ls[30:]...)...)
		}), audit.DamageReordered, 3, []string{audit.DamageDeleted}},
		{"line duplicated", edit(func(ls [][]byte) [][]byte { return append(ls[:11], append([][]byte{ls[10]}, ls[11:]...)...) }),
			audit.DamageReordered, 10, []string{audit.DamageDeleted}},
		{"tail cut", edit(func(ls [][]byte) [][]byte { return ls[:33] }),
			audit.DamageTruncated, 33, []string{audit.DamageDeleted}},
		{"event text edited", edit(func(ls [][]byte) [][]byte {
			ls[22] = bytes.Replace(ls[22], []byte(`"user-1"`), []byte(`"user-0"`), 1)
			return ls
		}), audit.DamageEdited, 22, nil},
		{"seq relabelled", edit(func(ls [][]byte) [][]byte {
			ls[14] = bytes.Replace(ls[14], []byte(`{"seq":14,`), []byte(`{"seq":15,`), 1)
			ls[15] = bytes.Replace(ls[15], []byte(`{"seq":15,`), []byte(`{"seq":14,`), 1)
			return ls
		}), audit.DamageReordered, 14, []string{audit.DamageDeleted, audit.DamageEdited, audit.DamageTreeDiffer}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if bytes.Equal(c.export, export) {
				t.Fatal("the edit changed nothing")
			}
			r, err := audit.VerifyExport(bytes.NewReader(c.export), tr.fileNotes(t), tr.log.Verifier(), nil)
			if err != nil {
				t.Fatal(err)
			}
			wantDamage(t, "offline", r, c.kind, c.seq)
			for _, d := range r.Damage {
				for _, k := range c.absent {
					if d.Kind == k {
						t.Errorf("untrue finding %v", d)
					}
				}
			}
		})
	}
	// The unedited export verifies, and progress is told every byte.
	read := 0
	r, err := audit.VerifyExport(bytes.NewReader(export), tr.fileNotes(t), tr.log.Verifier(), func(n int) { read += n })
	if err != nil {
		t.Fatal(err)
	}
	wantOK(t, "offline", r)
	if read != len(export) {
		t.Errorf("progress reported %d bytes of %d", read, len(export))
	}
	// A checkpoint from another key is a forgery even if the export matches it.
	root := r.Root
	r, err = audit.VerifyExport(bytes.NewReader(export), [][]byte{forgeNote(t, tr, 40, root)}, tr.log.Verifier(), nil)
	if err != nil {
		t.Fatal(err)
	}
	wantDamage(t, "offline", r, audit.DamageForged, 40)
}
