package seal

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"sealvault/internal/identity"
)

// Directory is what a seal administrator picks from when filing a seal (its department,
// supervisor and custodians) or recording a letter (its grantor and grantee): every
// department, marked where the caller administers seals, and the active staff of those.
type Directory struct {
	Departments []DirectoryDepartment `json:"departments"`
	People      []DirectoryPerson     `json:"people"`
}

// DirectoryDepartment is a department of the directory.
type DirectoryDepartment struct {
	ID       uuid.UUID  `json:"id"`
	Code     string     `json:"code"`
	Name     string     `json:"name"`
	ParentID *uuid.UUID `json:"parent_id"`
	// Managed: the caller may file seals and record letters for it.
	Managed bool `json:"managed"`
}

// DirectoryPerson is an active member of staff of a managed department.
type DirectoryPerson struct {
	ID           uuid.UUID `json:"id"`
	Username     string    `json:"username"`
	Name         string    `json:"name"`
	DepartmentID uuid.UUID `json:"department_id"`
	Roles        []string  `json:"roles"`
}

// Directory returns the directory for a seal administrator (their department and those
// below it) or an admin (everything).
func (s *Service) Directory(ctx context.Context, a Actor) (Directory, error) {
	all := a.User.HasRole(identity.RoleAdmin)
	if !all && !a.User.HasRole(identity.RoleSealAdmin) {
		return Directory{}, ErrForbidden
	}
	rows, err := s.DB.Query(ctx, `
		WITH RECURSIVE managed(id) AS (
			SELECT id FROM departments WHERE $1 OR id = $2
			UNION SELECT d.id FROM departments d JOIN managed m ON d.parent_id = m.id)
		SELECT d.id, d.code, d.name, d.parent_id, d.id IN (SELECT id FROM managed)
		FROM departments d ORDER BY d.code`, all, a.User.DepartmentID)
	if err != nil {
		return Directory{}, fmt.Errorf("seal: directory: %w", err)
	}
	var dir Directory
	if dir.Departments, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (DirectoryDepartment, error) {
		var d DirectoryDepartment
		return d, r.Scan(&d.ID, &d.Code, &d.Name, &d.ParentID, &d.Managed)
	}); err != nil {
		return Directory{}, fmt.Errorf("seal: directory: %w", err)
	}
	var managed []uuid.UUID
	for _, d := range dir.Departments {
		if d.Managed {
			managed = append(managed, d.ID)
		}
	}
	rows, err = s.DB.Query(ctx, `SELECT id, username, display_name, department_id, roles FROM users
		WHERE NOT disabled AND department_id = ANY($1) ORDER BY username`, managed)
	if err != nil {
		return Directory{}, fmt.Errorf("seal: directory: %w", err)
	}
	if dir.People, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (DirectoryPerson, error) {
		var p DirectoryPerson
		return p, r.Scan(&p.ID, &p.Username, &p.Name, &p.DepartmentID, &p.Roles)
	}); err != nil {
		return Directory{}, fmt.Errorf("seal: directory: %w", err)
	}
	if dir.People == nil {
		dir.People = []DirectoryPerson{}
	}
	return dir, nil
}
