package web_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// The auditor's journey and the public verification page, on a seal use made through the
// API: an instant case opened, a seal request refused before the decision (a denied
// attempt), accepted, decided with the licence, sealed with the custodian's approval.

// auditSealedCase drives the demo's instant case to a sealed licence through the API and
// returns the case number, the use's ref and the sealed PDF.
func auditSealedCase(t *testing.T) (caseNo, useRef string, sealed []byte, holder string) {
	t.Helper()
	wtok := apiToken(t, demo["window"][0], demo["window"][1])
	ctok := apiToken(t, demo["custodian"][0], demo["custodian"][1])
	caseNo, reqRef, holder := requestedCase(t)
	code, _, body := apiDo(t, ctok, http.MethodPost, "/api/v1/seal-requests/"+reqRef+"/approve", map[string]string{"note": "同意"})
	apiMust(t, code, body, http.StatusOK)
	var u struct {
		Ref string `json:"ref"`
	}
	code, _, body = apiDo(t, wtok, http.MethodPost, "/api/v1/seal-requests/"+reqRef+"/apply", nil)
	_ = json.Unmarshal(apiMust(t, code, body, http.StatusCreated), &u)
	code, _, sealed = apiDo(t, wtok, http.MethodGet, "/api/v1/seal-uses/"+u.Ref+"/content", nil)
	apiMust(t, code, sealed, http.StatusOK)
	return caseNo, u.Ref, sealed, holder
}

// apiMust is body when code is one of want, else the test stops with the API's answer.
func apiMust(t *testing.T, code int, body []byte, want ...int) []byte {
	t.Helper()
	for _, w := range want {
		if code == w {
			return body
		}
	}
	t.Fatalf("API answered %d: %s", code, body)
	return nil
}

// requestedCase is an instant case of a new applicant taken through the API up to a seal
// request waiting for the custodian (with a denied attempt before the decision), by the
// demo window clerk: its number, the request's reference and the applicant's number.
func requestedCase(t *testing.T) (caseNo, reqRef, holder string) {
	t.Helper()
	wtok := apiToken(t, demo["window"][0], demo["window"][1])
	_, caseNo, sealReq, holder := decidedCase(t)
	var r struct {
		Ref string `json:"ref"`
	}
	code, _, body := apiDo(t, wtok, http.MethodPost, "/api/v1/seal-requests", sealReq)
	_ = json.Unmarshal(apiMust(t, code, body, http.StatusCreated), &r)
	return caseNo, r.Ref, holder
}

// decidedCase opens a case of the demo's instant item for a new applicant through the API
// and takes it to decided, with a two-page licence as its result document (a seal request
// before the decision is refused on the way). It returns the case's id and number, a seal
// request of S-1 for the licence, and the applicant's number.
func decidedCase(t *testing.T) (caseID, caseNo string, sealReq map[string]any, holder string) {
	t.Helper()
	wtok := apiToken(t, demo["window"][0], demo["window"][1])
	holder = casesIDNumber()
	idCard := casesUploadMaterial(t, wtok, holder, "ID-CARD", "居民身份证", 300, 2)
	must := func(code int, body []byte, want ...int) []byte { t.Helper(); return apiMust(t, code, body, want...) }
	var c struct {
		ID     string `json:"id"`
		CaseNo string `json:"case_no"`
	}
	code, _, body := apiDo(t, wtok, http.MethodPost, "/api/v1/cases", map[string]string{"item_code": "440106-GTGSH-003", "holder_kind": "id_card", "holder_number": holder})
	_ = json.Unmarshal(must(code, body, http.StatusCreated, http.StatusOK), &c)
	code, _, body = apiDo(t, wtok, http.MethodPost, "/api/v1/cases/"+c.CaseNo+"/materials", map[string]any{"type_code": "ID-CARD", "material_id": idCard, "reuse": true})
	must(code, body, http.StatusOK, http.StatusCreated)
	form := casesUploadMaterial(t, wtok, holder, "APPLICATION-FORM", "注销登记申请书", 200, 1)
	code, _, body = apiDo(t, wtok, http.MethodPost, "/api/v1/cases/"+c.CaseNo+"/materials", map[string]any{"type_code": "APPLICATION-FORM", "material_id": form, "reuse": false})
	must(code, body, http.StatusOK, http.StatusCreated)
	code, _, body = apiDo(t, wtok, http.MethodPost, "/api/v1/cases/"+c.CaseNo+"/accept", nil)
	must(code, body, http.StatusOK)

	licence, err := os.ReadFile(casesLicence(t))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.base+"/api/v1/documents?name=licence.pdf", bytes.NewReader(licence))
	req.Header.Set("Content-Type", "application/pdf")
	req.Header.Set("Authorization", "Bearer "+wtok)
	code, _, body = status(t, http.DefaultClient, req)
	var doc struct {
		Digest string `json:"digest"`
	}
	_ = json.Unmarshal(must(code, body, http.StatusOK, http.StatusCreated), &doc)
	var sl struct {
		ID string `json:"id"`
	}
	code, _, body = apiDo(t, wtok, http.MethodGet, "/api/v1/seals/S-1", nil)
	_ = json.Unmarshal(must(code, body, http.StatusOK), &sl)
	sealReq = map[string]any{"seal_id": sl.ID, "case_id": c.ID, "document_digest": doc.Digest,
		"placement": map[string]any{"page": 1, "x": 400, "y": 80, "size": 120}, "reason": "准予个体工商户注销登记"}
	// Before the decision the request is refused: a denied attempt in the log.
	if code, _, body := apiDo(t, wtok, http.MethodPost, "/api/v1/seal-requests", sealReq); code < 400 || code >= 500 {
		t.Fatalf("a seal request before the decision: %d %s", code, body)
	}
	code, _, body = apiDo(t, wtok, http.MethodPost, "/api/v1/cases/"+c.CaseNo+"/decide", map[string]any{"decision": "approved", "text": "准予注销登记",
		"document": map[string]string{"digest": doc.Digest, "kind": "result"}})
	must(code, body, http.StatusOK)
	return c.ID, c.CaseNo, sealReq, holder
}

// auditFetch downloads path in the person's browser and returns its status, its
// Content-Disposition and its body.
func auditFetch(p *person, path string) (int, string, []byte) {
	p.t.Helper()
	out := get(p, chromedp.Evaluate[[]string](`fetch(`+strconv.Quote(path)+`).then(async r => { const b = new Uint8Array(await r.arrayBuffer());
		let s = ""; for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
		return [String(r.status), r.headers.get("Content-Disposition") || "", btoa(s)]; })`, chromedp.EvalAwaitPromise))
	code, _ := strconv.Atoi(out[0])
	b, _ := base64.StdEncoding.DecodeString(out[2])
	return code, out[1], b
}

func TestAuditorFindsTheUseAndTheLogVerifies(t *testing.T) {
	caseNo, useRef, _, holder := auditSealedCase(t)
	p := newPerson(t, "auditor")
	p.login(demo["auditor"][0], demo["auditor"][1])
	p.sees("用印登记", "审计事件", "复用统计")

	// The register, filtered by the case number: the one use, with its seal and people.
	p.open("/register")
	casesType(p, "#f-case", caseNo)
	p.click("#register-filter button[type=submit]")
	if loc := p.location(); !strings.Contains(loc, "case="+caseNo) {
		t.Errorf("the filter is not kept in the address: %s", loc)
	}
	p.sees(useRef, "S-1", caseNo, "440106-GTGSH-003", "存档第 1 版，时间戳证书有效至")
	if n := get(p, chromedp.Evaluate[int](`document.querySelectorAll("#uses tbody tr").length`)); n != 1 {
		t.Errorf("the register filtered by %s has %d rows, want 1", caseNo, n)
	}
	requester := p.text("#uses tbody tr td:nth-child(8)")
	approver := p.text("#uses tbody tr td:nth-child(9)")
	if requester == "" || strings.HasPrefix(requester, "用户 ") || approver == "" || strings.HasPrefix(approver, "用户 ") {
		t.Errorf("requester %q and approver %q are not named", requester, approver)
	}
	p.doesNotSee(holder)
	p.shot("audit-register")
	// By seal ref and case together, and by a seal that did not make it: nothing.
	p.open("/register?seal=S-1&case=" + caseNo)
	p.sees(useRef)
	p.open("/register?seal=S-999&case=" + caseNo)
	p.sees("S-999")
	p.doesNotSee(useRef)
	// A bad date is the API's problem, named, not a 500.
	p.open("/register?from=yesterday")
	p.sees("query.from")

	// The denied attempt before the decision, in the second tab.
	p.open("/register?case=" + caseNo)
	p.click("#tab-denied")
	p.sees("被拒绝的用印尝试", caseNo, "S-1")
	if n := get(p, chromedp.Evaluate[int](`document.querySelectorAll("#denied tbody tr").length`)); n < 1 {
		t.Errorf("no denied attempt for %s", caseNo)
	}

	// The case's timeline from the register: every step in words.
	p.open("/register?case=" + caseNo)
	p.clickText(caseNo)
	p.sees("办件时间线", caseNo, "收件（创建办件）", "复用材料", "受理", "作出决定", "申请用印", "批准用印", "加盖电子印章", "用印被拒绝")
	p.doesNotSee(holder)
	p.shot("audit-timeline")

	// The audit events, filtered by the case.
	p.open("/audit/events?case=" + caseNo + "&action=seal.apply")
	p.sees("加盖电子印章", caseNo)

	// The overview: a new checkpoint, the log verifies, the exports download.
	p.open("/audit")
	p.click("#issue-checkpoint")
	p.sees("已签发新检查点", "最新检查点", "审计日志校验通过", "根哈希", "签名公钥")
	if n, _ := strconv.Atoi(p.text("#cp-size")); n < 10 {
		t.Errorf("the checkpoint's size is %d", n)
	}
	p.shot("audit-overview")
	code, cd, body := auditFetch(p, "/audit/export.jsonl")
	if code != http.StatusOK || !strings.Contains(cd, "attachment") || !strings.Contains(cd, ".jsonl") || !bytes.Contains(body, []byte(caseNo)) {
		t.Errorf("the JSON Lines export: %d %q, %d bytes", code, cd, len(body))
	}
	if line, _, _ := bytes.Cut(body, []byte("\n")); !json.Valid(line) {
		t.Errorf("the export's first line is not JSON: %.200s", line)
	}
	code, cd, body = auditFetch(p, "/register/export.csv?case="+caseNo)
	if code != http.StatusOK || !strings.Contains(cd, ".csv") || !bytes.Contains(body, []byte(useRef+",")) || !bytes.Contains(body, []byte("S-1")) ||
		!bytes.Contains(body, []byte("archive_version,archive_digest,archive_tsa_not_after")) {
		t.Errorf("the register CSV: %d %q:\n%s", code, cd, body)
	}

	// The reuse report: the chart and its numbers, this month's item reused.
	p.open("/reports/reuse")
	p.sees("材料复用率", "月份", "复用率", "440106-GTGSH-003")
	if n := get(p, chromedp.Evaluate[int](`document.querySelectorAll("#reuse-chart circle").length`)); n < 1 {
		t.Errorf("the chart draws %d points", n)
	}
	if n := get(p, chromedp.Evaluate[int](`document.querySelectorAll("#legend li").length`)); n < 1 {
		t.Errorf("the chart has no legend")
	}
	p.shot("audit-reuse")

	// In English too.
	p.open("/lang?to=en&next=/reports/reuse")
	p.sees("Material reuse rate", "Month", "Reuse rate")
	p.open("/lang?to=zh-CN&next=/")
}

func TestAuditPagesRefusedToTheWindow(t *testing.T) {
	p := newPerson(t, "window clerk at the register")
	p.login(demo["window"][0], demo["window"][1])
	p.doesNotSee("用印登记", "审计事件")
	for _, path := range []string{"/register", "/audit", "/audit/events", "/reports/reuse", "/audit/export.jsonl"} {
		p.open(path)
		p.sees("您的角色无权使用此页面")
	}
}

func TestPublicVerifyPage(t *testing.T) {
	caseNo, useRef, sealed, holder := auditSealedCase(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "营业执照注销-已盖章.pdf")
	if err := os.WriteFile(good, sealed, 0o600); err != nil {
		t.Fatal(err)
	}
	flipped := append([]byte{}, sealed...)
	i := bytes.Index(flipped, []byte("/MediaBox"))
	if i < 0 {
		t.Fatal("no /MediaBox in the sealed PDF")
	}
	flipped[i+1] = 'm' // inside the first revision, which the signature covers
	bad := filepath.Join(dir, "tampered.pdf")
	if err := os.WriteFile(bad, flipped, 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, me := apiDo(t, apiToken(t, demo["window"][0], demo["window"][1]), http.MethodGet, "/api/v1/me", nil)
	var clerk struct {
		DisplayName string `json:"display_name"`
	}
	_ = json.Unmarshal(me, &clerk)

	p := newPerson(t, "a citizen")
	p.open("/")
	p.clickText("验证电子印章")
	p.sees("验证电子印章", "PDF 文件", "选择文件…", "未选择文件")
	p.run(chromedp.SetUploadFiles(chromedp.ID("pdf"), []string{good}))
	if got := p.text(`[data-file-name-for="pdf"]`); got != filepath.Base(good) {
		t.Errorf("after choosing %s the file chooser says %q", filepath.Base(good), got)
	}
	p.click("#verify-form button[type=submit]")
	p.sees("文件完好", "印章完好", "证书可信", "S-1", "已登记", useRef,
		"签名后仅追加了验证数据或其他印章，所签内容未变", "PAdES B-LTA：含可信时间、长期验证数据和存档时间戳", "存档时间戳：")
	p.doesNotSee("字节")
	if dept := p.text("#verify-result dl dd:nth-of-type(2)"); dept == "" {
		t.Errorf("no department shown")
	}
	p.doesNotSee(caseNo, holder, holder[:6]+"********", clerk.DisplayName, "440106-GTGSH-003")
	p.shot("verify-ok")

	p.run(chromedp.SetUploadFiles(chromedp.ID("pdf"), []string{bad}))
	p.click("#verify-form button[type=submit]")
	p.sees("文件验证未通过", "印章已损坏")
	p.doesNotSee("文件完好", caseNo, holder)
	p.shot("verify-broken")

	// Not a PDF: the API's problem, not a 500.
	junk := filepath.Join(dir, "note.pdf")
	_ = os.WriteFile(junk, []byte("not a pdf"), 0o600)
	p.run(chromedp.SetUploadFiles(chromedp.ID("pdf"), []string{junk}))
	p.click("#verify-form button[type=submit]")
	p.doesNotSee("系统内部错误", "文件完好")

	// The file chooser speaks the page's language, whatever the browser's.
	p.open("/lang?to=en&next=/verify")
	p.sees("Choose a file…", "No file chosen")
	p.doesNotSee("选择文件")
	p.open("/lang?to=zh-CN&next=/verify")
}
