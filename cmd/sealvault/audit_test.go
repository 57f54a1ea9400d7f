package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"sealvault/audit"
	"sealvault/internal/dbtest"
	"sealvault/internal/testkit"
)

// buildSealvault builds the command into a temporary directory and returns the binary.
func buildSealvault(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "sealvault")
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// childEnv is the test's environment without any sealvault setting, so a child process
// is configured by its command line only.
// runIn returns a function that runs the binary bin in directory dir with childEnv, giving
// its combined output.
func runIn(t *testing.T, bin, dir string) func(args ...string) (string, error) {
	return func(args ...string) (string, error) {
		cmd := exec.CommandContext(t.Context(), bin, args...)
		cmd.Dir = dir
		cmd.Env = childEnv()
		b, err := cmd.CombinedOutput()
		return string(b), err
	}
}

func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "SEALVAULT_") || name == "DATABASE_URL" {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// serveProc is one `sealvault serve` OS process.
type serveProc struct {
	name   string
	base   string
	cmd    *exec.Cmd
	stdout *testkit.SyncBuffer
	stderr *testkit.SyncBuffer
	exited chan struct{}
}

// startServeProc starts the binary as `serve --demo` with args added, on a fresh loopback
// port. The process is killed at cleanup if it is still running then.
func startServeProc(t *testing.T, bin, name string, args ...string) *serveProc {
	t.Helper()
	addr := freeAddr(t)
	p := &serveProc{name: name, base: "http://" + addr, stdout: &testkit.SyncBuffer{}, stderr: &testkit.SyncBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(bin, append([]string{"serve", "--demo", "--listen", addr}, args...)...)
	p.cmd.Env = childEnv()
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { _ = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

// waitReady waits until /readyz answers 200.
func (p *serveProc) waitReady(t *testing.T) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(readyTimeout)
	for {
		select {
		case <-p.exited:
			t.Fatalf("%s exited before it was ready (%v):\n%s", p.name, p.cmd.ProcessState, p.stderr)
		default:
		}
		resp, err := client.Get(p.base + "/readyz")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready after %v (last: %v):\n%s", p.name, readyTimeout, err, p.stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// terminate sends SIGTERM, as a service manager does.
func (p *serveProc) terminate() error {
	return p.cmd.Process.Signal(syscall.SIGTERM)
}

// exitCode waits for the process to end and returns its exit code.
func (p *serveProc) exitCode(t *testing.T) int {
	t.Helper()
	select {
	case <-p.exited:
	case <-time.After(stopTimeout):
		t.Fatalf("%s did not exit within %v of SIGTERM", p.name, stopTimeout)
	}
	return p.cmd.ProcessState.ExitCode()
}

// checkpointSizes returns the sizes of the checkpoints the process says it signed.
func (p *serveProc) checkpointSizes(t *testing.T) []int64 {
	t.Helper()
	var sizes []int64
	sc := bufio.NewScanner(strings.NewReader(p.stderr.String()))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		var l struct {
			Level string `json:"level"`
			Msg   string `json:"msg"`
			Size  int64  `json:"size"`
		}
		if json.Unmarshal(sc.Bytes(), &l) == nil && l.Level == "INFO" && l.Msg == "audit checkpoint" {
			sizes = append(sizes, l.Size)
		}
	}
	return sizes
}

// integrateErrors returns the log lines where the process's integrator failed.
func (p *serveProc) integrateErrors() []string {
	var out []string
	for l := range strings.Lines(p.stderr.String()) {
		var e struct {
			Level string `json:"level"`
			Msg   string `json:"msg"`
		}
		if json.Unmarshal([]byte(l), &e) == nil && e.Level == "ERROR" && e.Msg == "audit integrate" {
			out = append(out, l)
		}
	}
	return out
}

// httpCall is one API request, safe to use from several goroutines. It returns the status,
// the body and the request id the server gave the request.
func httpCall(ctx context.Context, client *http.Client, method, url, token string, body any) (int, []byte, string, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, "", err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, nil, "", err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header.Get("X-Request-ID"), err
}

type department struct {
	ID   string `json:"id"`
	Code string `json:"code"`
	Kind string `json:"kind"`
}

// centerID returns the id of the demo district service center, as an admin finds it.
func centerID(t *testing.T, ctx context.Context, client *http.Client, base, adminToken string) string {
	t.Helper()
	status, body, _, err := httpCall(ctx, client, http.MethodGet, base+"/api/v1/departments?limit=200", adminToken, nil)
	if err != nil || status != http.StatusOK {
		t.Fatalf("GET /api/v1/departments: status %d, %v: %s", status, err, body)
	}
	var l struct{ Items []department }
	if err := json.Unmarshal(body, &l); err != nil {
		t.Fatalf("GET /api/v1/departments: %v: %s", err, body)
	}
	for _, d := range l.Items {
		if d.Code == "TH-ZWFW" && d.Kind == "center" {
			return d.ID
		}
	}
	t.Fatalf("GET /api/v1/departments lists no center TH-ZWFW: %s", body)
	return ""
}

// loadResult is one request of the load and the audit action it must leave behind.
type loadResult struct {
	what   string
	action string
	status int
	want   int
	reqID  string
	err    error
	body   []byte
}

func TestTwoServersOneAuditLog(t *testing.T) {
	clearEnv(t)
	bin := buildSealvault(t)
	dbURL := dbtest.URL(t)
	shared := t.TempDir()
	common := []string{"--database-url", dbURL, "--data-dir", shared,
		"--audit-integrate-interval", "50ms", "--audit-checkpoint-every", "10", "--audit-checkpoint-interval", "1h"}

	// Both start at once on the empty data directory and must agree on its keys.
	procs := []*serveProc{startServeProc(t, bin, "serve A", common...), startServeProc(t, bin, "serve B", common...)}
	for _, p := range procs {
		p.waitReady(t)
	}

	conn, err := pgx.Connect(t.Context(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var seeded int
	if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM audit_events`).Scan(&seeded); err != nil {
		t.Fatal(err)
	}
	if seeded != demoAuditEvents {
		t.Fatalf("seeding the demo data wrote %d audit events, want %d (the demo seal and letter)", seeded, demoAuditEvents)
	}
	// Those events are expected in the log like the test's own.
	var pre []loadResult
	rows, err := conn.Query(t.Context(), `SELECT body::jsonb->>'request_id', action FROM audit_events`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var r loadResult
		if err := rows.Scan(&r.reqID, &r.action); err != nil {
			t.Fatal(err)
		}
		r.what = "demo data"
		pre = append(pre, r)
	}
	rows.Close()

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	defer client.CloseIdleConnections()

	// An admin token from each process; each is used on the other one.
	adminTokens := make([]string, len(procs))
	for i, p := range procs {
		status, body, reqID, err := httpCall(ctx, client, http.MethodPost, p.base+"/api/v1/auth/login", "",
			map[string]string{"username": "admin", "password": "demo-admin-2026"})
		if err != nil || status != http.StatusOK {
			t.Fatalf("%s: admin login: status %d, %v: %s", p.name, status, err, body)
		}
		adminTokens[i] = accessToken(t, body)
		pre = append(pre, loadResult{what: "admin login", action: "auth.login", reqID: reqID})
	}
	center := centerID(t, ctx, client, procs[1].base, adminTokens[0])

	const workers, perWorker = 8, 25
	results := make([][]loadResult, workers)
	var wg sync.WaitGroup
	for g := range workers {
		wg.Go(func() {
			for i := range perWorker {
				si := (g + i) % len(procs)
				base := procs[si].base
				r := loadResult{}
				var body any
				var path, token string
				switch (g + i) % 3 {
				case 0:
					u := demoUsers[(g*perWorker+i)%len(demoUsers)]
					r.what, r.action, r.want = "login "+u.username, "auth.login", http.StatusOK
					path, body = "/api/v1/auth/login", map[string]string{"username": u.username, "password": u.password}
				case 1:
					r.action, r.want, path = "auth.login.failed", http.StatusUnauthorized, "/api/v1/auth/login"
					if i%2 == 0 {
						u := demoUsers[(g+i)%len(demoUsers)]
						r.what, body = "wrong password for "+u.username, map[string]string{"username": u.username, "password": "not-" + u.password}
					} else {
						name := fmt.Sprintf("nobody%d-%d", g, i)
						r.what, body = "unknown account "+name, map[string]string{"username": name, "password": "whatever-2026"}
					}
				default:
					code := fmt.Sprintf("LOAD-G%02d-%02d", g, i)
					r.what, r.action, r.want = "create department "+code, "department.create", http.StatusCreated
					path, token = "/api/v1/departments", adminTokens[1-si]
					body = map[string]any{"code": code, "name": "负载测试部门 " + code, "kind": "department",
						"level": "district", "parent_id": center}
				}
				r.status, r.body, r.reqID, r.err = httpCall(ctx, client, http.MethodPost, base+path, token, body)
				results[g] = append(results[g], r)
			}
		})
	}
	wg.Wait()

	wantCount := map[string]int{}     // action → events
	wantAction := map[string]string{} // request id → action
	for _, r := range pre {
		wantCount[r.action]++
		wantAction[r.reqID] = r.action
	}
	for _, rs := range results {
		for _, r := range rs {
			if r.err != nil || r.status != r.want {
				t.Errorf("%s: status %d, %v, want %d: %s", r.what, r.status, r.err, r.want, r.body)
				continue
			}
			if r.reqID == "" || wantAction[r.reqID] != "" {
				t.Errorf("%s: request id %q is missing or not unique", r.what, r.reqID)
				continue
			}
			wantCount[r.action]++
			wantAction[r.reqID] = r.action
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	// An auditor on each process has it sign a checkpoint of everything so far. The first
	// request only brings the newest checkpoint up to date: after it, each process's
	// checkpoint is one event bigger than the last, too small a step for the other process
	// to sign it first.
	signedBy := make([]int64, len(procs))
	for k, i := range []int{1, 0, 1} {
		p := procs[i]
		status, body, reqID, err := httpCall(ctx, client, http.MethodPost, p.base+"/api/v1/auth/login", "",
			map[string]string{"username": "auditor", "password": "demo-auditor-2026"})
		if err != nil || status != http.StatusOK {
			t.Fatalf("%s: auditor login: status %d, %v: %s", p.name, status, err, body)
		}
		wantCount["auth.login"]++
		wantAction[reqID] = "auth.login"
		status, body, _, err = httpCall(ctx, client, http.MethodPost, p.base+"/api/v1/audit/checkpoint", accessToken(t, body), nil)
		var cp struct{ Size int64 }
		if err == nil && status == http.StatusOK {
			err = json.Unmarshal(body, &cp)
		}
		if err != nil || status != http.StatusOK || cp.Size != int64(len(wantAction)) {
			t.Fatalf("%s: POST /api/v1/audit/checkpoint: status %d, %v, size %d, want 200 and size %d: %s",
				p.name, status, err, cp.Size, len(wantAction), body)
		}
		if k > 0 {
			signedBy[i] = cp.Size
		}
	}
	total := len(wantAction)
	t.Logf("expected audit events: %d (%v)", total, wantCount)

	// Sequencing is serialised between the processes: neither integrator failed while
	// they served.
	for _, p := range procs {
		if errs := p.integrateErrors(); len(errs) > 0 {
			t.Errorf("%s: the audit integrator failed %d time(s), first:\n%s", p.name, len(errs), errs[0])
		}
	}

	// Both stop at once, as when a service manager stops the whole service.
	for _, p := range procs {
		if err := p.terminate(); err != nil {
			t.Fatalf("SIGTERM to %s: %v", p.name, err)
		}
	}
	for _, p := range procs {
		if code := p.exitCode(t); code != 0 {
			t.Errorf("%s exited with %d after SIGTERM, want 0:\n%s", p.name, code, p.stderr)
		}
	}

	t.Run("one gapless sequence holding every event once", func(t *testing.T) {
		var n, minSeq, maxSeq, distinct, events, pending int
		err := conn.QueryRow(ctx, `
			SELECT count(*), coalesce(min(seq), -1), coalesce(max(seq), -1), count(DISTINCT event_id),
			       (SELECT count(*) FROM audit_events), (SELECT count(*) FROM audit_pending)
			FROM audit_log`).Scan(&n, &minSeq, &maxSeq, &distinct, &events, &pending)
		if err != nil {
			t.Fatal(err)
		}
		if n != total || minSeq != 0 || maxSeq != total-1 || distinct != total {
			t.Errorf("audit_log holds %d rows, seq %d..%d, %d distinct events; want %d rows, seq 0..%d",
				n, minSeq, maxSeq, distinct, total, total-1)
		}
		if events != total || pending != 0 {
			t.Errorf("%d events stored and %d left unsequenced; want %d and 0", events, pending, total)
		}

		rows, err := conn.Query(ctx, `
			SELECT l.seq, coalesce(e.body::jsonb ->> 'request_id', ''), e.action
			FROM audit_log l JOIN audit_events e ON e.id = l.event_id ORDER BY l.seq`)
		if err != nil {
			t.Fatal(err)
		}
		type row struct {
			seq           int64
			reqID, action string
		}
		got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
			var x row
			return x, r.Scan(&x.seq, &x.reqID, &x.action)
		})
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]int64{}
		gotActions := map[string]int{}
		for _, r := range got {
			gotActions[r.action]++
			if prev, dup := seen[r.reqID]; dup {
				t.Errorf("request %s is in the log twice: seq %d and %d", r.reqID, prev, r.seq)
				continue
			}
			seen[r.reqID] = r.seq
			if w, ok := wantAction[r.reqID]; !ok {
				t.Errorf("seq %d (%s, request %q) was not caused by any request of the test", r.seq, r.action, r.reqID)
			} else if w != r.action {
				t.Errorf("seq %d: request %s recorded as %s, want %s", r.seq, r.reqID, r.action, w)
			}
		}
		for id, a := range wantAction {
			if _, ok := seen[id]; !ok {
				t.Errorf("request %s (%s) left no event in the log", id, a)
			}
		}
		for a, w := range wantCount {
			if gotActions[a] != w {
				t.Errorf("%d %s events in the log, want %d", gotActions[a], a, w)
			}
		}
	})

	t.Run("audit verify says OK", func(t *testing.T) {
		vctx, vcancel := context.WithTimeout(ctx, time.Minute)
		defer vcancel()
		cmd := exec.CommandContext(vctx, bin, "audit", "verify", "--database-url", dbURL, "--data-dir", shared)
		cmd.Env = childEnv()
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		if err != nil {
			t.Fatalf("sealvault audit verify: %v\n%s\n%s", err, stdout.String(), stderr.String())
		}
		out := stdout.String()
		for _, s := range []string{
			fmt.Sprintf("events: %d\n", total),
			fmt.Sprintf("newest valid checkpoint: size %d\n", total),
			"OK: every event matches the tree and every checkpoint",
		} {
			if !strings.Contains(out, s) {
				t.Errorf("audit verify output lacks %q:\n%s", s, out)
			}
		}
		if strings.Contains(out, "DAMAGED") {
			t.Errorf("audit verify reports damage:\n%s", out)
		}
	})

	t.Run("every checkpoint of both processes verifies", func(t *testing.T) {
		pub, err := os.ReadFile(filepath.Join(shared, "keys", "audit-note.pub"))
		if err != nil {
			t.Fatal(err)
		}
		v, err := note.NewVerifier(strings.TrimSpace(string(pub)))
		if err != nil {
			t.Fatalf("audit-note.pub: %v", err)
		}
		dir := filepath.Join(shared, "audit", "checkpoints")
		files, err := filepath.Glob(filepath.Join(dir, "checkpoint-*.note"))
		if err != nil {
			t.Fatal(err)
		}
		fileSizes := map[int64]bool{}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			cp, err := audit.ParseCheckpoint(b, v)
			if err != nil {
				t.Errorf("%s: %v", filepath.Base(f), err)
				continue
			}
			if filepath.Base(f) != audit.CheckpointFileName(cp.Size) {
				t.Errorf("%s holds the checkpoint of size %d", filepath.Base(f), cp.Size)
			}
			fileSizes[cp.Size] = true
		}
		if !fileSizes[int64(total)] {
			t.Errorf("no checkpoint file of the final size %d in %s (have %v)", total, dir, slices.Sorted(maps.Keys(fileSizes)))
		}
		for i, p := range procs {
			sizes := p.checkpointSizes(t)
			if !slices.Contains(sizes, signedBy[i]) {
				t.Errorf("%s answered with a checkpoint of size %d but did not sign it (signed %v)", p.name, signedBy[i], sizes)
			}
			for _, s := range sizes {
				if !fileSizes[s] {
					t.Errorf("%s signed a checkpoint of size %d, but %s has no valid file for it", p.name, s, dir)
				}
			}
			t.Logf("%s signed checkpoints of sizes %v", p.name, sizes)
		}
		var dbCount int
		var dbMax int64
		if err := conn.QueryRow(ctx, `SELECT count(*), coalesce(max(size), 0) FROM audit_checkpoints`).Scan(&dbCount, &dbMax); err != nil {
			t.Fatal(err)
		}
		if dbCount != len(files) || dbMax != int64(total) {
			t.Errorf("the database holds %d checkpoints up to size %d; the directory %d files; want as many, up to %d",
				dbCount, dbMax, len(files), total)
		}
	})
}

// auditCLI runs the sealvault command line in-process and returns what it printed on
// standard output and its error.
func auditCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	root := newRoot()
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errOut)
	err := root.ExecuteContext(ctx)
	return out.String(), err
}

type auditRecord struct {
	ID    int64  `json:"id"`
	Seq   *int64 `json:"seq"`
	Event struct {
		Action string `json:"action"`
		Actor  struct {
			UserID string `json:"user_id"`
		} `json:"actor"`
		Subjects map[string]string `json:"subjects"`
		Details  map[string]any    `json:"details"`
	} `json:"event"`
}

// auditEvents returns GET /api/v1/audit/events?query, waiting until every event listed
// is sequenced.
func auditEvents(t *testing.T, srv *service, token, query string) []auditRecord {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		status, body := srv.do(t, http.MethodGet, "/api/v1/audit/events?"+query, token, nil)
		if status != http.StatusOK {
			t.Fatalf("GET /api/v1/audit/events?%s: status %d, want 200: %s", query, status, body)
		}
		var l struct{ Items []auditRecord }
		if err := json.Unmarshal(body, &l); err != nil {
			t.Fatalf("GET /api/v1/audit/events?%s: %v: %s", query, err, body)
		}
		sequenced := true
		for _, r := range l.Items {
			sequenced = sequenced && r.Seq != nil
		}
		if sequenced {
			return l.Items
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET /api/v1/audit/events?%s: events still without seq after 15s: %s", query, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// exportTo saves GET /api/v1/audit/export into a file and returns its path and lines.
func exportTo(t *testing.T, srv *service, token, name string) (string, []string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.base+"/api/v1/audit/export", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := srv.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/jsonl") {
		t.Fatalf("GET /api/v1/audit/export: status %d, type %q: %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	f := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(f, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return f, strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

func TestAuditorTracesAndVerifiesOffline(t *testing.T) {
	dbURL := dbtest.URL(t)
	dataDir := t.TempDir()
	srv := startServe(t, dbURL, dataDir)

	// An admin sets up a department and an account; the new user logs in, then mistypes.
	admin := srv.login(t, "admin", "demo-admin-2026")
	var adminID struct {
		ID       string `json:"id"`
		Username string `json:"username"`
	}
	status, body := srv.do(t, http.MethodGet, "/api/v1/me", admin, nil)
	if err := json.Unmarshal(body, &adminID); status != http.StatusOK || err != nil || adminID.ID == "" || adminID.Username != "admin" {
		t.Fatalf("GET /api/v1/me as admin: status %d, %v: %s", status, err, body)
	}
	center := centerID(t, t.Context(), srv.client, srv.base, admin)
	status, body = srv.do(t, http.MethodPost, "/api/v1/departments", admin, map[string]any{
		"code": "TH-SJJ", "name": "天河区政务服务数据管理局", "kind": "department", "level": "district", "parent_id": center})
	if status != http.StatusCreated {
		t.Fatalf("create department: status %d, want 201: %s", status, body)
	}
	var dept department
	if err := json.Unmarshal(body, &dept); err != nil || dept.ID == "" {
		t.Fatalf("create department: %v: %s", err, body)
	}
	const newUser, newPassword = "zhou.li", "zhou-li-first-2026"
	status, body = srv.do(t, http.MethodPost, "/api/v1/users", admin, map[string]any{
		"username": newUser, "display_name": "周丽", "department_id": dept.ID, "roles": []string{"window"}, "password": newPassword})
	if status != http.StatusCreated {
		t.Fatalf("create user: status %d, want 201: %s", status, body)
	}
	var user struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(body, &user); err != nil || user.ID == "" {
		t.Fatalf("create user: %v: %s", err, body)
	}
	srv.login(t, newUser, newPassword)
	if status, body := srv.do(t, http.MethodPost, "/api/v1/auth/login", "",
		map[string]string{"username": newUser, "password": "zhou-li-wrong-2026"}); status != http.StatusUnauthorized {
		t.Fatalf("login with a wrong password: status %d, want 401: %s", status, body)
	}
	auditor := srv.login(t, "auditor", "demo-auditor-2026")
	// admin login, department.create, user.create, login, failed login, auditor login
	const acts = 6

	// The auditor traces who created the department.
	recs := auditEvents(t, srv, auditor, "action=department.create")
	if len(recs) != 1 {
		t.Fatalf("%d department.create events, want 1: %+v", len(recs), recs)
	}
	created := recs[0]
	if created.Event.Action != "department.create" || created.Event.Actor.UserID != adminID.ID ||
		created.Event.Subjects["department"] != dept.ID || created.Event.Details["code"] != "TH-SJJ" {
		t.Errorf("department.create event: action %q, actor %q, department %q, code %v; want the admin %s creating %s (TH-SJJ)",
			created.Event.Action, created.Event.Actor.UserID, created.Event.Subjects["department"], created.Event.Details["code"],
			adminID.ID, dept.ID)
	}
	deptSeq := *created.Seq
	failed := auditEvents(t, srv, auditor, "action=auth.login.failed")
	if len(failed) != 1 || failed[0].Event.Subjects["user"] != user.ID || failed[0].Event.Details["reason"] != "wrong password" {
		t.Errorf("auth.login.failed events: %+v; want one about user %s for a wrong password", failed, user.ID)
	}

	// A checkpoint now, signed, covering every act so far.
	status, body = srv.do(t, http.MethodPost, "/api/v1/audit/checkpoint", auditor, nil)
	if status != http.StatusOK {
		t.Fatalf("POST /api/v1/audit/checkpoint: status %d, want 200: %s", status, body)
	}
	var cp struct {
		Size        int64  `json:"size"`
		Note        string `json:"note"`
		RootHash    string `json:"root_hash"`
		VerifierKey string `json:"verifier_key"`
	}
	if err := json.Unmarshal(body, &cp); err != nil {
		t.Fatalf("POST /api/v1/audit/checkpoint: %v: %s", err, body)
	}
	if cp.Size != int64(acts+demoAuditEvents) {
		t.Errorf("checkpoint size %d, want %d (one event per act, after the demo seal's)", cp.Size, acts+demoAuditEvents)
	}
	verifier, err := note.NewVerifier(cp.VerifierKey)
	if err != nil {
		t.Fatalf("verifier_key %q: %v", cp.VerifierKey, err)
	}
	signed, err := note.Open([]byte(cp.Note), note.VerifierList(verifier))
	if err != nil {
		t.Fatalf("the checkpoint note does not verify with verifier_key: %v\n%s", err, cp.Note)
	}
	lines := strings.Split(signed.Text, "\n")
	if len(lines) < 3 || lines[1] != strconv.FormatInt(cp.Size, 10) || lines[2] != cp.RootHash {
		t.Fatalf("signed checkpoint text %q does not state size %d and root %s", signed.Text, cp.Size, cp.RootHash)
	}
	root, err := tlog.ParseHash(lines[2])
	if err != nil {
		t.Fatalf("signed root hash: %v", err)
	}

	// The first event is provably in the signed tree.
	status, body = srv.do(t, http.MethodGet, fmt.Sprintf("/api/v1/audit/proof/inclusion?seq=0&size=%d", cp.Size), auditor, nil)
	if status != http.StatusOK {
		t.Fatalf("GET /api/v1/audit/proof/inclusion: status %d, want 200: %s", status, body)
	}
	var proof struct {
		Seq      int64       `json:"seq"`
		Size     int64       `json:"size"`
		LeafHash tlog.Hash   `json:"leaf_hash"`
		RootHash tlog.Hash   `json:"root_hash"`
		Proof    []tlog.Hash `json:"proof"`
	}
	if err := json.Unmarshal(body, &proof); err != nil {
		t.Fatalf("inclusion proof: %v: %s", err, body)
	}
	if err := tlog.CheckRecord(proof.Proof, cp.Size, root, 0, proof.LeafHash); err != nil {
		t.Errorf("the inclusion proof of seq 0 does not verify against the signed root: %v", err)
	}
	if proof.RootHash != root {
		t.Errorf("inclusion proof root %s, signed root %s", proof.RootHash, root)
	}

	// The auditor takes the trail away and checks it with nothing but the files.
	exportFile, exported := exportTo(t, srv, auditor, "audit-events.jsonl")
	if len(exported) < acts {
		t.Fatalf("export has %d lines, want at least %d", len(exported), acts)
	}
	first, err := audit.ParseExportLine([]byte(exported[0]))
	if err != nil || first.Seq != 0 {
		t.Fatalf("export line 1: seq %d, %v", first.Seq, err)
	}
	if tlog.RecordHash(first.Body) != proof.LeafHash {
		t.Errorf("the exported event at seq 0 does not hash to the proven leaf %s", proof.LeafHash)
	}
	if bad := tlog.CheckRecord(proof.Proof, cp.Size, root, 0, tlog.RecordHash([]byte(exported[1]))); bad == nil {
		t.Errorf("the inclusion proof of seq 0 also accepts another record")
	}
	deptLine, err := audit.ParseExportLine([]byte(exported[deptSeq]))
	if err != nil || deptLine.Seq != deptSeq || !bytes.Contains(deptLine.Body, []byte(`"action":"department.create"`)) {
		t.Fatalf("export line of seq %d is not the department.create event (%v): %s", deptSeq, err, exported[deptSeq])
	}
	cpFile := filepath.Join(t.TempDir(), "checkpoint.note")
	keyFile := filepath.Join(t.TempDir(), "audit-note.pub")
	if err := os.WriteFile(cpFile, []byte(cp.Note), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, []byte(cp.VerifierKey+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	offline := []string{"audit", "verify", "--checkpoint", cpFile, "--key", keyFile, "--export"}
	out, err := auditCLI(t, append(offline, exportFile)...)
	if err != nil || !strings.Contains(out, "OK: every event matches the tree and every checkpoint") {
		t.Fatalf("offline verify of an untouched export: %v\n%s", err, out)
	}
	// Not a terminal: one plain line, no bar drawn with carriage returns.
	var stdout, stderr bytes.Buffer
	cli := newRoot()
	cli.SetArgs(append(offline, exportFile))
	cli.SetOut(&stdout)
	cli.SetErr(&stderr)
	if err := cli.ExecuteContext(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := stderr.String(); got != "verifying export …\n" {
		t.Errorf("progress on a non-terminal: %q, want one plain line", got)
	}
	online := []string{"audit", "verify", "--database-url", dbURL, "--data-dir", dataDir}
	out, err = auditCLI(t, online...)
	if err != nil || !strings.Contains(out, "OK:") {
		t.Fatalf("online verify of an untouched log: %v\n%s", err, out)
	}

	// A DBA with superuser rights rewrites history behind the triggers' back.
	conn, err := pgx.Connect(t.Context(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(t.Context(), `SET session_replication_role = replica`); err != nil {
		t.Fatal(err)
	}
	tag, err := conn.Exec(t.Context(), `UPDATE audit_events SET body = replace(body, 'department.create', 'department.update')
		WHERE id = (SELECT event_id FROM audit_log WHERE seq = $1)`, deptSeq)
	if err != nil || tag.RowsAffected() != 1 {
		t.Fatalf("tampering: %v (%d rows)", err, tag.RowsAffected())
	}

	damaged := []string{fmt.Sprintf("first bad seq %d (edited)", deptSeq), fmt.Sprintf("edited at seq %d", deptSeq)}
	tampered, _ := exportTo(t, srv, auditor, "audit-events-again.jsonl")
	out, err = auditCLI(t, append(offline, tampered)...)
	if !errors.Is(err, errDamage) {
		t.Errorf("offline verify of the tampered export returned %v, want %v:\n%s", err, errDamage, out)
	}
	for _, s := range damaged {
		if !strings.Contains(out, s) {
			t.Errorf("offline verify output lacks %q:\n%s", s, out)
		}
	}

	out, err = auditCLI(t, online...)
	if !errors.Is(err, errDamage) {
		t.Errorf("online verify of the tampered log returned %v, want %v:\n%s", err, errDamage, out)
	}
	for _, s := range damaged {
		if !strings.Contains(out, s) {
			t.Errorf("online verify output lacks %q:\n%s", s, out)
		}
	}
}

func TestAuditTrailClosedToNonAuditors(t *testing.T) {
	srv := startServe(t, dbtest.URL(t), t.TempDir())
	window := srv.login(t, "window", "demo-window-2026")
	sealer := srv.login(t, "sealer", "demo-sealer-2026")
	auditor := srv.login(t, "auditor", "demo-auditor-2026")

	paths := []string{"/api/v1/audit/events", "/api/v1/audit/checkpoint", "/api/v1/audit/export",
		"/api/v1/audit/proof/inclusion?seq=0&size=1"}
	for _, p := range paths {
		for who, tok := range map[string]string{"window": window, "sealer": sealer} {
			if status, body := srv.do(t, http.MethodGet, p, tok, nil); status != http.StatusForbidden ||
				!strings.Contains(string(body), "urn:sealvault:problem:forbidden") || strings.Contains(string(body), "auth.login") {
				t.Errorf("GET %s as %s: status %d, want 403 without events: %s", p, who, status, body)
			}
		}
		if status, _ := srv.do(t, http.MethodGet, p, "", nil); status != http.StatusUnauthorized {
			t.Errorf("GET %s without a token: status %d, want 401", p, status)
		}
	}
	if status, body := srv.do(t, http.MethodPost, "/api/v1/audit/checkpoint", window, nil); status != http.StatusForbidden {
		t.Errorf("POST /api/v1/audit/checkpoint as window: status %d, want 403: %s", status, body)
	}

	// The same request from the auditor is answered, so the refusals above are about roles.
	recs := auditEvents(t, srv, auditor, "action=auth.login")
	if len(recs) != 3 {
		t.Errorf("the auditor sees %d auth.login events, want 3 (window, sealer, auditor)", len(recs))
	}
	if exported := func() int {
		_, lines := exportTo(t, srv, auditor, "export.jsonl")
		return len(lines)
	}(); exported < 3 {
		t.Errorf("the auditor's export has %d lines, want at least 3", exported)
	}
}

func TestAuditCommandsNeedTheServersKey(t *testing.T) {
	clearEnv(t)
	dbURL := dbtest.URL(t)
	elsewhere := t.TempDir()
	for _, cmd := range [][]string{{"audit", "verify"}, {"audit", "checkpoint"}, {"audit", "export"}} {
		out, err := auditCLI(t, append(cmd, "--database-url", dbURL, "--data-dir", elsewhere)...)
		if err == nil || !strings.Contains(err.Error(), "audit-note.key") || !strings.Contains(err.Error(), "--data-dir") {
			t.Errorf("%s with a data directory holding no key: %v, want an error naming audit-note.key and --data-dir:\n%s",
				strings.Join(cmd, " "), err, out)
		}
		if strings.Contains(out, "DAMAGED") || strings.Contains(out, "OK") {
			t.Errorf("%s printed a verdict without the server's key:\n%s", strings.Join(cmd, " "), out)
		}
	}
	entries, err := os.ReadDir(elsewhere)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Errorf("the audit commands created %v in a data directory that held no key", entries)
	}
}
