package web_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"sealvault/internal/testkit"
)

// scanAddress reads the QR code off page 1 of a sealed PDF rendered at 200 DPI and checks
// that it is a verification address under the server's --public-url; it returns its path.
func scanAddress(t *testing.T, sealed []byte) string {
	t.Helper()
	codes := testkit.ScanQR(t, sealed, 1)
	if len(codes) != 1 {
		t.Fatalf("the sealed page has %d QR codes, want 1: %q", len(codes), codes)
	}
	path, ok := strings.CutPrefix(codes[0], srv.base+"/v/")
	if !ok || len(strings.Split(path, "/")) != 2 || len(strings.Split(path, "/")[0]) != 22 {
		t.Fatalf("the QR code says %q, want %s/v/<token>/<prefix>", codes[0], srv.base)
	}
	return "/v/" + path
}

// fetchPage gets path from the server without a browser: status and body.
func fetchPage(t *testing.T, path string) (int, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.base+path, nil)
	code, _, body := status(t, http.DefaultClient, req)
	return code, string(body)
}

// TestScanToVerifyPage: the QR code on a licence sealed through the API opens, without a
// login, a page in Chinese naming the seal, its department, the item, the time and the
// register number, and never the applicant, the case or the clerk; the sealed file checks as
// this use's, a tampered copy and the unsealed licence do not; English is one click away; an
// unknown code is a 404 page and a malformed address a 400 page.
func TestScanToVerifyPage(t *testing.T) {
	caseNo, useRef, sealed, holder := auditSealedCase(t)
	path := scanAddress(t, sealed)
	wtok := apiToken(t, demo["window"][0], demo["window"][1])
	var seal1 struct {
		Name       string `json:"name"`
		Department string `json:"department"`
	}
	_, _, body := apiDo(t, wtok, http.MethodGet, "/api/v1/seals/S-1", nil)
	_ = json.Unmarshal(body, &seal1)
	var clerk struct {
		DisplayName string `json:"display_name"`
	}
	_, _, body = apiDo(t, wtok, http.MethodGet, "/api/v1/me", nil)
	_ = json.Unmarshal(body, &clerk)
	private := []string{holder, holder[:10], holder[len(holder)-6:], caseNo, clerk.DisplayName}

	// What a phone's browser gets, read without a browser.
	code, page := fetchPage(t, path)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, code, page)
	}
	for _, want := range []string{"扫码验真", seal1.Name, "S-1", seal1.Department, "个体工商户注销登记", "440106-GTGSH-003", useRef} {
		if !strings.Contains(page, want) {
			t.Errorf("the page does not say %q", want)
		}
	}
	for _, leak := range private {
		if strings.Contains(page, leak) {
			t.Errorf("the page says %q, which it must not", leak)
		}
	}

	p := newPerson(t, "a citizen with a phone")
	p.open(path)
	p.sees("扫码验真", "用印登记中有此次用印的记录", seal1.Name, "个体工商户注销登记", useRef)
	if got := p.text("#scan-dept"); got != seal1.Department {
		t.Errorf("the department shown is %q, want %q", got, seal1.Department)
	}
	if got := p.text("#scan-ref"); got != useRef {
		t.Errorf("the register number shown is %q, want %q", got, useRef)
	}
	p.doesNotSee(private...)
	p.shot("scan-verify")
	// The code is scanned with a phone: the page fits its screen.
	p.run(chromedp.EmulateViewport(390, 844))
	p.open(path)
	p.shot("scan-verify-phone")
	p.run(chromedp.EmulateViewport(1366, 768))
	p.open(path)

	dir := t.TempDir()
	good := filepath.Join(dir, "注销登记通知书-已盖章.pdf")
	_ = os.WriteFile(good, sealed, 0o600)
	p.run(chromedp.SetUploadFiles(chromedp.ID("pdf"), []string{good}))
	p.click("#scan-form button[type=submit]")
	if got := p.text("#scan-verdict"); !strings.Contains(got, "这正是本次用印加盖印章后的文件") {
		t.Errorf("the sealed file checks as %q", got)
	}
	p.shot("scan-verify-match")

	flipped := append([]byte{}, sealed...)
	i := bytes.Index(flipped, []byte("/MediaBox"))
	flipped[i+1] = 'm'
	bad := filepath.Join(dir, "tampered.pdf")
	_ = os.WriteFile(bad, flipped, 0o600)
	p.run(chromedp.SetUploadFiles(chromedp.ID("pdf"), []string{bad}))
	p.click("#scan-form button[type=submit]")
	// The register finds the use by its signature, which the copy still carries: the page
	// says it is this use's seal, changed after sealing.
	if got := p.text("#scan-verdict"); !strings.Contains(got, "文件含本次用印的印章") || !strings.Contains(got, "验证未通过") || !strings.Contains(got, "被改动") {
		t.Errorf("a tampered copy checks as %q", got)
	}
	p.run(chromedp.SetUploadFiles(chromedp.ID("pdf"), []string{casesLicence(t)}))
	p.click("#scan-form button[type=submit]")
	if got := p.text("#scan-verdict"); !strings.Contains(got, "不一致") {
		t.Errorf("the unsealed licence checks as %q", got)
	}
	p.doesNotSee("系统内部错误")

	p.open("/lang?to=en&next=" + path)
	p.sees("Scan to verify", "Register number", useRef, "Check a file")
	p.open("/lang?to=zh-CN&next=" + path)

	// Unknown, tampered and malformed addresses: clear pages, never a 500.
	token, prefix, _ := strings.Cut(strings.TrimPrefix(path, "/v/"), "/")
	other := prefix[:7] + map[bool]string{true: "1", false: "0"}[prefix[7] == '0']
	for _, c := range []struct {
		path string
		code int
		says string
	}{
		{"/v/AAAAAAAAAAAAAAAAAAAAAA/" + prefix, http.StatusNotFound, "没有与此验真码对应的用印记录"},
		{"/v/" + token + "/" + other, http.StatusNotFound, "没有与此验真码对应的用印记录"},
		{"/v/" + token, http.StatusBadRequest, "验真网址不完整或有误"},
		{"/v/" + token[:10] + "/" + prefix, http.StatusBadRequest, "验真网址不完整或有误"},
		{"/v/" + token + "/XYZ", http.StatusBadRequest, "验真网址不完整或有误"},
		{"/v/%E4%B8%AD%E6%96%87/" + prefix, http.StatusBadRequest, "验真网址不完整或有误"},
	} {
		code, page := fetchPage(t, c.path)
		if code != c.code || !strings.Contains(page, c.says) {
			t.Errorf("GET %s: %d, want %d saying %q:\n%s", c.path, code, c.code, c.says, page)
		}
	}
	p.open("/v/AAAAAAAAAAAAAAAAAAAAAA/" + prefix)
	p.sees("没有与此验真码对应的用印记录")
	p.shot("scan-verify-notfound")
}

// TestScanToVerifyRevokedSeal: the code of a use made with a seal revoked afterwards opens a
// page saying the seal was revoked, when, and that the use came before.
func TestScanToVerifyRevokedSeal(t *testing.T) {
	atok := apiToken(t, demo["seal_admin"][0], demo["seal_admin"][1])
	wtok := apiToken(t, demo["window"][0], demo["window"][1])
	var s1 struct {
		CustodianIDs []string `json:"custodian_ids"`
		SupervisorID string   `json:"supervisor_id"`
		DepartmentID string   `json:"department_id"`
	}
	_, _, body := apiDo(t, atok, http.MethodGet, "/api/v1/seals/S-1", nil)
	_ = json.Unmarshal(body, &s1)
	var win struct {
		Department struct {
			ID string `json:"id"`
		} `json:"department"`
	}
	_, _, body = apiDo(t, wtok, http.MethodGet, "/api/v1/me", nil)
	_ = json.Unmarshal(body, &win)
	code, _, body := apiDo(t, atok, http.MethodPost, "/api/v1/seals", map[string]any{
		"name": "天河区市场监督管理局登记专用章", "type": "business", "department_id": s1.DepartmentID,
		"supervisor_id": s1.SupervisorID, "custodian_ids": s1.CustodianIDs, "valid_from": "2026-01-01", "valid_until": "2030-12-31"})
	var sl struct {
		ID   string `json:"id"`
		Ref  string `json:"ref"`
		Name string `json:"name"`
	}
	_ = json.Unmarshal(apiMust(t, code, body, http.StatusCreated), &sl)
	code, _, body = apiDo(t, atok, http.MethodPost, "/api/v1/seals/"+sl.Ref+"/status", map[string]string{"status": "active", "reason": "经审批启用"})
	apiMust(t, code, body, http.StatusOK)
	code, _, body = apiDo(t, atok, http.MethodPost, "/api/v1/authorizations", map[string]any{
		"grantor_department_id": s1.DepartmentID, "grantee_department_id": win.Department.ID, "items": []string{"440106-GTGSH-003"},
		"powers": []string{"seal"}, "seal_ids": []string{sl.ID}, "valid_from": "2026-01-01", "valid_until": "2030-12-31",
		"approval_required": false, "note": "登记专用章即办件用印"})
	apiMust(t, code, body, http.StatusCreated)

	_, _, sealReq, holder := decidedCase(t)
	sealReq["seal_id"] = sl.ID
	var r struct {
		Ref    string `json:"ref"`
		Status string `json:"status"`
	}
	code, _, body = apiDo(t, wtok, http.MethodPost, "/api/v1/seal-requests", sealReq)
	_ = json.Unmarshal(apiMust(t, code, body, http.StatusCreated), &r)
	var u struct {
		Ref string `json:"ref"`
	}
	code, _, body = apiDo(t, wtok, http.MethodPost, "/api/v1/seal-requests/"+r.Ref+"/apply", nil)
	_ = json.Unmarshal(apiMust(t, code, body, http.StatusCreated), &u)
	code, _, sealed := apiDo(t, wtok, http.MethodGet, "/api/v1/seal-uses/"+u.Ref+"/content", nil)
	apiMust(t, code, sealed, http.StatusOK)
	path := scanAddress(t, sealed)
	code, _, body = apiDo(t, atok, http.MethodPost, "/api/v1/seals/"+sl.Ref+"/status", map[string]string{"status": "revoked", "reason": "印章遗失"})
	apiMust(t, code, body, http.StatusOK)

	p := newPerson(t, "a bank clerk")
	p.open(path)
	today := time.Now().In(time.FixedZone("CST", 8*3600)).Format(time.DateOnly)
	p.sees(sl.Name, u.Ref, "该印章已于 "+today, "注销", "本次用印在注销之前", "已注销")
	p.doesNotSee("用印登记中有此次用印的记录", holder)
	// The use came before the revocation and stays valid: a warning, not an error.
	if got := p.text("#scan-state"); !strings.HasPrefix(got, "⚠") {
		t.Errorf("the use of a seal revoked after it is shown as %q", got)
	}
	if cls := get(p, chromedp.Evaluate[string](`document.getElementById("scan-state").className`)); !strings.Contains(cls, "warn") {
		t.Errorf("the use of a seal revoked after it is drawn as %q", cls)
	}
	p.shot("scan-verify-revoked")
}
