package web

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

const (
	sessionCookie = "sv_session"
	// preCookie carries the CSRF token of the login form, before there is a session
	// (double submit: the form's field must equal the cookie).
	preCookie = "sv_login"
)

var errNoSession = errors.New("no session")

// session is a signed-in workbench session.
type session struct {
	hash   []byte
	UserID uuid.UUID
	CSRF   string
}

func hashSecret(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// loadSession finds the request's session: its secret known, not idle longer than the idle
// timeout, created after the user's tokens were last revoked (password change, disabling,
// log-out everywhere), the account enabled. It touches last_seen_at.
func (h *Handler) loadSession(ctx context.Context, r *http.Request) (*session, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" || len(c.Value) > 100 {
		return nil, errNoSession
	}
	s := &session{hash: hashSecret(c.Value)}
	err = h.deps.DB.QueryRow(ctx, `
		UPDATE web_sessions s SET last_seen_at = now()
		FROM users u
		WHERE s.secret_hash = $1 AND u.id = s.user_id AND NOT u.disabled
			AND s.last_seen_at > now() - make_interval(secs => $2)
			AND (u.tokens_valid_after IS NULL OR s.created_at >= u.tokens_valid_after)
		RETURNING s.user_id, s.csrf`, s.hash, h.deps.IdleTimeout.Seconds()).Scan(&s.UserID, &s.CSRF)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errNoSession
	} else if err != nil {
		return nil, fmt.Errorf("web: load session: %w", err)
	}
	return s, nil
}

// startSession records a new session for user and sets its cookie.
func (h *Handler) startSession(ctx context.Context, w http.ResponseWriter, r *http.Request, user uuid.UUID) error {
	secret := randomToken(32)
	// Sessions idle past twice the timeout are of no use to anyone: removed as others start.
	if _, err := h.deps.DB.Exec(ctx, `DELETE FROM web_sessions WHERE last_seen_at < now() - make_interval(secs => $1)`,
		2*h.deps.IdleTimeout.Seconds()); err != nil {
		return fmt.Errorf("web: prune sessions: %w", err)
	}
	if _, err := h.deps.DB.Exec(ctx, `INSERT INTO web_sessions (secret_hash, user_id, csrf) VALUES ($1, $2, $3)`,
		hashSecret(secret), user, randomToken(24)); err != nil {
		return fmt.Errorf("web: start session: %w", err)
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: secret, Path: "/", HttpOnly: true,
		Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	return nil
}

func (h *Handler) endSession(ctx context.Context, s *session) {
	if s == nil {
		return
	}
	if _, err := h.deps.DB.Exec(ctx, `DELETE FROM web_sessions WHERE secret_hash = $1`, s.hash); err != nil {
		h.deps.Log.Warn("web: end session", "err", err)
	}
}

func clearSessionCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
}

// checkCSRF compares the form's csrf field (or the X-CSRF-Token header of a script's
// request) with the session's token.
func (s *session) checkCSRF(r *http.Request) bool {
	got := r.Header.Get("X-CSRF-Token")
	if got == "" {
		got = formValue(r, "csrf")
	}
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.CSRF)) == 1
}

// loginCSRF returns the login form's token, setting its cookie when there is none.
func loginCSRF(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(preCookie); err == nil && len(c.Value) >= 16 && len(c.Value) <= 100 {
		return c.Value
	}
	v := randomToken(24)
	http.SetCookie(w, &http.Cookie{Name: preCookie, Value: v, Path: "/login", HttpOnly: true,
		Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode, MaxAge: int((12 * time.Hour).Seconds())})
	return v
}

func checkLoginCSRF(r *http.Request) bool {
	c, err := r.Cookie(preCookie)
	got := formValue(r, "csrf")
	return err == nil && got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(c.Value)) == 1
}

// formValue reads a urlencoded or multipart form field (the first 32 MiB of a multipart body
// held in memory, the rest spooled by net/http).
func formValue(r *http.Request, name string) string {
	if r.Form == nil {
		if ct := r.Header.Get("Content-Type"); len(ct) >= 19 && ct[:19] == "multipart/form-data" {
			_ = r.ParseMultipartForm(32 << 20)
		} else {
			_ = r.ParseForm()
		}
	}
	return r.FormValue(name)
}
