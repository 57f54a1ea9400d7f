package vault

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// DefaultGrace is the grace period GC uses when given none: an unreferenced blob, or a pin,
// is left alone for this long after it was made.
const DefaultGrace = 24 * time.Hour

// Referencer answers whether any metadata row names d. The consumer that owns the tables
// naming blobs implements it; each call must see every row committed before the call (a
// plain query on a pool does).
type Referencer interface {
	Referenced(ctx context.Context, d Digest) (bool, error)
}

// ReferencerFunc adapts a function to Referencer.
type ReferencerFunc func(ctx context.Context, d Digest) (bool, error)

// Referenced calls f.
func (f ReferencerFunc) Referenced(ctx context.Context, d Digest) (bool, error) { return f(ctx, d) }

// GCReport is what one GC run did.
type GCReport struct {
	Objects    int      `json:"objects"`    // objects listed
	Young      int      `json:"young"`      // kept: stored less than the grace period ago
	Referenced int      `json:"referenced"` // kept: a row names them
	Pinned     int      `json:"pinned"`     // kept: an upload pinned them less than the grace period ago
	Deleted    []Digest `json:"deleted"`    // removed (with DryRun: would be removed)
	Freed      int64    `json:"freed"`      // bytes removed (would be)
	StalePins  int64    `json:"stale_pins"` // pins older than the grace period, dropped (would be)
	// DryRun: nothing was deleted; Deleted, Freed and StalePins say what a real run would
	// remove now.
	DryRun bool `json:"dry_run"`
}

// GC deletes every object of b that no row references, that was stored more than grace
// before now, and that no upload pinned within grace before now; grace <= 0 means
// DefaultGrace. Stale pins are dropped at the end.
//
// GC never deletes a blob a row names or is about to name, even while uploads run (see
// Pins); several GC processes may run at once. An upload must reach Pins.Hold within the
// grace period of Put, or Hold fails and it must Put again. Pins are timed by the
// database's clock and objects by the backend's, against now: keep the clocks within a
// small fraction of grace.
//
// For each candidate GC holds a transaction of pins' pool while it calls refs; if refs
// queries the same pool, the pool needs room for both.
func GC(ctx context.Context, b Backend, pins *Pins, refs Referencer, grace time.Duration, now time.Time) (GCReport, error) {
	return gc(ctx, b, pins, refs, grace, now, false)
}

// GCDryRun decides as GC does, under the same locks, and reports what GC would delete,
// deleting nothing.
func GCDryRun(ctx context.Context, b Backend, pins *Pins, refs Referencer, grace time.Duration, now time.Time) (GCReport, error) {
	return gc(ctx, b, pins, refs, grace, now, true)
}

func gc(ctx context.Context, b Backend, pins *Pins, refs Referencer, grace time.Duration, now time.Time, dryRun bool) (GCReport, error) {
	rep := GCReport{Deleted: []Digest{}, DryRun: dryRun} // [] in JSON, not null
	if grace <= 0 {
		grace = DefaultGrace
	}
	cutoff := now.Add(-grace)
	for info, err := range b.List(ctx) {
		if err != nil {
			return rep, fmt.Errorf("vault: gc: %w", err)
		}
		rep.Objects++
		if !info.ModTime.Before(cutoff) {
			rep.Young++
			continue
		}
		// A cheap first look without the lock; only the check under it decides.
		if ref, err := refs.Referenced(ctx, info.Digest); err != nil {
			return rep, fmt.Errorf("vault: gc %s: references: %w", info.Digest, err)
		} else if ref {
			rep.Referenced++
			continue
		}
		if err := pins.collect(ctx, b, refs, info.Digest, cutoff, &rep, dryRun); err != nil {
			return rep, fmt.Errorf("vault: gc %s: %w", info.Digest, err)
		}
	}
	if dryRun {
		if err := pins.db.QueryRow(ctx, `SELECT count(*) FROM vault_pins WHERE pinned_at < $1`, cutoff).Scan(&rep.StalePins); err != nil {
			return rep, fmt.Errorf("vault: gc: counting stale pins: %w", err)
		}
		return rep, nil
	}
	tag, err := pins.db.Exec(ctx, `DELETE FROM vault_pins WHERE pinned_at < $1`, cutoff)
	if err != nil {
		return rep, fmt.Errorf("vault: gc: dropping stale pins: %w", err)
	}
	rep.StalePins = tag.RowsAffected()
	return rep, nil
}

// collect deletes d if, under the lock on its pin row, it is still unpinned, unreferenced
// and old, and counts what it decided in rep.
func (p *Pins) collect(ctx context.Context, b Backend, refs Referencer, d Digest, cutoff time.Time, rep *GCReport, dryRun bool) error {
	tx, err := p.db.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))

	if keep, err := lockPin(ctx, tx, d, cutoff); err != nil {
		return fmt.Errorf("locking pin: %w", err)
	} else if keep {
		rep.Pinned++
		return nil
	}
	// Any transaction that held d (Pins.Hold) has ended by now, so this sees its row.
	if ref, err := refs.Referenced(ctx, d); err != nil {
		return fmt.Errorf("references: %w", err)
	} else if ref {
		rep.Referenced++
		return nil
	}
	// Another GC may have deleted it, and an upload stored it again, since it was listed.
	info, err := b.Stat(ctx, d)
	if errors.Is(err, ErrNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	if !info.ModTime.Before(cutoff) {
		rep.Young++
		return nil
	}
	if dryRun {
		rep.Deleted = append(rep.Deleted, d)
		rep.Freed += info.Size
		return nil // the rollback releases the pin row's lock
	}
	if err := b.Delete(ctx, d); err != nil {
		return err
	}
	// The blob is gone even if what follows fails; an upload waiting on the lock then finds
	// it missing in Hold.
	rep.Deleted = append(rep.Deleted, d)
	rep.Freed += info.Size
	if _, err := tx.Exec(ctx, `DELETE FROM vault_pins WHERE digest = $1`, d.String()); err != nil {
		return fmt.Errorf("dropping pin: %w", err)
	}
	return tx.Commit(ctx)
}
