package vault

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"sealvault/audit"
	"sealvault/vault/pages"
)

// Ingester turns uploaded page images or a PDF into a stored material: bytes first (blob
// store, content-addressed), then the record and its audit event in one transaction.
type Ingester struct {
	DB     *pgxpool.Pool
	Blobs  Backend
	Pins   *Pins
	Keys   *HolderKeys
	Limits pages.Limits
	// WorkDir holds the worker's output while an ingest runs (the system temporary
	// directory if empty).
	WorkDir string
	// Log receives warnings (e.g. a PDF whose first page could not be rendered as a
	// thumbnail); nil discards them.
	Log *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Capturer is the authenticated user recording a material and the request it came in.
type Capturer struct {
	UserID       uuid.UUID
	DepartmentID uuid.UUID
	Roles        []string
	RequestID    string
	ClientIP     string
}

// IngestRequest is one material to record: its metadata and either page images (in page
// order) or one PDF, spooled (the caller removes the files afterwards).
type IngestRequest struct {
	Info  MaterialInfo
	Pages []*Spooled
	PDF   *Spooled
	// IdempotencyKey makes a retried request return the material the first one recorded.
	IdempotencyKey string
	By             Capturer
}

// ErrSupersede is returned when a correction names a material it cannot replace.
var ErrSupersede = errors.New("vault: cannot supersede")

// Ingest validates and stores req. It returns the material and whether this call created
// it (false: an earlier request with the same idempotency key did). Nothing is recorded
// unless everything succeeds; blobs stored before a failure are left for GC.
func (in *Ingester) Ingest(ctx context.Context, req IngestRequest) (Material, bool, error) {
	viewer := Viewer{UserID: req.By.UserID, DepartmentID: req.By.DepartmentID}
	if req.IdempotencyKey != "" {
		if m, err := in.byIdempotencyKey(ctx, viewer, req.IdempotencyKey); err == nil {
			return m, false, nil
		} else if !errors.Is(err, ErrNotFound) {
			return m, false, err
		}
	}
	now := time.Now
	if in.Now != nil {
		now = in.Now
	}
	v, bad := req.Info.check(in.Keys, now())
	if (len(req.Pages) == 0) == (req.PDF == nil) {
		if bad == nil {
			bad = &InvalidError{map[string]string{}}
		}
		bad.Fields["files"] = "upload either page images (pages) or one PDF (pdf), not both and not neither"
	}
	if bad != nil {
		return Material{}, false, bad
	}
	reqs, err := loadRequirements(ctx, in.DB, req.Info.TypeCode)
	if err != nil {
		return Material{}, false, err
	}
	doc, err := in.prepare(ctx, req, false)
	defer doc.cleanup()
	if err != nil {
		return Material{}, false, err
	}
	if err := reqs.check(req, doc); err != nil {
		return Material{}, false, err
	}
	if err := in.putAll(ctx, &doc); err != nil {
		return Material{}, false, err
	}
	m, err := in.record(ctx, req, v, doc)
	if errors.Is(err, ErrNotFound) {
		// A blob vanished between Put and Hold (GC after a stale pin), or an earlier
		// assembly being reused is gone: make and store everything again, once.
		doc.cleanup()
		if doc, err = in.prepare(ctx, req, true); err == nil {
			err = in.putAll(ctx, &doc)
		}
		defer doc.cleanup()
		if err == nil {
			m, err = in.record(ctx, req, v, doc)
		}
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "materials_captured_by_idempotency_key_key" {
		m, err = in.byIdempotencyKey(ctx, viewer, req.IdempotencyKey)
		return m, false, err
	}
	if errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "materials_supersedes_key" {
		return Material{}, false, &InvalidError{map[string]string{"supersedes": "has already been superseded by another correction"}}
	}
	return m, err == nil && !m.Existing, err
}

// prepared is what an upload becomes before anything is stored. When the same page files
// were assembled before, the earlier PDF and thumbnail are reused (reused set, no files):
// identical scans make identical materials' content, one object each.
type prepared struct {
	pages     []pages.Page // what each page image is; Data is not filled in
	pageFiles []*Spooled
	pageCount int

	contentFile string // the PDF to store, unless reused
	thumbFile   string // the thumbnail to store, if any and not reused

	reused  bool
	content Digest
	size    int64
	thumb   *Digest

	workDir string
}

func (p *prepared) cleanup() {
	if p.workDir != "" {
		os.RemoveAll(p.workDir)
		p.workDir = ""
	}
}

// prepare checks the upload in a worker process (pages.Run) and, for page images, has it
// assembled, unless the same page files were assembled before (and assemble is false).
func (in *Ingester) prepare(ctx context.Context, req IngestRequest, assemble bool) (prepared, error) {
	doc := prepared{pageFiles: req.Pages}
	lim := in.Limits
	job := pages.Job{Kind: "pages", Limits: lim}
	if req.PDF != nil {
		job.Kind = "pdf"
		job.Files = []pages.JobFile{{Name: req.PDF.Name, Path: req.PDF.Path}}
		doc.contentFile, doc.content, doc.size = req.PDF.Path, req.PDF.Digest, req.PDF.Size
	} else {
		if maxPages := lim.MaxPages; maxPages > 0 && len(req.Pages) > maxPages {
			return doc, &pages.RejectError{File: req.Pages[maxPages].Name,
				Reason:   fmt.Sprintf("a material may have at most %d pages", maxPages),
				ReasonZh: fmt.Sprintf("一份材料最多 %d 页", maxPages)}
		}
		if !assemble {
			if found, err := in.assembledBefore(ctx, &doc); err != nil || found {
				return doc, err
			}
		}
		for _, f := range req.Pages {
			job.Files = append(job.Files, pages.JobFile{Name: f.Name, Path: f.Path})
		}
	}
	var err error
	if doc.workDir, err = os.MkdirTemp(in.WorkDir, "sealvault-ingest-*"); err != nil {
		return doc, fmt.Errorf("vault: ingest: %w", err)
	}
	job.OutDir = doc.workDir
	res, err := pages.Run(ctx, job)
	if err != nil {
		return doc, err
	}
	doc.pageCount, doc.thumbFile = res.PageCount, res.Thumbnail
	if res.Warning != "" && in.Log != nil {
		in.Log.Warn("material ingest", "warning", res.Warning)
	}
	if req.PDF == nil {
		doc.pages, doc.contentFile = res.Pages, res.PDF
	}
	return doc, nil
}

// assembledBefore looks for a material made of exactly these page files, in this order,
// and takes its PDF, thumbnail and page descriptions (the PDF writer stamps the time, so
// assembling again would give other bytes for the same scan).
func (in *Ingester) assembledBefore(ctx context.Context, doc *prepared) (bool, error) {
	digests := make([]string, len(doc.pageFiles))
	for i, f := range doc.pageFiles {
		digests[i] = f.Digest.String()
	}
	var id uuid.UUID
	var content string
	var size int64
	var thumb *string
	err := in.DB.QueryRow(ctx, `
		SELECT m.id, m.content_digest, m.content_size, m.thumbnail_digest
		FROM material_pages first JOIN materials m ON m.id = first.material_id
		WHERE first.page_no = 1 AND first.digest = $1 AND m.page_count = $2
		  AND (SELECT array_agg(digest ORDER BY page_no) FROM material_pages WHERE material_id = m.id) = $3::text[]
		LIMIT 1`, digests[0], len(digests), digests).Scan(&id, &content, &size, &thumb)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("vault: earlier assembly: %w", err)
	}
	if doc.content, err = ParseDigest(content); err != nil {
		return false, err
	}
	if thumb != nil {
		t, err := ParseDigest(*thumb)
		if err != nil {
			return false, err
		}
		doc.thumb = &t
	}
	rows, err := in.DB.Query(ctx, `SELECT format, width, height, dpi, coalesce(color, '') FROM material_pages WHERE material_id = $1 ORDER BY page_no`, id)
	if err != nil {
		return false, fmt.Errorf("vault: earlier assembly: %w", err)
	}
	for i := 0; rows.Next(); i++ {
		p := pages.Page{Name: doc.pageFiles[min(i, len(doc.pageFiles)-1)].Name}
		if err := rows.Scan(&p.Format, &p.Width, &p.Height, &p.DPI, &p.Color); err != nil {
			rows.Close()
			return false, err
		}
		doc.pages = append(doc.pages, p)
	}
	if err := rows.Err(); err != nil {
		return false, fmt.Errorf("vault: earlier assembly: %w", err)
	}
	doc.reused, doc.size, doc.pageCount = true, size, len(doc.pages)
	return true, nil
}

// putAll stores every file of doc (blob first, row second), at once.
func (in *Ingester) putAll(ctx context.Context, doc *prepared) error {
	g, gctx := errgroup.WithContext(ctx)
	put := func(path string, into *Digest, size *int64) {
		g.Go(func() error {
			d, n, err := putFile(gctx, in.Blobs, path, in.Pins)
			if into != nil {
				*into = d
			}
			if size != nil {
				*size = n
			}
			return err
		})
	}
	if !doc.reused {
		var content Digest
		var size int64
		put(doc.contentFile, &content, &size)
		defer func() { doc.content, doc.size = content, size }()
		if doc.thumbFile != "" {
			doc.thumb = new(Digest)
			put(doc.thumbFile, doc.thumb, nil)
		}
	}
	for _, f := range doc.pageFiles {
		put(f.Path, nil, nil)
	}
	return g.Wait()
}

// record writes the material, its pages and its audit event in one transaction, after
// holding every blob it names against GC.
func (in *Ingester) record(ctx context.Context, req IngestRequest, v validated, doc prepared) (Material, error) {
	var id uuid.UUID
	existing := false
	err := pgx.BeginFunc(ctx, in.DB, func(tx pgx.Tx) error {
		digests := []Digest{doc.content}
		var thumb *string
		if doc.thumb != nil {
			digests = append(digests, *doc.thumb)
			s := doc.thumb.String()
			thumb = &s
		}
		for _, f := range doc.pageFiles {
			digests = append(digests, f.Digest)
		}
		// Held first, also when the material turns out to exist: an upload of pages whose
		// earlier assembly has gone from the store assembles and stores it again (the
		// ErrNotFound retry in Ingest), so the material it returns can be downloaded.
		for _, d := range digests {
			if err := in.Pins.Hold(ctx, tx, in.Blobs, d); err != nil {
				return err
			}
		}
		content := doc.content
		if req.Info.Supersedes == nil {
			// The same pages again for the same holder and type in this department: the
			// material recorded for them, not a second one that the next plan would offer
			// beside it. (A correction is a new version even of the same pages.)
			key := req.By.DepartmentID.String() + "|" + v.holder.Lookup + "|" + req.Info.TypeCode + "|" + content.String()
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, key); err != nil {
				return err
			}
			err := tx.QueryRow(ctx, `
				SELECT m.id FROM materials m
				WHERE m.department_id = $1 AND m.holder_lookup = $2 AND m.type_code = $3 AND m.content_digest = $4
					AND NOT EXISTS (SELECT 1 FROM materials n WHERE n.supersedes = m.id)
					AND NOT EXISTS (SELECT 1 FROM material_revocations r WHERE r.material_id = m.id)
				ORDER BY m.captured_at LIMIT 1`,
				req.By.DepartmentID, v.holder.Lookup, req.Info.TypeCode, content.String()).Scan(&id)
			if err == nil {
				existing = true
				return nil
			} else if !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
		}
		if req.Info.Supersedes != nil {
			if err := checkSupersede(ctx, tx, req, v); err != nil {
				return err
			}
		}
		var idem *string
		if req.IdempotencyKey != "" {
			idem = &req.IdempotencyKey
		}
		info := req.Info
		err := tx.QueryRow(ctx, `
			INSERT INTO materials (holder_kind, holder_lookup, holder_sealed, holder_masked, type_code, title,
				page_count, source, issuing_authority, issued_on, valid_until, long_term, captured_by,
				department_id, original_verified, supersedes, content_digest, content_type, content_size,
				thumbnail_digest, idempotency_key)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, nullif($9, ''), $10, $11, $12, $13, $14, $15, $16, $17,
				'application/pdf', $18, $19, $20)
			RETURNING id`,
			v.holder.Kind, v.holder.Lookup, v.holder.Sealed, v.holder.Masked, info.TypeCode, info.Title,
			doc.pageCount, info.Source, info.IssuingAuthority, dateArg(v.issuedOn), dateArg(v.validUntil),
			info.LongTerm, req.By.UserID, req.By.DepartmentID, info.OriginalVerified, info.Supersedes,
			content.String(), doc.size, thumb, idem).Scan(&id)
		if err != nil {
			return err
		}
		for i, p := range doc.pages {
			if _, err := tx.Exec(ctx, `
				INSERT INTO material_pages (material_id, page_no, digest, format, width, height, dpi, size, color)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, nullif($9, ''))`,
				id, i+1, doc.pageFiles[i].Digest.String(), p.Format, p.Width, p.Height, p.DPI, doc.pageFiles[i].Size, p.Color); err != nil {
				return err
			}
		}
		details := map[string]any{"type_code": info.TypeCode, "pages": doc.pageCount, "source": info.Source,
			"holder_kind": v.holder.Kind, "original_verified": info.OriginalVerified}
		if info.Supersedes != nil {
			details["supersedes"] = info.Supersedes.String()
		}
		return audit.Append(ctx, tx, audit.Event{
			Time:      time.Now(),
			Actor:     audit.Actor{UserID: req.By.UserID.String(), DepartmentID: req.By.DepartmentID.String(), Roles: req.By.Roles},
			Action:    "material.create",
			Subjects:  map[string]string{audit.SubjectMaterial: id.String(), audit.SubjectObject: content.String()},
			Details:   details,
			RequestID: req.By.RequestID,
			ClientIP:  req.By.ClientIP,
		})
	})
	if err != nil {
		return Material{}, err
	}
	m, err := GetMaterial(ctx, in.DB, Viewer{All: true}, id)
	m.Existing = existing
	return m, err
}

func dateArg(d *Date) any {
	if d == nil {
		return nil
	}
	return d.Time
}

// checkSupersede allows a correction only of an active material of the same department,
// holder and type.
func checkSupersede(ctx context.Context, tx pgx.Tx, req IngestRequest, v validated) error {
	old, err := GetMaterial(ctx, tx, Viewer{UserID: req.By.UserID, DepartmentID: req.By.DepartmentID}, *req.Info.Supersedes)
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrNotVisible) {
		return &InvalidError{map[string]string{"supersedes": "no such material in your department"}}
	} else if err != nil {
		return err
	}
	switch {
	case old.Status != StatusActive:
		return &InvalidError{map[string]string{"supersedes": "is " + old.Status + "; only an active material can be corrected"}}
	case old.holderLookup != v.holder.Lookup || old.HolderKind != v.holder.Kind:
		return &InvalidError{map[string]string{"supersedes": "belongs to another holder"}}
	case old.TypeCode != req.Info.TypeCode:
		return &InvalidError{map[string]string{"supersedes": "is of another material type"}}
	}
	return nil
}

func (in *Ingester) byIdempotencyKey(ctx context.Context, viewer Viewer, key string) (Material, error) {
	var id uuid.UUID
	err := in.DB.QueryRow(ctx, `SELECT id FROM materials WHERE captured_by = $1 AND idempotency_key = $2`, viewer.UserID, key).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return Material{}, ErrNotFound
	} else if err != nil {
		return Material{}, fmt.Errorf("vault: idempotency key: %w", err)
	}
	return GetMaterial(ctx, in.DB, Viewer{All: true}, id)
}
