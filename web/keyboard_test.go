package web_test

import (
	"context"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/device"
	"github.com/chromedp/chromedp/kb"
)

// The clerk's main path driven from the keyboard alone, and the same screens on a tablet
// with a finger.

// tabTo presses Tab (Shift+Tab with back) until the focused element matches sel, failing
// when it is not reached in 80 presses (not in the tab order). The focused element must show
// where the focus is: its own outline, or the outline of the button label a file input
// draws.
func (p *person) tabTo(sel string) {
	p.t.Helper()
	for range 80 {
		p.run(chromedp.KeyEvent(kb.Tab))
		at := get(p, chromedp.Evaluate[bool](`(() => { const e = document.activeElement; return !!e && e.matches(`+strconv.Quote(sel)+`); })()`))
		if !at {
			continue
		}
		ring := get(p, chromedp.Evaluate[string](`(() => { let e = document.activeElement;
			if (e.classList.contains("file-input")) e = e.nextElementSibling;
			const cs = getComputedStyle(e);
			return cs.outlineStyle === "none" || parseFloat(cs.outlineWidth) < 1 ? "" : cs.outlineStyle + " " + cs.outlineWidth; })()`))
		if ring == "" {
			p.t.Errorf("%s: %s has the keyboard focus but shows no focus outline", p.name, sel)
		}
		return
	}
	p.t.Fatalf("%s: Tab never reaches %s on %s", p.name, sel, p.location())
}

// key presses keys on the focused element.
func (p *person) key(keys string) {
	p.t.Helper()
	p.run(chromedp.KeyEvent(keys))
}

// enter presses Enter on the focused element, which leaves the page.
func (p *person) enter() {
	p.t.Helper()
	p.navigates(chromedp.KeyEvent(kb.Enter))
}

// tabToText tabs to the button or link whose text is exactly label.
func (p *person) tabToText(label string) {
	p.t.Helper()
	for range 80 {
		p.run(chromedp.KeyEvent(kb.Tab))
		if get(p, chromedp.Evaluate[bool](`(() => { const e = document.activeElement; return !!e && (e.tagName === "BUTTON" || e.tagName === "A") && e.textContent.trim() === `+strconv.Quote(label)+`; })()`)) {
			return
		}
	}
	p.t.Fatalf("%s: Tab never reaches %q on %s", p.name, label, p.location())
}

func TestKeyboardDrivesTheWindowPath(t *testing.T) {
	win := demo["window"]
	wtok := apiToken(t, win[0], win[1])
	holder := "11010519491231002X"

	p := newPerson(t, "window clerk at the keyboard")
	p.open("/login")
	p.tabTo("#username")
	p.key(win[0])
	p.tabTo("#password")
	p.key(win[1])
	p.enter()
	p.sees("综合窗口")

	p.tabToText("收件")
	p.enter()
	p.sees("证件号码")
	p.tabTo("#item")
	p.key("440106-GTGSH-003")
	p.tabTo("#holder_number")
	p.key(holder)
	if got := p.text("#holder-check"); !strings.Contains(got, "校验通过") {
		t.Errorf("the number typed from the keyboard is checked as %q", got)
	}
	p.tabTo("#new-case button[type=submit]")
	p.enter()
	p.sees("已收件", "材料清单")
	caseNo := p.text("#case-no")

	p.tabToText("复用此材料")
	p.enter()
	p.sees("已复用该材料")

	form := casesUploadMaterial(t, wtok, holder, "APPLICATION-FORM", "注销登记申请书", 200, 1)
	if code, _, body := apiDo(t, wtok, http.MethodPost, "/api/v1/cases/"+caseNo+"/materials",
		map[string]any{"type_code": "APPLICATION-FORM", "material_id": form, "reuse": false}); code != http.StatusOK && code != http.StatusCreated {
		t.Fatalf("attach the form: %d %s", code, body)
	}
	p.open("/cases/" + caseNo)
	p.tabToText("受理")
	p.enter()
	p.sees("已受理")

	// The decision: the radio group, the text, and the file chooser are all reached by Tab
	// (the file dialog itself is the operating system's; the test hands it the file).
	p.tabTo(`input[name=decision][value=approved]`)
	p.key(" ")
	p.tabTo("#decision-text")
	p.key("准予个体工商户注销登记")
	p.tabTo("#decision-doc")
	p.run(chromedp.SetUploadFiles(chromedp.ID("decision-doc"), []string{filepath.Join(srv.dataDir, "demo", "licence.pdf")}))
	if got := p.text(`[data-file-name-for="decision-doc"]`); got != "licence.pdf" {
		t.Errorf("after choosing the licence the file chooser says %q", got)
	}
	p.tabTo("form.decide button[type=submit]")
	p.enter()
	p.sees("已决定", "申请用印")

	// Placing the seal by its numbers: the drawn stamp follows what is typed.
	p.tabTo("#request-seal")
	p.enter()
	casesWaitText(p, "#page-info", "第 1 页")
	p.run(chromedp.WaitVisible(chromedp.ID("stamp")))
	p.tabTo("#x")
	p.key("\b\b\b\b\b" + "400")
	p.tabTo("#y")
	p.key("\b\b\b\b\b" + "80")
	left := get(p, chromedp.Evaluate[float64](`(() => { const s = document.getElementById("stamp").getBoundingClientRect(), i = document.getElementById("page-image").getBoundingClientRect(); return (s.left - i.left) / i.width; })()`))
	if want := 400.0 / 595; left < want-0.01 || left > want+0.01 {
		t.Errorf("after typing x = 400 the stamp is drawn at %.3f of the page's width, want %.3f", left, want)
	}
	p.tabTo("#send-request")
	p.shot("keyboard-seal-place")
	p.enter()
	p.sees("已提交用印申请", "待审批")

	ref := get(p, chromedp.Evaluate[string](`(document.querySelector('a[href^="/seal-requests/R-"]') || {textContent: ""}).textContent.trim()`))
	ctok := apiToken(t, demo["custodian"][0], demo["custodian"][1])
	if code, _, body := apiDo(t, ctok, http.MethodPost, "/api/v1/seal-requests/"+ref+"/approve", map[string]any{"note": "同意"}); code != http.StatusOK {
		t.Fatalf("approve %s: %d %s", ref, code, body)
	}
	p.open("/cases/" + caseNo)
	p.tabToText("加盖电子印章")
	p.enter()
	p.sees("已加盖电子印章", "下载盖章 PDF")
	p.tabTo("form.deliver button[type=submit]")
	p.enter()
	p.sees("已记录送达")
	p.tabToText("办结")
	p.enter()
	p.sees("已办结")
}

// On a tablet (an iPad held upright, 768 × 1024, touch) the clerk's screens fit and a tap on
// the page places the seal.
func TestTabletPlacesTheSealWithAFinger(t *testing.T) {
	_, caseNo, _, _ := decidedCase(t)
	p := newPerson(t, "window clerk on a tablet")
	p.run(chromedp.Emulate(device.IPad))
	p.login(demo["window"][0], demo["window"][1])
	p.open("/cases/new")
	p.shot("tablet-cases-new")
	p.open("/cases/" + caseNo)
	p.sees("已决定")
	p.shot("tablet-case")
	p.open("/cases/" + caseNo + "/seal")
	casesWaitText(p, "#page-info", "第 1 页")
	p.run(chromedp.WaitVisible(chromedp.ID("stamp")))
	pt := get(p, chromedp.Evaluate[[]float64](`(() => { const i = document.getElementById("page-image");
		i.scrollIntoView({block: "center"}); const r = i.getBoundingClientRect();
		return [r.left + r.width * 0.5, r.top + r.height * 0.5]; })()`))
	touch := []*input.TouchPoint{{X: pt[0], Y: pt[1]}}
	p.run(chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := cdp.Call(ctx, tg, input.DispatchTouchEvent, input.DispatchTouchEventParams{Type: input.DispatchTouchEventTypeTouchStart, TouchPoints: touch}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, tg, input.DispatchTouchEvent, input.DispatchTouchEventParams{Type: input.DispatchTouchEventTypeTouchEnd, TouchPoints: []*input.TouchPoint{}})
		return err
	}))
	deadline := time.Now().Add(5 * time.Second)
	for {
		x, _ := strconv.ParseFloat(get(p, chromedp.Value(chromedp.ID("x"))), 64)
		y, _ := strconv.ParseFloat(get(p, chromedp.Value(chromedp.ID("y"))), 64)
		if wx, wy := 595*0.5-113/2, 842*0.5-113/2; abs(x-wx) < 6 && abs(y-wy) < 6 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a tap in the middle of the page placed the seal at (%.0f, %.0f) pt", x, y)
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.shot("tablet-seal-place")
}
