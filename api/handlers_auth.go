package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"sealvault/audit"
	"sealvault/internal/identity"
)

// bind decodes the JSON body into v, refusing unknown fields and trailing data. The OpenAPI
// validation has already run; this is the second line of defence.
func bind(c echo.Context, v any) error {
	dec := json.NewDecoder(c.Request().Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return echo.ErrStatusRequestEntityTooLarge
		}
		return &apiError{kind: probMalformed, detailZh: "请求体无法解析为预期的 JSON 对象",
			detailEn: "The request body is not the expected JSON object", cause: err}
	}
	if dec.More() {
		return problem(probMalformed, "请求体只能包含一个 JSON 对象", "The request body must hold exactly one JSON object")
	}
	return nil
}

type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

type tokenResponse struct {
	AccessToken string    `json:"access_token"`
	TokenType   string    `json:"token_type"`
	ExpiresAt   time.Time `json:"expires_at"`
	ExpiresIn   int       `json:"expires_in"`
}

// dummyHash is checked when the username is unknown, so a failed login takes as long
// whether or not the account exists.
const dummyHash = "$argon2id$v=19$m=65536,t=3,p=2$c2VhbHZhdWx0LWR1bW15$2d3XjKMA5p3N0LgYr2y6m9W4kd0vX0oYH3Wwz7l1b1s"

func (s *Server) login(c echo.Context) error {
	var req loginRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	ctx := c.Request().Context()
	u, err := identity.UserByUsername(ctx, s.deps.DB, req.Username)
	if err != nil && !errors.Is(err, identity.ErrNotFound) {
		return err
	}
	key := loginKey(req.Username)
	if wait, err := s.loginWait(ctx, key); err != nil {
		return err
	} else if wait > 0 {
		// The password is not even checked: a throttled guess learns nothing.
		ev := s.event(c, "auth.login.throttled", nil, nil)
		if u.ID != uuid.Nil {
			ev.Subjects = map[string]string{audit.SubjectUser: u.ID.String()}
		}
		if aerr := audit.Append(ctx, s.deps.DB, ev); aerr != nil {
			return aerr
		}
		secs := int(wait.Round(time.Second).Seconds()) + 1
		c.Response().Header().Set("Retry-After", strconv.Itoa(secs))
		return problem(probTooMany, fmt.Sprintf("该账号登录失败次数过多，请 %d 秒后再试", secs),
			fmt.Sprintf("Too many failed logins for this account; try again in %d seconds", secs))
	}
	hash := u.PasswordHash
	if err != nil {
		hash = dummyHash
	}
	ok, herr := identity.CheckPassword(hash, req.Password)
	if err != nil || herr != nil || !ok || u.Disabled {
		s.deps.Log.Info("login failed", "request_id", requestID(c), "remote_ip", c.RealIP())
		// What was typed as a username is not recorded unless it names an account: it could
		// be anything, personal data included.
		ev := s.event(c, "auth.login.failed", nil, map[string]string{"reason": "unknown account"})
		if err == nil {
			ev.Subjects = map[string]string{audit.SubjectUser: u.ID.String()}
			ev.Details = map[string]string{"reason": map[bool]string{true: "account disabled", false: "wrong password"}[u.Disabled]}
		}
		if aerr := audit.Append(ctx, s.deps.DB, ev); aerr != nil {
			return aerr
		}
		if _, ferr := s.deps.DB.Exec(ctx, `INSERT INTO login_failures (username_hash) VALUES ($1)`, key); ferr != nil {
			return ferr
		}
		return problem(probLogin, "用户名或密码错误，或账号已停用", "Wrong username or password, or the account is disabled")
	}
	tok, exp, err := s.deps.Tokens.Issue(u.ID)
	if err != nil {
		return err
	}
	if _, err := s.deps.DB.Exec(ctx, `DELETE FROM login_failures WHERE username_hash = $1`, key); err != nil {
		return err
	}
	c.Set(ctxUser, u)
	if err := audit.Append(ctx, s.deps.DB, s.event(c, "auth.login", nil, nil)); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, tokenResponse{
		AccessToken: tok, TokenType: "Bearer", ExpiresAt: exp,
		ExpiresIn: int(time.Until(exp).Round(time.Second).Seconds()),
	})
}

// loginKey is how failed logins are counted: by the SHA-256 of the username as typed,
// trimmed and lower-cased (usernames are stored lower-case), never the name itself.
func loginKey(username string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(username))))
	return hex.EncodeToString(sum[:])
}

// loginWait is how long logins for key must wait: 0 unless the window holds the maximum of
// failures, then until the oldest of them leaves it. Failures older than the window are
// pruned on the way.
func (s *Server) loginWait(ctx context.Context, key string) (time.Duration, error) {
	limit, window := s.deps.LoginMaxFailures, s.deps.LoginWindow
	if limit <= 0 {
		limit = 10
	}
	if window <= 0 {
		window = 15 * time.Minute
	}
	if _, err := s.deps.DB.Exec(ctx, `DELETE FROM login_failures WHERE username_hash = $1 AND at < now() - $2::interval`,
		key, window.String()); err != nil {
		return 0, err
	}
	var n int
	var oldest *time.Time
	if err := s.deps.DB.QueryRow(ctx, `SELECT count(*), min(at) FROM (SELECT at FROM login_failures WHERE username_hash = $1
		ORDER BY at DESC LIMIT $2) recent`, key, limit).Scan(&n, &oldest); err != nil {
		return 0, err
	}
	if n < limit || oldest == nil {
		return 0, nil
	}
	return max(time.Until(oldest.Add(window)), time.Second), nil
}

type meResponse struct {
	identity.User
	Department identity.Department `json:"department"`
}

func (s *Server) me(c echo.Context) error {
	u := currentUser(c)
	d, err := identity.GetDepartment(c.Request().Context(), s.deps.DB, u.DepartmentID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, meResponse{User: u, Department: d})
}

type passwordRequest struct {
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
}

func (s *Server) changePassword(c echo.Context) error {
	var req passwordRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	u := currentUser(c)
	ok, err := identity.CheckPassword(u.PasswordHash, req.CurrentPassword)
	if err != nil {
		return err
	}
	if !ok {
		return invalidFields(map[string]string{"current_password": "is not your current password"})
	}
	err = s.inTx(c, func(ctx context.Context, tx pgx.Tx) error {
		if _, err := identity.UpdateUser(ctx, tx, u.ID, identity.UserPatch{Password: &req.NewPassword}); err != nil {
			return err
		}
		return audit.Append(ctx, tx, s.event(c, "user.password.change", map[string]string{audit.SubjectUser: u.ID.String()}, nil))
	})
	var ie *identity.InvalidError
	if errors.As(err, &ie) && ie.Fields["password"] != "" {
		return invalidFields(map[string]string{"new_password": ie.Fields["password"]})
	} else if err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
