package web_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestVerifySM2Seal: a licence sealed with the demo's SM2 seal S-2 is checked on the public
// verification page as a person does it, choosing the file: the page says the file and
// the seal are intact, names the format (a GB/T 38540 electronic seal, SM2 over SM3) and
// that the seal data it carries verifies.
func TestVerifySM2Seal(t *testing.T) {
	wtok := apiToken(t, demo["window"][0], demo["window"][1])
	ctok := apiToken(t, demo["custodian"][0], demo["custodian"][1])
	var s2 struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	code, _, body := apiDo(t, wtok, http.MethodGet, "/api/v1/seals/S-2", nil)
	_ = json.Unmarshal(apiMust(t, code, body, http.StatusOK), &s2)
	_, _, sealReq, _ := decidedCase(t)
	sealReq["seal_id"] = s2.ID
	var r, u struct {
		Ref string `json:"ref"`
	}
	code, _, body = apiDo(t, wtok, http.MethodPost, "/api/v1/seal-requests", sealReq)
	_ = json.Unmarshal(apiMust(t, code, body, http.StatusCreated), &r)
	code, _, body = apiDo(t, ctok, http.MethodPost, "/api/v1/seal-requests/"+r.Ref+"/approve", map[string]string{"note": "同意"})
	apiMust(t, code, body, http.StatusOK)
	code, _, body = apiDo(t, wtok, http.MethodPost, "/api/v1/seal-requests/"+r.Ref+"/apply", nil)
	_ = json.Unmarshal(apiMust(t, code, body, http.StatusCreated), &u)
	code, _, sealed := apiDo(t, wtok, http.MethodGet, "/api/v1/seal-uses/"+u.Ref+"/content", nil)
	apiMust(t, code, sealed, http.StatusOK)
	file := filepath.Join(t.TempDir(), "注销登记通知书-国密签章.pdf")
	if err := os.WriteFile(file, sealed, 0o600); err != nil {
		t.Fatal(err)
	}

	p := newPerson(t, "a bank clerk")
	p.open("/verify")
	p.run(chromedp.SetUploadFiles(chromedp.ID("pdf"), []string{file}))
	p.click("#verify-form button[type=submit]")
	p.sees("文件完好", "印章完好", "证书可信", "S-2", "已登记", u.Ref, "签章格式",
		"GB/T 38540 电子签章（国密 SM2 签名、SM3 摘要），含可信时间、长期验证数据和存档时间戳",
		"电子印章数据「"+s2.Name+"」验证通过")
	p.doesNotSee("PAdES B-LTA", "验证未通过")
	p.layoutHolds("verify-sm2")
	p.shot("verify-sm2")
	p.open("/lang?to=en&next=/verify")
	p.run(chromedp.SetUploadFiles(chromedp.ID("pdf"), []string{file}))
	p.click("#verify-form button[type=submit]")
	p.sees("GB/T 38540 electronic seal (SM2 signature over SM3)", "verified")
	p.open("/lang?to=zh-CN&next=/verify")
}
