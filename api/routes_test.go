package api

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"sealvault/internal/identity"
)

// TestRouteTableCoversEveryRoute fails when a registered route is not in the route table or
// the OpenAPI document, or the document names a route the server does not have.
func TestRouteTableCoversEveryRoute(t *testing.T) {
	b := setup(t)
	table := map[string]bool{}
	for _, r := range b.srv.routes() {
		table[r.Method+" "+r.Path] = true
	}
	var registered []string
	for _, r := range b.srv.Echo().Routes() {
		key := r.Method + " " + r.Path
		if strings.HasPrefix(r.Name, "github.com/labstack/echo") {
			continue // echo's own not-found/method-not-allowed fallbacks
		}
		registered = append(registered, key)
		if !table[key] {
			t.Errorf("route %s is registered but missing from the route table", key)
		}
	}
	slices.Sort(registered)
	registered = slices.Compact(registered)
	if doc := b.srv.spec.paths(); !slices.Equal(doc, registered) {
		t.Errorf("OpenAPI document and server routes differ:\n document: %v\n server:   %v", doc, registered)
	}
	if len(registered) != len(b.srv.routes()) {
		t.Errorf("%d routes registered, table has %d", len(registered), len(b.srv.routes()))
	}
}

// TestRouteRoles sends every protected route once without a token and once as a user of
// each role: no token is 401, a role outside the table is 403, a role in it gets past
// authorization (neither 401 nor 403).
func TestRouteRoles(t *testing.T) {
	b := setup(t)
	for _, r := range b.srv.routes() {
		if r.Public {
			continue
		}
		path := strings.ReplaceAll(r.Path, ":id", uuid.NewString())
		var body any
		if r.Method == http.MethodPost || r.Method == http.MethodPatch {
			body = "{}"
		}
		t.Run(r.Method+" "+r.Path, func(t *testing.T) {
			rec := b.do(t, r.Method, path, "", body)
			if rec.Code != http.StatusUnauthorized {
				t.Errorf("no token: status %d, want 401", rec.Code)
			}
			problemOf(t, rec)
			for _, role := range identity.Roles() {
				rec := b.do(t, r.Method, path, b.token[role], body)
				allowed := r.Roles == nil || slices.Contains(r.Roles, role)
				switch {
				case allowed && (rec.Code == http.StatusUnauthorized || rec.Code == http.StatusForbidden):
					t.Errorf("role %s is in the table but got %d: %s", role, rec.Code, rec.Body)
				case !allowed && rec.Code != http.StatusForbidden:
					t.Errorf("role %s is not in the table but got %d, want 403", role, rec.Code)
				}
			}
		})
	}
}

func TestPublicRoutes(t *testing.T) {
	b := setup(t)
	for _, path := range []string{"/healthz", "/readyz", "/api/v1/openapi.json"} {
		rec := b.do(t, http.MethodGet, path, "", nil)
		if rec.Code != http.StatusOK {
			t.Errorf("GET %s: %d %s", path, rec.Code, rec.Body)
		}
		for h, want := range map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY"} {
			if got := rec.Header().Get(h); got != want {
				t.Errorf("GET %s: %s = %q, want %q", path, h, got, want)
			}
		}
		if !strings.Contains(rec.Header().Get("Content-Security-Policy"), "frame-ancestors 'none'") {
			t.Errorf("GET %s: no CSP", path)
		}
		if rec.Header().Get("X-Request-Id") == "" {
			t.Errorf("GET %s: no request id", path)
		}
	}
	b.do(t, http.MethodGet, "/api/v1/me", b.token[identity.RoleWindow], nil)
	rec := b.do(t, http.MethodGet, "/metrics", "", nil)
	for _, want := range []string{
		`sealvault_http_requests_total{method="GET",route="/api/v1/me",status="200"} 1`,
		`sealvault_http_request_duration_seconds_bucket{method="GET",route="/healthz"`,
		`sealvault_db_pool_connections{state="idle"}`,
	} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestUnknownRouteIsProblem(t *testing.T) {
	b := setup(t)
	rec := b.do(t, http.MethodGet, "/api/v1/nope", "", nil)
	if p := problemOf(t, rec); rec.Code != http.StatusNotFound || p.Type != ProblemBase+"not-found" {
		t.Errorf("unknown route: %d %+v", rec.Code, p)
	}
	rec = b.do(t, http.MethodDelete, "/api/v1/me", b.token[identity.RoleAdmin], nil)
	if p := problemOf(t, rec); rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("wrong method: %d %+v", rec.Code, p)
	}
	// A path that does not match still must not show up as its own metrics label.
	rec = b.do(t, http.MethodGet, "/metrics", "", nil)
	if strings.Contains(rec.Body.String(), "/api/v1/nope") {
		t.Error("unmatched path leaked into metric labels")
	}
}
