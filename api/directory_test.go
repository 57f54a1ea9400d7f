package api

import (
	"net/http"
	"slices"
	"testing"

	"github.com/google/uuid"

	"sealvault/internal/identity"
	"sealvault/seal"
)

// TestDirectoryAndNames: a seal names its supervisor and custodians, a letter its
// departments and seals; the directory gives a seal admin every department, marked where
// they manage it, and the active staff of those only.
func TestDirectoryAndNames(t *testing.T) {
	w := newSealWorld(t)
	b := w.b
	sl := must[seal.Seal](t, b.do(t, http.MethodGet, "/api/v1/seals/"+w.seal.Ref, b.token[identity.RoleWindow], nil), http.StatusOK)
	var names []string
	for i, c := range sl.Custodians {
		if c.ID != sl.CustodianIDs[i] {
			t.Errorf("custodian %d: %v, ids %v", i, c, sl.CustodianIDs)
		}
		names = append(names, c.Name)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"用户 d1-custodian", "用户 d1-dual"}) || sl.SupervisorName != "用户 d1-supervisor" {
		t.Errorf("seal names custodians %v, supervisor %q", names, sl.SupervisorName)
	}
	a := must[seal.Authorization](t, b.do(t, http.MethodGet, "/api/v1/authorizations/"+w.letter.Ref, b.token[identity.RoleWindow], nil), http.StatusOK)
	if a.GrantorDepartment != "市场监督管理局" || a.GranteeDepartment != "测试政务服务中心" || len(a.Seals) != 1 ||
		a.Seals[0].Ref != w.seal.Ref || a.Seals[0].Name != w.seal.Name {
		t.Errorf("letter names %q %q %+v", a.GrantorDepartment, a.GranteeDepartment, a.Seals)
	}

	// A department outside the seal admin's tree, with staff; a disabled member of D1.
	other, err := identity.CreateDepartment(t.Context(), b.pool, identity.NewDepartment{Code: "X9", Name: "另一区政务服务中心", Kind: identity.KindCenter, Level: "district"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := identity.CreateUser(t.Context(), b.pool, identity.NewUser{Username: "x9-custodian", DisplayName: "外区保管人",
		DepartmentID: other.ID, Roles: []identity.Role{identity.RoleCustodian}, Password: testPassword}); err != nil {
		t.Fatal(err)
	}
	gone := w.user(t, "d1-gone", identity.RoleCustodian)
	yes := true
	if _, err := identity.UpdateUser(t.Context(), b.pool, gone.ID, identity.UserPatch{Disabled: &yes}); err != nil {
		t.Fatal(err)
	}

	dir := must[seal.Directory](t, b.do(t, http.MethodGet, "/api/v1/directory", b.token[identity.RoleSealAdmin], nil), http.StatusOK)
	managed := map[string]bool{}
	for _, d := range dir.Departments {
		managed[d.Code] = d.Managed
	}
	if len(managed) != 3 || !managed["C1"] || !managed["D1"] || managed["X9"] {
		t.Errorf("departments %+v", dir.Departments)
	}
	people := map[string]uuid.UUID{}
	for _, p := range dir.People {
		people[p.Username] = p.DepartmentID
	}
	if people["d1-custodian"] != b.dept.ID || people["u-seal_admin"] != b.center.ID {
		t.Errorf("people lack the staff of managed departments: %+v", dir.People)
	}
	for _, u := range []string{"x9-custodian", "d1-gone"} {
		if _, ok := people[u]; ok {
			t.Errorf("directory lists %s", u)
		}
	}
	// An admin sees everything; a window clerk is refused.
	dir = must[seal.Directory](t, b.do(t, http.MethodGet, "/api/v1/directory", b.token[identity.RoleAdmin], nil), http.StatusOK)
	for _, d := range dir.Departments {
		if !d.Managed {
			t.Errorf("admin does not manage %s", d.Code)
		}
	}
	if rec := b.do(t, http.MethodGet, "/api/v1/directory", b.token[identity.RoleWindow], nil); rec.Code != http.StatusForbidden {
		t.Errorf("window clerk reads the directory: %d", rec.Code)
	}
}
