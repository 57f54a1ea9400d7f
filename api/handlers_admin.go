package api

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"

	"github.com/jackc/pgx/v5"

	"sealvault/audit"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"sealvault/internal/identity"
)

// list is one page of a cursor-paginated list; NextCursor is empty on the last page.
type list[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor,omitempty"`
}

func pageOf(c echo.Context) identity.Page {
	limit, _ := strconv.Atoi(c.QueryParam("limit")) // range checked by the OpenAPI document
	return identity.Page{After: c.QueryParam("after"), Limit: limit}
}

func newList[T any](items []T, p identity.Page, cursor func(T) string) list[T] {
	l := list[T]{Items: items}
	if l.Items == nil {
		l.Items = []T{}
	}
	want := p.Limit
	if want <= 0 {
		want = 50
	}
	if len(items) > 0 && len(items) >= want {
		l.NextCursor = cursor(items[len(items)-1])
	}
	return l
}

type departmentCreate struct {
	Code     string     `json:"code"`
	Name     string     `json:"name"`
	Kind     string     `json:"kind"`
	Level    string     `json:"level"`
	ParentID *uuid.UUID `json:"parent_id"`
}

type departmentPatch struct {
	Name     *string    `json:"name"`
	Level    *string    `json:"level"`
	ParentID *uuid.UUID `json:"parent_id"`
}

func (s *Server) listDepartments(c echo.Context) error {
	p := pageOf(c)
	ds, err := identity.ListDepartments(c.Request().Context(), s.deps.DB, p)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, newList(ds, p, func(d identity.Department) string { return d.Code }))
}

func (s *Server) createDepartment(c echo.Context) error {
	var req departmentCreate
	if err := bind(c, &req); err != nil {
		return err
	}
	var d identity.Department
	err := s.inTx(c, func(ctx context.Context, tx pgx.Tx) (err error) {
		if d, err = identity.CreateDepartment(ctx, tx, identity.NewDepartment(req)); err != nil {
			return err
		}
		return audit.Append(ctx, tx, s.event(c, "department.create",
			map[string]string{audit.SubjectDepartment: d.ID.String()}, map[string]any{"code": d.Code, "name": d.Name}))
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, d)
}

func (s *Server) getDepartment(c echo.Context) error {
	return getByID(c, s.deps.DB, identity.GetDepartment)
}

func (s *Server) updateDepartment(c echo.Context) error {
	return patchByID(s, c, "department.update", audit.SubjectDepartment,
		func(p departmentPatch) identity.DepartmentPatch { return identity.DepartmentPatch(p) }, identity.UpdateDepartment)
}

// getByID answers GET …/:id with the object get finds.
func getByID[T any](c echo.Context, db identity.DB, get func(context.Context, identity.DB, uuid.UUID) (T, error)) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	v, err := get(c.Request().Context(), db, id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

// patchByID answers PATCH …/:id: it decodes the body as R, converts it, applies it and
// records action with the names of the changed fields (never their values: a password may
// be one of them) in the same transaction.
func patchByID[R, P, T any](s *Server, c echo.Context, action, subject string, conv func(R) P, update func(context.Context, identity.DB, uuid.UUID, P) (T, error)) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	var req R
	if err := bind(c, &req); err != nil {
		return err
	}
	var v T
	err = s.inTx(c, func(ctx context.Context, tx pgx.Tx) (err error) {
		if v, err = update(ctx, tx, id, conv(req)); err != nil {
			return err
		}
		return audit.Append(ctx, tx, s.event(c, action, map[string]string{subject: id.String()},
			map[string]any{"changed": changedFields(req)}))
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

type userCreate struct {
	Username     string          `json:"username"`
	DisplayName  string          `json:"display_name"`
	DepartmentID uuid.UUID       `json:"department_id"`
	Roles        []identity.Role `json:"roles"`
	Password     string          `json:"password"`
}

type userPatch struct {
	DisplayName  *string          `json:"display_name"`
	DepartmentID *uuid.UUID       `json:"department_id"`
	Roles        *[]identity.Role `json:"roles"`
	Disabled     *bool            `json:"disabled"`
	Password     *string          `json:"password"`
}

func (s *Server) listUsers(c echo.Context) error {
	p := pageOf(c)
	var dept *uuid.UUID
	if v := c.QueryParam("department_id"); v != "" {
		id, err := uuid.Parse(v)
		if err != nil {
			return invalidFields(map[string]string{"query.department_id": "is not a valid id"})
		}
		dept = &id
	}
	us, err := identity.ListUsers(c.Request().Context(), s.deps.DB, dept, p)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, newList(us, p, func(u identity.User) string { return u.Username }))
}

func (s *Server) createUser(c echo.Context) error {
	var req userCreate
	if err := bind(c, &req); err != nil {
		return err
	}
	var u identity.User
	err := s.inTx(c, func(ctx context.Context, tx pgx.Tx) (err error) {
		if u, err = identity.CreateUser(ctx, tx, identity.NewUser(req)); err != nil {
			return err
		}
		return audit.Append(ctx, tx, s.event(c, "user.create", map[string]string{audit.SubjectUser: u.ID.String()},
			map[string]any{"username": u.Username, "department_id": u.DepartmentID, "roles": u.Roles}))
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, u)
}

func (s *Server) getUser(c echo.Context) error {
	return getByID(c, s.deps.DB, identity.GetUser)
}

func (s *Server) updateUser(c echo.Context) error {
	return patchByID(s, c, "user.update", audit.SubjectUser,
		func(p userPatch) identity.UserPatch { return identity.UserPatch(p) }, identity.UpdateUser)
}

// logoutEverywhere revokes every token the user holds.
func (s *Server) logoutEverywhere(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	var u identity.User
	err = s.inTx(c, func(ctx context.Context, tx pgx.Tx) (err error) {
		if u, err = identity.RevokeTokens(ctx, tx, id); err != nil {
			return err
		}
		return audit.Append(ctx, tx, s.event(c, "user.logout_everywhere", map[string]string{audit.SubjectUser: id.String()}, nil))
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, u)
}

// changedFields names the fields a PATCH body set.
func changedFields(patch any) []string {
	b, _ := json.Marshal(patch)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	var out []string
	for k, v := range m {
		if v != nil {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}
