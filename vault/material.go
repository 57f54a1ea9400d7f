package vault

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Material sources.
const (
	SourceScan     = "scan"      // scanned from a paper original at the window
	SourceUpload   = "upload"    // an electronic file the applicant brought
	SourceELicence = "e-licence" // an electronic licence (电子证照) from its issuer
)

// Material statuses; derived, never stored (records are never edited).
const (
	StatusActive     = "active"
	StatusSuperseded = "superseded"
	StatusRevoked    = "revoked"
)

// Material is one document in the electronic materials library (电子材料库). The holder's
// number is never in it in clear: HolderMasked is for display, the rest stays in the
// database.
type Material struct {
	ID uuid.UUID `json:"id"`
	// Existing: the upload was of pages already recorded for the same holder and type in
	// this department, and this is that material; nothing new was recorded.
	Existing         bool       `json:"existing,omitempty"`
	HolderKind       HolderKind `json:"holder_kind"`
	HolderMasked     string     `json:"holder_masked"`
	TypeCode         string     `json:"type_code"`
	Title            string     `json:"title"`
	PageCount        int        `json:"page_count"`
	Source           string     `json:"source"`
	IssuingAuthority string     `json:"issuing_authority,omitempty"`
	IssuedOn         *Date      `json:"issued_on"`
	ValidUntil       *Date      `json:"valid_until"`
	LongTerm         bool       `json:"long_term"`
	CapturedBy       uuid.UUID  `json:"captured_by"`
	CapturedAt       time.Time  `json:"captured_at"`
	DepartmentID     uuid.UUID  `json:"department_id"`
	OriginalVerified bool       `json:"original_verified"`
	Status           string     `json:"status"`
	Supersedes       *uuid.UUID `json:"supersedes"`
	SupersededBy     *uuid.UUID `json:"superseded_by"`
	Content          Digest     `json:"content_digest"`
	ContentType      string     `json:"content_type"`
	ContentSize      int64      `json:"content_size"`
	Thumbnail        *Digest    `json:"thumbnail_digest"`
	Pages            []PageRef  `json:"pages,omitempty"`

	holderSealed []byte
	holderLookup string
}

// PageRef is one original page file of a scanned material.
type PageRef struct {
	No     int     `json:"no"`
	Digest Digest  `json:"digest"`
	Format string  `json:"format"`
	Width  int     `json:"width"`
	Height int     `json:"height"`
	DPI    float64 `json:"dpi"`
	Size   int64   `json:"size"`
}

// Date is a calendar date (YYYY-MM-DD), as on a certificate.
type Date struct{ time.Time }

// ParseDate reads YYYY-MM-DD.
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	return Date{t}, err
}

// MarshalText writes YYYY-MM-DD.
func (d Date) MarshalText() ([]byte, error) { return []byte(d.Format(time.DateOnly)), nil }

// InvalidError lists every invalid field of a request, keyed by field name.
type InvalidError struct{ Fields map[string]string }

func (e *InvalidError) Error() string {
	keys := make([]string, 0, len(e.Fields))
	for k := range e.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return "invalid fields: " + strings.Join(keys, ", ")
}

// FieldErrors returns the invalid fields and why each is invalid.
func (e *InvalidError) FieldErrors() map[string]string { return e.Fields }

// ErrNotVisible is returned for a material the caller's department may not see; callers
// answer as for a missing one, so its existence is not disclosed.
var ErrNotVisible = errors.New("vault: material not visible to this department")

var typeCodeRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// MaterialInfo is the metadata of a material being recorded.
type MaterialInfo struct {
	HolderKind       HolderKind
	HolderNumber     string // in clear only in memory, never stored or logged
	TypeCode         string
	Title            string
	Source           string
	IssuingAuthority string
	IssuedOn         string // YYYY-MM-DD or empty
	ValidUntil       string // YYYY-MM-DD or empty
	LongTerm         bool
	OriginalVerified bool
	Supersedes       *uuid.UUID
	// Holder, when set, is the holder already looked up and sealed (a case's applicant, kept
	// as materials keep it): HolderKind and HolderNumber are then not used, and the number
	// never exists in clear.
	Holder *Holder
}

// validated is MaterialInfo after checks.
type validated struct {
	holder     Holder
	issuedOn   *Date
	validUntil *Date
}

// check validates info and returns every problem at once.
func (info *MaterialInfo) check(keys *HolderKeys, now time.Time) (validated, *InvalidError) {
	bad := map[string]string{}
	var v validated
	if info.Holder != nil {
		v.holder = *info.Holder
		info.HolderKind = info.Holder.Kind
	} else {
		h, err := keys.NewHolder(info.HolderKind, info.HolderNumber)
		var he *HolderError
		switch {
		case errors.As(err, &he):
			bad["holder_number"] = he.Reason
		case err != nil:
			bad["holder_number"] = "cannot be recorded"
		}
		v.holder = h
	}
	if !typeCodeRE.MatchString(info.TypeCode) {
		bad["type_code"] = "must be a catalog code: letters, digits, '.', '_' or '-'"
	}
	if n := utf8.RuneCountInString(strings.TrimSpace(info.Title)); n == 0 || n > 200 {
		bad["title"] = "must be 1–200 characters"
	}
	switch info.Source {
	case SourceScan, SourceUpload, SourceELicence:
	default:
		bad["source"] = "must be scan, upload or e-licence"
	}
	if utf8.RuneCountInString(info.IssuingAuthority) > 200 {
		bad["issuing_authority"] = "must be at most 200 characters"
	}
	date := func(field, s string) *Date {
		if s == "" {
			return nil
		}
		d, err := ParseDate(s)
		if err != nil {
			bad[field] = "must be a date YYYY-MM-DD"
			return nil
		}
		return &d
	}
	v.issuedOn, v.validUntil = date("issued_on", info.IssuedOn), date("valid_until", info.ValidUntil)
	if v.issuedOn != nil && v.issuedOn.After(now) {
		bad["issued_on"] = "is in the future"
	}
	if info.LongTerm && v.validUntil != nil {
		bad["valid_until"] = "must be empty for a long-term (长期有效) material"
	}
	if v.issuedOn != nil && v.validUntil != nil && v.validUntil.Before(v.issuedOn.Time) {
		bad["valid_until"] = "is before issued_on"
	}
	if len(bad) > 0 {
		return v, &InvalidError{bad}
	}
	return v, nil
}

// statusSQL derives a material's status in materialSelect.
const statusSQL = `CASE WHEN r.material_id IS NOT NULL THEN 'revoked' WHEN s.id IS NOT NULL THEN 'superseded' ELSE 'active' END`

const materialSelect = `
	SELECT m.id, m.holder_kind, m.holder_masked, m.type_code, m.title, m.page_count, m.source,
		coalesce(m.issuing_authority, ''), m.issued_on, m.valid_until, m.long_term, m.captured_by,
		m.captured_at, m.department_id, m.original_verified, m.supersedes, m.content_digest,
		m.content_type, m.content_size, m.thumbnail_digest, m.holder_sealed, m.holder_lookup,
		s.id, ` + statusSQL + `
	FROM materials m
	LEFT JOIN materials s ON s.supersedes = m.id
	LEFT JOIN material_revocations r ON r.material_id = m.id`

func scanMaterial(row pgx.Row) (Material, error) {
	var m Material
	var issued, until *time.Time
	var content string
	var thumb *string
	err := row.Scan(&m.ID, &m.HolderKind, &m.HolderMasked, &m.TypeCode, &m.Title, &m.PageCount, &m.Source,
		&m.IssuingAuthority, &issued, &until, &m.LongTerm, &m.CapturedBy, &m.CapturedAt, &m.DepartmentID,
		&m.OriginalVerified, &m.Supersedes, &content, &m.ContentType, &m.ContentSize, &thumb,
		&m.holderSealed, &m.holderLookup, &m.SupersededBy, &m.Status)
	if errors.Is(err, pgx.ErrNoRows) {
		return m, ErrNotFound
	} else if err != nil {
		return m, err
	}
	if issued != nil {
		m.IssuedOn = &Date{*issued}
	}
	if until != nil {
		m.ValidUntil = &Date{*until}
	}
	if m.Content, err = ParseDigest(content); err != nil {
		return m, err
	}
	if thumb != nil {
		d, err := ParseDigest(*thumb)
		if err != nil {
			return m, err
		}
		m.Thumbnail = &d
	}
	return m, nil
}

// Viewer is who reads materials: a user of a department; All is for roles that see every
// department's materials (administrators).
type Viewer struct {
	UserID       uuid.UUID
	DepartmentID uuid.UUID
	All          bool
}

func (v Viewer) sees(m Material) bool { return v.All || m.DepartmentID == v.DepartmentID }

// GetMaterial returns the material with id with its pages, if viewer may see it;
// otherwise ErrNotFound (or ErrNotVisible, which callers report as not found).
func GetMaterial(ctx context.Context, db Querier, viewer Viewer, id uuid.UUID) (Material, error) {
	m, err := scanMaterial(db.QueryRow(ctx, materialSelect+` WHERE m.id = $1`, id))
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return m, err
		}
		return m, fmt.Errorf("vault: get material: %w", err)
	}
	if !viewer.sees(m) {
		return Material{}, ErrNotVisible
	}
	rows, err := db.Query(ctx, `SELECT page_no, digest, format, width, height, dpi, size FROM material_pages WHERE material_id = $1 ORDER BY page_no`, id)
	if err != nil {
		return m, fmt.Errorf("vault: material pages: %w", err)
	}
	m.Pages, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (PageRef, error) {
		var p PageRef
		var d string
		if err := r.Scan(&p.No, &d, &p.Format, &p.Width, &p.Height, &p.DPI, &p.Size); err != nil {
			return p, err
		}
		p.Digest, err = ParseDigest(d)
		return p, err
	})
	if err != nil {
		return m, fmt.Errorf("vault: material pages: %w", err)
	}
	return m, nil
}

// Querier is what reads need; *pgxpool.Pool and pgx.Tx satisfy it.
type Querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// MaterialFilter selects materials; empty fields do not filter.
type MaterialFilter struct {
	HolderKind   HolderKind
	HolderNumber string // looked up by its keyed hash
	TypeCode     string
	Status       string
	DepartmentID *uuid.UUID
	// Before is a cursor: materials captured before this one (newest first).
	Before *uuid.UUID
	Limit  int
}

// ListMaterials returns materials matching f that viewer may see, newest first.
func ListMaterials(ctx context.Context, db Querier, keys *HolderKeys, viewer Viewer, f MaterialFilter) ([]Material, error) {
	var lookup *string
	if f.HolderNumber != "" {
		n, err := NormalizeHolder(f.HolderKind, f.HolderNumber)
		if err != nil {
			var he *HolderError
			if errors.As(err, &he) {
				return nil, &InvalidError{map[string]string{"holder_number": he.Reason}}
			}
			return nil, err
		}
		l := keys.Lookup(f.HolderKind, n)
		lookup = &l
	}
	dept := f.DepartmentID
	if !viewer.All {
		if dept != nil && *dept != viewer.DepartmentID {
			return []Material{}, nil
		}
		dept = &viewer.DepartmentID
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	var typeCode, status *string
	if f.TypeCode != "" {
		typeCode = &f.TypeCode
	}
	if f.Status != "" {
		status = &f.Status
	}
	rows, err := db.Query(ctx, materialSelect+`
		WHERE ($1::text IS NULL OR m.holder_lookup = $1)
		  AND ($2::text IS NULL OR m.type_code = $2)
		  AND ($3::uuid IS NULL OR m.department_id = $3)
		  AND ($4::uuid IS NULL OR (m.captured_at, m.id) < (SELECT captured_at, id FROM materials WHERE id = $4))
		  AND ($5::text IS NULL OR `+statusSQL+` = $5)
		ORDER BY m.captured_at DESC, m.id DESC LIMIT $6`, lookup, typeCode, dept, f.Before, status, min(limit, 200))
	if err != nil {
		return nil, fmt.Errorf("vault: list materials: %w", err)
	}
	ms, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Material, error) { return scanMaterial(r) })
	if err != nil {
		return nil, fmt.Errorf("vault: list materials: %w", err)
	}
	return ms, nil
}

// The view vault_references (migrations) lists every object digest any row names:
// materials, their pages and thumbnails, seal images, documents to seal, seal uses. A table
// that names objects joins the view in its migration.
const referencedDigestsSQL = `SELECT DISTINCT digest FROM vault_references`

// ReferencedDigests yields every object digest named by a row, for scrub to report objects
// that are missing from the blob store.
func ReferencedDigests(ctx context.Context, db Querier) iter.Seq2[Digest, error] {
	return func(yield func(Digest, error) bool) {
		rows, err := db.Query(ctx, referencedDigestsSQL)
		if err != nil {
			yield(Digest{}, fmt.Errorf("vault: referenced digests: %w", err))
			return
		}
		defer rows.Close()
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				yield(Digest{}, fmt.Errorf("vault: referenced digests: %w", err))
				return
			}
			d, err := ParseDigest(s)
			if !yield(d, err) {
				return
			}
		}
		if err := rows.Err(); err != nil {
			yield(Digest{}, fmt.Errorf("vault: referenced digests: %w", err))
		}
	}
}

// References is the Referencer GC consults: a digest is referenced while any row names it.
func References(db Querier) Referencer {
	return ReferencerFunc(func(ctx context.Context, d Digest) (bool, error) {
		var ok bool
		err := db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM vault_references WHERE digest = $1)`, d.String()).Scan(&ok)
		if err != nil {
			return false, fmt.Errorf("vault: references of %s: %w", d, err)
		}
		return ok, nil
	})
}
