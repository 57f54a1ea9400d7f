package vault

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
)

// Progress is how far Scrub has got. The totals are known from the first call on.
type Progress struct {
	Objects, TotalObjects int
	Bytes, TotalBytes     int64
}

// progressEvery is how many bytes Scrub reads between progress calls within one object.
const progressEvery = 1 << 20

// ReadFailure is an object Scrub could not read to the end.
type ReadFailure struct {
	Digest Digest `json:"digest"`
	Err    string `json:"error"`
}

// ScrubReport is what Scrub found. A clean store has all three lists empty.
type ScrubReport struct {
	Objects    int           `json:"objects"` // objects hashed
	Bytes      int64         `json:"bytes"`   // bytes hashed
	Missing    []Digest      `json:"missing"` // expected, but not stored
	Corrupt    []Digest      `json:"corrupt"` // stored, but the bytes hash to something else
	Unreadable []ReadFailure `json:"unreadable"`
	// Referrers names, for a damaged object, the records that name it (materials, seal
	// uses, requests, documents, cases), when the caller looked them up.
	Referrers map[Digest][]string `json:"referrers,omitempty"`
}

// Damaged lists every missing, corrupt or unreadable object.
func (r *ScrubReport) Damaged() []Digest {
	out := append(append([]Digest{}, r.Missing...), r.Corrupt...)
	for _, f := range r.Unreadable {
		out = append(out, f.Digest)
	}
	return out
}

// ErrDamaged is wrapped by ScrubReport.Err when anything is missing, corrupt or unreadable.
var ErrDamaged = errors.New("vault: the blob store is damaged")

// Err returns nil for a clean report, and otherwise an error wrapping ErrDamaged that counts
// the damage.
func (r *ScrubReport) Err() error {
	if len(r.Missing)+len(r.Corrupt)+len(r.Unreadable) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %d missing, %d corrupt, %d unreadable", ErrDamaged, len(r.Missing), len(r.Corrupt), len(r.Unreadable))
}

// WriteText prints the report for a person: the counts, then every damaged digest.
func (r *ScrubReport) WriteText(w io.Writer) error {
	var err error
	p := func(format string, args ...any) {
		if err == nil {
			_, err = fmt.Fprintf(w, format, args...)
		}
	}
	p("objects: %d (%d bytes) hashed\n", r.Objects, r.Bytes)
	named := func(d Digest) {
		for _, ref := range r.Referrers[d] {
			p("    named by %s\n", ref)
		}
	}
	p("missing: %d\n", len(r.Missing))
	for _, d := range r.Missing {
		p("  %s\n", d)
		named(d)
	}
	p("corrupt: %d\n", len(r.Corrupt))
	for _, d := range r.Corrupt {
		p("  %s\n", d)
		named(d)
	}
	p("unreadable: %d\n", len(r.Unreadable))
	for _, f := range r.Unreadable {
		p("  %s: %s\n", f.Digest, f.Err)
		named(f.Digest)
	}
	return err
}

// Scrub re-hashes every object of b and reports those whose bytes do not match their name
// (Corrupt) or could not be read (Unreadable), and the digests yielded by expected (the
// digests the metadata tables name; nil for none) that b does not hold (Missing).
//
// progress, if not nil, is called from Scrub's goroutine as bytes are hashed. Scrub stops
// only for a failure to list b or to iterate expected, or when ctx is done.
func Scrub(ctx context.Context, b Backend, expected iter.Seq2[Digest, error], progress func(Progress)) (*ScrubReport, error) {
	if progress == nil {
		progress = func(Progress) {}
	}
	var objs []Info
	var p Progress
	for info, err := range b.List(ctx) {
		if err != nil {
			return nil, fmt.Errorf("vault: scrub: %w", err)
		}
		objs = append(objs, info)
		p.TotalBytes += info.Size
	}
	p.TotalObjects = len(objs)
	progress(p)

	rep := &ScrubReport{Missing: []Digest{}, Corrupt: []Digest{}, Unreadable: []ReadFailure{}} // [] in JSON, not null
	present := make(map[Digest]bool, len(objs))
	buf := make([]byte, 256<<10)
	for _, info := range objs {
		d := info.Digest
		present[d] = true
		n, err := scrubOne(ctx, b, d, buf, func(n int64) {
			p.Bytes += n
			progress(p)
		})
		rep.Bytes += n
		var corrupt *CorruptError
		switch {
		case err == nil:
			rep.Objects++
		case errors.As(err, &corrupt):
			rep.Objects++
			rep.Corrupt = append(rep.Corrupt, d)
		case ctx.Err() != nil:
			return rep, fmt.Errorf("vault: scrub: %w", ctx.Err())
		case errors.Is(err, ErrNotFound):
			// Deleted since it was listed (GC); whether it should exist is decided below.
			present[d] = false
		default:
			rep.Unreadable = append(rep.Unreadable, ReadFailure{Digest: d, Err: err.Error()})
		}
		// Keep the totals right when an object was shorter, longer or gone.
		p.TotalBytes += n - info.Size
		p.Objects++
		progress(p)
	}

	if expected != nil {
		reported := map[Digest]bool{}
		for d, err := range expected {
			if err != nil {
				return rep, fmt.Errorf("vault: scrub: expected digests: %w", err)
			}
			if !present[d] && !reported[d] {
				reported[d] = true
				rep.Missing = append(rep.Missing, d)
			}
		}
	}
	return rep, nil
}

// scrubOne reads object d to the end through Open's verifying reader, calling step with
// byte counts as it goes, and returns how many bytes it read.
func scrubOne(ctx context.Context, b Backend, d Digest, buf []byte, step func(int64)) (int64, error) {
	r, err := Open(ctx, b, d)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	var n, unreported int64
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		m, err := r.Read(buf)
		n += int64(m)
		unreported += int64(m)
		if unreported >= progressEvery || err != nil {
			step(unreported)
			unreported = 0
		}
		if err == io.EOF { // the verifier returns io.EOF itself, unwrapped, only for good bytes
			return n, nil
		} else if err != nil {
			return n, err
		}
	}
}

// RunScrub is `sealvault scrub`: it scrubs b, prints the report to w and returns the
// report's Err, so a damaged store makes the command exit non-zero after the report.
func RunScrub(ctx context.Context, b Backend, expected iter.Seq2[Digest, error], w io.Writer, progress func(Progress)) error {
	rep, err := Scrub(ctx, b, expected, progress)
	if err != nil {
		return err
	}
	if err := rep.WriteText(w); err != nil {
		return fmt.Errorf("vault: scrub: writing report: %w", err)
	}
	return rep.Err()
}
