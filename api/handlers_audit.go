package api

import (
	"context"
	"errors"
	"github.com/google/uuid"
	"net/http"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"sealvault/audit"
	"sealvault/internal/actor"
	"sealvault/internal/identity"
)

// inTx runs fn in one transaction: an action and its audit event commit together or not
// at all.
func (s *Server) inTx(c echo.Context, fn func(ctx context.Context, tx pgx.Tx) error) error {
	ctx := c.Request().Context()
	return pgx.BeginFunc(ctx, s.deps.DB, func(tx pgx.Tx) error { return fn(ctx, tx) })
}

// event describes an act of the request's user for the audit trail.
func (s *Server) event(c echo.Context, action string, subjects map[string]string, details any) audit.Event {
	e := audit.Event{Time: time.Now(), Action: action, Subjects: subjects, Details: details,
		RequestID: requestID(c), ClientIP: c.RealIP()}
	if u, ok := c.Get(ctxUser).(identity.User); ok {
		e.Actor = actor.Of(u)
	}
	return e
}

type eventList struct {
	Items      []audit.Record `json:"items"`
	NextCursor string         `json:"next_cursor,omitempty"`
}

func queryTime(c echo.Context, name string, fields map[string]string) time.Time {
	v := c.QueryParam(name)
	if v == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		fields["query."+name] = "must be an RFC 3339 time such as 2026-11-25T08:00:00+08:00"
	}
	return t
}

func (s *Server) auditEvents(c echo.Context) error {
	bad := map[string]string{}
	// Seals, cases, actors and departments by id or by the reference people use (S-1, the
	// case number, the username, the department code): events store ids.
	refs, err := s.refParams(c, map[string]refKind{"seal": refSeal, "case": refCase, "actor": refUser, "department": refDept})
	if err != nil {
		return err
	}
	caseNo := ""
	if id := refs["case"]; id != nil {
		// Events name a case by its number (what staff and applicants know it by).
		if err := s.deps.DB.QueryRow(c.Request().Context(), `SELECT case_no FROM cases WHERE id = $1`, *id).Scan(&caseNo); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return problem(probNotFound, "办件 "+c.QueryParam("case")+" 不存在", "There is no case "+c.QueryParam("case"))
			}
			return err
		}
	}
	str := func(id *uuid.UUID) string {
		if id == nil {
			return ""
		}
		return id.String()
	}
	f := audit.Filter{
		Seal: str(refs["seal"]), Case: caseNo, Material: c.QueryParam("material"),
		Actor: str(refs["actor"]), Department: str(refs["department"]), Action: c.QueryParam("action"),
		From: queryTime(c, "from", bad), To: queryTime(c, "to", bad),
	}
	f.Limit, _ = strconv.Atoi(c.QueryParam("limit")) // range checked by the OpenAPI document
	if v := c.QueryParam("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			bad["query.after"] = "must be the next_cursor of the previous page"
		}
		f.Before = n
	}
	if len(bad) > 0 {
		return invalidFields(bad)
	}
	recs, err := s.deps.Audit.Events(c.Request().Context(), f)
	if err != nil {
		return err
	}
	out := eventList{Items: recs}
	if out.Items == nil {
		out.Items = []audit.Record{}
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	if len(recs) == limit {
		out.NextCursor = strconv.FormatInt(recs[len(recs)-1].ID, 10)
	}
	return c.JSON(http.StatusOK, out)
}

type checkpointResponse struct {
	audit.Checkpoint
	RootHash    string `json:"root_hash"`
	VerifierKey string `json:"verifier_key"`
}

func (s *Server) checkpointJSON(c echo.Context, cp audit.Checkpoint, err error) error {
	if errors.Is(err, audit.ErrNoCheckpoint) {
		return problem(probNotFound, "审计日志尚无检查点", "The audit log has no checkpoint yet")
	} else if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, checkpointResponse{Checkpoint: cp, RootHash: cp.RootHash(), VerifierKey: s.deps.Audit.VerifierKey()})
}

func (s *Server) auditCheckpoint(c echo.Context) error {
	cp, err := s.deps.Audit.Latest(c.Request().Context())
	return s.checkpointJSON(c, cp, err)
}

// issueCheckpoint sequences what is pending and signs a checkpoint of the tree now.
func (s *Server) issueCheckpoint(c echo.Context) error {
	ctx := c.Request().Context()
	if _, err := s.deps.Audit.IntegrateAll(ctx); err != nil {
		return err
	}
	cp, err := s.deps.Audit.Checkpoint(ctx, true)
	return s.checkpointJSON(c, cp, err)
}

func queryInt(c echo.Context, name string, fields map[string]string) int64 {
	n, err := strconv.ParseInt(c.QueryParam(name), 10, 64)
	if err != nil {
		fields["query."+name] = "must be a whole number"
	}
	return n
}

func rangeProblem(err error) error {
	if errors.Is(err, audit.ErrRange) {
		return problem(probInvalid, "请求的序号或树大小超出审计日志范围", "The sequence number or tree size is outside the audit log")
	}
	return err
}

func (s *Server) inclusionProof(c echo.Context) error {
	bad := map[string]string{}
	seq, size := queryInt(c, "seq", bad), queryInt(c, "size", bad)
	if len(bad) > 0 {
		return invalidFields(bad)
	}
	p, err := s.deps.Audit.ProveInclusion(c.Request().Context(), seq, size)
	if err != nil {
		return rangeProblem(err)
	}
	return c.JSON(http.StatusOK, p)
}

func (s *Server) consistencyProof(c echo.Context) error {
	bad := map[string]string{}
	from, to := queryInt(c, "from", bad), queryInt(c, "to", bad)
	if len(bad) > 0 {
		return invalidFields(bad)
	}
	p, err := s.deps.Audit.ProveConsistency(c.Request().Context(), from, to)
	if err != nil {
		return rangeProblem(err)
	}
	return c.JSON(http.StatusOK, p)
}

// auditExport streams sequenced events as JSON Lines, each with its exact bytes, so an
// auditor can verify them offline against a checkpoint.
func (s *Server) auditExport(c echo.Context) error {
	bad := map[string]string{}
	from, to := int64(0), int64(1)<<62
	if c.QueryParam("from") != "" {
		from = queryInt(c, "from", bad)
	}
	if c.QueryParam("to") != "" {
		to = queryInt(c, "to", bad)
	}
	if len(bad) > 0 {
		return invalidFields(bad)
	}
	ctx := c.Request().Context()
	if err := audit.Append(ctx, s.deps.DB, s.event(c, "audit.export", nil, map[string]int64{"from": from, "to": min(to, 1<<62)})); err != nil {
		return err
	}
	w := c.Response()
	w.Header().Set(echo.HeaderContentType, "application/jsonl; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="audit-events.jsonl"`)
	w.WriteHeader(http.StatusOK)
	if err := s.deps.Audit.Export(ctx, w, from, to); err != nil {
		// The status is sent; the cut-off stream is the client's signal, the log is ours.
		s.deps.Log.Error("audit export", "request_id", requestID(c), "error", err.Error())
	}
	return nil
}
