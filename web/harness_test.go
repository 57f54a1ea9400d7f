package web_test

// The browser tests' harness: one real `sealvault serve --demo` (built from this tree,
// on its own database and data directory) and one headless Chromium for the whole package;
// each test opens its own browser context (its own cookies), as a second person at another
// PC would. Screenshots go to var/screens/; with -docs they are also copied to docs/ui/,
// where docs/UI.md shows them.

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/css"
	"github.com/chromedp/chromedp"

	"sealvault/internal/dbtest"
	"sealvault/internal/testkit"
)

var docsScreens = flag.Bool("docs", false, "also copy the screenshots to docs/ui/")

// srv is the package's server; browser the package's Chromium.
var (
	srv     *server
	browser context.Context
)

type server struct {
	base    string
	dataDir string
	dbURL   string
	out     *testkit.SyncBuffer
}

func TestMain(m *testing.M) {
	flag.Parse()
	code, err := run(m)
	if err != nil {
		log.Print(err)
		code = 1
	}
	os.Exit(code)
}

func run(m *testing.M) (int, error) {
	ctx := context.Background()
	root, err := testkit.ModuleRoot()
	if err != nil {
		return 0, err
	}
	// The real binary, built from this tree (a bin/sealvault left from an older tree would
	// serve yesterday's pages); the build cache makes this a link after make build.
	binDir, err := os.MkdirTemp("", "sealvault-web-bin-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(binDir)
	bin := filepath.Join(binDir, "sealvault")
	build := exec.Command("go", "build", "-o", bin, "./cmd/sealvault")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("the browser tests run the real binary: go build: %v\n%s", err, out)
	}
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		return 0, fmt.Errorf("the browser tests need Debian's chromium (tools/prereqs.sh test installs it): %v", err)
	}
	dbURL, drop, err := dbtest.Shared(ctx)
	if err != nil {
		return 0, err
	}
	defer drop()
	dataDir, err := os.MkdirTemp("", "sealvault-web-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dataDir)
	addr, err := freeAddr()
	if err != nil {
		return 0, err
	}
	srv = &server{base: "http://" + addr, dataDir: dataDir, dbURL: dbURL, out: &testkit.SyncBuffer{}}
	cmd := exec.Command(bin, "serve", "--demo", "--database-url", dbURL, "--listen", addr, "--data-dir", dataDir,
		"--public-url", "http://"+addr,
		"--login-max-failures", "3", "--log-level", "warn")
	cmd.Stdout, cmd.Stderr = srv.out, srv.out
	cmd.Env = append(os.Environ(), "SEALVAULT_CONFIG=")
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
		}
	}()
	if err := waitReady(srv.base, 90*time.Second); err != nil {
		return 0, fmt.Errorf("%w\n%s", err, srv.out.String())
	}

	profile, err := os.MkdirTemp("", "sealvault-chromium-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(profile)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1366, 768),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("lang", "zh-CN"),
		chromedp.Flag("force-device-scale-factor", "1"),
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	b, cancelBrowser := chromedp.NewContext(alloc)
	defer cancelBrowser()
	if err := chromedp.Do(b); err != nil {
		return 0, fmt.Errorf("starting chromium: %w", err)
	}
	browser = b
	code := m.Run()
	if code != 0 {
		fmt.Fprintf(os.Stderr, "--- server output ---\n%s\n", tail(srv.out.String(), 60))
	}
	return code, nil
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func waitReady(base string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("serve at %s not ready after %v: %v", base, limit, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// person is one browser context: a person at their own PC, with their own cookies.
type person struct {
	t    *testing.T
	ctx  context.Context
	name string // for screenshot names
}

// newPerson opens a browser context of its own (cookies apart from every other), at
// 1366×768, the usual counter PC.
func newPerson(t *testing.T, name string) *person {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	ctx, cancelT := context.WithTimeout(ctx, 4*time.Minute)
	t.Cleanup(func() { cancelT(); cancel() })
	p := &person{t: t, ctx: ctx, name: name}
	p.run(chromedp.EmulateViewport(1366, 768))
	return p
}

// run runs browser actions, failing the test with what the page shows on an error.
func (p *person) run(actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, actions...); err != nil {
		p.fatal(err)
	}
}

func (p *person) fatal(err error) {
	p.t.Helper()
	body, _ := chromedp.Run(p.ctx, chromedp.Text(chromedp.CSS("body")))
	p.t.Fatalf("%s: browser: %v\npage text: %s", p.name, err, body)
}

// get runs one browser action that returns a value.
func get[T any](p *person, a chromedp.Action[T]) T {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, a)
	if err != nil {
		p.fatal(err)
	}
	return v
}

// location is the page's address.
func (p *person) location() string {
	p.t.Helper()
	return get(p, chromedp.Location())
}

// open goes to path on the server.
func (p *person) open(path string) {
	p.t.Helper()
	p.run(chromedp.Navigate(srv.base+path), chromedp.WaitReady(chromedp.CSS("body")))
}

// login logs in through the login form as a person would.
func (p *person) login(username, password string) {
	p.t.Helper()
	p.open("/login")
	p.run(
		chromedp.SendKeys(chromedp.ID("username"), username),
		chromedp.SendKeys(chromedp.ID("password"), password),
	)
	p.click(`button[type="submit"].primary`)
}

// text is the visible text of the first element matching sel.
func (p *person) text(sel string) string {
	p.t.Helper()
	return strings.TrimSpace(get(p, chromedp.Text(chromedp.CSS(sel), chromedp.NodeVisible)))
}

// sees fails unless the page's visible text contains every one of want.
func (p *person) sees(want ...string) {
	p.t.Helper()
	body := p.text("body")
	for _, w := range want {
		if !strings.Contains(body, w) {
			p.t.Errorf("%s: the page does not say %q; it says:\n%s", p.name, w, body)
		}
	}
}

// doesNotSee fails if the page's visible text contains any of unwanted.
func (p *person) doesNotSee(unwanted ...string) {
	p.t.Helper()
	body := p.text("body")
	for _, w := range unwanted {
		if strings.Contains(body, w) {
			p.t.Errorf("%s: the page says %q, which it must not:\n%s", p.name, w, body)
		}
	}
}

// click clicks the element sel (a link or a form's button) and waits for the next page.
func (p *person) click(sel string) {
	p.t.Helper()
	p.navigates(chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
}

// clickText clicks the button or link whose text is exactly label and waits for the next
// page.
func (p *person) clickText(label string) {
	p.t.Helper()
	p.navigates(chromedp.Click(chromedp.Search(textSel(label)), chromedp.NodeVisible))
}

func textSel(label string) string {
	return fmt.Sprintf(`//*[self::button or self::a][normalize-space(.)=%q]`, label)
}

// press clicks the element sel where the page stays (a script's button).
func (p *person) press(sel string) {
	p.t.Helper()
	p.run(chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
}

// navigates runs action, which leaves the page, and waits until the next page has loaded.
func (p *person) navigates(action chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	p.run(chromedp.Evaluate[chromedp.Void](`window.__svLeaving = true`), action)
	deadline := time.Now().Add(30 * time.Second)
	for {
		done, err := chromedp.Run(p.ctx, chromedp.Evaluate[bool](`!window.__svLeaving && document.readyState === "complete"`))
		if err == nil && done {
			return
		}
		if time.Now().After(deadline) {
			p.fatal(fmt.Errorf("no new page 30 s after the click (last: %v)", err))
		}
		time.Sleep(30 * time.Millisecond)
	}
}

// fill replaces the value of the field sel with value, by typing.
func (p *person) fill(sel, value string) {
	p.t.Helper()
	p.run(chromedp.Clear(chromedp.CSS(sel)), chromedp.SendKeys(chromedp.CSS(sel), value))
}

var shotMu sync.Mutex

// shot saves a screenshot of the whole page as var/screens/<name>.png (and docs/ui/ with
// -docs), after checking the page's layout: nothing wider than the window, and the Chinese
// text drawn with a font that has its characters (never boxes).
func (p *person) shot(name string) {
	p.t.Helper()
	p.layoutHolds(name)
	png := get(p, chromedp.FullScreenshot(100))
	root, _ := testkit.ModuleRoot()
	shotMu.Lock()
	defer shotMu.Unlock()
	dirs := []string{filepath.Join(root, "var", "screens")}
	if *docsScreens {
		dirs = append(dirs, filepath.Join(root, "docs", "ui"))
	}
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			p.t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, name+".png"), png, 0o644); err != nil {
			p.t.Fatal(err)
		}
	}
}

// layoutHolds fails when the page is wider than the window (something overflows), when a
// control has no label, or when the main heading's Chinese text is drawn without a font
// that has its characters.
func (p *person) layoutHolds(name string) {
	p.t.Helper()
	overflow := get(p, chromedp.Evaluate[[]string](`(() => {
		const out = [];
		const w = document.documentElement.clientWidth;
		if (document.documentElement.scrollWidth > w + 1) out.push("page " + document.documentElement.scrollWidth + "px > " + w + "px");
		for (const el of document.querySelectorAll("body *")) {
			const cs = getComputedStyle(el);
			if (cs.display === "none" || el.closest(".table-wrap, .thumbs, .page-view, svg, video, canvas")) continue;
			if (el.scrollWidth > el.clientWidth + 1 && (cs.overflowX === "visible" || cs.overflowX === "hidden") && el.clientWidth > 0 && cs.textOverflow !== "ellipsis" && ["BUTTON","A","LABEL","TD","TH","P","H1","H2","SPAN","DD","DT","LI"].includes(el.tagName)) {
				out.push(el.tagName + " " + (el.id ? "#" + el.id : "") + " " + JSON.stringify(el.textContent.trim().slice(0, 40)) + " " + el.scrollWidth + ">" + el.clientWidth);
			}
		}
		return out;
	})()`))
	for _, o := range overflow {
		p.t.Errorf("%s (%s): overflows: %s", p.name, name, o)
	}
	// Every control has a label a screen reader reads: a <label>, aria-label or
	// aria-labelledby for fields, text or a title for buttons.
	unlabelled := get(p, chromedp.Evaluate[[]string](`[...document.querySelectorAll("input:not([type=hidden]), select, textarea, button")].filter(e => {
		if (e.tagName === "BUTTON") return !(e.textContent.trim() || e.title || e.getAttribute("aria-label"));
		return !(e.labels && e.labels.length) && !e.getAttribute("aria-label") && !e.getAttribute("aria-labelledby");
	}).map(e => e.tagName + (e.id ? "#" + e.id : "") + (e.name ? "[name=" + e.name + "]" : ""))`))
	for _, u := range unlabelled {
		p.t.Errorf("%s (%s): a control without a label: %s", p.name, name, u)
	}
	p.fontsHaveGlyphs("h1", name)
}

// fontsHaveGlyphs asks Chromium which platform fonts drew the text of sel: with Chinese text,
// one of them must be a CJK font (a missing font draws boxes).
func (p *person) fontsHaveGlyphs(sel, name string) {
	p.t.Helper()
	nodes := get(p, chromedp.Nodes(chromedp.CSS(sel), chromedp.AtLeast(0)))
	if len(nodes) == 0 {
		return
	}
	if text := get(p, chromedp.Text(chromedp.CSS(sel))); !hasHan(text) {
		return
	}
	var fonts []*css.PlatformFontUsage
	p.run(chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		if _, err := cdp.Call(ctx, t, css.Enable, cdp.Empty{}); err != nil {
			return err
		}
		res, err := cdp.Call(ctx, t, css.GetPlatformFontsForNode, css.GetPlatformFontsForNodeParams{NodeID: nodes[0].NodeID})
		fonts = res.Fonts
		return err
	}))
	var names []string
	for _, f := range fonts {
		names = append(names, f.FamilyName)
		if strings.Contains(f.FamilyName, "CJK") || strings.Contains(f.FamilyName, "Droid Sans Fallback") || strings.Contains(f.FamilyName, "WenQuanYi") {
			return
		}
	}
	p.t.Errorf("%s (%s): the heading is drawn with %v, none of them a Chinese font: its characters show as boxes", p.name, name, names)
}

func hasHan(s string) bool {
	for _, r := range s {
		if r >= 0x4e00 && r <= 0x9fff {
			return true
		}
	}
	return false
}

// status fetches path without a browser and returns the status and body (for checks a
// person cannot make, such as cookie flags).
func status(t *testing.T, client *http.Client, req *http.Request) (int, http.Header, []byte) {
	t.Helper()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = io.Copy(&b, resp.Body)
	return resp.StatusCode, resp.Header, b.Bytes()
}
