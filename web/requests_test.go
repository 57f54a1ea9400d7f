package web_test

import (
	"testing"

	"github.com/chromedp/chromedp"
)

// requestsCount is how many elements match sel on the person's page.
func requestsCount(p *person, sel string) int {
	p.t.Helper()
	return get(p, chromedp.Evaluate[int](`document.querySelectorAll(`+"`"+sel+"`"+`).length`))
}

// The custodian's inbox: a request rejected with a note, which the clerk then reads on the
// case; the requester's own view offers no decision (TestPagesRefusedAsTheAPIRefuses keeps
// the inbox to custodians).

func TestCustodianRejectsAndTheClerkSeesWhy(t *testing.T) {
	caseNo, reqRef, holder := requestedCase(t)

	// The clerk who made the request sees it waiting, without a decision to take.
	w := newPerson(t, "window")
	w.login(demo["window"][0], demo["window"][1])
	w.doesNotSee("用印审批")
	w.open("/seal-requests/" + reqRef)
	w.sees("用印申请 "+reqRef, "待审批", caseNo)
	if n := requestsCount(w, "#decide"); n != 0 {
		t.Errorf("the requester is offered the decision on their own request")
	}

	c := newPerson(t, "custodian")
	c.login(demo["custodian"][0], demo["custodian"][1])
	c.open("/seal-requests/" + reqRef)
	c.sees("待审批", caseNo, "准予个体工商户注销登记")
	c.doesNotSee(holder)
	casesType(c, "#note", "盖章位置压住了正文，请调整到落款处")
	c.click("#reject")
	c.sees("已驳回用印申请")
	// A second decision on the same request is the API's conflict, shown on the page.
	c.open("/seal-requests/" + reqRef)
	c.sees("已驳回", "盖章位置压住了正文")
	if n := requestsCount(c, "#decide"); n != 0 {
		t.Errorf("a rejected request still offers a decision")
	}

	w.open("/cases/" + caseNo)
	w.sees("已驳回", "盖章位置压住了正文，请调整到落款处")
	w.shot("case-request-rejected")

	// English, for the custodian's colleague who reads it.
	c.open("/lang?to=en&next=/inbox")
	c.sees("Seal requests waiting for you", "Requests I decided lately", "rejected")
	c.open("/lang?to=zh-CN&next=/inbox")
}
