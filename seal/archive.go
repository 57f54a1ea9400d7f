package seal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"sealvault/audit"
	"sealvault/seal/pades"
	"sealvault/vault"
)

// UseArchive is the newest archive version of a use's sealed document (PAdES B-LTA): the
// stored object downloads serve, its document timestamp, and when that timestamp's TSA
// certificate expires, before which it must be renewed.
type UseArchive struct {
	Version     int       `json:"version"`
	Digest      string    `json:"digest"`
	Size        int64     `json:"size"`
	TimestampAt time.Time `json:"timestamp_at"`
	TSA         string    `json:"tsa"`
	TSANotAfter time.Time `json:"tsa_not_after"`
}

// archiveColumns read a use's newest archive version, after useColumns.
const archiveColumns = `, a.version, a.digest, a.size, a.timestamp_at, a.tsa_name, a.tsa_not_after`

// archiveJoin joins each use u to its newest archive version a (none for uses from before).
const archiveJoin = ` LEFT JOIN LATERAL (SELECT version, digest, size, timestamp_at, tsa_name, tsa_not_after
	FROM seal_use_archives WHERE use_id = u.id ORDER BY version DESC LIMIT 1) a ON true`

// archiveStamp is what an archive version records of its document timestamp.
type archiveStamp struct {
	Time     time.Time
	Serial   string
	TSA      string
	NotAfter time.Time // of the TSA's certificate
}

// recordArchive records on tx archive version version of use id: the stored object d of
// size bytes, ending with the document timestamp st.
func recordArchive(ctx context.Context, tx pgx.Tx, id uuid.UUID, version int, d vault.Digest, size int64, st archiveStamp, by *uuid.UUID, now time.Time) (UseArchive, error) {
	a := UseArchive{Version: version, Digest: d.String(), Size: size, TimestampAt: st.Time, TSA: st.TSA, TSANotAfter: st.NotAfter}
	_, err := tx.Exec(ctx, archiveInsert, archiveArgs(id, a, st, by, now)...)
	return a, err
}

// queueArchive is recordArchive queued on batch b, which the caller sends on its transaction.
func queueArchive(b *pgx.Batch, id uuid.UUID, version int, d vault.Digest, size int64, st archiveStamp, by *uuid.UUID, now time.Time) {
	a := UseArchive{Version: version, Digest: d.String(), Size: size, TimestampAt: st.Time, TSA: st.TSA, TSANotAfter: st.NotAfter}
	b.Queue(archiveInsert, archiveArgs(id, a, st, by, now)...)
}

const archiveInsert = `INSERT INTO seal_use_archives (use_id, version, digest, size, timestamp_at, tsa_name, tsa_serial, tsa_not_after, created_at, created_by)
	VALUES ($1, $2, $3, $4, $5, $6, $7::numeric, $8, $9, $10)`

func archiveArgs(id uuid.UUID, a UseArchive, st archiveStamp, by *uuid.UUID, now time.Time) []any {
	return []any{id, a.Version, a.Digest, a.Size, a.TimestampAt, a.TSA, st.Serial, a.TSANotAfter, now, by}
}

// RenewalResult is what RenewArchives did to one use.
type RenewalResult struct {
	Use     string     `json:"use"`
	From    int        `json:"from_version"`
	Archive UseArchive `json:"archive"`
}

// RenewArchives renews the archive timestamp of every use whose newest archive version's
// TSA certificate expires before now+within, oldest expiry first, at most limit of them
// (0: no limit), acting as a: for each, the newest version is read from the vault, the
// validation data of its timestamps (the TSA's certificate and chain and the CA's current
// CRL) and a new document timestamp are appended (pades.Archive), and the result is stored
// as a new object and recorded as the next version, with an audit event, in one
// transaction. Uses sealed before archive timestamps (no version yet) are renewed from
// their output. A use that fails stops the run with its error; those before it stay
// renewed. progress, when set, is called after each use.
func (s *Service) RenewArchives(ctx context.Context, a Actor, within time.Duration, limit int, progress func(RenewalResult)) ([]RenewalResult, error) {
	if s.TSA == nil {
		return nil, errNoTSA
	}
	now := s.now()
	if !s.TSA.Cert.NotAfter.After(now.Add(within)) {
		return nil, fmt.Errorf("seal: the timestamping authority's certificate expires on %s, within the renewal window itself: renewing with it would not help",
			s.TSA.Cert.NotAfter.Format(time.DateOnly))
	}
	if limit <= 0 {
		limit = 1 << 30
	}
	rows, err := s.DB.Query(ctx, `SELECT u.id FROM seal_uses u`+archiveJoin+`
		WHERE a.version IS NULL OR a.tsa_not_after < $1
		ORDER BY a.tsa_not_after NULLS FIRST, u.no LIMIT $2`, now.Add(within), limit)
	if err != nil {
		return nil, fmt.Errorf("seal: renewals: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return nil, fmt.Errorf("seal: renewals: %w", err)
	}
	var out []RenewalResult
	for _, id := range ids {
		r, err := s.renewArchive(ctx, a, id)
		if err != nil {
			return out, err
		}
		out = append(out, r)
		if progress != nil {
			progress(r)
		}
	}
	return out, nil
}

// renewArchive renews use id's archive timestamp once.
func (s *Service) renewArchive(ctx context.Context, a Actor, id uuid.UUID) (RenewalResult, error) {
	u, err := s.GetUse(ctx, id)
	if err != nil {
		return RenewalResult{}, err
	}
	from, src := 0, u.OutputDigest
	if u.Archive != nil {
		from, src = u.Archive.Version, u.Archive.Digest
	}
	digest, err := vault.ParseDigest(src)
	if err != nil {
		return RenewalResult{}, err
	}
	in, err := vault.SpoolObject(ctx, s.Blobs, digest, s.WorkDir)
	if err != nil {
		return RenewalResult{}, fmt.Errorf("seal: renew %s: %w", u.Ref, err)
	}
	defer in.Remove()
	f, err := os.Open(in.Path)
	if err != nil {
		return RenewalResult{}, err
	}
	defer f.Close()
	vd, err := s.archiveValidationData(ctx, u)
	if err != nil {
		return RenewalResult{}, err
	}
	now := s.now()
	ts := &recordingTSA{ts: s.TSA}
	d, n, err := s.storeArchive(ctx, f, in.Size, vd, ts, now)
	if err != nil {
		return RenewalResult{}, fmt.Errorf("seal: renew %s: %w", u.Ref, err)
	}
	st, err := ts.archived(0)
	if err != nil {
		return RenewalResult{}, err
	}
	var arch UseArchive
	err = s.withTx(ctx, func(tx pgx.Tx) error {
		if err := s.Pins.Hold(ctx, tx, s.Blobs, d); err != nil {
			return err
		}
		var err error
		if arch, err = recordArchive(ctx, tx, id, from+1, d, n, st, &a.User.ID, now); err != nil {
			return err
		}
		return audit.Append(ctx, tx, a.Event(now, "seal.archive.renew", map[string]string{audit.SubjectSeal: u.SealID.String(),
			audit.SubjectObject: d.String()}, map[string]any{"use": u.Ref, "version": arch.Version, "from": src,
			"timestamp_at": arch.TimestampAt, "tsa": arch.TSA, "tsa_not_after": arch.TSANotAfter}))
	})
	if isUnique(err, "seal_use_archives_pkey") {
		return RenewalResult{}, &ConflictError{Detail: fmt.Sprintf("the archive of %s was renewed at the same time; run again", u.Ref),
			DetailZh: fmt.Sprintf("%s 的存档时间戳同时被另一进程更新，请重新运行", u.Ref)}
	}
	if err != nil {
		return RenewalResult{}, err
	}
	return RenewalResult{Use: u.Ref, From: from, Archive: arch}, nil
}

// archiveValidationData is what a renewal embeds: the TSA's certificate and chain, the
// CA's current CRL, and for a use from before validation data was embedded, the seal's
// chain too.
func (s *Service) archiveValidationData(ctx context.Context, u Use) (*pades.ValidationData, error) {
	sl, err := getSeal(ctx, s.DB, u.SealID, "")
	if err != nil {
		return nil, err
	}
	chain, err := sl.chain(s.CA.Cert)
	if err != nil {
		return nil, err
	}
	return s.validationData(ctx, sl, chain)
}

// storeArchive appends vd and a document timestamp of ts to the document f holds and
// stores the result, returning its digest and size.
func (s *Service) storeArchive(ctx context.Context, f *os.File, size int64, vd *pades.ValidationData, ts pades.Timestamper, now time.Time) (vault.Digest, int64, error) {
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		_, err := pades.Archive(ctx, pw, f, size, pades.ArchiveRequest{Timestamp: ts, DSS: vd, Time: now})
		pw.CloseWithError(err)
		done <- err
	}()
	d, n, err := vault.Put(ctx, s.Blobs, pr, s.Pins)
	pr.CloseWithError(err)
	if aerr := <-done; aerr != nil && (err == nil || errors.Is(err, aerr)) {
		return vault.Digest{}, 0, aerr
	}
	return d, n, err
}
