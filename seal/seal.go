// Package seal is the seal registry and the seal-use regime: seals and their keys and
// certificates, authorization letters, seal-use requests and approvals, and the application
// of a seal to a PDF, which signs it, stores it in the vault and records the use in the
// register and on the audit trail in one transaction.
//
// Every rule of the regime is checked where the use is recorded (Apply), again, inside the
// transaction, whatever was checked when the request was made or approved. A refusal is a
// *Refusal naming the rule and the objects; every refusal is an audit event
// ("seal.apply.denied"), so auditors see attempts, not only uses.
package seal

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"sealvault/internal/actor"
	"sealvault/internal/identity"
	"sealvault/seal/ca"
	"sealvault/seal/keys"
	"sealvault/seal/sealimage"
	"sealvault/seal/tsa"
	"sealvault/vault"
)

// Seal types.
const (
	TypeOfficial = "official"  // 公章
	TypeBusiness = "business"  // 业务专用章
	TypeContract = "contract"  // 合同专用章
	TypeFinance  = "finance"   // 财务专用章
	TypeLegalRep = "legal_rep" // 法定代表人名章
)

// Seal statuses: pending (备案) → active (启用) ⇄ suspended (停用/挂失) → revoked (注销).
const (
	StatusPending   = "pending"
	StatusActive    = "active"
	StatusSuspended = "suspended"
	StatusRevoked   = "revoked"
)

var typeNames = map[string]string{TypeOfficial: "公章", TypeBusiness: "业务专用章", TypeContract: "合同专用章",
	TypeFinance: "财务专用章", TypeLegalRep: "法定代表人名章"}

var statusNames = map[string]string{StatusPending: "已备案未启用", StatusActive: "启用", StatusSuspended: "停用",
	StatusRevoked: "已注销"}

// Service is the seal registry and regime over one database, blob store, key custody and CA.
type Service struct {
	DB      *pgxpool.Pool
	Blobs   vault.Backend
	Pins    *vault.Pins
	Custody keys.Custody
	CA      *ca.CA
	// Maker is the seal maker (the SM2 root) that signs each seal's GB/T 38540 seal data;
	// nil makes and checks none (tests of other concerns).
	Maker *ca.Maker
	// TSA is the service's timestamping authority (RFC 3161), answering other systems at
	// POST /api/v1/tsa; nil: none.
	TSA *tsa.TSA
	// Cases is the case regime that tells whether a case may be sealed; nil refuses every
	// request.
	Cases Cases
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// FontPath is the CJK font seal images are drawn with (empty: sealimage.DefaultFont),
	// opened on first use.
	FontPath string
	// SignerTTL is how long a seal's unwrapped key is kept for further applications of the
	// seal; 0 unwraps it for every application. A status change of the seal drops it.
	SignerTTL time.Duration
	// PublicURL is the public base address of the scan-to-verify page (--public-url), which
	// the QR code on every stamp names (empty: DefaultPublicURL).
	PublicURL string
	// WorkDir is where a document being sealed that is too large to read into memory is
	// copied from the vault (empty: the system temporary directory).
	WorkDir string
	// DefaultKeyAlgorithm is the key algorithm of a seal filed without one (empty:
	// ecdsa-p256; cmd/sealvault's --seal-algorithm defaults to sm2).
	DefaultKeyAlgorithm string

	fontOnce sync.Once
	fontVal  *sealimage.Font
	fontErr  error

	stamps     sync.Map // image digest → *pades.Stamp
	sealImages sync.Map // image digest → image.Image, decoded
	stampBases sync.Map // image digest, code size, side → *stampBase
	signers    signerCache
	crl        crlCache
	sm2CRL     crlCache
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Actor is the authenticated person acting, and the request it came in.
type Actor = actor.Actor

// Errors.
var (
	// ErrNotFound: no such object, or not one the actor may see.
	ErrNotFound = errors.New("seal: not found")
	// ErrForbidden: the actor's roles or department do not allow this (outside the regime's
	// rules, which are Refusals).
	ErrForbidden = errors.New("seal: forbidden")
)

// InvalidError lists the invalid fields of a request and why each is invalid.
type InvalidError = vault.InvalidError

// Refusal is a rule of the seal-use regime refusing an action; its details name the rule and
// the objects, in English and Chinese.
type Refusal struct {
	Rule     string // stable: "seal-not-active", "outside-authorization", "self-approval", …
	Detail   string
	DetailZh string
	subjects map[string]string
}

func (r *Refusal) Error() string { return "seal: refused (" + r.Rule + "): " + r.Detail }

func refuse(rule, en, zh string) *Refusal { return &Refusal{Rule: rule, Detail: en, DetailZh: zh} }

// ConflictError is an action that the object's state does not allow (e.g. activating a
// revoked seal).
type ConflictError struct{ Detail, DetailZh string }

func (e *ConflictError) Error() string { return "seal: conflict: " + e.Detail }

// sealRef, authRef, requestRef and useRef are how objects are named to people.
func sealRef(no int64) string    { return fmt.Sprintf("S-%d", no) }
func authRef(no int64) string    { return fmt.Sprintf("A-%d", no) }
func requestRef(no int64) string { return fmt.Sprintf("R-%d", no) }
func useRef(no int64) string     { return fmt.Sprintf("U-%d", no) }

// date is a calendar date, "2006-01-02", in the service's time zone (China Standard Time).
var cst = time.FixedZone("CST", 8*3600)

// parseTerm reads a from–until pair of dates, noting what is wrong in bad.
func parseTerm(from, until string, bad map[string]string) (time.Time, time.Time) {
	f, ok1 := parseDate(from)
	u, ok2 := parseDate(until)
	switch {
	case !ok1:
		bad["valid_from"] = "must be a date, YYYY-MM-DD"
	case !ok2:
		bad["valid_until"] = "must be a date, YYYY-MM-DD"
	case u.Before(f):
		bad["valid_until"] = "must not be before valid_from"
	}
	return f, u
}

func parseDate(s string) (time.Time, bool) {
	t, err := time.ParseInLocation(time.DateOnly, strings.TrimSpace(s), cst)
	return t, err == nil
}

func today(now time.Time) time.Time {
	y, m, d := now.In(cst).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, cst)
}

func fmtDate(t time.Time) string { return t.In(cst).Format(time.DateOnly) }

// isUnique reports a unique-constraint violation of the named constraint.
func isUnique(err error, constraint string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505" && (constraint == "" || pgErr.ConstraintName == constraint)
}

// inSubtree reports whether department d is root or below it.
func inSubtree(ctx context.Context, db vault.Querier, root, d uuid.UUID) (bool, error) {
	var ok bool
	err := db.QueryRow(ctx, `
		WITH RECURSIVE up(id, parent_id) AS (
			SELECT id, parent_id FROM departments WHERE id = $2
			UNION ALL SELECT p.id, p.parent_id FROM departments p JOIN up ON p.id = up.parent_id)
		SELECT EXISTS (SELECT 1 FROM up WHERE id = $1)`, root, d).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("seal: department tree: %w", err)
	}
	return ok, nil
}

// manages reports whether the actor may administer seals and letters of department d: an
// admin anywhere, a seal_admin in d or above it.
func (s *Service) manages(ctx context.Context, db vault.Querier, a Actor, d uuid.UUID) error {
	if a.User.HasRole(identity.RoleAdmin) {
		return nil
	}
	if !a.User.HasRole(identity.RoleSealAdmin) {
		return ErrForbidden
	}
	ok, err := inSubtree(ctx, db, a.User.DepartmentID, d)
	if err != nil {
		return err
	}
	if !ok {
		return ErrForbidden
	}
	return nil
}

// withTx runs fn in a transaction.
func (s *Service) withTx(ctx context.Context, fn func(pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, s.DB, fn)
}
