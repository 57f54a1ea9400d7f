package web_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"sealvault/internal/testkit"
)

// TestCaptureAtTheWindow: the clerk captures the application form of a new applicant's
// case from two scanned files and a page taken with the document camera (Chromium's fake
// camera), reorders, rotates and removes pages, and saves; a scan below the ID card's
// resolution is refused naming the page and the rule; the case then lists the material.
func TestCaptureAtTheWindow(t *testing.T) {
	wtok := apiToken(t, demo["window"][0], demo["window"][1])
	holder := casesIDNumber()
	var c struct {
		CaseNo string `json:"case_no"`
	}
	code, _, body := apiDo(t, wtok, http.MethodPost, "/api/v1/cases", map[string]string{"item_code": "440106-GTGSH-003", "holder_kind": "id_card", "holder_number": holder})
	_ = json.Unmarshal(apiMust(t, code, body, http.StatusCreated, http.StatusOK), &c)

	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	first := write("申请书第一页.jpg", testkit.WithJFIFDensity(testkit.PageImage(t, "jpeg", 1654, 2339, 1), 200))
	second := write("second.jpg", testkit.WithJFIFDensity(testkit.PageImage(t, "jpeg", 1654, 2339, 2), 200))
	low := write("idcard-low.jpg", testkit.WithJFIFDensity(testkit.PageImage(t, "jpeg", 337, 213, 3), 100))

	p := newPerson(t, "window")
	p.login(demo["window"][0], demo["window"][1])
	p.open("/cases/" + c.CaseNo)
	p.click(`a[href$="/capture/APPLICATION-FORM"]`)
	p.sees("采集材料：申请书", c.CaseNo, "分辨率不低于 150 DPI", "尚未添加页面")
	p.doesNotSee(holder)

	p.run(chromedp.SetUploadFiles(chromedp.ID("files"), []string{first, second}))
	casesWaitText(p, "#page-count", "2")
	names := func() string {
		return get(p, chromedp.Evaluate[string](`[...document.querySelectorAll("#thumbs .thumb-name")].map(e => e.textContent).join(" | ")`))
	}
	if n := names(); n != "第 1 页 · 申请书第一页.jpg | 第 2 页 · second.jpg" {
		t.Errorf("thumbnails %q", n)
	}
	// Page 1 moved down: the order shown is the order saved.
	p.press(`#thumbs li:nth-child(1) button[data-act="down"]`)
	if n := names(); n != "第 1 页 · second.jpg | 第 2 页 · 申请书第一页.jpg" {
		t.Errorf("after moving page 1 down: %q", n)
	}
	// Rotated, page 2 is drawn landscape.
	p.press(`#thumbs li:nth-child(2) button[data-act="rotate"]`)
	get(p, chromedp.Poll[bool](`(() => { const i = document.querySelector("#thumbs li:nth-child(2) img"); return !!i && i.naturalWidth > i.naturalHeight; })()`))

	// The document camera, on ID-card width paper.
	p.press("#camera-open")
	get(p, chromedp.Poll[bool](`document.getElementById("camera").videoWidth > 0`))
	p.run(chromedp.SetValue(chromedp.ID("paper"), "85.6"))
	p.press("#camera-shoot")
	casesWaitText(p, "#page-count", "3")
	if n := names(); !strings.HasSuffix(n, "第 3 页 · camera-1.jpg") {
		t.Errorf("the camera page is not page 3: %q", n)
	}
	p.press("#camera-close")
	p.layoutHolds("capture")
	p.shot("capture")
	// The second scan removed: two pages saved.
	p.press(`#thumbs li:nth-child(1) button[data-act="remove"]`)
	casesWaitText(p, "#page-count", "2")
	p.click("#capture-save")
	p.sees("材料已采集并归入本件", "申请书，2 页")

	// The ID card from a 100 DPI scan is refused, naming the page and the requirement.
	p.click(`a[href$="/capture/ID-CARD"]`)
	p.sees("采集材料：居民身份证", "分辨率不低于 300 DPI")
	p.run(chromedp.SetUploadFiles(chromedp.ID("files"), []string{low}))
	casesWaitText(p, "#page-count", "1")
	p.press("#capture-save")
	casesWaitText(p, "#capture-problem", "300 DPI")
	p.sees("p1-idcard-low.jpg", "100 DPI")
	p.shot("capture-refused")
	p.open("/cases/" + c.CaseNo)
	p.sees("居民身份证")
	if s := get(p, chromedp.Evaluate[string](`document.body.innerText`)); strings.Contains(s, "居民身份证，1 页") {
		t.Errorf("the refused ID card is attached to the case")
	}
}
