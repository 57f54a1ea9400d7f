package api

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"sealvault/internal/identity"
)

func fieldsOf(p Problem) []string {
	var out []string
	for _, f := range p.Errors {
		out = append(out, f.Field)
	}
	slices.Sort(out)
	return out
}

// TestBadInputWritesNothing sends broken requests to the write routes; each gets a problem
// naming what is wrong, and no row is written.
func TestBadInputWritesNothing(t *testing.T) {
	b := setup(t)
	admin := b.token[identity.RoleAdmin]
	deps, users := count(t, b.pool, "departments"), count(t, b.pool, "users")
	big := `{"code":"BIG","name":"` + strings.Repeat("大", 40_000) + `","kind":"department","level":"city"}`
	cases := []struct {
		name, path, body string
		status           int
		slug             string
		fields           []string
	}{
		{"malformed JSON", "/api/v1/departments", `{"code": "X1", "name": `, 400, "malformed-request", nil},
		{"not an object", "/api/v1/departments", `["X1"]`, 400, "invalid-fields", []string{"body"}},
		{"wrong types", "/api/v1/departments", `{"code": 5, "name": true, "kind": "office", "level": "moon"}`, 400, "invalid-fields",
			[]string{"code", "kind", "level", "name"}},
		{"missing fields", "/api/v1/departments", `{}`, 400, "invalid-fields", []string{"code", "kind", "level", "name"}},
		{"unknown field", "/api/v1/departments", `{"code":"X1","name":"某局","kind":"center","level":"city","colour":"red"}`, 400, "invalid-fields",
			[]string{"colour"}},
		{"two objects", "/api/v1/departments", `{"code":"X1","name":"某局","kind":"center","level":"city"}{}`, 400, "malformed-request", nil},
		{"oversized body", "/api/v1/departments", big, 413, "payload-too-large", nil},
		{"user: everything wrong", "/api/v1/users", `{"username":"x","display_name":"","department_id":"nope","roles":["king"],"password":"short"}`, 400, "invalid-fields",
			[]string{"department_id", "display_name", "password", "roles.0", "username"}},
		{"user: unknown department", "/api/v1/users", `{"username":"newbie","display_name":"新人","department_id":"` + uuid.NewString() + `","roles":["window"],"password":"long enough pw"}`, 400, "invalid-fields",
			[]string{"department_id"}},
		{"user: taken username", "/api/v1/users", `{"username":"U-Admin","display_name":"重名","department_id":"` + b.dept.ID.String() + `","roles":["window"],"password":"long enough pw"}`, 409, "conflict", nil},
		{"department without parent", "/api/v1/departments", `{"code":"ORPHAN","name":"无上级部门","kind":"department","level":"city"}`, 400, "invalid-fields", []string{"parent_id"}},
		{"department: taken code", "/api/v1/departments", `{"code":"D1","name":"重复","kind":"center","level":"city"}`, 409, "conflict", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := b.do(t, http.MethodPost, tc.path, admin, tc.body)
			p := problemOf(t, rec)
			if rec.Code != tc.status || p.Type != ProblemBase+tc.slug {
				t.Fatalf("status %d type %s, want %d %s: %s", rec.Code, p.Type, tc.status, tc.slug, rec.Body)
			}
			if tc.fields != nil && !slices.Equal(fieldsOf(p), tc.fields) {
				t.Errorf("invalid fields %v, want %v", fieldsOf(p), tc.fields)
			}
			for _, leak := range []string{"SQLSTATE", "duplicate key", "pgx", "goroutine", "sql:", "openapi3"} {
				if strings.Contains(rec.Body.String(), leak) {
					t.Errorf("problem leaks %q: %s", leak, rec.Body)
				}
			}
		})
	}
	if d, u := count(t, b.pool, "departments"), count(t, b.pool, "users"); d != deps || u != users {
		t.Errorf("bad requests wrote rows: departments %d→%d, users %d→%d", deps, d, users, u)
	}
}

func TestWrongContentType(t *testing.T) {
	b := setup(t)
	req := `{"username":"u-admin","password":"x"}`
	rec := b.doRaw(t, http.MethodPost, "/api/v1/auth/login", "text/plain", req)
	if p := problemOf(t, rec); rec.Code != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain login: %d %+v", rec.Code, p)
	}
}

func TestProblemLanguage(t *testing.T) {
	b := setup(t)
	rec := b.do(t, http.MethodGet, "/api/v1/me", "", nil)
	if p := problemOf(t, rec); p.Title != "未登录或登录已失效" || rec.Header().Get("Content-Language") != "zh-CN" {
		t.Errorf("default problem is not Chinese: %+v", p)
	}
	rec = b.doRaw(t, http.MethodGet, "/api/v1/me", "", "", "Accept-Language", "en-GB,en;q=0.9,zh;q=0.5")
	if p := problemOf(t, rec); p.Title != "Not authenticated" || rec.Header().Get("Content-Language") != "en" {
		t.Errorf("English was asked for: %+v", p)
	}
}

func TestAdminManagesDepartmentsAndUsers(t *testing.T) {
	b := setup(t)
	admin := b.token[identity.RoleAdmin]
	rec := b.do(t, http.MethodPost, "/api/v1/departments", admin, map[string]any{
		"code": "D2", "name": "  住房和城乡建设局 ", "kind": "department", "level": "district", "parent_id": b.center.ID})
	if rec.Code != http.StatusCreated {
		t.Fatalf("create department: %d %s", rec.Code, rec.Body)
	}
	d2 := decode[identity.Department](t, rec)
	if d2.Name != "住房和城乡建设局" || *d2.ParentID != b.center.ID {
		t.Errorf("created %+v", d2)
	}
	// Moving the center under its own child would make a cycle.
	rec = b.do(t, http.MethodPatch, "/api/v1/departments/"+b.center.ID.String(), admin, map[string]any{"parent_id": d2.ID})
	if p := problemOf(t, rec); rec.Code != 400 || !slices.Equal(fieldsOf(p), []string{"parent_id"}) {
		t.Errorf("cycle: %d %+v", rec.Code, p)
	}
	rec = b.do(t, http.MethodPatch, "/api/v1/departments/"+d2.ID.String(), admin, map[string]any{"name": "天河区住房和城乡建设局", "level": "city"})
	if got := decode[identity.Department](t, rec); rec.Code != 200 || got.Name != "天河区住房和城乡建设局" || got.Level != "city" {
		t.Errorf("patch: %d %s", rec.Code, rec.Body)
	}
	if rec := b.do(t, http.MethodGet, "/api/v1/departments/"+uuid.NewString(), admin, nil); rec.Code != 404 {
		t.Errorf("unknown department: %d", rec.Code)
	}

	rec = b.do(t, http.MethodPost, "/api/v1/users", admin, map[string]any{
		"username": "Li.Na", "display_name": "李娜", "department_id": d2.ID, "roles": []string{"window", "sealer", "window"}, "password": "一二三四五六七八九十"})
	if rec.Code != http.StatusCreated {
		t.Fatalf("create user: %d %s", rec.Code, rec.Body)
	}
	u := decode[identity.User](t, rec)
	if u.Username != "li.na" || !slices.Equal(u.Roles, []identity.Role{"sealer", "window"}) || strings.Contains(rec.Body.String(), "argon2") {
		t.Errorf("created user %s", rec.Body)
	}
	// The new account can log in with its Chinese password.
	if rec := b.do(t, http.MethodPost, "/api/v1/auth/login", "", map[string]string{"username": "li.na", "password": "一二三四五六七八九十"}); rec.Code != 200 {
		t.Errorf("new user login: %d %s", rec.Code, rec.Body)
	}

	// Pagination: pages of 2 walk every user exactly once, in username order.
	var seen []string
	after := ""
	for range 10 {
		rec := b.do(t, http.MethodGet, "/api/v1/users?limit=2&after="+after, admin, nil)
		page := decode[list[identity.User]](t, rec)
		for _, u := range page.Items {
			seen = append(seen, u.Username)
		}
		if page.NextCursor == "" {
			break
		}
		after = page.NextCursor
	}
	if len(seen) != count(t, b.pool, "users") || !slices.IsSorted(seen) || slices.Compact(slices.Clone(seen)) == nil {
		t.Errorf("paged users %v", seen)
	}
	rec = b.do(t, http.MethodGet, "/api/v1/users?department_id="+d2.ID.String(), admin, nil)
	if page := decode[list[identity.User]](t, rec); len(page.Items) != 1 || page.Items[0].Username != "li.na" {
		t.Errorf("users of D2: %s", rec.Body)
	}
	if rec := b.do(t, http.MethodGet, "/api/v1/users?limit=0", admin, nil); rec.Code != 400 {
		t.Errorf("limit=0: %d", rec.Code)
	}
}

func TestChangeOwnPassword(t *testing.T) {
	b := setup(t)
	tok := b.token[identity.RoleSealer]
	rec := b.do(t, http.MethodPost, "/api/v1/me/password", tok, map[string]string{"current_password": "wrong one", "new_password": "a brand new secret"})
	if p := problemOf(t, rec); rec.Code != 400 || !slices.Equal(fieldsOf(p), []string{"current_password"}) {
		t.Fatalf("wrong current password: %d %+v", rec.Code, p)
	}
	rec = b.do(t, http.MethodPost, "/api/v1/me/password", tok, map[string]string{"current_password": testPassword, "new_password": "a brand new secret"})
	if rec.Code != http.StatusNoContent {
		t.Fatalf("change: %d %s", rec.Code, rec.Body)
	}
	for pw, want := range map[string]int{testPassword: 401, "a brand new secret": 200} {
		if rec := b.do(t, http.MethodPost, "/api/v1/auth/login", "", map[string]string{"username": "u-sealer", "password": pw}); rec.Code != want {
			t.Errorf("login with %q: %d, want %d", pw, rec.Code, want)
		}
	}
}
