package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"sealvault/internal/identity"
)

const (
	ctxRequestID = "sealvault.request_id"
	ctxUser      = "sealvault.user"
)

func requestID(c echo.Context) string {
	id, _ := c.Get(ctxRequestID).(string)
	return id
}

// withRequestID gives every request a server-generated id; a client-sent X-Request-ID is
// ignored so that ids in logs and audit records are always the server's.
func withRequestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		var b [12]byte
		_, _ = rand.Read(b[:])
		id := hex.EncodeToString(b[:])
		c.Set(ctxRequestID, id)
		c.Response().Header().Set(echo.HeaderXRequestID, id)
		return next(c)
	}
}

// secureHeaders sets the response headers a browser needs to treat API responses and the
// future web UI safely.
func secureHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cache-Control", "no-store")
		return next(c)
	}
}

// metrics is the HTTP instrumentation registered with the server's registry.
type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sealvault_http_requests_total",
			Help: "HTTP requests by route template, method and status code.",
		}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sealvault_http_request_duration_seconds",
			Help:    "HTTP request latency by route template and method.",
			Buckets: []float64{.002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route", "method"}),
	}
	reg.MustRegister(m.requests, m.latency)
	return m
}

// observe logs each request as one JSON line and counts it. It sits outside the error
// handler call so the status it records is the one the client got.
// known holds the registered route templates; anything else is counted as "unmatched" so
// scanners cannot blow up the label set.
func observe(log *slog.Logger, m *metrics, known map[string]bool) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			err := next(c)
			if err != nil {
				c.Error(err)
			}
			route := c.Path()
			if !known[c.Request().Method+" "+route] {
				route = "unmatched"
			}
			status := c.Response().Status
			elapsed := time.Since(start)
			m.requests.WithLabelValues(route, c.Request().Method, strconv.Itoa(status)).Inc()
			m.latency.WithLabelValues(route, c.Request().Method).Observe(elapsed.Seconds())
			attrs := []any{
				"request_id", requestID(c),
				"method", c.Request().Method,
				"route", route,
				"status", status,
				"duration_ms", float64(elapsed.Microseconds()) / 1000,
				"bytes_out", c.Response().Size,
				"remote_ip", c.RealIP(),
			}
			if u, ok := c.Get(ctxUser).(identity.User); ok {
				attrs = append(attrs, "user_id", u.ID.String())
			}
			log.Log(c.Request().Context(), levelFor(status), "http request", attrs...)
			return nil
		}
	}
}

func levelFor(status int) slog.Level {
	if status >= 500 {
		return slog.LevelError
	}
	return slog.LevelInfo
}

// userLoader loads the account a verified token names.
type userLoader interface {
	user(ctx context.Context, claims identity.Claims) (identity.User, error)
}

// authenticate verifies the bearer token, loads its user fresh from the database (so a
// disabled account or a changed role takes effect on the next request), and checks the
// route's roles.
func authenticate(tokens *identity.Tokens, users userLoader, roles []identity.Role) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			h := c.Request().Header.Get(echo.HeaderAuthorization)
			scheme, token, ok := strings.Cut(h, " ")
			if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
				return problem(probUnauth, "请求缺少访问令牌（Authorization: Bearer …）", "The request has no bearer token (Authorization: Bearer …)")
			}
			claims, err := tokens.Verify(strings.TrimSpace(token))
			if err != nil {
				return &apiError{kind: probUnauth, detailZh: "访问令牌无效或已过期，请重新登录",
					detailEn: "The access token is invalid or expired; log in again", cause: err}
			}
			u, err := users.user(c.Request().Context(), claims)
			if errors.Is(err, identity.ErrNotFound) || err == nil && u.Disabled {
				return problem(probUnauth, "账号不存在或已停用", "The account does not exist or is disabled")
			} else if err != nil {
				return err
			}
			c.Set(ctxUser, u)
			if roles != nil && !u.HasRole(roles...) {
				names := make([]string, len(roles))
				for i, r := range roles {
					names[i] = string(r)
				}
				slices.Sort(names)
				list := strings.Join(names, ", ")
				return problem(probForbidden, "此操作需要以下角色之一："+list, "This action needs one of these roles: "+list)
			}
			return next(c)
		}
	}
}

// currentUser is the authenticated user of the request; only routes behind authenticate
// call it.
func currentUser(c echo.Context) identity.User {
	u, _ := c.Get(ctxUser).(identity.User)
	return u
}
