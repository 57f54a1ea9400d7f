package api

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"sealvault/casework"
	"sealvault/reuse"
)

// caseID is the case a path names, by id or by its case number (办件编号, e.g. AJ20261205000012).
func (s *Server) caseID(c echo.Context) (uuid.UUID, error) {
	return s.resolve(c.Request().Context(), refCase, c.Param("id"), "path.id")
}

// caseAction runs one life-cycle action with its JSON body (if any) and answers the case.
func caseAction[B any](s *Server, act func(ctx context.Context, a casework.Actor, id uuid.UUID, b B) (casework.Case, error)) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := s.caseID(c)
		if err != nil {
			return err
		}
		var b B
		if c.Request().ContentLength != 0 {
			if err := bind(c, &b); err != nil {
				return err
			}
		}
		out, err := act(c.Request().Context(), s.actor(c), id, b)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, out)
	}
}

type noteBody struct {
	Note string `json:"note"`
}

type deliverBody struct {
	Method   string `json:"method"`
	Tracking string `json:"tracking"`
}

type noticeBody struct {
	OverrideReason string `json:"override_reason"`
}

func (s *Server) openCase(c echo.Context) error {
	return created(c, "/api/v1/cases", func(ctx context.Context, n reuse.NewCase) (casework.Case, uuid.UUID, error) {
		out, err := s.deps.Cases.Open(ctx, s.actor(c), n)
		return out, out.ID, err
	})
}

func (s *Server) getCase(c echo.Context) error {
	id, err := s.caseID(c)
	if err != nil {
		return err
	}
	out, err := s.deps.Cases.Get(c.Request().Context(), s.actor(c), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) acceptCase() echo.HandlerFunc {
	return caseAction(s, func(ctx context.Context, a casework.Actor, id uuid.UUID, _ struct{}) (casework.Case, error) {
		return s.deps.Cases.Accept(ctx, a, id)
	})
}

func (s *Server) refuseCase() echo.HandlerFunc {
	return caseAction(s, func(ctx context.Context, a casework.Actor, id uuid.UUID, b reasonBody) (casework.Case, error) {
		return s.deps.Cases.RefuseIntake(ctx, a, id, b.Reason)
	})
}

func (s *Server) withdrawCase() echo.HandlerFunc {
	return caseAction(s, func(ctx context.Context, a casework.Actor, id uuid.UUID, b reasonBody) (casework.Case, error) {
		return s.deps.Cases.Withdraw(ctx, a, id, b.Reason)
	})
}

func (s *Server) forwardCase() echo.HandlerFunc {
	return caseAction(s, func(ctx context.Context, a casework.Actor, id uuid.UUID, b noteBody) (casework.Case, error) {
		return s.deps.Cases.Forward(ctx, a, id, b.Note)
	})
}

func (s *Server) decideCase() echo.HandlerFunc {
	return caseAction(s, func(ctx context.Context, a casework.Actor, id uuid.UUID, b casework.Decision) (casework.Case, error) {
		return s.deps.Cases.Decide(ctx, a, id, b)
	})
}

func (s *Server) addCaseDocument() echo.HandlerFunc {
	return caseAction(s, func(ctx context.Context, a casework.Actor, id uuid.UUID, b casework.DocumentRef) (casework.Case, error) {
		return s.deps.Cases.AddDocument(ctx, a, id, b)
	})
}

func (s *Server) deliverCase() echo.HandlerFunc {
	return caseAction(s, func(ctx context.Context, a casework.Actor, id uuid.UUID, b deliverBody) (casework.Case, error) {
		return s.deps.Cases.Deliver(ctx, a, id, b.Method, b.Tracking)
	})
}

func (s *Server) closeCase() echo.HandlerFunc {
	return caseAction(s, func(ctx context.Context, a casework.Actor, id uuid.UUID, _ struct{}) (casework.Case, error) {
		return s.deps.Cases.Close(ctx, a, id)
	})
}

func (s *Server) rejectCaseMaterial() echo.HandlerFunc {
	return func(c echo.Context) error {
		return caseAction(s, func(ctx context.Context, a casework.Actor, id uuid.UUID, b reasonBody) (casework.Case, error) {
			return s.deps.Cases.RejectMaterial(ctx, a, id, c.Param("type"), b.Reason)
		})(c)
	}
}

// issueNotice issues the case's next numbered one-time notice.
func (s *Server) issueNotice(c echo.Context) error {
	id, err := s.caseID(c)
	if err != nil {
		return err
	}
	var b noticeBody
	if c.Request().ContentLength != 0 {
		if err := bind(c, &b); err != nil {
			return err
		}
	}
	n, err := s.deps.Cases.IssueNotice(c.Request().Context(), s.actor(c), id, b.OverrideReason)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, fmt.Sprintf("/api/v1/cases/%s/notices/%d", id, n.No))
	return c.JSON(http.StatusCreated, n)
}

func (s *Server) listNotices(c echo.Context) error {
	id, err := s.caseID(c)
	if err != nil {
		return err
	}
	ns, err := s.deps.Cases.Notices(c.Request().Context(), s.actor(c), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"items": ns})
}

// getNotice is one issued notice, as JSON, or with format=pdf as the printable PDF it was.
func (s *Server) getNotice(c echo.Context) error {
	id, err := s.caseID(c)
	if err != nil {
		return err
	}
	no, err := strconv.Atoi(c.Param("no"))
	if err != nil || no < 1 || no > 1000 {
		return invalidFields(map[string]string{"path.no": "must be a notice number, 1 or more"})
	}
	n, err := s.deps.Cases.GetNotice(c.Request().Context(), s.actor(c), id, no)
	if err != nil {
		return err
	}
	if c.QueryParam("format") != "pdf" {
		return c.JSON(http.StatusOK, n)
	}
	pdf, err := n.PDF()
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderContentDisposition, fmt.Sprintf(`inline; filename="notice-%s-%d.pdf"`, n.CaseNo, n.No))
	return c.Blob(http.StatusOK, "application/pdf", pdf)
}

func (s *Server) caseTimeline(c echo.Context) error {
	id, err := s.caseID(c)
	if err != nil {
		return err
	}
	lines, err := s.deps.Cases.Timeline(c.Request().Context(), s.actor(c), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"items": lines})
}

// caseFilter reads the list filters common to GET /cases and POST /cases/search.
func (s *Server) caseFilter(c echo.Context, bad map[string]string) (casework.Filter, error) {
	dept, err := s.refParam(c, "department", refDept)
	if err != nil {
		return casework.Filter{}, err
	}
	f := casework.Filter{State: c.QueryParam("state"), Item: c.QueryParam("item"),
		DepartmentID: dept,
		Inbox:        c.QueryParam("inbox") == "true", Overdue: c.QueryParam("overdue") == "true"}
	if v := c.QueryParam("due_before"); v != "" {
		d, err := time.Parse(time.DateOnly, v)
		if err != nil {
			bad["query.due_before"] = "must be a date, YYYY-MM-DD"
		}
		f.DueBefore = &d
	}
	if v := c.QueryParam("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			bad["query.after"] = "must be the next cursor of the previous page"
		}
		f.Before = n
	}
	f.Limit, _ = strconv.Atoi(c.QueryParam("limit"))
	return f, nil
}

func (s *Server) listCases(c echo.Context) error {
	bad := map[string]string{}
	f, err := s.caseFilter(c, bad)
	if err != nil {
		return err
	}
	if len(bad) > 0 {
		return invalidFields(bad)
	}
	p, err := s.deps.Cases.List(c.Request().Context(), s.actor(c), f)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, p)
}

type caseSearchBody struct {
	HolderKind   string `json:"holder_kind"`
	HolderNumber string `json:"holder_number"`
}

// searchCases lists an applicant's cases: the holder number comes in the body, so it never
// appears in a URL or an access log.
func (s *Server) searchCases(c echo.Context) error {
	bad := map[string]string{}
	f, err := s.caseFilter(c, bad)
	if err != nil {
		return err
	}
	var b caseSearchBody
	if err := bind(c, &b); err != nil {
		return err
	}
	if b.HolderNumber == "" {
		bad["holder_number"] = "is required"
	}
	if len(bad) > 0 {
		return invalidFields(bad)
	}
	f.HolderKind, f.HolderNumber = b.HolderKind, b.HolderNumber
	p, err := s.deps.Cases.List(c.Request().Context(), s.actor(c), f)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, p)
}

// dueReport lists open cases overdue or due within `within` working days, by department.
func (s *Server) dueReport(c echo.Context) error {
	within := 3
	if v := c.QueryParam("within"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return invalidFields(map[string]string{"query.within": "must be a number of working days, 0 to 60"})
		}
		within = n
	}
	g, err := s.deps.Cases.DueReport(c.Request().Context(), s.actor(c), within)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"within": within, "departments": g})
}
