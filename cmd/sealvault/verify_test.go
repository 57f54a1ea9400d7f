package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sealvault/internal/dbtest"
	"sealvault/internal/testkit"
	"sealvault/vault/pages"
)

// TestDemoSealAndVerify is the demo's sealing path as a new user takes it, against a real
// `serve --demo`: the window clerk uploads a licence, requests the demo seal under the demo
// letter, the custodian approves, the clerk applies; `sealvault verify` then passes the
// sealed file (naming the seal and the register entry) and fails a copy with bytes added.
func TestDemoSealAndVerify(t *testing.T) {
	dbURL := dbtest.URL(t)
	dataDir := t.TempDir()
	s := startServe(t, dbURL, dataDir)
	defer s.stop()
	win := s.login(t, "window", "demo-window-2026")
	cust := s.login(t, "custodian", "demo-custodian-2026")

	status, body := s.do(t, http.MethodGet, "/api/v1/seals", win, nil)
	var seals struct {
		Items []struct{ ID, Ref, Status string }
	}
	if json.Unmarshal(body, &seals); status != 200 || len(seals.Items) != 1 || seals.Items[0].Status != "active" {
		t.Fatalf("demo seals: %d %s", status, body)
	}
	pdf, err := pages.Assemble([]pages.Page{{Name: "licence.jpg", Data: testkit.PageImage(t, "jpeg", 1654, 2339, 3)}})
	if err != nil {
		t.Fatal(err)
	}
	raw := func(path, token, ctype string, data []byte) []byte {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, s.base+path, bytes.NewReader(data))
		req.Header.Set("Content-Type", ctype)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := s.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("POST %s: %d %s", path, resp.StatusCode, b)
		}
		return b
	}
	var doc struct{ Digest string }
	json.Unmarshal(raw("/api/v1/documents?name=licence.pdf", win, "application/pdf", pdf), &doc)
	status, body = s.do(t, http.MethodPost, "/api/v1/seal-requests", win, map[string]any{
		"seal_id": seals.Items[0].ID, "case_ref": "TH-2026-0001", "item_code": "440106-FOOD-001", "document_digest": doc.Digest,
		"placement": map[string]any{"page": 1, "x": 400, "y": 80, "size": 120}, "reason": "准予食品经营许可"})
	var req struct{ ID, Status string }
	if json.Unmarshal(body, &req); status != http.StatusCreated || req.Status != "pending" {
		t.Fatalf("request: %d %s", status, body)
	}
	if status, body = s.do(t, http.MethodPost, "/api/v1/seal-requests/"+req.ID+"/approve", cust, map[string]any{"note": "同意"}); status != 200 {
		t.Fatalf("approve: %d %s", status, body)
	}
	status, body = s.do(t, http.MethodPost, "/api/v1/seal-requests/"+req.ID+"/apply", win, nil)
	var use struct{ ID, Ref string }
	if json.Unmarshal(body, &use); status != http.StatusCreated {
		t.Fatalf("apply: %d %s", status, body)
	}
	status, sealed := s.do(t, http.MethodGet, "/api/v1/seal-uses/"+use.ID+"/content", win, nil)
	if status != 200 {
		t.Fatalf("download: %d", status)
	}
	file := filepath.Join(t.TempDir(), "sealed.pdf")
	os.WriteFile(file, sealed, 0o600)
	appended := filepath.Join(t.TempDir(), "appended.pdf")
	os.WriteFile(appended, append(append([]byte{}, sealed...), "\n%%EOF\n"...), 0o600)

	verify := func(f string) (string, error) {
		root := newRoot()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs([]string{"verify", f, "--data-dir", dataDir, "--database-url", dbURL})
		err := root.ExecuteContext(t.Context())
		return out.String(), err
	}
	out, err := verify(file)
	if err != nil {
		t.Fatalf("verify of the sealed file: %v\n%s", err, out)
	}
	for _, want := range []string{"VALID", seals.Items[0].Ref, use.Ref, "TH-2026-0001", "the whole file"} {
		if !strings.Contains(out, want) {
			t.Errorf("verify output lacks %q:\n%s", want, out)
		}
	}
	out, err = verify(appended)
	if err == nil || !strings.Contains(out, "NOT VALID") || !strings.Contains(out, "bytes follow") {
		t.Errorf("verify of a copy with bytes appended: %v\n%s", err, out)
	}
}
