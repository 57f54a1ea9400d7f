package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"sealvault/internal/identity"
)

const (
	ctxRequestID = "sealvault.request_id"
	ctxUser      = "sealvault.user"
	ctxServer    = "sealvault.server"
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
	// objectErrors counts reads of stored objects that were missing or corrupt: lost data.
	objectErrors *prometheus.CounterVec
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
		objectErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sealvault_stored_object_errors_total",
			Help: "Reads of stored objects a record names that found the object missing or corrupt (lost data), by kind.",
		}, []string{"kind"}),
	}
	m.objectErrors.WithLabelValues("missing")
	m.objectErrors.WithLabelValues("corrupt")
	reg.MustRegister(m.requests, m.latency, m.objectErrors)
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
			if u.TokenRevoked(claims.IssuedAt) {
				return problem(probUnauth, "登录已失效（密码已修改、账号曾停用或已被管理员强制下线），请重新登录",
					"This token was revoked (the password was changed, the account disabled or logged out everywhere); log in again")
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

// refuseBadText refuses, in one place for every route, text that PostgreSQL cannot store and
// no user means: a NUL character or bytes that are not UTF-8, in a path parameter, a query
// parameter, a header that is stored (Idempotency-Key) or any string of a JSON body, keys
// included. The answer names every such field (path.id, query.actor, case_ref,
// placement.note). Multipart metadata parts are checked the same way where they are read
// (decodeMetadata); streamed files are the page checks' business.
func refuseBadText(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		bad := map[string]string{}
		for i, name := range c.ParamNames() {
			if i < len(c.ParamValues()) {
				v := c.ParamValues()[i]
				if u, err := url.PathUnescape(v); err == nil {
					v = u
				}
				checkText("path."+name, v, bad)
			}
		}
		for k, vs := range c.QueryParams() {
			if textReason(k) != "" {
				bad["query"] = "has a parameter name with a NUL character or bytes that are not UTF-8"
				continue
			}
			for _, v := range vs {
				checkText("query."+k, v, bad)
			}
		}
		for _, h := range storedHeaders {
			checkText(h, c.Request().Header.Get(h), bad)
		}
		req := c.Request()
		if req.Body != nil && req.Body != http.NoBody && jsonBody(req.Header.Get(echo.HeaderContentType)) {
			body, err := io.ReadAll(req.Body)
			if err != nil {
				return tooLargeOr(err, echo.ErrStatusRequestEntityTooLarge)
			}
			req.Body = io.NopCloser(bytes.NewReader(body))
			jsonTextProblems(body, "", bad)
		}
		if len(bad) > 0 {
			return invalidFields(bad)
		}
		return next(c)
	}
}

// storedHeaders are the request headers whose values reach the database.
var storedHeaders = []string{"Idempotency-Key"}

func jsonBody(contentType string) bool {
	mt, _, _ := strings.Cut(contentType, ";")
	mt = strings.ToLower(strings.TrimSpace(mt))
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

// textReason says what is wrong with s as text, or "".
func textReason(s string) string {
	switch {
	case strings.IndexByte(s, 0) >= 0:
		return "must not contain NUL characters"
	case !utf8.ValidString(s):
		return "must be UTF-8 text"
	}
	return ""
}

func checkText(field, s string, bad map[string]string) {
	if r := textReason(s); r != "" {
		bad[field] = r
	}
}

// jsonTextProblems adds to bad every string of the JSON document doc, value or key, that
// holds a NUL character (written \u0000) or bytes that are not UTF-8, which encoding/json
// would otherwise silently replace. Fields are named by their path under root ("" for a
// request body, whose fields are named as the validator names them, or "metadata"); a bad
// key is reported on the object that holds it. A document that is not JSON is left to the
// validator and the decoder, which say so.
func jsonTextProblems(doc []byte, root string, bad map[string]string) {
	type frame struct {
		object    bool
		key       string
		index     int
		expectKey bool
	}
	var stack []*frame
	// name is the field the innermost of frames is at.
	name := func(frames []*frame) string {
		var parts []string
		if root != "" {
			parts = append(parts, root)
		}
		for _, f := range frames {
			if f.object {
				parts = append(parts, f.key)
			} else {
				parts = append(parts, strconv.Itoa(f.index))
			}
		}
		if len(parts) == 0 {
			return "body"
		}
		return strings.Join(parts, ".")
	}
	// valueDone moves the innermost container on after one of its values.
	valueDone := func() {
		if len(stack) == 0 {
			return
		}
		if f := stack[len(stack)-1]; f.object {
			f.expectKey = true
		} else {
			f.index++
		}
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	var prev int64
	for {
		tok, err := dec.Token()
		if err != nil {
			return
		}
		off := dec.InputOffset()
		raw := doc[prev:off] // the token as sent, with the separators before it
		prev = off
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{', '[':
				stack = append(stack, &frame{object: t == '{', expectKey: t == '{'})
			case '}', ']':
				stack = stack[:len(stack)-1]
				valueDone()
			}
		case string:
			reason := textReason(t)
			if reason == "" && !utf8.Valid(raw) {
				reason = "must be UTF-8 text"
			}
			if top != nil && top.object && top.expectKey {
				top.key, top.expectKey = t, false
				if reason != "" {
					bad[name(stack[:len(stack)-1])] = "has a field name with a NUL character or bytes that are not UTF-8"
					top.key = "?"
				}
				continue
			}
			if reason != "" {
				bad[name(stack)] = reason
			}
			valueDone()
		default:
			valueDone()
		}
	}
}

// decodeMetadata decodes a multipart "metadata" part (JSON, at most 64 KiB) into v, with the
// body's text rules: a NUL character or non-UTF-8 bytes in any of its strings is refused,
// naming the field (metadata.title).
func decodeMetadata(part io.Reader, v any) error {
	data, err := io.ReadAll(io.LimitReader(part, 64<<10))
	if err != nil {
		return tooLargeOr(err, problem(probMalformed, "上传内容不完整或格式错误", "The upload is incomplete or malformed"))
	}
	bad := map[string]string{}
	jsonTextProblems(data, "metadata", bad)
	if len(bad) > 0 {
		return invalidFields(bad)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return &apiError{kind: probMalformed, detailZh: "metadata 不是预期的 JSON 对象：" + jsonReason(err),
			detailEn: "metadata is not the expected JSON object: " + jsonReason(err), cause: err}
	}
	return nil
}

// errDBDeadline is the cause of a database call's context when the request's database
// deadline has passed.
var errDBDeadline = errors.New("api: the request's database deadline has passed")

type ctxKey int

const (
	budgetKey ctxKey = iota
	dbOpKey
)

// dbBudget is how long a request may still wait for the database. Only time inside
// database calls counts, so a long upload, a page check or signing does not use it up.
type dbBudget struct {
	mu       sync.Mutex
	left     time.Duration
	exceeded bool // a call ran out of it
}

func (b *dbBudget) remaining() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.left
}

func (b *dbBudget) spend(d time.Duration, exceeded bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.left -= d
	b.exceeded = b.exceeded || exceeded
}

// dbDeadlineExceeded reports whether a database call of the request ran out of its deadline.
func dbDeadlineExceeded(ctx context.Context) bool {
	b, _ := ctx.Value(budgetKey).(*dbBudget)
	if b == nil {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.exceeded
}

// withDBDeadline gives each request of a route d of database time: every database call
// the request makes (acquiring a connection, each statement, reading its rows, commit)
// gets a context that ends when the request's calls together have taken d. The pool must be
// built with DBDeadlines as its tracer, which applies it; New checks that.
func withDBDeadline(d time.Duration) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			c.SetRequest(req.WithContext(context.WithValue(req.Context(), budgetKey, &dbBudget{left: d})))
			return next(c)
		}
	}
}

// DBDeadlines is the pgx tracer (pgx.ConnConfig.Tracer of the API's pool) that holds every
// database call made for an API request to the request's database deadline. Calls
// without a request (migrations, the audit integrator, tools) are left alone.
type DBDeadlines struct{}

var (
	_ pgx.QueryTracer       = DBDeadlines{}
	_ pgx.BatchTracer       = DBDeadlines{}
	_ pgx.CopyFromTracer    = DBDeadlines{}
	_ pgxpool.AcquireTracer = DBDeadlines{}
)

// dbOp is one database call under a deadline.
type dbOp struct {
	budget *dbBudget
	ctx    context.Context
	cancel context.CancelFunc
	start  time.Time
}

func (DBDeadlines) start(ctx context.Context) context.Context {
	b, _ := ctx.Value(budgetKey).(*dbBudget)
	if b == nil {
		return ctx
	}
	octx, cancel := context.WithTimeoutCause(ctx, b.remaining(), errDBDeadline)
	op := &dbOp{budget: b, ctx: octx, cancel: cancel, start: time.Now()}
	return context.WithValue(octx, dbOpKey, op)
}

func (DBDeadlines) end(ctx context.Context) {
	op, _ := ctx.Value(dbOpKey).(*dbOp)
	if op == nil {
		return
	}
	exceeded := context.Cause(op.ctx) == errDBDeadline
	op.cancel()
	op.budget.spend(time.Since(op.start), exceeded)
}

// TraceQueryStart implements pgx.QueryTracer.
func (t DBDeadlines) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return t.start(ctx)
}

// TraceQueryEnd implements pgx.QueryTracer.
func (t DBDeadlines) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryEndData) {
	t.end(ctx)
}

// TraceBatchStart implements pgx.BatchTracer.
func (t DBDeadlines) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return t.start(ctx)
}

// TraceBatchQuery implements pgx.BatchTracer.
func (DBDeadlines) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}

// TraceBatchEnd implements pgx.BatchTracer.
func (t DBDeadlines) TraceBatchEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchEndData) {
	t.end(ctx)
}

// TraceCopyFromStart implements pgx.CopyFromTracer.
func (t DBDeadlines) TraceCopyFromStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceCopyFromStartData) context.Context {
	return t.start(ctx)
}

// TraceCopyFromEnd implements pgx.CopyFromTracer.
func (t DBDeadlines) TraceCopyFromEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TraceCopyFromEndData) {
	t.end(ctx)
}

// TraceAcquireStart implements pgxpool.AcquireTracer: waiting for a connection, or opening
// one, counts too.
func (t DBDeadlines) TraceAcquireStart(ctx context.Context, _ *pgxpool.Pool, _ pgxpool.TraceAcquireStartData) context.Context {
	return t.start(ctx)
}

// TraceAcquireEnd implements pgxpool.AcquireTracer.
func (t DBDeadlines) TraceAcquireEnd(ctx context.Context, _ *pgxpool.Pool, _ pgxpool.TraceAcquireEndData) {
	t.end(ctx)
}
