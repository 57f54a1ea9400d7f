package web_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"sealvault/internal/testkit"
	"sealvault/vault/pages"
)

// The window clerk's journey through the workbench: a case opened for the demo's instant item,
// the ID card reused, the application form captured with the document camera, accepted,
// decided with the licence, the seal placed on the page by a click, approved by the custodian
// in another browser, applied, the sealed PDF downloaded (and accepted by pdfsig), delivered
// at the counter and closed; the auditor finds the use and the case's timeline, and the
// public page says the downloaded PDF is intact and registered, and a changed byte broken.

var casesSeq atomic.Int64

// casesIDNumber is a fresh resident ID-card number with a correct check digit (GB 11643).
func casesIDNumber() string {
	base := fmt.Sprintf("44010619850101%03d", casesSeq.Add(1)+time.Now().UnixNano()%500)
	return base + casesCheckDigit(base)
}

func casesCheckDigit(base string) string {
	w := []int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}
	sum := 0
	for i, c := range base {
		sum += int(c-'0') * w[i]
	}
	return string("10X98765432"[sum%11])
}

// casesUploadMaterial records a material of the holder through the API as the demo window
// clerk, with page images at dpi, and returns its id.
func casesUploadMaterial(t *testing.T, token, holder, typeCode, title string, dpi int, n int) string {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	meta, _ := json.Marshal(map[string]any{"holder_kind": "id_card", "holder_number": holder, "type_code": typeCode,
		"title": title, "source": "scan", "original_verified": true})
	_ = mw.WriteField("metadata", string(meta))
	for i := range n {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="pages"; filename="p%d.jpg"`, i+1))
		h.Set("Content-Type", "image/jpeg")
		w, _ := mw.CreatePart(h)
		_, _ = w.Write(testkit.WithJFIFDensity(testkit.PageImage(t, "jpeg", 1012, 638, i+1), dpi))
	}
	_ = mw.Close()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.base+"/api/v1/materials", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+token)
	code, _, out := status(t, http.DefaultClient, req)
	if code != http.StatusCreated && code != http.StatusOK {
		t.Fatalf("upload %s: %d %s", typeCode, code, out)
	}
	var m struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(out, &m)
	return m.ID
}

// casesType empties the box and types value into it key by key, as a person would.
func casesType(p *person, sel, value string) {
	p.t.Helper()
	p.run(chromedp.Evaluate[chromedp.Void](`(() => { const e = document.querySelector(`+strconv.Quote(sel)+`); e.focus(); e.value = ""; e.dispatchEvent(new Event("input")); })()`),
		chromedp.SendKeys(chromedp.CSS(sel), value))
}

// casesWaitText waits until the element's text contains want (a page's script fills it).
func casesWaitText(p *person, sel, want string) {
	p.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got, _ := chromedp.Run(p.ctx, chromedp.Text(chromedp.CSS(sel)))
		if strings.Contains(got, want) {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s: %s says %q, not %q", p.name, sel, got, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// casesLicence writes a two-page A4 PDF standing in for the licence to seal.
func casesLicence(t *testing.T) string {
	t.Helper()
	pdf, err := pages.Assemble([]pages.Page{
		{Name: "1.jpg", Data: testkit.WithJFIFDensity(testkit.PageImage(t, "jpeg", 1654, 2339, 1), 200)},
		{Name: "2.jpg", Data: testkit.WithJFIFDensity(testkit.PageImage(t, "jpeg", 1654, 2339, 2), 200)},
	})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "营业执照注销决定.pdf")
	if err := os.WriteFile(path, pdf, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCaseJourneyAtTheWindow(t *testing.T) {
	win := demo["window"]
	// The demo applicant, whose ID card the demo data has on file.
	holder := "11010519491231002X"

	p := newPerson(t, "window clerk")
	p.login(win[0], win[1])
	p.open("/cases/new")
	p.sees("收件", "证件号码")

	// The number is checked as it is typed: a wrong check digit is named at once.
	wrong := holder[:17] + "3"
	p.fill("#item", "440106-GTGSH-003")
	casesType(p, "#holder_number", wrong)
	if got := p.text("#holder-check"); !strings.Contains(got, "校验位不正确") {
		t.Errorf("a wrong check digit says %q", got)
	}
	casesType(p, "#holder_number", holder)
	if got := p.text("#holder-check"); !strings.Contains(got, "校验通过") || strings.Contains(got, holder) {
		t.Errorf("a right number says %q (want it confirmed and masked)", got)
	}
	// Leaving the box shows the number masked.
	p.run(chromedp.Focus(chromedp.ID("item")))
	if v := get(p, chromedp.Value(chromedp.ID("holder_number"))); strings.Contains(v, holder[6:14]) || !strings.Contains(v, "*") {
		t.Errorf("the number box shows %q after entry, want it masked", v)
	}
	p.shot("cases-new")
	p.click("#new-case button[type=submit]")

	// The case page: the plan says what is reusable, and what to submit and why.
	p.sees("已收件", "个体工商户注销登记", "材料清单", "可复用", "需提交", "复用此材料")
	if body := p.text("body"); strings.Contains(body, holder) {
		t.Errorf("the case page shows the applicant's number in clear")
	}
	caseNo := p.text("#case-no")
	p.shot("cases-plan")

	p.clickText("复用此材料")
	p.sees("已复用该材料", "已收取")

	// Accepting before the form is attached is refused, naming the missing material.
	p.clickText("受理")
	p.sees("申请书")
	if st := p.text("#case-state"); st != "已收件" {
		t.Errorf("after a refused accept the state is %q", st)
	}

	// The application form, captured with the document camera (Chromium's fake camera) on
	// ID-card width paper, which puts its 640 pixels at 190 DPI, above the form's 150.
	p.click(`a[href$="/capture/APPLICATION-FORM"]`)
	p.sees("采集材料：申请书", "分辨率不低于 150 DPI")
	p.press("#camera-open")
	get(p, chromedp.Poll[bool](`document.getElementById("camera").videoWidth > 0`))
	p.run(chromedp.SetValue(chromedp.ID("paper"), "85.6"))
	p.press("#camera-shoot")
	casesWaitText(p, "#page-count", "1")
	p.press("#camera-close")
	p.click("#capture-save")
	p.sees("材料已采集并归入本件", "申请书，1 页")
	p.clickText("受理")
	p.sees("已受理", "办结时限", "今日到期")

	// The decision, with the licence uploaded as the result document.
	casesType(p, "#decision-text", "准予个体工商户注销登记")
	// The demo's licence, as make run writes it for a person trying the workbench.
	p.run(chromedp.SetUploadFiles(chromedp.ID("decision-doc"), []string{filepath.Join(srv.dataDir, "demo", "licence.pdf")}))
	p.click("form.decide button[type=submit]")
	p.sees("已决定", "准予个体工商户注销登记", "申请用印")

	// Placing the seal: the page is drawn, a click on it sets where the seal goes.
	p.click("#request-seal")
	p.sees("盖章位置")
	casesWaitText(p, "#page-info", "第 1 页，共 1 页")
	p.run(chromedp.WaitVisible(chromedp.ID("stamp")))
	// The point at 30 % across and 25 % down the page, in the window's coordinates.
	pt := get(p, chromedp.Evaluate[[]float64](`(() => { const i = document.getElementById("page-image");
		i.scrollIntoView({block: "center"}); const r = i.getBoundingClientRect();
		return [r.left + r.width * 0.3, r.top + r.height * 0.25]; })()`))
	p.run(chromedp.MouseClickXY(pt[0], pt[1]))
	x, _ := strconv.ParseFloat(get(p, chromedp.Value(chromedp.ID("x"))), 64)
	y, _ := strconv.ParseFloat(get(p, chromedp.Value(chromedp.ID("y"))), 64)
	// A4 is 595 × 842 pt, y from the bottom; the 113 pt stamp is centred under the click.
	if wantX, wantY := 595*0.3-113/2, 842*0.75-113/2; x < wantX-5 || x > wantX+5 || y < wantY-5 || y > wantY+5 {
		t.Errorf("a click at 30%%, 25%% of the page placed the seal at (%.0f, %.0f) pt, want about (%.0f, %.0f)", x, y, wantX, wantY)
	}
	p.shot("cases-seal-place")
	p.click("#send-request")
	p.sees("已提交用印申请", "待审批")

	// The custodian, at another PC, finds the request in the inbox, sees the seal drawn on
	// the page where the clerk put it, and approves it with a note.
	c := newPerson(t, "custodian")
	c.login(demo["custodian"][0], demo["custodian"][1])
	c.clickText("用印审批")
	c.sees("待审批的用印申请", caseNo, "李娜", "天河区市场监督管理局行政审批专用章")
	reqHref := get(c, chromedp.Evaluate[string](`[...document.querySelectorAll("#inbox tbody tr")].filter(r => r.textContent.includes(`+strconv.Quote(caseNo)+`)).map(r => r.querySelector("a.button").getAttribute("href")).join(" ")`))
	if !strings.HasPrefix(reqHref, "/seal-requests/R-") || strings.Contains(reqHref, " ") {
		t.Fatalf("the inbox should list one request for %s with a link, has %q", caseNo, reqHref)
	}
	c.open(reqHref)
	c.sees("用印申请 R-", "待审批", caseNo, "李娜", "440106-GTGSH-003", "第 1 页", "依据授权书", "A-1")
	// The overlay sits where the request places it: the seal's left edge at x / page width.
	overlay := get(c, chromedp.Evaluate[string](`new Promise(res => { const t = Date.now(); (function w() {
		const o = document.getElementById("seal-overlay"), i = document.getElementById("page-image");
		if (!o.hidden && o.complete && o.naturalWidth > 0 && i.complete && i.naturalWidth > 0) {
			const a = o.getBoundingClientRect(), b = i.getBoundingClientRect();
			res(((a.left - b.left) / b.width).toFixed(3) + " " + ((a.top - b.top) / b.height).toFixed(3) + " " + (a.width / b.width).toFixed(3));
		} else if (Date.now() - t > 15000) res("not drawn"); else setTimeout(w, 100); })(); })`, chromedp.EvalAwaitPromise))
	var ox, oy, ow float64
	if _, err := fmt.Sscanf(overlay, "%f %f %f", &ox, &oy, &ow); err != nil {
		t.Fatalf("the seal is not drawn over the page: %s", overlay)
	}
	if wx, wy, ww := x/595, (842-y-113)/842, 113.0/595; abs(ox-wx) > 0.01 || abs(oy-wy) > 0.01 || abs(ow-ww) > 0.01 {
		t.Errorf("the seal is drawn at %.3f, %.3f (width %.3f) of the page, want %.3f, %.3f (width %.3f)", ox, oy, ow, wx, wy, ww)
	}
	c.layoutHolds("request-approve")
	c.shot("request-approve")
	casesType(c, "#note", "同意")
	c.click("#approve")
	c.sees("已批准用印申请", "我最近审批的申请", "已批准")
	if pending := get(c, chromedp.Evaluate[string](`(document.querySelector("#inbox") || {textContent: ""}).textContent`)); strings.Contains(pending, caseNo) {
		t.Errorf("the approved request for %s is still listed as pending", caseNo)
	}
	c.shot("inbox-after")

	p.open("/cases/" + caseNo)
	p.sees("已批准", "同意")
	p.clickText("加盖电子印章")
	p.sees("已加盖电子印章", "已盖章", "下载盖章 PDF")

	// The download is the sealed PDF, and poppler's pdfsig accepts its signature.
	href := get(p, chromedp.Evaluate[string](`document.querySelector("#uses a").getAttribute("href")`))
	b64 := get(p, chromedp.Evaluate[string](`fetch(`+strconv.Quote(href)+`).then(r => r.arrayBuffer()).then(b => {
		let s = ""; const u = new Uint8Array(b); for (let i = 0; i < u.length; i++) s += String.fromCharCode(u[i]); return btoa(s); })`,
		chromedp.EvalAwaitPromise))
	sealed, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || !bytes.HasPrefix(sealed, []byte("%PDF-")) {
		t.Fatalf("the download is not a PDF (%d bytes, %v)", len(sealed), err)
	}
	rootResp, err := http.Get(srv.base + "/api/v1/ca/root.pem")
	if err != nil {
		t.Fatal(err)
	}
	root, _ := io.ReadAll(rootResp.Body)
	rootResp.Body.Close()
	if out := testkit.Pdfsig(t, root, sealed); !strings.Contains(out, "Signature is Valid") || !strings.Contains(out, "Certificate is Trusted") {
		t.Errorf("pdfsig on the downloaded PDF:\n%s", out)
	}
	p.shot("cases-sealed")

	// Delivered at the counter, then closed.
	p.click("form.deliver button[type=submit]")
	p.sees("已记录送达", "已送达", "窗口领取")
	p.clickText("办结")
	p.sees("已办结", "本件已结束")

	// The department's list shows the case, closed.
	p.open("/cases")
	p.sees(caseNo)
	p.shot("cases-list")

	// The auditor finds the use in the register by the case number, and the case's timeline.
	a := newPerson(t, "auditor")
	a.login(demo["auditor"][0], demo["auditor"][1])
	a.clickText("用印登记")
	casesType(a, "#f-case", caseNo)
	a.click("#register-filter button[type=submit]")
	a.sees(caseNo, "S-1", "440106-GTGSH-003")
	a.clickText(caseNo)
	a.sees("办件时间线", "收件（创建办件）", "复用材料", "受理", "作出决定", "申请用印", "批准用印", "加盖电子印章", "送达", "办结")
	a.doesNotSee(holder)

	// Anyone with the downloaded PDF: intact and registered; one byte changed, broken.
	dir := t.TempDir()
	good := filepath.Join(dir, "营业执照注销-已盖章.pdf")
	flipped := append([]byte{}, sealed...)
	i := bytes.Index(flipped, []byte("/MediaBox"))
	if i < 0 {
		t.Fatal("no /MediaBox in the sealed PDF")
	}
	flipped[i+1] = 'm' // inside the first revision, which the signature covers
	bad := filepath.Join(dir, "改过一个字节.pdf")
	if os.WriteFile(good, sealed, 0o600) != nil || os.WriteFile(bad, flipped, 0o600) != nil {
		t.Fatal("cannot write the downloaded PDF")
	}
	v := newPerson(t, "someone the licence is shown to")
	v.open("/verify")
	v.run(chromedp.SetUploadFiles(chromedp.ID("pdf"), []string{good}))
	v.click("#verify-form button[type=submit]")
	v.sees("文件完好", "印章完好", "已登记")
	v.doesNotSee(caseNo, holder)
	v.run(chromedp.SetUploadFiles(chromedp.ID("pdf"), []string{bad}))
	v.click("#verify-form button[type=submit]")
	v.sees("文件验证未通过", "印章已损坏")
	v.doesNotSee("文件完好")
}

// A promised item is received, noticed and forwarded at the window, never decided there.
func TestCasePromisedIsForwardedNotDecided(t *testing.T) {
	win := demo["window"]
	wtok := apiToken(t, win[0], win[1])
	holder := casesIDNumber()
	casesUploadMaterial(t, wtok, holder, "ID-CARD", "居民身份证", 300, 2)
	p := newPerson(t, "window clerk (promised)")
	p.login(win[0], win[1])
	p.open("/cases/new")
	p.fill("#item", "440106-FOOD-004")
	casesType(p, "#holder_number", holder)
	p.click("#new-case button[type=submit]")
	p.sees("食品经营许可证延续", "承诺件")
	caseNo := p.text("#case-no")
	// A one-time notice lists what is missing and opens as a PDF to print.
	p.clickText("出具一次性告知书")
	p.sees("已出具一次性告知书", "待补正", "第 1 号（打印）")
	href := get(p, chromedp.Evaluate[string](`document.querySelector("#notices a").getAttribute("href")`))
	ct := get(p, chromedp.Evaluate[string](`fetch(`+strconv.Quote(href)+`).then(r => r.headers.get("Content-Type"))`, chromedp.EvalAwaitPromise))
	if ct != "application/pdf" {
		t.Errorf("the notice opens as %q", ct)
	}
	p.shot("cases-notice")
	p.clickText("复用此材料")
	form := casesUploadMaterial(t, wtok, holder, "APPLICATION-FORM", "延续申请书", 200, 1)
	if code, _, body := apiDo(t, wtok, http.MethodPost, "/api/v1/cases/"+caseNo+"/materials",
		map[string]any{"type_code": "APPLICATION-FORM", "material_id": form, "reuse": false}); code >= 300 {
		t.Fatalf("attach the form: %d %s", code, body)
	}
	p.open("/cases/" + caseNo)
	p.clickText("受理")
	// A promised item is forwarded from the window; it offers no decision there.
	p.sees("已受理", "转报审批部门", "天河区市场监督管理局")
	p.doesNotSee("作出决定")
	p.clickText("转报审批部门")
	p.sees("已转报")
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}
