package identity

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// DB is what the store needs from PostgreSQL; both *pgxpool.Pool and pgx.Tx satisfy it, so a
// change and its audit event can share one transaction.
type DB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

var (
	codeRE     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	usernameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{1,63}$`)
)

// Page asks for one page of a list ordered by a unique key: items after After, at most Limit.
type Page struct {
	After string
	Limit int
}

func (p Page) limit() int {
	switch {
	case p.Limit <= 0:
		return 50
	case p.Limit > 200:
		return 200
	}
	return p.Limit
}

// NewDepartment is the input to CreateDepartment.
type NewDepartment struct {
	Code     string
	Name     string
	Kind     string
	Level    string
	ParentID *uuid.UUID
}

// DepartmentPatch changes a department; nil fields stay as they are.
type DepartmentPatch struct {
	Name     *string
	Level    *string
	ParentID *uuid.UUID
}

func checkName(v invalid, field, name string, max int) {
	n := utf8.RuneCountInString(strings.TrimSpace(name))
	if n == 0 {
		v.add(field, "must not be empty")
	} else if n > max {
		v.add(field, fmt.Sprintf("must be at most %d characters", max))
	}
}

func checkLevel(v invalid, level string) {
	if !slices.Contains(Levels(), level) {
		v.add("level", "must be one of "+strings.Join(Levels(), ", "))
	}
}

const departmentColumns = `id, code, name, kind, level, parent_id, created_at, updated_at`

func scanDepartment(row pgx.Row) (Department, error) {
	var d Department
	err := row.Scan(&d.ID, &d.Code, &d.Name, &d.Kind, &d.Level, &d.ParentID, &d.CreatedAt, &d.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return d, ErrNotFound
	}
	return d, err
}

// CreateDepartment validates nd and stores it. A department must sit under a parent; a
// center may be a root.
func CreateDepartment(ctx context.Context, db DB, nd NewDepartment) (Department, error) {
	v := invalid{}
	if !codeRE.MatchString(nd.Code) {
		v.add("code", "must be 1–64 letters, digits, '.', '_' or '-', starting with a letter or digit")
	}
	checkName(v, "name", nd.Name, 200)
	if nd.Kind != KindCenter && nd.Kind != KindDepartment {
		v.add("kind", "must be center or department")
	}
	checkLevel(v, nd.Level)
	if nd.Kind == KindDepartment && nd.ParentID == nil {
		v.add("parent_id", "a department must have a parent (its center or a higher department)")
	}
	if nd.ParentID != nil {
		if _, err := GetDepartment(ctx, db, *nd.ParentID); errors.Is(err, ErrNotFound) {
			v.add("parent_id", "no such department")
		} else if err != nil {
			return Department{}, err
		}
	}
	if err := v.err(); err != nil {
		return Department{}, err
	}
	d, err := scanDepartment(db.QueryRow(ctx, `
		INSERT INTO departments (code, name, kind, level, parent_id)
		VALUES ($1, $2, $3, $4, $5)
		RETURNING `+departmentColumns,
		nd.Code, strings.TrimSpace(nd.Name), nd.Kind, nd.Level, nd.ParentID))
	if err != nil {
		return Department{}, translate(err, "code", nd.Code)
	}
	return d, nil
}

// GetDepartment returns the department with id, or ErrNotFound.
func GetDepartment(ctx context.Context, db DB, id uuid.UUID) (Department, error) {
	d, err := scanDepartment(db.QueryRow(ctx, `SELECT `+departmentColumns+` FROM departments WHERE id = $1`, id))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return d, fmt.Errorf("identity: get department: %w", err)
	}
	return d, err
}

// DepartmentByCode returns the department with code, or ErrNotFound.
func DepartmentByCode(ctx context.Context, db DB, code string) (Department, error) {
	d, err := scanDepartment(db.QueryRow(ctx, `SELECT `+departmentColumns+` FROM departments WHERE code = $1`, code))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return d, fmt.Errorf("identity: department by code: %w", err)
	}
	return d, err
}

// ListDepartments returns departments ordered by code, after p.After.
func ListDepartments(ctx context.Context, db DB, p Page) ([]Department, error) {
	rows, err := db.Query(ctx, `
		SELECT `+departmentColumns+` FROM departments
		WHERE code > $1 ORDER BY code LIMIT $2`, p.After, p.limit())
	if err != nil {
		return nil, fmt.Errorf("identity: list departments: %w", err)
	}
	ds, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Department, error) { return scanDepartment(r) })
	if err != nil {
		return nil, fmt.Errorf("identity: list departments: %w", err)
	}
	return ds, nil
}

// UpdateDepartment applies p to the department with id. Moving a department under one of
// its own descendants is refused.
func UpdateDepartment(ctx context.Context, db DB, id uuid.UUID, p DepartmentPatch) (Department, error) {
	cur, err := GetDepartment(ctx, db, id)
	if err != nil {
		return cur, err
	}
	v := invalid{}
	if p.Name != nil {
		checkName(v, "name", *p.Name, 200)
		cur.Name = strings.TrimSpace(*p.Name)
	}
	if p.Level != nil {
		checkLevel(v, *p.Level)
		cur.Level = *p.Level
	}
	if p.ParentID != nil {
		var cycle bool
		err := db.QueryRow(ctx, `
			WITH RECURSIVE up AS (
				SELECT id, parent_id FROM departments WHERE id = $1
				UNION ALL
				SELECT d.id, d.parent_id FROM departments d JOIN up ON d.id = up.parent_id
			)
			SELECT EXISTS (SELECT 1 FROM up WHERE id = $2)`, *p.ParentID, id).Scan(&cycle)
		if err != nil {
			return cur, fmt.Errorf("identity: update department: %w", err)
		}
		if _, err := GetDepartment(ctx, db, *p.ParentID); errors.Is(err, ErrNotFound) {
			v.add("parent_id", "no such department")
		} else if err != nil {
			return cur, err
		} else if cycle {
			v.add("parent_id", "would make the department its own ancestor")
		}
		cur.ParentID = p.ParentID
	}
	if err := v.err(); err != nil {
		return Department{}, err
	}
	d, err := scanDepartment(db.QueryRow(ctx, `
		UPDATE departments SET name = $2, level = $3, parent_id = $4, updated_at = now()
		WHERE id = $1
		RETURNING `+departmentColumns, id, cur.Name, cur.Level, cur.ParentID))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return d, fmt.Errorf("identity: update department: %w", err)
	}
	return d, err
}

// NewUser is the input to CreateUser.
type NewUser struct {
	Username     string
	DisplayName  string
	DepartmentID uuid.UUID
	Roles        []Role
	Password     string
}

// UserPatch changes a user; nil fields stay as they are. Setting Password replaces the
// password hash.
type UserPatch struct {
	DisplayName  *string
	DepartmentID *uuid.UUID
	Roles        *[]Role
	Disabled     *bool
	Password     *string
}

func checkRoles(v invalid, roles []Role) {
	if len(roles) == 0 {
		v.add("roles", "at least one role is required")
		return
	}
	for _, r := range roles {
		if !r.Valid() {
			v.add("roles", fmt.Sprintf("unknown role %q; roles are admin, window, sealer, custodian, seal_admin, auditor", r))
			return
		}
	}
}

func checkPassword(v invalid, pw string) {
	switch n := utf8.RuneCountInString(pw); {
	case n < MinPasswordLen:
		v.add("password", fmt.Sprintf("must be at least %d characters", MinPasswordLen))
	case n > 256:
		v.add("password", "must be at most 256 characters")
	}
}

func checkDepartment(ctx context.Context, db DB, v invalid, id uuid.UUID) error {
	if _, err := GetDepartment(ctx, db, id); errors.Is(err, ErrNotFound) {
		v.add("department_id", "no such department")
	} else if err != nil {
		return err
	}
	return nil
}

func normRoles(roles []Role) []string {
	out := make([]string, 0, len(roles))
	for _, r := range roles {
		if !slices.Contains(out, string(r)) {
			out = append(out, string(r))
		}
	}
	slices.Sort(out)
	return out
}

const userColumns = `id, username, display_name, department_id, roles, disabled, created_at, updated_at, password_hash, tokens_valid_after`

func scanUser(row pgx.Row) (User, error) {
	var u User
	var roles []string
	err := row.Scan(&u.ID, &u.Username, &u.DisplayName, &u.DepartmentID, &roles, &u.Disabled, &u.CreatedAt, &u.UpdatedAt, &u.PasswordHash, &u.TokensValidAfter)
	if errors.Is(err, pgx.ErrNoRows) {
		return u, ErrNotFound
	}
	u.Roles = make([]Role, len(roles))
	for i, r := range roles {
		u.Roles[i] = Role(r)
	}
	return u, err
}

// CreateUser validates nu, hashes the password and stores the user. Usernames are
// case-insensitive and stored lower-case.
func CreateUser(ctx context.Context, db DB, nu NewUser) (User, error) {
	nu.Username = strings.ToLower(strings.TrimSpace(nu.Username))
	v := invalid{}
	if !usernameRE.MatchString(nu.Username) {
		v.add("username", "must be 2–64 lower-case letters, digits, '.', '_' or '-'")
	}
	checkName(v, "display_name", nu.DisplayName, 100)
	checkRoles(v, nu.Roles)
	checkPassword(v, nu.Password)
	if err := checkDepartment(ctx, db, v, nu.DepartmentID); err != nil {
		return User{}, err
	}
	if err := v.err(); err != nil {
		return User{}, err
	}
	hash, err := HashPassword(nu.Password)
	if err != nil {
		return User{}, err
	}
	u, err := scanUser(db.QueryRow(ctx, `
		INSERT INTO users (username, display_name, department_id, roles, password_hash)
		VALUES ($1, $2, $3, $4, $5)
		RETURNING `+userColumns,
		nu.Username, strings.TrimSpace(nu.DisplayName), nu.DepartmentID, normRoles(nu.Roles), hash))
	if err != nil {
		return User{}, translate(err, "username", nu.Username)
	}
	return u, nil
}

// GetUser returns the user with id, or ErrNotFound.
func GetUser(ctx context.Context, db DB, id uuid.UUID) (User, error) {
	u, err := scanUser(db.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return u, fmt.Errorf("identity: get user: %w", err)
	}
	return u, err
}

// UserByUsername returns the user with username (case-insensitive), or ErrNotFound.
func UserByUsername(ctx context.Context, db DB, username string) (User, error) {
	u, err := scanUser(db.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE username = $1`,
		strings.ToLower(strings.TrimSpace(username))))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return u, fmt.Errorf("identity: user by username: %w", err)
	}
	return u, err
}

// ListUsers returns users ordered by username, after p.After; with department set, only
// that department's users.
func ListUsers(ctx context.Context, db DB, department *uuid.UUID, p Page) ([]User, error) {
	rows, err := db.Query(ctx, `
		SELECT `+userColumns+` FROM users
		WHERE username > $1 AND ($3::uuid IS NULL OR department_id = $3)
		ORDER BY username LIMIT $2`, p.After, p.limit(), department)
	if err != nil {
		return nil, fmt.Errorf("identity: list users: %w", err)
	}
	us, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (User, error) { return scanUser(r) })
	if err != nil {
		return nil, fmt.Errorf("identity: list users: %w", err)
	}
	return us, nil
}

// UpdateUser applies p to the user with id.
func UpdateUser(ctx context.Context, db DB, id uuid.UUID, p UserPatch) (User, error) {
	cur, err := GetUser(ctx, db, id)
	if err != nil {
		return cur, err
	}
	v := invalid{}
	if p.DisplayName != nil {
		checkName(v, "display_name", *p.DisplayName, 100)
		cur.DisplayName = strings.TrimSpace(*p.DisplayName)
	}
	if p.DepartmentID != nil {
		if err := checkDepartment(ctx, db, v, *p.DepartmentID); err != nil {
			return User{}, err
		}
		cur.DepartmentID = *p.DepartmentID
	}
	if p.Roles != nil {
		checkRoles(v, *p.Roles)
		cur.Roles = *p.Roles
	}
	// A new password or a disabled account ends every token issued before.
	revoke := p.Password != nil || p.Disabled != nil && *p.Disabled && !cur.Disabled
	if p.Disabled != nil {
		cur.Disabled = *p.Disabled
	}
	if p.Password != nil {
		checkPassword(v, *p.Password)
	}
	if err := v.err(); err != nil {
		return User{}, err
	}
	if p.Password != nil {
		if cur.PasswordHash, err = HashPassword(*p.Password); err != nil {
			return User{}, err
		}
	}
	u, err := scanUser(db.QueryRow(ctx, `
		UPDATE users SET display_name = $2, department_id = $3, roles = $4, disabled = $5,
			password_hash = $6, updated_at = now(),
			tokens_valid_after = CASE WHEN $7 THEN clock_timestamp() ELSE tokens_valid_after END
		WHERE id = $1
		RETURNING `+userColumns,
		id, cur.DisplayName, cur.DepartmentID, normRoles(cur.Roles), cur.Disabled, cur.PasswordHash, revoke))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return u, fmt.Errorf("identity: update user: %w", err)
	}
	return u, err
}

// RevokeTokens ends every access token of the user with id issued until now (log out
// everywhere).
func RevokeTokens(ctx context.Context, db DB, id uuid.UUID) (User, error) {
	u, err := scanUser(db.QueryRow(ctx, `
		UPDATE users SET tokens_valid_after = clock_timestamp(), updated_at = now() WHERE id = $1
		RETURNING `+userColumns, id))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return u, fmt.Errorf("identity: revoke tokens: %w", err)
	}
	return u, err
}

// TokenRevoked reports whether a token issued at issued is no longer good for u: it is
// older than the user's last password change, disabling or log-out everywhere.
func (u User) TokenRevoked(issued time.Time) bool {
	return u.TokensValidAfter != nil && issued.Before(*u.TokensValidAfter)
}

// translate turns a unique violation into a ConflictError on field.
func translate(err error, field, value string) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return &ConflictError{Field: field, Value: value}
	}
	return fmt.Errorf("identity: %w", err)
}
