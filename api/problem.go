package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/labstack/echo/v4"

	"sealvault/casework"
	"sealvault/internal/identity"
	"sealvault/reuse"
	"sealvault/seal"
	"sealvault/seal/pades"
	"sealvault/vault"
	"sealvault/vault/pages"
)

// ProblemBase prefixes every problem type; the rest of the URI is a stable slug.
const ProblemBase = "urn:sealvault:problem:"

// Problem is an RFC 9457 problem details body.
type Problem struct {
	Type      string       `json:"type"`
	Title     string       `json:"title"`
	Status    int          `json:"status"`
	Detail    string       `json:"detail"`
	RequestID string       `json:"request_id,omitempty"`
	Errors    []FieldError `json:"errors,omitempty"`
	// Rule names the seal-use rule that refused the action (seal-use-refused only).
	Rule string `json:"rule,omitempty"`
}

// FieldError names one invalid part of a request and why it is invalid.
type FieldError struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

// problemKind is one stable problem type with its status and titles.
type problemKind struct {
	slug    string
	status  int
	titleZh string
	titleEn string
}

// The problem types the API returns. A slug is never renamed once released.
var (
	probMalformed = problemKind{"malformed-request", 400, "请求格式错误", "Malformed request"}
	probInvalid   = problemKind{"invalid-fields", 400, "请求内容有误", "Invalid fields"}
	probUnauth    = problemKind{"unauthenticated", 401, "未登录或登录已失效", "Not authenticated"}
	probLogin     = problemKind{"login-failed", 401, "登录失败", "Login failed"}
	probForbidden = problemKind{"forbidden", 403, "无权执行此操作", "Forbidden"}
	probNotFound  = problemKind{"not-found", 404, "对象不存在", "Not found"}
	probMethod    = problemKind{"method-not-allowed", 405, "不支持的请求方法", "Method not allowed"}
	probConflict  = problemKind{"conflict", 409, "与现有数据冲突", "Conflict"}
	probTooLarge  = problemKind{"payload-too-large", 413, "请求内容过大", "Payload too large"}
	probMediaType = problemKind{"unsupported-media-type", 415, "不支持的内容类型", "Unsupported media type"}
	probTooMany   = problemKind{"too-many-attempts", 429, "尝试次数过多", "Too many attempts"}
	probRejected  = problemKind{"file-rejected", 422, "上传的文件不符合要求", "File rejected"}
	probRefused   = problemKind{"seal-use-refused", 403, "用印制度不允许此操作", "Refused by the seal-use regime"}
	// A case action the case regime does not allow (powers, materials, one-time notice);
	// case-state-conflict when only the case's state stands in the way.
	probCaseRefused = problemKind{"case-action-refused", 403, "办件制度不允许此操作", "Refused by the case regime"}
	probCaseState   = problemKind{"case-state-conflict", 409, "办件当前状态不允许此操作", "The case's state does not allow this"}
	probInternal    = problemKind{"internal-error", 500, "服务器内部错误", "Internal error"}
	probCorrupt     = problemKind{"stored-object-corrupt", 500, "存储的文件已损坏", "Stored object corrupt"}
	probMissing     = problemKind{"stored-object-missing", 500, "存储的文件已丢失", "Stored object missing"}
	probUnsignable  = problemKind{"document-unsignable", 422, "文件无法加盖电子印章", "Document cannot be sealed"}
	probDBDown      = problemKind{"database-unavailable", 503, "数据库暂不可用", "Database unavailable"}
	probStoreDown   = problemKind{"storage-unavailable", 503, "文件存储暂不可用", "Storage unavailable"}
	probTSADown     = problemKind{"timestamp-unavailable", 503, "时间戳服务暂不可用", "Timestamping unavailable"}
)

// retryAfter is what an outage's problem tells clients to wait before trying again.
const retryAfter = 5 * time.Second

// apiError is an error that already knows its problem response.
type apiError struct {
	kind     problemKind
	detailZh string
	detailEn string
	fields   []FieldError
	rule     string
	cause    error // logged, never shown
	// retryAfter, when set, is sent as Retry-After: the condition is expected to pass.
	retryAfter time.Duration
}

func (e *apiError) Error() string {
	if e.cause != nil {
		return e.kind.slug + ": " + e.detailEn + ": " + e.cause.Error()
	}
	return e.kind.slug + ": " + e.detailEn
}

func (e *apiError) Unwrap() error { return e.cause }

// problem makes an apiError with a detail in Chinese and English.
func problem(kind problemKind, zh, en string) *apiError {
	return &apiError{kind: kind, detailZh: zh, detailEn: en}
}

// fieldErrors is satisfied by domain validation errors (identity.InvalidError and its
// kind in other packages): every invalid field, each with its reason.
type fieldErrors interface {
	FieldErrors() map[string]string
}

func invalidFields(fields map[string]string) *apiError {
	fe := make([]FieldError, 0, len(fields))
	for f, r := range fields {
		fe = append(fe, FieldError{Field: f, Reason: r})
	}
	sort.Slice(fe, func(i, j int) bool { return fe[i].Field < fe[j].Field })
	names := make([]string, len(fe))
	for i, f := range fe {
		names[i] = f.Field
	}
	list := strings.Join(names, ", ")
	e := problem(probInvalid, "以下字段有误："+list, "These fields are invalid: "+list)
	e.fields = fe
	return e
}

// toAPIError maps any error a handler or middleware returns to its problem. ctx is the
// request's context, which knows whether its database deadline has passed.
func toAPIError(ctx context.Context, err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	// Outages first: whatever was being done, the store or the database could not be used.
	if errors.Is(err, vault.ErrUnavailable) {
		return &apiError{kind: probStoreDown, detailZh: "文件存储暂时无法读写，请稍后重试",
			detailEn: "The document store cannot be read or written at the moment; try again later", cause: err, retryAfter: retryAfter}
	}
	if down, timeout := databaseOutage(ctx, err); down {
		e := &apiError{kind: probDBDown, detailZh: "数据库暂时无法访问，请稍后重试",
			detailEn: "The database cannot be reached at the moment; try again later", cause: err, retryAfter: retryAfter}
		if timeout {
			e.detailZh, e.detailEn = "数据库未能在时限内响应，请稍后重试", "The database did not answer in time; try again later"
		}
		return e
	}
	var me *vault.MissingError
	if errors.As(err, &me) {
		return &apiError{kind: probMissing, detailZh: "记录所指的文件已不在文件存储中；请联系管理员运行 sealvault scrub 并从备份恢复，文件摘要 " + me.Digest.String(),
			detailEn: "The stored file this record names is no longer in the document store; ask an administrator to run sealvault scrub and restore it from backup (digest " + me.Digest.String() + ")", cause: err}
	}
	var te *pades.TimestampError
	if errors.As(err, &te) {
		return &apiError{kind: probTSADown, detailZh: "时间戳服务未能为签章提供可信时间，未用印、未记录；请稍后重试",
			detailEn: "The timestamping authority gave the signature no trusted time; nothing was sealed or recorded; try again later",
			cause:    err, retryAfter: retryAfter}
	}
	var de *pades.DocumentError
	if errors.As(err, &de) {
		return &apiError{kind: probUnsignable, detailZh: "签章程序无法在该文件上加盖印章（" + de.Error() + "）；请重新导出文件后重新上传并申请用印",
			detailEn: "The signer cannot seal this document (" + de.Error() + "); export it again, upload it and request the seal again", cause: err}
	}
	var fe fieldErrors
	if errors.As(err, &fe) {
		return invalidFields(fe.FieldErrors())
	}
	var re *pages.RejectError
	if errors.As(err, &re) {
		e := problem(probRejected, fmt.Sprintf("文件「%s」%s", re.File, re.ReasonZh), fmt.Sprintf("File %q %s", re.File, re.Reason))
		e.fields = []FieldError{{Field: re.File, Reason: re.Reason}}
		return e
	}
	var refusal *seal.Refusal
	if errors.As(err, &refusal) {
		e := problem(probRefused, refusal.DetailZh, refusal.Detail)
		e.rule = refusal.Rule
		return e
	}
	var cr *casework.Refusal
	if errors.As(err, &cr) {
		kind := probCaseRefused
		if cr.Rule == "case-state" {
			kind = probCaseState
		}
		e := problem(kind, cr.DetailZh, cr.Detail)
		e.rule = cr.Rule
		return e
	}
	var cs *reuse.StateError
	if errors.As(err, &cs) {
		return problem(probConflict, fmt.Sprintf("办件 %s 已受理或已结束（%s），不能再关联材料", cs.Case, cs.State),
			fmt.Sprintf("Case %s is %s: materials can be attached only before acceptance", cs.Case, cs.State))
	}
	if errors.Is(err, casework.ErrNotFound) {
		return problem(probNotFound, "请求的办件不存在，或您无权查看", "No such case, or not one you may see")
	}
	var sc *seal.ConflictError
	if errors.As(err, &sc) {
		return problem(probConflict, sc.DetailZh, sc.Detail)
	}
	if errors.Is(err, reuse.ErrNotFound) {
		return problem(probNotFound, "请求的对象不存在，或您无权查看", "No such object, or not one you may see")
	}
	if errors.Is(err, reuse.ErrForbidden) {
		return problem(probForbidden, "没有允许此访问的复用规则，或您的角色、部门无权执行此操作",
			"No reuse rule allows this access, or your roles or department do not allow it")
	}
	if errors.Is(err, seal.ErrNotFound) {
		return problem(probNotFound, "请求的对象不存在，或您无权查看", "No such object, or not one you may see")
	}
	if errors.Is(err, seal.ErrForbidden) {
		return problem(probForbidden, "您的角色或部门无权对该对象执行此操作", "Your roles or department do not allow this on that object")
	}
	if errors.Is(err, vault.ErrCorrupt) {
		return &apiError{kind: probCorrupt, detailZh: "存储的文件未通过完整性校验，未予返回；请联系管理员运行 sealvault scrub 并从备份恢复",
			detailEn: "The stored file failed its integrity check and was not returned; ask an administrator to run sealvault scrub and restore it from backup", cause: err}
	}
	if errors.Is(err, vault.ErrNotFound) {
		return problem(probNotFound, "请求的对象不存在", "The requested object does not exist")
	}
	var ce *identity.ConflictError
	if errors.As(err, &ce) {
		return problem(probConflict,
			fmt.Sprintf("%s「%s」已被占用", ce.Field, ce.Value),
			fmt.Sprintf("%s %q is already taken", ce.Field, ce.Value))
	}
	if errors.Is(err, identity.ErrNotFound) {
		return problem(probNotFound, "请求的对象不存在", "The requested object does not exist")
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		switch he.Code {
		case http.StatusNotFound:
			return problem(probNotFound, "没有这个地址", "No such resource")
		case http.StatusMethodNotAllowed:
			return problem(probMethod, "该地址不支持此请求方法", "This resource does not support the request method")
		case http.StatusRequestEntityTooLarge:
			return problem(probTooLarge, "请求内容超过了大小上限", "The request body exceeds the size limit")
		case http.StatusUnsupportedMediaType:
			return problem(probMediaType, "请求内容类型须为 application/json", "The request body must be application/json")
		case http.StatusBadRequest:
			return problem(probMalformed, "请求无法解析", "The request could not be parsed")
		case http.StatusUnauthorized:
			return problem(probUnauth, "请先登录", "Log in first")
		}
	}
	return &apiError{kind: probInternal, detailZh: "请稍后重试；如持续出现请联系管理员并提供请求编号",
		detailEn: "Try again later; if it persists, give the request id to an administrator", cause: err}
}

// databaseOutage reports whether err means the database could not be used (refused or
// lost connections, a server shutting down or out of connections, a request past its
// database deadline) rather than a bug; timeout tells the deadline apart.
func databaseOutage(ctx context.Context, err error) (down, timeout bool) {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "57014": // query_canceled: the deadline's cancel request, or statement_timeout
			return true, true
		case strings.HasPrefix(pe.Code, "08"), // connection exception
			pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03", // admin or crash shutdown, cannot connect now
			pe.Code == "53300", pe.Code == "53100", pe.Code == "53200": // too many connections, disk full, out of memory
			return true, false
		}
		return false, false
	}
	if dbDeadlineExceeded(ctx) && (errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err)) {
		return true, true
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	switch {
	case errors.As(err, &ce), errors.As(err, &ne), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, pgconn.ErrConnClosed):
		return true, false
	}
	return false, false
}

// english reports whether the client prefers English over Chinese.
func english(r *http.Request) bool {
	al := strings.ToLower(r.Header.Get("Accept-Language"))
	if al == "" {
		return false
	}
	first := strings.TrimSpace(strings.Split(strings.Split(al, ",")[0], ";")[0])
	return strings.HasPrefix(first, "en")
}

// errorHandler is echo's HTTPErrorHandler: every error becomes a problem response; internal
// causes go to the log with the request id, never to the client. A stored object that is
// missing or corrupt is lost data: logged with its digest and counted in m.
func errorHandler(log *slog.Logger, m *metrics) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		ae := toAPIError(c.Request().Context(), err)
		var me *vault.MissingError
		var ce *vault.CorruptError
		switch {
		case errors.As(err, &me):
			m.objectErrors.WithLabelValues("missing").Inc()
			log.Error("stored object missing", "request_id", requestID(c), "route", c.Path(), "object", me.Digest.String())
		case errors.As(err, &ce):
			m.objectErrors.WithLabelValues("corrupt").Inc()
			log.Error("stored object corrupt", "request_id", requestID(c), "route", c.Path(), "object", ce.Digest.String())
		}
		p := Problem{
			Type:      ProblemBase + ae.kind.slug,
			Title:     ae.kind.titleZh,
			Status:    ae.kind.status,
			Detail:    ae.detailZh,
			RequestID: requestID(c),
			Errors:    ae.fields,
			Rule:      ae.rule,
		}
		if english(c.Request()) {
			p.Title, p.Detail = ae.kind.titleEn, ae.detailEn
		}
		if ae.kind.status >= 500 {
			log.Error("request failed", "request_id", p.RequestID, "route", c.Path(), "error", err.Error())
		}
		h := c.Response().Header()
		if ae.kind.status == http.StatusUnauthorized {
			h.Set("WWW-Authenticate", `Bearer realm="sealvault"`)
		}
		if ae.retryAfter > 0 {
			h.Set("Retry-After", strconv.Itoa(int(ae.retryAfter.Seconds())))
		}
		h.Set(echo.HeaderContentType, "application/problem+json")
		h.Set("Content-Language", map[bool]string{true: "en", false: "zh-CN"}[english(c.Request())])
		c.Response().WriteHeader(p.Status)
		if c.Request().Method == http.MethodHead {
			return
		}
		_ = json.NewEncoder(c.Response()).Encode(p)
	}
}
