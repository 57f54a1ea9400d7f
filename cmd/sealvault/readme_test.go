package main

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"sealvault/internal/dbtest"
	"sealvault/internal/testkit"
	"sealvault/vault/pages"
)

// readmeScript is the README's instant-case script (from its #! line to the end of its code
// block), aimed at base, with bin as bin/sealvault.
func readmeScript(t *testing.T, base, bin string) string {
	t.Helper()
	root, err := testkit.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	start := bytes.Index(readme, []byte("#!/usr/bin/env bash\n"))
	if start < 0 {
		t.Fatal("the README has no script")
	}
	end := bytes.Index(readme[start:], []byte("\n```"))
	script := string(readme[start : start+end+1])
	if strings.Contains(script, "| sed ") {
		t.Error("the README script still parses JSON with sed")
	}
	script = strings.ReplaceAll(script, "http://127.0.0.1:8080", base)
	// The script's verify is offline (--root) and runs as written, with the binary built.
	if !strings.Contains(script, "bin/sealvault verify sealed.pdf --root root.pem") {
		t.Error("the README script no longer verifies sealed.pdf offline against root.pem")
	}
	return strings.ReplaceAll(script, "bin/sealvault ", bin+" ")
}

// TestReadmeScriptStopsAtAMistake (new-user point 3): the README's instant case, run as
// written against `serve --demo`, goes from intake to a closed case and a valid sealed PDF;
// with a mistyped password or a mistyped reference it stops at that step, saying what was
// wrong, instead of feeding an error into the next URL.
func TestReadmeScriptStopsAtAMistake(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed (tools/prereqs.sh installs it): %v", tool, err)
		}
	}
	s := startServe(t, dbtest.URL(t), t.TempDir())
	defer s.stop()
	work := t.TempDir()
	// The ID card was scanned earlier, as the README's previous step does.
	win := s.login(t, "window", "demo-window-2026")
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("metadata", `{"holder_kind":"id_card","holder_number":"11010519491231002X","type_code":"ID-CARD","title":"居民身份证","source":"scan","original_verified":true}`)
	fw, _ := mw.CreateFormFile("pages", "front.jpg")
	fw.Write(jfif(testkit.PageImage(t, "jpeg", 1011, 638, 2), 300))
	mw.Close()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, s.base+"/api/v1/materials", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+win)
	resp, err := s.client.Do(req)
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("ID card scan: %v %v", err, resp)
	}
	resp.Body.Close()
	licence, err := pages.Assemble([]pages.Page{{Name: "licence.jpg", Data: testkit.PageImage(t, "jpeg", 1654, 2339, 3)}})
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"form.jpg": jfif(testkit.PageImage(t, "jpeg", 1240, 1754, 4), 150), "licence.pdf": licence} {
		if err := os.WriteFile(filepath.Join(work, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	script := readmeScript(t, s.base, buildSealvault(t))
	run := func(name, script string) (stdout, stderr string, err error) {
		t.Helper()
		file := filepath.Join(work, name)
		if err := os.WriteFile(file, []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		cmd := exec.CommandContext(t.Context(), "bash", file)
		cmd.Dir = work
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		err = cmd.Run()
		return o.String(), e.String(), err
	}

	mistakes := []struct{ name, from, to, says string }{
		{"mistyped password", "login window demo-window-2026", "login window demo-window-2025", "401 登录失败"},
		{"mistyped seal", "$API/seals/S-1", "$API/seals/S-9", "404 对象不存在: 印章 S-9 不存在"},
	}
	for _, m := range mistakes {
		if !strings.Contains(script, m.from) {
			t.Fatalf("the README script no longer has %q", m.from)
		}
		_, stderr, err := run(m.name+".sh", strings.Replace(script, m.from, m.to, 1))
		if err == nil || !strings.Contains(stderr, m.says) || !strings.Contains(stderr, "stopped at line") {
			t.Errorf("%s: %v, stderr:\n%s\nwant it to stop saying %q", m.name, err, stderr, m.says)
		}
	}

	stdout, stderr, err := run("case.sh", script)
	if err != nil {
		t.Fatalf("the README script: %v\n%s\n%s", err, stdout, stderr)
	}
	for _, want := range []string{"accepted\n", "decided\n", "approved\n", "delivered\n", "closed\n", "seal.apply", "true\n\"S-1\"\n",
		"sealed.pdf: VALID", "register not consulted"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("the script's output lacks %q:\n%s", want, stdout)
		}
	}
	if fi, err := os.Stat(filepath.Join(work, "sealed.pdf")); err != nil || fi.Size() <= int64(len(licence)) {
		t.Errorf("no sealed PDF: %v", err)
	}
}
