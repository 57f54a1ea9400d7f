package vault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

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
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// File is one uploaded file.
type File struct {
	Name string
	Body io.Reader
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
// order) or one PDF.
type IngestRequest struct {
	Info  MaterialInfo
	Pages []File
	PDF   *File
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
	doc, err := in.prepare(ctx, req)
	if err != nil {
		return Material{}, false, err
	}
	if err := in.putAll(ctx, doc); err != nil {
		return Material{}, false, err
	}
	m, err := in.record(ctx, req, v, doc)
	if errors.Is(err, ErrNotFound) {
		// A blob vanished between Put and Hold (GC after a stale pin), or an earlier
		// assembly being reused is gone: make and store everything again, once.
		err = nil
		if doc.reused {
			err = assemble(&doc)
		}
		if err == nil {
			err = in.putAll(ctx, doc)
		}
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
	return m, err == nil, err
}

// prepared is what an upload becomes before anything is stored. When the same page files
// were assembled before, the earlier PDF and thumbnail are reused (reused set, pdf and
// thumbnail nil): identical scans make identical materials' content, one object each.
type prepared struct {
	pdf       []byte
	thumbnail []byte
	pages     []pages.Page
	pageCount int

	reused     bool
	content    Digest
	size       int64
	thumbDigst *Digest
}

func (in *Ingester) prepare(ctx context.Context, req IngestRequest) (prepared, error) {
	var doc prepared
	lim := in.Limits
	if req.PDF != nil {
		data, err := readLimited(req.PDF, lim.MaxFileBytes)
		if err != nil {
			return doc, err
		}
		if doc.pageCount, err = pages.CheckPDF(req.PDF.Name, data, lim); err != nil {
			return doc, err
		}
		doc.pdf, doc.content, doc.size = data, Sum(data), int64(len(data))
		return doc, nil
	}
	if len(req.Pages) > lim.MaxPages {
		return doc, &pages.RejectError{File: req.Pages[lim.MaxPages].Name,
			Reason:   fmt.Sprintf("a material may have at most %d pages", lim.MaxPages),
			ReasonZh: fmt.Sprintf("一份材料最多 %d 页", lim.MaxPages)}
	}
	for _, f := range req.Pages {
		p, err := pages.Inspect(f.Name, f.Body, lim)
		if err != nil {
			return doc, err
		}
		doc.pages = append(doc.pages, p)
	}
	doc.pageCount = len(doc.pages)
	if found, err := in.assembledBefore(ctx, &doc); err != nil || found {
		return doc, err
	}
	return doc, assemble(&doc)
}

// assemble makes the PDF and thumbnail of doc's pages.
func assemble(doc *prepared) error {
	var err error
	doc.reused = false
	if doc.pdf, err = pages.Assemble(doc.pages); err != nil {
		return fmt.Errorf("vault: assemble pages: %w", err)
	}
	if doc.thumbnail, err = pages.Thumbnail(doc.pages[0]); err != nil {
		return fmt.Errorf("vault: thumbnail: %w", err)
	}
	doc.content, doc.size = Sum(doc.pdf), int64(len(doc.pdf))
	t := Sum(doc.thumbnail)
	doc.thumbDigst = &t
	return nil
}

// assembledBefore looks for a material made of exactly these page files, in this order,
// and takes its PDF and thumbnail (the PDF writer stamps the time, so assembling again
// would give other bytes for the same scan).
func (in *Ingester) assembledBefore(ctx context.Context, doc *prepared) (bool, error) {
	digests := make([]string, len(doc.pages))
	for i, p := range doc.pages {
		digests[i] = Sum(p.Data).String()
	}
	var content string
	var size int64
	var thumb *string
	err := in.DB.QueryRow(ctx, `
		SELECT m.content_digest, m.content_size, m.thumbnail_digest
		FROM material_pages first JOIN materials m ON m.id = first.material_id
		WHERE first.page_no = 1 AND first.digest = $1 AND m.page_count = $2
		  AND (SELECT array_agg(digest ORDER BY page_no) FROM material_pages WHERE material_id = m.id) = $3::text[]
		LIMIT 1`, digests[0], len(digests), digests).Scan(&content, &size, &thumb)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("vault: earlier assembly: %w", err)
	}
	if doc.content, err = ParseDigest(content); err != nil {
		return false, err
	}
	doc.reused, doc.size = true, size
	if thumb != nil {
		t, err := ParseDigest(*thumb)
		if err != nil {
			return false, err
		}
		doc.thumbDigst = &t
	}
	return true, nil
}

func readLimited(f *File, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(f.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("vault: read %s: %w", f.Name, err)
	}
	if int64(len(data)) > limit {
		return nil, &pages.RejectError{File: f.Name, Reason: fmt.Sprintf("is larger than %d bytes", limit),
			ReasonZh: fmt.Sprintf("文件超过 %d 字节上限", limit)}
	}
	return data, nil
}

// putAll stores every blob of doc (blob first, row second).
func (in *Ingester) putAll(ctx context.Context, doc prepared) error {
	var blobs [][]byte
	for _, b := range [][]byte{doc.pdf, doc.thumbnail} {
		if b != nil {
			blobs = append(blobs, b)
		}
	}
	for _, p := range doc.pages {
		blobs = append(blobs, p.Data)
	}
	for _, b := range blobs {
		if _, _, err := Put(ctx, in.Blobs, bytes.NewReader(b), in.Pins); err != nil {
			return err
		}
	}
	return nil
}

// record writes the material, its pages and its audit event in one transaction, after
// holding every blob it names against GC.
func (in *Ingester) record(ctx context.Context, req IngestRequest, v validated, doc prepared) (Material, error) {
	var id uuid.UUID
	err := pgx.BeginFunc(ctx, in.DB, func(tx pgx.Tx) error {
		content := doc.content
		digests := []Digest{content}
		var thumb *string
		if doc.thumbDigst != nil {
			digests = append(digests, *doc.thumbDigst)
			s := doc.thumbDigst.String()
			thumb = &s
		}
		for _, p := range doc.pages {
			digests = append(digests, Sum(p.Data))
		}
		for _, d := range digests {
			if err := in.Pins.Hold(ctx, tx, in.Blobs, d); err != nil {
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
				INSERT INTO material_pages (material_id, page_no, digest, format, width, height, dpi, size)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
				id, i+1, Sum(p.Data).String(), p.Format, p.Width, p.Height, p.DPI, len(p.Data)); err != nil {
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
	return GetMaterial(ctx, in.DB, Viewer{All: true}, id)
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
