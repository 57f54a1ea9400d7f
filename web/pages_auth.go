package web

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// areas add their pages and their navigation entries (areaPages, navEntries) from init
// functions in their own files.
var (
	areaPages  []func(*Handler) []page
	navEntries []nav
)

// nav is one entry of the navigation bar and the home page: shown to a user whom its API
// route allows.
type nav struct {
	Order int
	Key   string // message key of its label
	Href  string
	API   string // "GET /api/v1/…": the route whose roles decide who sees it
}

func (h *Handler) routes() []page {
	p := []page{
		{Method: http.MethodGet, Path: "/login", Public: true, Handler: loginPage},
		{Method: http.MethodPost, Path: "/login", Public: true, Handler: loginPost},
		{Method: http.MethodPost, Path: "/logout", Public: true, Handler: logoutPost},
		{Method: http.MethodGet, Path: "/lang", Public: true, Handler: setLang},
		{Method: http.MethodGet, Path: "/{$}", API: "GET /api/v1/me", Handler: homePage},
		{Method: http.MethodGet, Path: "/password", API: "POST /api/v1/me/password", Handler: passwordPage},
		{Method: http.MethodPost, Path: "/password", API: "POST /api/v1/me/password", Handler: passwordPost},
	}
	for _, f := range areaPages {
		p = append(p, f(h)...)
	}
	return p
}

// navFor is the navigation the user may follow, in order.
func (x *rc) navFor() []nav {
	if x.me == nil {
		return nil
	}
	var out []nav
	for _, n := range navEntries {
		method, path, _ := strings.Cut(n.API, " ")
		if _, allowed, ok := x.h.deps.API.RouteAccess(method, path); ok && (allowed == nil || x.me.Has(allowed...)) {
			out = append(out, n)
		}
	}
	sortNav(out)
	return out
}

func sortNav(n []nav) {
	for i := 1; i < len(n); i++ {
		for j := i; j > 0 && n[j].Order < n[j-1].Order; j-- {
			n[j], n[j-1] = n[j-1], n[j]
		}
	}
}

// safeNext is a local path to go to after logging in, or "/".
func safeNext(s string) string {
	if !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") || strings.HasPrefix(s, "/\\") || len(s) > 500 ||
		strings.HasPrefix(s, "/login") {
		return "/"
	}
	return s
}

type loginView struct {
	LoginCSRF string
	Username  string
	Next      string
	Error     string
	Problem   *problem
	Info      string
}

func loginPage(x *rc) error {
	if x.sess != nil {
		return x.redirect(safeNext(x.r.URL.Query().Get("next")), "")
	}
	v := loginView{LoginCSRF: loginCSRF(x.w, x.r), Next: safeNext(x.r.URL.Query().Get("next"))}
	if x.r.URL.Query().Get("bye") != "" {
		v.Info = x.t("logout.done")
	}
	x.render(http.StatusOK, "login", v)
	return nil
}

func loginPost(x *rc) error {
	v := loginView{LoginCSRF: loginCSRF(x.w, x.r), Username: formValue(x.r, "username"), Next: safeNext(formValue(x.r, "next"))}
	if !checkLoginCSRF(x.r) {
		v.Error = x.t("login.csrf")
		x.render(http.StatusForbidden, "login", v)
		return nil
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	x.sess = nil
	err := x.apiJSONNoAuth(http.MethodPost, "/api/v1/auth/login",
		map[string]string{"username": v.Username, "password": formValue(x.r, "password")}, &tok)
	var pr *problem
	if errors.As(err, &pr) {
		switch pr.Status {
		case http.StatusUnauthorized:
			v.Error = x.t("login.failed")
		case http.StatusTooManyRequests:
			secs, _ := strconv.Atoi(pr.RetryAfter)
			at := time.Now().Add(time.Duration(secs) * time.Second).In(cst).Format("15:04")
			v.Error = x.t("login.locked", at, (secs+59)/60)
		default:
			v.Problem = pr
		}
		x.render(pr.Status, "login", v)
		return nil
	} else if err != nil {
		return err
	}
	claims, err := x.h.deps.Tokens.Verify(tok.AccessToken)
	if err != nil {
		return err
	}
	if err := x.h.startSession(x.r.Context(), x.w, x.r, claims.UserID); err != nil {
		return err
	}
	return x.redirect(v.Next, "")
}

// apiJSONNoAuth is apiJSON without the session's token (the login).
func (x *rc) apiJSONNoAuth(method, path string, in, out any) error {
	s := x.sess
	x.sess = nil
	defer func() { x.sess = s }()
	return x.apiJSON(method, path, in, out)
}

func logoutPost(x *rc) error {
	if x.sess != nil {
		if !x.sess.checkCSRF(x.r) {
			return &pageError{status: http.StatusForbidden, msg: x.t("err.csrf")}
		}
		x.h.endSession(x.r.Context(), x.sess)
	}
	clearSessionCookie(x.w, x.r)
	http.Redirect(x.w, x.r, "/login?bye=1", http.StatusSeeOther)
	return nil
}

func setLang(x *rc) error {
	l := "zh-CN"
	if x.r.URL.Query().Get("to") == "en" {
		l = "en"
	}
	http.SetCookie(x.w, &http.Cookie{Name: langCookie, Value: l, Path: "/", SameSite: http.SameSiteStrictMode,
		Secure: x.r.TLS != nil, MaxAge: 365 * 24 * 3600})
	http.Redirect(x.w, x.r, safeNext(x.r.URL.Query().Get("next")), http.StatusSeeOther)
	return nil
}

type homeView struct {
	Nav []nav
}

func homePage(x *rc) error {
	x.render(http.StatusOK, "home", homeView{Nav: x.navFor()})
	return nil
}

type passwordView struct {
	Error   string
	Problem *problem
}

func passwordPage(x *rc) error {
	x.render(http.StatusOK, "password", passwordView{})
	return nil
}

func passwordPost(x *rc) error {
	if formValue(x.r, "new_password") != formValue(x.r, "repeat_password") {
		x.render(http.StatusBadRequest, "password", passwordView{Error: x.t("password.differ")})
		return nil
	}
	err := x.apiJSON(http.MethodPost, "/api/v1/me/password", map[string]string{
		"current_password": formValue(x.r, "current_password"), "new_password": formValue(x.r, "new_password")}, nil)
	var pr *problem
	if errors.As(err, &pr) && pr.Status < 500 {
		x.render(pr.Status, "password", passwordView{Problem: pr})
		return nil
	} else if err != nil {
		return err
	}
	// The change revoked every session of the user, this one too: a new one for this browser.
	if err := x.h.startSession(x.r.Context(), x.w, x.r, x.me.ID); err != nil {
		return err
	}
	return x.redirect("/", "password")
}

// roleNames is the user's roles in the page's language.
func (v view) RoleNames() string {
	if v.Me == nil {
		return ""
	}
	names := make([]string, len(v.Me.Roles))
	for i, r := range v.Me.Roles {
		names[i] = translate(v.Lang, "role."+string(r))
	}
	return strings.Join(names, translate(v.Lang, "list.sep"))
}

// Route is one workbench route as the route tests see it.
type Route struct {
	Method, Path string
	Public       bool
	API          string // the API route whose roles the page has ("" with Public false: anyone signed in)
}

// Routes lists every workbench page.
func Routes() []Route {
	var out []Route
	for _, p := range (&Handler{}).routes() {
		out = append(out, Route{Method: p.Method, Path: p.Path, Public: p.Public, API: p.API})
	}
	return out
}
