package vault

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DB is what Pins.Hold needs of the transaction that inserts a referencing row; pgx.Tx
// satisfies it (and *pgxpool.Pool, though Hold is useless outside a transaction).
type DB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// Pins is the vault_pins table: one row per digest that an upload has recently pinned.
//
// The protocol that keeps GC from deleting a blob a row is about to name, including the
// dedupe race (an upload of bytes that already exist as an old unreferenced blob):
//
//  1. Put pins the digest (Pin, committed) before it commits the blob. A pin younger than
//     the grace period makes GC skip the blob, so an existing blob that Commit found, and
//     did not rewrite, survives until the row is written.
//  2. The transaction that inserts the row calls Hold first. Hold locks the digest's pin
//     row and checks the blob exists; GC deletes a blob only while holding that same row
//     lock, after re-checking pin and references. Either GC went first (Hold then finds
//     the blob gone and fails, and no row is written), or Hold did (GC then waits for the
//     row's transaction and sees the reference).
//
// Step 2 alone is what makes a dangling row impossible, whatever the timing; step 1 makes
// the common case succeed instead of failing in Hold.
type Pins struct {
	db *pgxpool.Pool
}

// NewPins returns the pins kept in db, which must have the vault_pins table.
func NewPins(db *pgxpool.Pool) *Pins { return &Pins{db: db} }

// pinSQL inserts or refreshes a pin; pinned_at only moves forward.
const pinSQL = `
	INSERT INTO vault_pins (digest, pinned_at) VALUES ($1, now())
	ON CONFLICT (digest) DO UPDATE SET pinned_at = greatest(vault_pins.pinned_at, excluded.pinned_at)`

// Pin records that an upload of d is under way, in its own committed transaction. It
// waits while GC is deciding about d.
func (p *Pins) Pin(ctx context.Context, d Digest) error {
	if _, err := p.db.Exec(ctx, pinSQL, d.String()); err != nil {
		return fmt.Errorf("vault: pin %s: %w", d, err)
	}
	return nil
}

// Hold makes d safe to name in a row inserted by tx: it pins d within tx, which locks the
// pin row against GC until tx ends, and then checks that b holds d. Call it in the
// inserting transaction, before the insert, after Put. If the blob is gone (GC removed it
// after a pin went stale: an upload slower than the grace period), Hold returns an error
// wrapping ErrNotFound; roll back and Put the bytes again. Transactions holding the same
// digest take turns: each waits for the one before it to end.
func (p *Pins) Hold(ctx context.Context, tx DB, b Backend, d Digest) error {
	if _, err := tx.Exec(ctx, pinSQL, d.String()); err != nil {
		return fmt.Errorf("vault: hold %s: %w", d, err)
	}
	if _, err := b.Stat(ctx, d); err != nil {
		return fmt.Errorf("vault: hold %s: %w", d, err)
	}
	return nil
}

// lockPin takes GC's lock on d's pin row, first inserting a stale placeholder row to lock
// if there is none; the placeholder vanishes with the transaction unless GC deletes it
// first. It reports whether GC must leave d alone: the pin is not older than cutoff, or
// another GC process deleted the row (and so dealt with d) while this one waited for it.
func lockPin(ctx context.Context, tx pgx.Tx, d Digest, cutoff time.Time) (keep bool, err error) {
	if _, err := tx.Exec(ctx, `
		INSERT INTO vault_pins (digest, pinned_at) VALUES ($1, '-infinity')
		ON CONFLICT (digest) DO NOTHING`, d.String()); err != nil {
		return false, err
	}
	var fresh bool
	err = tx.QueryRow(ctx, `
		SELECT pinned_at >= $2 FROM vault_pins WHERE digest = $1 FOR UPDATE`, d.String(), cutoff).Scan(&fresh)
	if errors.Is(err, pgx.ErrNoRows) {
		return true, nil
	}
	return fresh, err
}
