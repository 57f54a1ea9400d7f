package web_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestSealAdminDrawsAndSuspends: the seal administrator files a seal through the API (its
// image drawn from its data on filing), sees it in the register, draws a new image with a
// code, watching the preview change, is told of a character the font lacks, keeps the new
// version, and activates it and suspends it with a reason.
func TestSealAdminDrawsAndSuspends(t *testing.T) {
	atok := apiToken(t, demo["seal_admin"][0], demo["seal_admin"][1])
	var me struct {
		ID         string `json:"id"`
		Department struct {
			ID string `json:"id"`
		} `json:"department"`
	}
	_, _, body := apiDo(t, atok, http.MethodGet, "/api/v1/me", nil)
	_ = json.Unmarshal(body, &me)
	var cust struct {
		CustodianIDs []string `json:"custodian_ids"`
		SupervisorID string   `json:"supervisor_id"`
		DepartmentID string   `json:"department_id"`
	}
	_, _, body = apiDo(t, atok, http.MethodGet, "/api/v1/seals/S-1", nil)
	_ = json.Unmarshal(body, &cust)
	code, _, body := apiDo(t, atok, http.MethodPost, "/api/v1/seals", map[string]any{
		"name": "天河区市场监督管理局合同专用章", "type": "contract", "department_id": cust.DepartmentID,
		"supervisor_id": cust.SupervisorID, "custodian_ids": cust.CustodianIDs, "valid_from": "2026-01-01", "valid_until": "2030-12-31"})
	var sl struct {
		Ref          string `json:"ref"`
		ImageVersion int    `json:"image_version"`
	}
	_ = json.Unmarshal(apiMust(t, code, body, http.StatusCreated), &sl)
	if sl.ImageVersion != 1 {
		t.Fatalf("the seal was filed without a drawn image: %s", body)
	}

	p := newPerson(t, "seal admin")
	p.login(demo["seal_admin"][0], demo["seal_admin"][1])
	p.clickText("印章管理")
	p.sees("印章登记", sl.Ref, "天河区市场监督管理局合同专用章", "合同专用章", "待启用")
	p.open("/seals/" + sl.Ref)
	p.sees("印章制作", "第 1 版")
	previewSrc := func() string {
		return get(p, chromedp.Poll[string](`(() => { const i = document.getElementById("seal-preview"); return !i.hidden && i.complete && i.naturalWidth > 0 ? i.src : ""; })()`))
	}
	first := previewSrc()
	casesType(p, "#code", "4401060054321")
	var second string
	for range 50 {
		if second = previewSrc(); second != first {
			break
		}
		p.run(chromedp.Sleep(100 * 1e6))
	}
	if second == first {
		t.Errorf("the preview did not follow the typed code")
	}
	// A character the font lacks is named, before anything is kept.
	casesType(p, "#title", "𗀀合同章")
	casesWaitText(p, "#preview-problem", "U+17000")
	p.run(chromedp.Evaluate[chromedp.Void](`(() => { const e = document.getElementById("title"); e.value = ""; e.dispatchEvent(new Event("input", {bubbles: true})); })()`))
	get(p, chromedp.Poll[bool](`document.getElementById("preview-problem").hidden`))
	previewSrc()
	p.shot("seal-draw")
	p.click("#keep-image")
	p.sees("已保存新的印模图像版本", "第 2 版")

	p.run(chromedp.SetValue(chromedp.ID("status"), "active"))
	casesType(p, "#reason", "备案完成，启用")
	p.click("#status-form button[type=submit]")
	p.sees("印章状态已更新")
	if s := p.text("#seal-status"); s != "启用" {
		t.Errorf("after activating the seal is %q", s)
	}
	p.run(chromedp.SetValue(chromedp.ID("status"), "suspended"))
	casesType(p, "#reason", "印章更换，暂停使用")
	p.click("#status-form button[type=submit]")
	p.sees("印章状态已更新")
	if s := p.text("#seal-status"); s != "暂停" {
		t.Errorf("after suspending the seal is %q", s)
	}
}
