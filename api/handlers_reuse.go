package api

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"sealvault/reuse"
	"sealvault/vault"
	"sealvault/vault/pages"
)

func (s *Server) listTypes(c echo.Context) error {
	items, err := reuse.ListTypes(c.Request().Context(), s.deps.DB)
	if err != nil {
		return err
	}
	if items == nil {
		items = []reuse.MaterialType{}
	}
	return c.JSON(http.StatusOK, map[string]any{"items": items})
}

// putType creates or replaces a material type. Admins only.
func (s *Server) putType(c echo.Context) error {
	var t reuse.MaterialType
	if err := bind(c, &t); err != nil {
		return err
	}
	if err := reuse.PutType(c.Request().Context(), s.deps.DB, t); err != nil {
		return err
	}
	t, err := reuse.GetType(c.Request().Context(), s.deps.DB, t.Code)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, t)
}

// putItem creates or replaces a service item and the materials it requires. Admins only.
func (s *Server) putItem(c echo.Context) error {
	var it reuse.ServiceItem
	if err := bind(c, &it); err != nil {
		return err
	}
	err := pgx.BeginFunc(c.Request().Context(), s.deps.DB, func(tx pgx.Tx) error { return reuse.PutItem(c.Request().Context(), tx, it) })
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, it)
}

func (s *Server) listItems(c echo.Context) error {
	items, err := reuse.ListItems(c.Request().Context(), s.deps.DB)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"items": items})
}

func (s *Server) createRule(c echo.Context) error {
	return created(c, "/api/v1/reuse-rules", func(ctx context.Context, r reuse.Rule) (reuse.Rule, uuid.UUID, error) {
		out, err := s.deps.Reuse.CreateRule(ctx, s.actor(c), r)
		return out, out.ID, err
	})
}

func (s *Server) listRules(c echo.Context) error {
	rules, err := s.deps.Reuse.ListRules(c.Request().Context())
	if err != nil {
		return err
	}
	if rules == nil {
		rules = []reuse.Rule{}
	}
	return c.JSON(http.StatusOK, map[string]any{"items": rules})
}

func (s *Server) recordConsent(c echo.Context) error {
	return byID(c, func(ctx context.Context, id uuid.UUID) (reuse.Case, error) {
		return s.deps.Reuse.RecordConsent(ctx, s.actor(c), id)
	})
}

type attachBody struct {
	TypeCode   string    `json:"type_code"`
	MaterialID uuid.UUID `json:"material_id"`
	Reuse      bool      `json:"reuse"`
}

// attachMaterial attaches a reused (by its plan's rule) or newly submitted material.
func (s *Server) attachMaterial(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	var b attachBody
	if err := bind(c, &b); err != nil {
		return err
	}
	cs, err := s.deps.Reuse.Attach(c.Request().Context(), s.actor(c), id, b.TypeCode, b.MaterialID, b.Reuse)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, cs)
}

// caseMaterial serves a material of the case: "view" as a watermarked rendition naming the
// viewer, the time and the case; "download" as its bytes. Outside the material's own
// department only a rule with that method allows it; every access is audited.
func (s *Server) caseMaterial(method string) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := pathID(c)
		if err != nil {
			return err
		}
		mid, err := uuid.Parse(c.Param("mid"))
		if err != nil {
			return invalidFields(map[string]string{"path.mid": "is not a valid id"})
		}
		ctx := c.Request().Context()
		acc, err := s.deps.Reuse.Open(ctx, s.actor(c), id, mid, method)
		if err != nil {
			return err
		}
		data, err := vault.ReadAll(ctx, s.deps.Blobs, acc.Material.Content)
		if err != nil {
			return err
		}
		name := acc.Material.ID.String() + ".pdf"
		if method == reuse.MethodView {
			u := currentUser(c)
			text := fmt.Sprintf("sealvault: viewed by %s at %s, case %s", u.Username, time.Now().In(time.FixedZone("CST", 8*3600)).Format("2006-01-02 15:04 MST"), acc.Case)
			if data, err = pages.Watermark(data, text); err != nil {
				return err
			}
			name = acc.Material.ID.String() + "-view.pdf"
		}
		c.Response().Header().Set(echo.HeaderContentDisposition, fmt.Sprintf(`inline; filename="%s"`, name))
		return c.Stream(http.StatusOK, "application/pdf", bytes.NewReader(data))
	}
}

// caseNotice is the one-time notice of a case, as JSON, or as a printable PDF with
// format=pdf.
func (s *Server) caseNotice(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	n, err := s.deps.Reuse.Notice(c.Request().Context(), s.actor(c), id)
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
	c.Response().Header().Set(echo.HeaderContentDisposition, fmt.Sprintf(`inline; filename="notice-%s.pdf"`, n.CaseNo))
	return c.Blob(http.StatusOK, "application/pdf", pdf)
}

// reuseReport is the reuse report for [from, to) (dates, YYYY-MM-DD, China Standard Time);
// format=csv gives CSV.
func (s *Server) reuseReport(c echo.Context) error {
	cst := time.FixedZone("CST", 8*3600)
	bad := map[string]string{}
	parse := func(name string, def time.Time) time.Time {
		v := c.QueryParam(name)
		if v == "" {
			return def
		}
		t, err := time.ParseInLocation(time.DateOnly, v, cst)
		if err != nil {
			bad["query."+name] = "must be a date, YYYY-MM-DD"
		}
		return t
	}
	now := time.Now().In(cst)
	from := parse("from", time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, cst))
	to := parse("to", from.AddDate(0, 1, 0))
	if len(bad) > 0 {
		return invalidFields(bad)
	}
	rows, err := s.deps.Reuse.Report(c.Request().Context(), from, to)
	if err != nil {
		return err
	}
	if c.QueryParam("format") == "csv" {
		var buf bytes.Buffer
		if err := reuse.WriteReportCSV(&buf, rows); err != nil {
			return err
		}
		c.Response().Header().Set(echo.HeaderContentDisposition, `attachment; filename="reuse-report-`+from.Format("20060102")+`.csv"`)
		return c.Blob(http.StatusOK, "text/csv; charset=utf-8", buf.Bytes())
	}
	return c.JSON(http.StatusOK, map[string]any{"from": from.Format(time.DateOnly), "to": to.Format(time.DateOnly), "items": rows})
}
