// Package audit is sealvault's tamper-evident trail of every seal use and every access to
// personal data. Events are appended inside the acting transaction, so an event commits if
// and only if its action commits. An integrator gives committed events gapless sequence
// numbers under a lock and grows an RFC 6962 Merkle tree over their exact bytes
// (golang.org/x/mod/sumdb/tlog); signed checkpoints of the tree are kept in PostgreSQL and
// outside it, and a verifier that needs no database checks an export against them.
package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// DB is what appending needs; both *pgxpool.Pool and pgx.Tx satisfy it.
type DB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Actor is who did something: the authenticated user, their department and roles at the
// time. A zero Actor is the system itself (or an unauthenticated caller).
type Actor struct {
	UserID       string   `json:"user_id,omitempty"`
	DepartmentID string   `json:"department_id,omitempty"`
	Roles        []string `json:"roles,omitempty"`
}

// Subject keys name what an event is about; the ones with an index can be searched.
const (
	SubjectSeal       = "seal"       // indexed
	SubjectCase       = "case"       // indexed
	SubjectMaterial   = "material"   // indexed
	SubjectObject     = "object"     // a vault object digest
	SubjectUser       = "user"       // a user acted upon
	SubjectDepartment = "department" // a department acted upon
)

// Event is one audited act.
type Event struct {
	Time   time.Time
	Actor  Actor
	Action string // stable dotted name: "seal.apply", "seal.apply.denied", "material.download"
	// Subjects maps subject keys (SubjectSeal, …) to ids.
	Subjects map[string]string
	// Details is any JSON-marshalable value. It must never hold a personal identifier in
	// clear (Append refuses ID-card numbers and credit codes).
	Details   any
	RequestID string
	ClientIP  string
}

// body is the canonical JSON form of an event; field order is fixed by this struct and map
// keys are sorted by encoding/json, so one event has one byte form.
type body struct {
	V         int               `json:"v"`
	Time      string            `json:"time"`
	Action    string            `json:"action"`
	Actor     Actor             `json:"actor"`
	Subjects  map[string]string `json:"subjects"`
	Details   json.RawMessage   `json:"details"`
	RequestID string            `json:"request_id,omitempty"`
	ClientIP  string            `json:"client_ip,omitempty"`
}

// TimeFormat is the fixed-width UTC form of event times; in this form text order is time
// order, which the time-range queries rely on.
const TimeFormat = "2006-01-02T15:04:05.000000Z"

var (
	actionRE = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$`)
	// Resident ID-card numbers (GB 11643) and unified social credit codes (GB 32100).
	personalRE = regexp.MustCompile(`(^|[^0-9A-Za-z])(\d{17}[\dXx]|[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10})($|[^0-9A-Za-z])`)
)

// ErrPersonalData is returned when an event would record a personal identifier in clear.
var ErrPersonalData = errors.New("audit: event details hold what looks like an ID-card number or credit code")

// Canonical returns the bytes the tree commits to for e.
func Canonical(e Event) ([]byte, error) {
	if !actionRE.MatchString(e.Action) {
		return nil, fmt.Errorf("audit: action %q is not a dotted lower-case name", e.Action)
	}
	if e.Time.IsZero() {
		return nil, errors.New("audit: event has no time")
	}
	details := []byte("{}")
	if e.Details != nil {
		var err error
		if details, err = json.Marshal(e.Details); err != nil {
			return nil, fmt.Errorf("audit: details: %w", err)
		}
	}
	subjects := e.Subjects
	if subjects == nil {
		subjects = map[string]string{}
	}
	b, err := json.Marshal(body{V: 1, Time: e.Time.UTC().Format(TimeFormat), Action: e.Action, Actor: e.Actor,
		Subjects: subjects, Details: details, RequestID: e.RequestID, ClientIP: e.ClientIP})
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	if holdsPersonal(details) {
		return nil, ErrPersonalData
	}
	return b, nil
}

// holdsPersonal reports whether a string or number in the JSON text b, keys included, looks
// like a personal identifier. It looks at the decoded text: in the JSON form an escape
// before an identifier ("\n", "\u003c") would hide it.
// Personal reports whether s looks like it holds a personal identifier (an ID-card number or
// a credit code), which no event detail may carry: free text meant for an event is refused
// with it before the action is attempted.
func Personal(s string) bool { return personalRE.MatchString(s) }

func holdsPersonal(b []byte) bool {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return false
		} else if err != nil {
			return personalRE.Match(b)
		}
		switch v := tok.(type) {
		case string:
			if personalRE.MatchString(v) {
				return true
			}
		case json.Number:
			if personalRE.MatchString(v.String()) {
				return true
			}
		}
	}
}

// Append records e in db, which should be the transaction of the action e describes. The
// event gets its sequence number when the integrator next runs (within a second in a
// running server), and only if the transaction commits.
func Append(ctx context.Context, db DB, e Event) error {
	b, err := Canonical(e)
	if err != nil {
		return err
	}
	sub := func(k string) *string {
		if v, ok := e.Subjects[k]; ok && v != "" {
			return &v
		}
		return nil
	}
	if _, err := db.Exec(ctx, `
		WITH e AS (
			INSERT INTO audit_events (body, at, action, actor_id, department_id, seal_id, case_id, material_id)
			VALUES ($1, $2, $3, nullif($4, ''), nullif($5, ''), $6, $7, $8) RETURNING id)
		INSERT INTO audit_pending (event_id) SELECT id FROM e`,
		string(b), e.Time.UTC().Format(TimeFormat), e.Action, e.Actor.UserID, e.Actor.DepartmentID,
		sub(SubjectSeal), sub(SubjectCase), sub(SubjectMaterial)); err != nil {
		return fmt.Errorf("audit: append %s: %w", e.Action, err)
	}
	return nil
}
