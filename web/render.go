package web

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

// view is what every template gets: the page's data and what the layout needs.
type view struct {
	Lang  string
	Me    *me
	CSRF  string
	Path  string
	Flash string // a success message key (?done=…), translated by the layout
	Data  any
	Nav   []nav // the navigation the user may follow
}

// T translates key into the page's language; args fill %s/%d verbs of the message.
func (v view) T(key string, args ...any) string { return translate(v.Lang, key, args...) }

func (x *rc) t(key string, args ...any) string { return translate(x.lang, key, args...) }

func (x *rc) roleName(role string) string { return x.t("role." + role) }

var funcs = template.FuncMap{
	// when formats an RFC 3339 time (or a time.Time) in China Standard Time.
	"when": func(v any) string {
		var t time.Time
		switch x := v.(type) {
		case time.Time:
			t = x
		case *time.Time:
			if x == nil {
				return ""
			}
			t = *x
		case string:
			if x == "" {
				return ""
			}
			var err error
			if t, err = time.Parse(time.RFC3339Nano, x); err != nil {
				return x
			}
		default:
			return fmt.Sprint(v)
		}
		return t.In(cst).Format("2006-01-02 15:04")
	},
	// day formats a date (YYYY-MM-DD…) as its first ten characters.
	"day": func(s string) string {
		if len(s) >= 10 {
			return s[:10]
		}
		return s
	},
	"join": strings.Join,
	"list": func(s ...string) []string { return s },
	"add":  func(a, b int) int { return a + b },
	"dict": func(kv ...any) map[string]any {
		m := map[string]any{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[fmt.Sprint(kv[i])] = kv[i+1]
		}
		return m
	},
	"has": func(list []string, s string) bool {
		for _, v := range list {
			if v == s {
				return true
			}
		}
		return false
	},
}

var cst = time.FixedZone("CST", 8*3600)

// parseTemplates makes one template set per page file: the layout and the partials
// (files starting with "_"), then the page, which defines "title" and "content".
func parseTemplates() (map[string]*template.Template, error) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	base := template.New("").Funcs(funcs)
	for _, n := range names {
		if b := path.Base(n); b == "layout.html" || strings.HasPrefix(b, "_") {
			if base, err = base.ParseFS(templateFS, n); err != nil {
				return nil, fmt.Errorf("web: template %s: %w", n, err)
			}
		}
	}
	out := map[string]*template.Template{}
	for _, n := range names {
		b := path.Base(n)
		if b == "layout.html" || strings.HasPrefix(b, "_") {
			continue
		}
		t, err := base.Clone()
		if err == nil {
			t, err = t.ParseFS(templateFS, n)
		}
		if err != nil {
			return nil, fmt.Errorf("web: template %s: %w", n, err)
		}
		out[strings.TrimSuffix(b, ".html")] = t
	}
	return out, nil
}

// render writes the page name with data, in the layout.
func (x *rc) render(status int, name string, data any) {
	t, ok := x.h.tmpl[name]
	if !ok {
		x.h.deps.Log.Error("web: no template", "name", name)
		http.Error(x.w, "template missing", http.StatusInternalServerError)
		return
	}
	v := view{Lang: x.lang, Me: x.me, Path: x.r.URL.Path, Data: data, Nav: x.navFor()}
	if x.sess != nil {
		v.CSRF = x.sess.CSRF
	}
	if d := x.r.URL.Query().Get("done"); d != "" && len(d) < 40 && hasMessage("done."+d) {
		v.Flash = "done." + d
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		x.h.deps.Log.Error("web: render", "name", name, "err", err)
		http.Error(x.w, "render failed", http.StatusInternalServerError)
		return
	}
	x.w.Header().Set("Content-Type", "text/html; charset=utf-8")
	x.w.Header().Set("Cache-Control", "no-store")
	x.w.WriteHeader(status)
	_, _ = x.w.Write(buf.Bytes())
}

// redirect answers a form post with 303 to path, with done (a "done.<key>" message) shown.
func (x *rc) redirect(path, done string) error {
	if done != "" {
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		path += sep + "done=" + urlEscape(done)
	}
	http.Redirect(x.w, x.r, path, http.StatusSeeOther)
	return nil
}
