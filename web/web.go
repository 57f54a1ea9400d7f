// Package web is the workbench: the Chinese (zh-CN first, English available) web interface
// that window clerks, sealers, custodians, seal administrators and auditors work in, and the
// public verification page. It is server-rendered html/template with one small script of our
// own, every asset embedded in the binary.
//
// It holds no rule and reads no table of its own but its sessions: every page asks the API
// (the api package's handler, called in process) as the signed-in user, with a token minted
// for the request, and renders what the API answered. So a page shows or changes exactly
// what the API allows the same person, object-level checks included, and a refusal is the
// API's problem, shown in the user's language.
package web

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"sealvault/internal/identity"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// API is what the workbench needs of the API: its handler and its route table.
type API interface {
	http.Handler
	RouteAccess(method, path string) (public bool, allowed []identity.Role, ok bool)
}

// Deps is what the workbench needs; cmd/sealvault builds it.
type Deps struct {
	API    API
	DB     *pgxpool.Pool
	Tokens *identity.Tokens
	Log    *slog.Logger
	// IdleTimeout ends a session this long after its last request (default 30 minutes).
	IdleTimeout time.Duration
}

// page is one row of the workbench's route table. A page that is not Public needs a session;
// API names the API route (method and path as in the API's route table) whose roles the page
// has: the page is refused to anyone that route would refuse, before anything is asked.
type page struct {
	Method  string
	Path    string // http.ServeMux pattern path, e.g. /cases/{id}
	Public  bool
	API     string // "GET /api/v1/cases"; empty with Public false: any signed-in user
	Handler func(*rc) error
}

// Handler serves the workbench.
type Handler struct {
	deps  Deps
	mux   *http.ServeMux
	tmpl  map[string]*template.Template
	pages []page
}

// New builds the workbench. It fails when a page names an API route that does not exist.
func New(d Deps) (*Handler, error) {
	if d.IdleTimeout <= 0 {
		d.IdleTimeout = 30 * time.Minute
	}
	h := &Handler{deps: d, mux: http.NewServeMux()}
	var err error
	if h.tmpl, err = parseTemplates(); err != nil {
		return nil, err
	}
	static, _ := fs.Sub(staticFS, "static")
	h.mux.Handle("GET /static/", http.StripPrefix("/static/", cacheStatic(http.FileServerFS(static))))
	h.pages = h.routes()
	for _, p := range h.pages {
		if p.API != "" {
			method, path, _ := strings.Cut(p.API, " ")
			if _, _, ok := d.API.RouteAccess(method, path); !ok {
				return nil, fmt.Errorf("web: page %s %s names API route %s, which does not exist", p.Method, p.Path, p.API)
			}
		}
		h.mux.HandleFunc(p.Method+" "+p.Path, h.serve(p))
	}
	h.mux.HandleFunc("/", h.notFound)
	return h, nil
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	// No inline script, no inline style attribute handlers, nothing from another host.
	hd.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; media-src 'self' blob: mediastream:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "same-origin")
	hd.Set("Permissions-Policy", "camera=(self), microphone=()")
	h.mux.ServeHTTP(w, r)
}

func cacheStatic(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		next.ServeHTTP(w, r)
	})
}

// rc is one request to a page: who asks, in which language, and the way to the API.
type rc struct {
	h    *Handler
	w    http.ResponseWriter
	r    *http.Request
	lang string
	sess *session // nil on public pages without a session
	me   *me
}

// me is the signed-in user as GET /api/v1/me describes them.
type me struct {
	ID          uuid.UUID       `json:"id"`
	Username    string          `json:"username"`
	DisplayName string          `json:"display_name"`
	Roles       []identity.Role `json:"roles"`
	Department  struct {
		ID   uuid.UUID `json:"id"`
		Code string    `json:"code"`
		Name string    `json:"name"`
	} `json:"department"`
}

func (m *me) Has(roles ...identity.Role) bool {
	for _, r := range roles {
		if slices.Contains(m.Roles, r) {
			return true
		}
	}
	return false
}

// HasRole is Has for templates, which pass role names as strings.
func (m *me) HasRole(names ...string) bool {
	for _, n := range names {
		if m.Has(identity.Role(n)) {
			return true
		}
	}
	return false
}

func (h *Handler) serve(p page) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		x := &rc{h: h, w: w, r: r, lang: langOf(r)}
		err := h.authorize(x, p)
		if err == nil {
			err = p.Handler(x)
		}
		if err != nil {
			x.fail(err)
		}
	}
}

// authorize loads the session and the user, checks the form's CSRF token and the page's
// roles against its API route.
func (h *Handler) authorize(x *rc, p page) error {
	s, err := h.loadSession(x.r.Context(), x.r)
	if err != nil && !errors.Is(err, errNoSession) {
		return err
	}
	x.sess = s
	if s == nil {
		if p.Public {
			return nil
		}
		if x.r.Method == http.MethodGet {
			http.Redirect(x.w, x.r, "/login?next="+urlEscape(x.r.URL.RequestURI()), http.StatusSeeOther)
			return errHandled
		}
		return &pageError{status: http.StatusUnauthorized, msg: x.t("err.session")}
	}
	if x.r.Method == http.MethodPost && !s.checkCSRF(x.r) {
		return &pageError{status: http.StatusForbidden, msg: x.t("err.csrf")}
	}
	var m me
	if err := x.apiJSON(http.MethodGet, "/api/v1/me", nil, &m); err != nil {
		var pr *problem
		if errors.As(err, &pr) && pr.Status == http.StatusUnauthorized {
			h.endSession(x.r.Context(), s)
			clearSessionCookie(x.w, x.r)
			if x.r.Method == http.MethodGet && !p.Public {
				http.Redirect(x.w, x.r, "/login?next="+urlEscape(x.r.URL.RequestURI()), http.StatusSeeOther)
				return errHandled
			}
		}
		return err
	}
	x.me = &m
	if p.API != "" && !p.Public {
		method, path, _ := strings.Cut(p.API, " ")
		_, allowed, _ := h.deps.API.RouteAccess(method, path)
		if allowed != nil && !m.Has(allowed...) {
			names := make([]string, len(allowed))
			for i, r := range allowed {
				names[i] = x.roleName(string(r))
			}
			return &pageError{status: http.StatusForbidden, msg: x.t("err.role") + strings.Join(names, x.t("list.sep"))}
		}
	}
	return nil
}

// errHandled: the handler already answered (a redirect).
var errHandled = errors.New("handled")

// pageError is a refusal of the workbench itself (no session, a bad CSRF token, a role).
type pageError struct {
	status int
	msg    string
}

func (e *pageError) Error() string { return e.msg }

// fail answers err as a page: an API problem with its status, title and detail (and field
// errors), a page error, or an internal error with the request id only.
func (x *rc) fail(err error) {
	if errors.Is(err, errHandled) {
		return
	}
	var pr *problem
	var pe *pageError
	data := map[string]any{}
	status := http.StatusInternalServerError
	switch {
	case errors.As(err, &pr):
		status = pr.Status
		data["Problem"] = pr
	case errors.As(err, &pe):
		status = pe.status
		data["Message"] = pe.msg
	case errors.Is(err, context.Canceled):
		return
	default:
		x.h.deps.Log.Error("web: page failed", "path", x.r.URL.Path, "err", err)
		data["Message"] = x.t("err.internal")
	}
	data["Status"] = status
	x.render(status, "error", data)
}

func (h *Handler) notFound(w http.ResponseWriter, r *http.Request) {
	x := &rc{h: h, w: w, r: r, lang: langOf(r)}
	if s, err := h.loadSession(r.Context(), r); err == nil {
		x.sess = s
	}
	x.fail(&pageError{status: http.StatusNotFound, msg: x.t("err.notfound")})
}

func randomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// Mount serves the API's paths (/api/, /healthz, /readyz, /metrics) with api and everything
// else with the workbench.
func Mount(api http.Handler, wb *Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if strings.HasPrefix(p, "/api/") || p == "/api" || p == "/healthz" || p == "/readyz" || p == "/metrics" {
			api.ServeHTTP(w, r)
			return
		}
		wb.ServeHTTP(w, r)
	})
}
