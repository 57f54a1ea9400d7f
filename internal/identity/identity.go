// Package identity holds the people and units sealvault knows: departments in a tree, users
// who belong to one department and hold roles, their passwords (argon2id) and the signed
// access tokens (JWT) that prove who makes a request.
package identity

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Role is a named set of duties a user holds; the API's route table maps routes to roles.
type Role string

// The roles a user can hold.
const (
	RoleAdmin     Role = "admin"      // 系统管理员: departments, accounts, catalogs
	RoleWindow    Role = "window"     // 窗口工作人员: scans originals, opens cases
	RoleSealer    Role = "sealer"     // 部门用印人: applies the department's seals
	RoleCustodian Role = "custodian"  // 印章保管人/监印人: approves seal use
	RoleSealAdmin Role = "seal_admin" // 印章管理员: seal registry and authorizations
	RoleAuditor   Role = "auditor"    // 审计: reads the audit trail
	// RoleSupervisor is the center's supervisor (中心负责人): may override the one-time-notice
	// rule with a written reason.
	RoleSupervisor Role = "supervisor"
)

// Roles returns every role, in a stable order.
func Roles() []Role {
	return []Role{RoleAdmin, RoleWindow, RoleSealer, RoleCustodian, RoleSealAdmin, RoleAuditor, RoleSupervisor}
}

// Valid reports whether r is one of Roles.
func (r Role) Valid() bool { return slices.Contains(Roles(), r) }

// Department kinds.
const (
	KindCenter     = "center"     // 政务服务中心
	KindDepartment = "department" // 部门
)

// Levels returns the government levels a department can sit at.
func Levels() []string {
	return []string{"national", "province", "city", "district", "county", "township"}
}

// Department is a unit in the department tree: a service center or a department under one.
type Department struct {
	ID        uuid.UUID  `json:"id"`
	Code      string     `json:"code"`
	Name      string     `json:"name"`
	Kind      string     `json:"kind"`
	Level     string     `json:"level"`
	ParentID  *uuid.UUID `json:"parent_id"`
	CreatedAt time.Time  `json:"created_at"`
	UpdatedAt time.Time  `json:"updated_at"`
}

// User is a staff account. PasswordHash never leaves the package's callers: it is not
// serialised.
type User struct {
	ID           uuid.UUID `json:"id"`
	Username     string    `json:"username"`
	DisplayName  string    `json:"display_name"`
	DepartmentID uuid.UUID `json:"department_id"`
	Roles        []Role    `json:"roles"`
	Disabled     bool      `json:"disabled"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
	PasswordHash string    `json:"-"`
	// TokensValidAfter: access tokens issued before it are refused (nil: none revoked).
	TokensValidAfter *time.Time `json:"tokens_valid_after,omitempty"`
}

// HasRole reports whether u holds any of roles.
func (u User) HasRole(roles ...Role) bool {
	for _, r := range roles {
		if slices.Contains(u.Roles, r) {
			return true
		}
	}
	return false
}

// ErrNotFound is returned when a department or user does not exist.
var ErrNotFound = errors.New("identity: not found")

// ConflictError reports a value that must be unique and is already taken.
type ConflictError struct {
	Field string // "code" or "username"
	Value string
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("identity: %s %q is already taken", e.Field, e.Value)
}

// InvalidError lists every invalid field of a request, keyed by field name.
type InvalidError struct {
	Fields map[string]string
}

func (e *InvalidError) Error() string {
	keys := make([]string, 0, len(e.Fields))
	for k := range e.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + ": " + e.Fields[k]
	}
	return "identity: invalid " + strings.Join(parts, "; ")
}

// FieldErrors returns the invalid fields and why each is invalid.
func (e *InvalidError) FieldErrors() map[string]string { return e.Fields }

// invalid collects field errors; err returns nil when there are none.
type invalid map[string]string

func (v invalid) add(field, msg string) { v[field] = msg }

func (v invalid) err() error {
	if len(v) == 0 {
		return nil
	}
	return &InvalidError{Fields: v}
}
