package web

import (
	"fmt"
	"net/http"
)

// langCookie holds the chosen language: "en", or anything else for Chinese (the default).
const langCookie = "sv_lang"

func langOf(r *http.Request) string {
	if c, err := r.Cookie(langCookie); err == nil && c.Value == "en" {
		return "en"
	}
	return "zh-CN"
}

// messages maps a key to its Chinese and English text. Each area of the workbench adds its
// own in an init function (addMessages); a key defined twice is a programming error.
var messages = map[string][2]string{}

func addMessages(m map[string][2]string) {
	for k, v := range m {
		if _, dup := messages[k]; dup {
			panic("web: message " + k + " defined twice")
		}
		messages[k] = v
	}
}

func hasMessage(key string) bool { _, ok := messages[key]; return ok }

// translate returns key's text in lang, formatted with args; an unknown key is returned as
// itself (the test of every template's keys catches it).
func translate(lang, key string, args ...any) string {
	m, ok := messages[key]
	if !ok {
		return key
	}
	s := m[0]
	if lang == "en" {
		s = m[1]
	}
	if len(args) > 0 {
		return fmt.Sprintf(s, args...)
	}
	return s
}

func init() {
	addMessages(map[string][2]string{
		"app.name":         {"sealvault 政务服务电子印章与材料库", "sealvault e-seal and materials vault"},
		"app.short":        {"工作台", "Workbench"},
		"nav.home":         {"首页", "Home"},
		"nav.logout":       {"退出登录", "Log out"},
		"nav.password":     {"修改密码", "Change password"},
		"nav.lang":         {"English", "中文"},
		"nav.verify":       {"验证电子印章", "Verify a sealed PDF"},
		"nav.skip":         {"跳到正文", "Skip to content"},
		"list.sep":         {"、", ", "},
		"date.example":     {"年-月-日", "yyyy-mm-dd"},
		"date.format":      {"日期格式：年-月-日，如 2027-06-30", "A date as year-month-day, e.g. 2027-06-30"},
		"file.choose":      {"选择文件…", "Choose a file…"},
		"file.choose.many": {"选择文件…", "Choose files…"},
		"file.none":        {"未选择文件", "No file chosen"},
		"file.many":        {"已选择 {n} 个文件", "{n} files chosen"},
		"form.submit":      {"提交", "Submit"},
		"form.cancel":      {"取消", "Cancel"},
		"form.required":    {"必填", "required"},
		"none":             {"无", "none"},

		"login.title":     {"登录", "Log in"},
		"login.username":  {"用户名", "Username"},
		"login.password":  {"密码", "Password"},
		"login.submit":    {"登录", "Log in"},
		"login.failed":    {"用户名或密码错误", "Wrong username or password"},
		"login.locked":    {"登录失败次数过多，请于 %s（约 %d 分钟后）再试", "Too many failed logins; try again at %s (in about %d minutes)"},
		"login.expired":   {"登录已超时或已失效，请重新登录", "Your session has ended; log in again"},
		"login.csrf":      {"登录表单已过期，请重新提交", "The login form has expired; submit it again"},
		"logout.done":     {"您已退出登录", "You have logged out"},
		"password.title":  {"修改密码", "Change password"},
		"password.old":    {"当前密码", "Current password"},
		"password.new":    {"新密码（至少 12 个字符）", "New password (12 characters or more)"},
		"password.repeat": {"再次输入新密码", "New password again"},
		"password.differ": {"两次输入的新密码不一致", "The two new passwords differ"},
		"done.password":   {"密码已修改；其他已登录的会话已失效", "Password changed; your other sessions have ended"},

		"home.title":      {"工作台首页", "Workbench"},
		"home.whoami":     {"当前用户", "Signed in as"},
		"home.department": {"所属部门", "Department"},
		"home.roles":      {"角色", "Roles"},
		"home.tasks":      {"我的工作", "My work"},

		"err.title":    {"无法完成操作", "This could not be done"},
		"err.session":  {"登录已超时或已失效，请重新登录", "Your session has ended; log in again"},
		"err.csrf":     {"表单已过期（安全校验未通过），请返回刷新页面后重试", "The form has expired (security check failed); go back, reload the page and try again"},
		"err.role":     {"您的角色无权使用此页面，需要以下角色之一：", "Your roles do not allow this page; it needs one of: "},
		"err.notfound": {"页面不存在", "No such page"},
		"err.internal": {"系统内部错误，请稍后重试；如持续出现请联系管理员", "Internal error; try again later, and tell the administrator if it persists"},
		"err.fields":   {"有误的字段", "Fields to correct"},
		"err.rule":     {"依据的规则", "Rule"},
		"err.back":     {"返回", "Back"},
		"err.retry":    {"请于 %s 秒后重试", "Try again in %s seconds"},

		"role.admin":      {"系统管理员", "administrator"},
		"role.window":     {"综合窗口", "window clerk"},
		"role.sealer":     {"用印人", "sealer"},
		"role.custodian":  {"印章保管人", "seal custodian"},
		"role.seal_admin": {"印章管理员", "seal administrator"},
		"role.auditor":    {"审计员", "auditor"},
		"role.supervisor": {"中心负责人", "supervisor"},
	})
}
