package web_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"sealvault/seal/ses"
)

// casesPick chooses the option of the select sel whose text contains label, as a person
// picking from the list would, and fails if there is none.
func casesPick(p *person, sel, label string) {
	p.t.Helper()
	ok := get(p, chromedp.Evaluate[bool](fmt.Sprintf(`(() => {
		const s = document.querySelector(%q);
		const o = [...s.options].find(o => o.textContent.includes(%q));
		if (!o) return false;
		s.value = o.value; s.dispatchEvent(new Event("change", {bubbles: true}));
		return true;
	})()`, sel, label)))
	if !ok {
		p.t.Fatalf("%s: %s offers no %q", p.name, sel, label)
	}
}

// casesTick ticks the checkbox whose label contains label.
func casesTick(p *person, form, label string) {
	p.t.Helper()
	p.run(chromedp.Click(chromedp.Search(fmt.Sprintf(`//form[@id=%q]//label[contains(., %q)]/input`, form, label)), chromedp.NodeVisible))
}

// TestSealAdminFilesASealAndRecordsALetter: the seal administrator files a seal from the
// workbench, naming its department, supervisor and custodian from lists (a missing choice
// is named and what was typed stays), sees it pending with its image and people, activates
// it, records a letter delegating an instant item with the new seal to the center (a letter
// giving the decision of a promised item is refused by the separation rule), and revokes it.
// A window clerk is refused the filing page, as the API refuses them filing.
func TestSealAdminFilesASealAndRecordsALetter(t *testing.T) {
	p := newPerson(t, "seal admin")
	p.login(demo["seal_admin"][0], demo["seal_admin"][1])
	p.clickText("印章管理")
	p.clickText("备案新印章")
	p.sees("印章备案", "待启用")
	name := "天河区市场监督管理局财务专用章"
	casesType(p, "#name", name)
	casesPick(p, "#type", "财务专用章")
	casesPick(p, "#supervisor", "印章保管人 张强")
	casesTick(p, "seal-form", "印章保管人 张强")
	// The department is not chosen: the API names it and the form keeps the rest.
	p.run(chromedp.Evaluate[chromedp.Void](`document.getElementById("department").removeAttribute("required")`))
	p.click("#seal-form button[type=submit]")
	p.sees("department_id", "is required")
	if v := get(p, chromedp.Value(chromedp.ID("name"))); v != name {
		t.Errorf("the refused form lost the name: %q", v)
	}
	if checked := get(p, chromedp.Evaluate[bool](`document.querySelector("#seal-form input[name=custodians]:checked") !== null`)); !checked {
		t.Errorf("the refused form lost the custodian")
	}
	casesPick(p, "#department", "天河区市场监督管理局")
	if strings.Contains(get(p, chromedp.Evaluate[string](`document.getElementById("department").textContent`)), "广州市市场监督管理局") {
		t.Errorf("the department list offers a department the seal admin does not manage")
	}
	p.shot("seal-file")
	p.click("#seal-form button[type=submit]")
	p.sees("印章已备案", name, "待启用", "印章保管人 张强", "第 1 版")
	if c := p.text("#seal-custodians"); c != "印章保管人 张强" {
		t.Errorf("custodians shown as %q", c)
	}
	ref := strings.Fields(p.text("h1"))[0]
	if !strings.HasPrefix(ref, "S-") {
		t.Fatalf("the seal page's heading %q does not start with its reference", p.text("h1"))
	}
	// Its GB/T 38540 seal data, made with the image, downloads as an .esl that reads back.
	p.sees("电子印章数据", "下载电子印章数据（GB/T 38540，第 1 版印模）")
	code, cd, esl := auditFetch(p, get(p, chromedp.Evaluate[string](`document.getElementById("sealdata-download").getAttribute("href")`)))
	if d, err := ses.ParseSeal(esl); code != 200 || !strings.Contains(cd, ref+".esl") || err != nil || d.Name != name {
		t.Errorf("the seal data download: %d %q, %v", code, cd, err)
	}
	p.run(chromedp.SetValue(chromedp.ID("status"), "active"))
	casesType(p, "#reason", "印模核对无误，启用")
	p.click("#status-form button[type=submit]")
	p.sees("印章状态已更新")

	// A letter for the instant item, with the new seal.
	p.clickText("授权委托书")
	p.sees("授权委托书", "个体工商户")
	p.clickText("登记授权委托书")
	casesPick(p, "#grantor", "天河区市场监督管理局")
	casesPick(p, "#grantee", "天河区政务服务中心")
	casesTick(p, "letter-form", "440106-FOOD-004")
	casesTick(p, "letter-form", "决定")
	casesTick(p, "letter-form", ref+" ")
	casesType(p, "#note", "测试：承诺件不得委托决定")
	p.click("#letter-form button[type=submit]")
	p.sees("受审分离", "separation-of-duties")
	// Corrected: the instant item instead, with the seal power.
	casesTick(p, "letter-form", "440106-FOOD-004")
	casesTick(p, "letter-form", "440106-GTGSH-003")
	casesTick(p, "letter-form", "用印")
	p.shot("letter-new")
	// A date typed that does not exist is named, and what was chosen stays.
	until := get(p, chromedp.Value(chromedp.ID("valid_until")))
	casesType(p, "#valid_until", "2027-02-30")
	p.click("#letter-form button[type=submit]")
	p.sees("valid_until")
	p.doesNotSee("授权委托书已登记")
	casesType(p, "#valid_until", until)
	p.click("#letter-form button[type=submit]")
	p.sees("授权委托书已登记", "天河区市场监督管理局", "天河区政务服务中心", "440106-GTGSH-003", "受理", "决定", "用印", ref+" "+name, "每次用印须经保管人审批")
	if s := p.text("#letter-state"); s != "有效" {
		t.Errorf("a new letter is %q", s)
	}
	letter := strings.Fields(p.text("h1"))[1]
	casesType(p, "#reason", "委托事项调整")
	p.shot("letter-show")
	p.click("#revoke-form button[type=submit]")
	p.sees("授权委托书已撤销", "委托事项调整")
	if s := p.text("#letter-state"); s != "已撤销" {
		t.Errorf("a revoked letter is %q", s)
	}
	p.doesNotSee("确认撤销")
	p.clickText("返回授权委托书")
	row := strings.TrimSpace(get(p, chromedp.Text(chromedp.Search(fmt.Sprintf(`//table[@id="letters"]//tr[td[1][normalize-space(.)=%q]]`, letter)), chromedp.NodeVisible)))
	if !strings.Contains(row, "已撤销") {
		t.Errorf("the list shows %s as %q", letter, row)
	}

	// The window clerk cannot file a seal or record a letter: the pages refuse as the API does.
	w := newPerson(t, "window")
	w.login(demo["window"][0], demo["window"][1])
	w.doesNotSee("授权委托书")
	for _, path := range []string{"/seals/new", "/letters/new"} {
		w.open(path)
		w.sees("无法完成操作")
		w.doesNotSee("印章备案", "登记授权委托书")
	}
}
