package web_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/google/uuid"

	"sealvault/web"
)

// demo is every demo account serve --demo seeds, by role.
var demo = map[string][2]string{ // role → username, password
	"admin":      {"admin", "demo-admin-2026"},
	"window":     {"window", "demo-window-2026"},
	"sealer":     {"sealer", "demo-sealer-2026"},
	"custodian":  {"custodian", "demo-custodian-2026"},
	"seal_admin": {"sealadmin", "demo-sealadmin-2026"},
	"auditor":    {"auditor", "demo-auditor-2026"},
	"supervisor": {"supervisor", "demo-supervisor-2026"},
}

// apiToken logs in over the API, for set-up a test does not look at.
func apiToken(t *testing.T, username, password string) string {
	t.Helper()
	code, _, body := apiDo(t, "", http.MethodPost, "/api/v1/auth/login", map[string]string{"username": username, "password": password})
	if code != http.StatusOK {
		t.Fatalf("login %s: %d %s", username, code, body)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.Unmarshal(body, &tok)
	return tok.AccessToken
}

func apiDo(t *testing.T, token, method, path string, in any) (int, http.Header, []byte) {
	t.Helper()
	var body bytes.Buffer
	if in != nil {
		_ = json.NewEncoder(&body).Encode(in)
	}
	req, _ := http.NewRequestWithContext(t.Context(), method, srv.base+path, &body)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return status(t, http.DefaultClient, req)
}

// newUser creates an account through the API as the demo administrator, in the window's
// department, with roles.
func newUser(t *testing.T, roles ...string) (username, password string) {
	t.Helper()
	admin := apiToken(t, demo["admin"][0], demo["admin"][1])
	var me struct {
		Department struct {
			ID string `json:"id"`
		} `json:"department"`
	}
	_, _, b := apiDo(t, apiToken(t, demo["window"][0], demo["window"][1]), http.MethodGet, "/api/v1/me", nil)
	_ = json.Unmarshal(b, &me)
	username = "u" + strings.ReplaceAll(uuid.NewString(), "-", "")[:10]
	password = "a long enough password 1"
	code, _, body := apiDo(t, admin, http.MethodPost, "/api/v1/users", map[string]any{
		"username": username, "display_name": "测试用户 " + username[:4], "password": password,
		"department_id": me.Department.ID, "roles": roles})
	if code != http.StatusCreated {
		t.Fatalf("create user: %d %s", code, body)
	}
	return username, password
}

// TestLoginShowsWhoYouAre: the way in. A stranger is sent to the login page; a wrong password
// says so; the window clerk sees their name, department and roles; English is one click
// away; logging out ends the session.
func TestLoginShowsWhoYouAre(t *testing.T) {
	p := newPerson(t, "window")
	p.open("/")
	if loc := p.location(); !strings.Contains(loc, "/login") {
		t.Fatalf("a stranger at / is at %s, not the login page", loc)
	}
	p.sees("登录", "用户名", "密码")
	p.shot("login")

	p.run(chromedp.SendKeys(chromedp.ID("username"), "window"), chromedp.SendKeys(chromedp.ID("password"), "wrong password"),
		chromedp.Click(chromedp.CSS(`button.primary`)), chromedp.WaitVisible(chromedp.CSS(".problem")))
	p.sees("用户名或密码错误")

	p.login(demo["window"][0], demo["window"][1])
	p.sees("综合窗口 李娜", "综合窗口")
	if got := p.text("#department"); got == "" {
		t.Error("the home page shows no department")
	}
	p.shot("home-window")

	p.clickText("English")
	p.sees("Signed in as", "Department", "window clerk", "Log out")
	p.clickText("中文")
	p.sees("当前用户")

	p.clickText("退出登录")
	p.sees("您已退出登录")
	p.open("/")
	if loc := p.location(); !strings.Contains(loc, "/login") {
		t.Errorf("after logging out, / is at %s", loc)
	}
}

// TestLockoutSaysWhenToTryAgain: after the server's allowed failures (3 in this test's
// server) the login page says when to try again, rather than "wrong password" again.
func TestLockoutSaysWhenToTryAgain(t *testing.T) {
	p := newPerson(t, "stranger")
	for i := 0; i < 4; i++ {
		p.open("/login")
		p.run(chromedp.SendKeys(chromedp.ID("username"), "nobody-at-all"), chromedp.SendKeys(chromedp.ID("password"), "guess "+string(rune('a'+i))),
			chromedp.Click(chromedp.CSS(`button.primary`)), chromedp.WaitVisible(chromedp.CSS(".problem")))
	}
	p.sees("登录失败次数过多，请于")
	p.doesNotSee("用户名或密码错误")
	p.shot("login-locked")
}

// TestSessionCookieAndForms: the session cookie is HttpOnly and SameSite=Strict, and a form
// posted without the page's CSRF token is refused and changes nothing.
func TestSessionCookieAndForms(t *testing.T) {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.base+"/login", nil)
	_, _, page := status(t, c, req)
	csrf := between(string(page), `name="csrf" value="`, `"`)
	form := url.Values{"username": {demo["auditor"][0]}, "password": {demo["auditor"][1]}, "csrf": {csrf}, "next": {"/"}}
	req, _ = http.NewRequestWithContext(t.Context(), http.MethodPost, srv.base+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	code, h, _ := status(t, c, req)
	if code != http.StatusSeeOther {
		t.Fatalf("login form: %d", code)
	}
	var set string
	for _, v := range h.Values("Set-Cookie") {
		if strings.HasPrefix(v, "sv_session=") {
			set = v
		}
	}
	for _, want := range []string{"HttpOnly", "SameSite=Strict", "Path=/"} {
		if !strings.Contains(set, want) {
			t.Errorf("session cookie %q lacks %s", set, want)
		}
	}
	// Without the token: refused. With it (read from the page): logged out.
	req, _ = http.NewRequestWithContext(t.Context(), http.MethodPost, srv.base+"/logout", strings.NewReader(""))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if code, _, body := status(t, c, req); code != http.StatusForbidden || !strings.Contains(string(body), "表单已过期") {
		t.Errorf("logout without CSRF token: %d", code)
	}
	req, _ = http.NewRequestWithContext(t.Context(), http.MethodGet, srv.base+"/", nil)
	code, _, home := status(t, c, req)
	if code != http.StatusOK || !strings.Contains(string(home), "审计员") {
		t.Fatalf("still signed in after a refused logout: %d", code)
	}
	for _, hdr := range []string{"script-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(h.Get("Content-Security-Policy"), hdr) {
			t.Errorf("CSP %q lacks %s", h.Get("Content-Security-Policy"), hdr)
		}
	}
	if bytes.Contains(home, []byte("<script>")) || bytes.Contains(home, []byte(" onclick=")) {
		t.Error("a page has inline script")
	}
}

func between(s, a, b string) string {
	_, after, ok := strings.Cut(s, a)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(after, b)
	return v
}

// TestPasswordChangeEndsOtherSessions: a person changes their password at one PC; their
// session at another PC ends, the one they changed it in goes on.
func TestPasswordChangeEndsOtherSessions(t *testing.T) {
	user, pass := newUser(t, "window")
	here, there := newPerson(t, "here"), newPerson(t, "there")
	here.login(user, pass)
	there.login(user, pass)
	here.open("/password")
	here.fill("#current_password", pass)
	here.fill("#new_password", "another long password 2")
	here.fill("#repeat_password", "another long password 3")
	here.click("button.primary")
	here.sees("两次输入的新密码不一致")
	here.fill("#current_password", pass)
	here.fill("#new_password", "another long password 2")
	here.fill("#repeat_password", "another long password 2")
	here.click("button.primary")
	here.sees("密码已修改")
	here.open("/")
	here.sees("当前用户")
	there.open("/")
	if loc := there.location(); !strings.Contains(loc, "/login") {
		t.Errorf("the other session goes on after the password changed: at %s", loc)
	}
}

// TestPagesRefusedAsTheAPIRefuses is the route × role test of the workbench: every page,
// opened by each role's demo account, is refused (403) exactly when the API route it stands
// on would refuse that role, and sends a stranger to the login page.
func TestPagesRefusedAsTheAPIRefuses(t *testing.T) {
	routes := web.Routes()
	clients := map[string]*http.Client{}
	for role, acct := range demo {
		clients[role] = signedIn(t, acct[0], acct[1])
	}
	anon := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, r := range routes {
		if r.Method != http.MethodGet || r.Public {
			continue
		}
		path := strings.NewReplacer("{id}", uuid.NewString(), "{$}", "", "{no}", "1", "{mid}", uuid.NewString(), "{type}", "ID-CARD").Replace(r.Path)
		t.Run(r.Method+" "+r.Path, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(t.Context(), r.Method, srv.base+path, nil)
			if code, h, _ := status(t, anon, req); code != http.StatusSeeOther || !strings.HasPrefix(h.Get("Location"), "/login") {
				t.Errorf("a stranger: %d %s, want a redirect to /login", code, h.Get("Location"))
			}
			allowed := apiRoles(t, r.API)
			for role, c := range clients {
				req, _ := http.NewRequestWithContext(t.Context(), r.Method, srv.base+path, nil)
				code, _, body := status(t, c, req)
				may := allowed == nil || slices.Contains(allowed, role)
				switch {
				case may && (code == http.StatusForbidden || code == http.StatusUnauthorized):
					t.Errorf("%s may use %s (API %s) but got %d: %s", role, r.Path, r.API, code, between(string(body), `<main id="main">`, `</main>`))
				case !may && code != http.StatusForbidden:
					t.Errorf("%s may not use %s (API %s) but got %d", role, r.Path, r.API, code)
				}
			}
		})
	}
}

// apiRoles asks the API which of the demo roles its route allows, by calling it as each:
// a 403 is a refusal by role. nil: every role.
func apiRoles(t *testing.T, api string) []string {
	t.Helper()
	if api == "" {
		return nil
	}
	method, path, _ := strings.Cut(api, " ")
	path = strings.NewReplacer(":id", uuid.NewString(), ":no", "1", ":mid", uuid.NewString(), ":type", "ID-CARD").Replace(path)
	var out []string
	all := true
	for role, acct := range demo {
		var body any
		if method == http.MethodPost {
			body = map[string]any{}
		}
		code, _, _ := apiDo(t, tokenFor(t, acct), method, path, body)
		if code != http.StatusForbidden {
			out = append(out, role)
		} else {
			all = false
		}
	}
	if all {
		return nil
	}
	return out
}

var tokens = map[string]string{}

func tokenFor(t *testing.T, acct [2]string) string {
	if tok, ok := tokens[acct[0]]; ok {
		return tok
	}
	tok := apiToken(t, acct[0], acct[1])
	tokens[acct[0]] = tok
	return tok
}

// signedIn is an HTTP client with a workbench session of username.
func signedIn(t *testing.T, username, password string) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.base+"/login", nil)
	_, _, page := status(t, c, req)
	form := url.Values{"username": {username}, "password": {password}, "csrf": {between(string(page), `name="csrf" value="`, `"`)}}
	req, _ = http.NewRequestWithContext(t.Context(), http.MethodPost, srv.base+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if code, _, body := status(t, c, req); code != http.StatusSeeOther {
		t.Fatalf("log in %s: %d %s", username, code, body)
	}
	return c
}
