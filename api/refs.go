package api

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"
)

// refKind is a kind of object people name by a reference of their own (S-1, A-2, R-7, U-3,
// a case number, a department code, a username) as well as by its id.
type refKind struct {
	en, zh string // what it is, for messages
	prefix string // "S-" for numbered objects; "" for codes
	query  string // resolves $1 (the number, or the code as typed) to the id
	// example is a reference shown in the message for a malformed one.
	example string
}

var (
	refSeal    = refKind{"seal", "印章", "S-", `SELECT id FROM seals WHERE no = $1`, "S-1"}
	refLetter  = refKind{"authorization letter", "授权书", "A-", `SELECT id FROM authorizations WHERE no = $1`, "A-1"}
	refRequest = refKind{"seal request", "用印申请", "R-", `SELECT id FROM seal_requests WHERE no = $1`, "R-1"}
	refUse     = refKind{"seal use", "用印记录", "U-", `SELECT id FROM seal_uses WHERE no = $1`, "U-1"}
	refCase    = refKind{"case", "办件", "", `SELECT id FROM cases WHERE case_no = upper($1)`, "AJ20261205000012"}
	refDept    = refKind{"department", "部门", "", `SELECT id FROM departments WHERE code = $1`, "TH-SCJG"}
	refUser    = refKind{"user", "用户", "", `SELECT id FROM users WHERE username = lower($1)`, "window"}
)

// pathRefs says, by the route's path prefix, what an :id names.
var pathRefs = []struct {
	prefix string
	kind   refKind
}{
	{"/api/v1/seals/", refSeal},
	{"/api/v1/authorizations/", refLetter},
	{"/api/v1/seal-requests/", refRequest},
	{"/api/v1/seal-uses/", refUse},
	{"/api/v1/departments/", refDept},
	{"/api/v1/users/", refUser},
	{"/api/v1/cases/", refCase},
}

// resolve turns v, an id or a reference of kind k, into the id. A well-formed reference
// that names nothing is a 404 problem naming it, never an empty answer; anything else is a
// 400 naming field. An id is returned as it is: the handler answers for its existence.
func (s *Server) resolve(ctx context.Context, k refKind, v, field string) (uuid.UUID, error) {
	v = strings.TrimSpace(v)
	if id, err := uuid.Parse(v); err == nil {
		return id, nil
	}
	var arg any = v
	if k.prefix != "" {
		n, err := strconv.ParseInt(strings.TrimPrefix(strings.ToUpper(v), k.prefix), 10, 64)
		if !strings.HasPrefix(strings.ToUpper(v), k.prefix) || err != nil || n <= 0 {
			return uuid.Nil, invalidFields(map[string]string{field: fmt.Sprintf("must be the %s's id or its reference, such as %s", k.en, k.example)})
		}
		arg = n
	} else if v == "" || len(v) > 100 {
		return uuid.Nil, invalidFields(map[string]string{field: fmt.Sprintf("must be the %s's id or its reference, such as %s", k.en, k.example)})
	}
	var id uuid.UUID
	err := s.deps.DB.QueryRow(ctx, k.query, arg).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return uuid.Nil, problem(probNotFound, fmt.Sprintf("%s %s 不存在", k.zh, v), fmt.Sprintf("There is no %s %s", k.en, v))
	}
	return id, err
}

// refParam resolves the query parameter name as a reference of kind k; nil when absent.
func (s *Server) refParam(c echo.Context, name string, k refKind) (*uuid.UUID, error) {
	v := c.QueryParam(name)
	if v == "" {
		return nil, nil
	}
	id, err := s.resolve(c.Request().Context(), k, v, "query."+name)
	if err != nil {
		return nil, err
	}
	return &id, nil
}

// refParams resolves several reference parameters at once, reporting every malformed one
// together (a reference that names nothing is reported first, alone).
func (s *Server) refParams(c echo.Context, params map[string]refKind) (map[string]*uuid.UUID, error) {
	out := map[string]*uuid.UUID{}
	bad := map[string]string{}
	for name, k := range params {
		id, err := s.refParam(c, name, k)
		var ae *apiError
		switch {
		case errors.As(err, &ae) && ae.kind == probInvalid:
			for _, f := range ae.fields {
				bad[f.Field] = f.Reason
			}
		case err != nil:
			return nil, err
		default:
			out[name] = id
		}
	}
	if len(bad) > 0 {
		return nil, invalidFields(bad)
	}
	return out, nil
}

// pathID is the id the route's :id names: an id, or for the objects of pathRefs their
// reference too.
func pathID(c echo.Context) (uuid.UUID, error) {
	s, _ := c.Get(ctxServer).(*Server)
	if s != nil {
		for _, p := range pathRefs {
			if strings.HasPrefix(c.Path(), p.prefix) {
				return s.resolve(c.Request().Context(), p.kind, c.Param("id"), "path.id")
			}
		}
	}
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return id, invalidFields(map[string]string{"path.id": "is not a valid id"})
	}
	return id, nil
}

// withServer makes the server reachable from handlers' helpers (pathID).
func (s *Server) withServer(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Set(ctxServer, s)
		return next(c)
	}
}
