package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"sealvault/internal/dbtest"
	"sealvault/internal/testkit"
	"sealvault/vault/pages"
)

const (
	ingestPassword = "demo-window-2026" // the demo window clerk's
	// ingestHolder passes the GB 11643 check; ingestHolderDigits is the part of it that must
	// never be printed.
	ingestHolder       = "11010519491231002X"
	ingestHolderDigits = "0519491231"
	ingestPassport     = "E12345678"
	ingestTimeout      = 2 * time.Minute
)

// ingestPDF makes a one-page PDF of a scanned page.
func ingestPDF(t *testing.T) []byte {
	t.Helper()
	p, err := pages.Inspect("page.png", bytes.NewReader(testkit.PageImage(t, "png", 400, 560, 5)), pages.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	pdf, err := pages.Assemble([]pages.Page{p})
	if err != nil {
		t.Fatal(err)
	}
	return pdf
}

// ingestFiles writes files (name relative to dir → content) under dir.
func ingestFiles(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// ingestProxy stands between ingest and the server: it counts logins and uploads and
// answers chosen uploads with a fault instead of passing them on.
type ingestProxy struct {
	next http.Handler

	mu      sync.Mutex
	logins  int
	uploads int
	faults  map[int]int // number of the upload (from 1) → status answered in its place
}

func (p *ingestProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fault := 0
	if r.Method == http.MethodPost {
		p.mu.Lock()
		switch r.URL.Path {
		case "/api/v1/auth/login":
			p.logins++
		case "/api/v1/materials":
			p.uploads++
			fault = p.faults[p.uploads]
		}
		p.mu.Unlock()
	}
	if fault == 0 {
		p.next.ServeHTTP(w, r)
		return
	}
	_, _ = io.Copy(io.Discard, r.Body)
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(fault)
	fmt.Fprintf(w, `{"type":"urn:sealvault:problem:injected","title":"injected","status":%d,"detail":"injected fault"}`, fault)
}

func (p *ingestProxy) counts() (logins, uploads int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logins, p.uploads
}

// startIngestProxy puts an ingestProxy in front of srv.
func startIngestProxy(t *testing.T, srv *service, faults map[int]int) (*ingestProxy, string) {
	t.Helper()
	target, err := url.Parse(srv.base)
	if err != nil {
		t.Fatal(err)
	}
	p := &ingestProxy{next: httputil.NewSingleHostReverseProxy(target), faults: faults}
	ts := httptest.NewServer(p)
	t.Cleanup(ts.Close)
	return p, ts.URL
}

// ingestRun is what one `sealvault ingest` printed and returned.
type ingestRun struct {
	stdout, stderr string
	err            error
}

// all is everything the run showed the user.
func (r ingestRun) all() string {
	return r.stdout + r.stderr + fmt.Sprint(r.err)
}

func runIngestCLI(t *testing.T, args ...string) ingestRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), ingestTimeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	root := newRoot()
	root.SetOut(&stdout)
	root.SetErr(&stderr)
	root.SetArgs(append([]string{"ingest"}, args...))
	err := root.ExecuteContext(ctx)
	return ingestRun{stdout.String(), stderr.String(), err}
}

// reportRow is one line of the ingest report.
type reportRow struct {
	files, status, id, reason string
}

// readReport returns the report's rows by manifest line.
func readReport(t *testing.T, path string) map[string]reportRow {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading the report: %v", err)
	}
	recs, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(data, []byte("\uFEFF")))).ReadAll()
	if err != nil {
		t.Fatalf("the report is not CSV: %v\n%s", err, data)
	}
	if len(recs) == 0 || strings.Join(recs[0], ",") != "line,files,status,material_id,reason" {
		t.Fatalf("report header: %v", recs)
	}
	rows := map[string]reportRow{}
	for _, r := range recs[1:] {
		rows[r[0]] = reportRow{files: r[1], status: r[2], id: r[3], reason: r[4]}
	}
	return rows
}

// storedMaterials returns the page count of every material in the database, by id, but
// the demo applicant's ID card that every server records at its first start.
func storedMaterials(t *testing.T, dbURL string) map[string]int {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(t.Context(), `SELECT id::text, page_count FROM materials WHERE NOT (type_code = 'ID-CARD' AND title = '居民身份证')`)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	var id string
	var n int
	_, err = pgx.ForEachRow(rows, []any{&id, &n}, func() error { out[id] = n; return nil })
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// noSecrets fails the test if the password or any part of a holder number shows in what
// the run printed or in the files it wrote.
func noSecrets(t *testing.T, run ingestRun, files ...string) {
	t.Helper()
	texts := map[string]string{"the output": run.all()}
	for _, f := range files {
		if b, err := os.ReadFile(f); err == nil {
			texts[f] = string(b)
		}
	}
	for where, text := range texts {
		for _, secret := range []string{ingestPassword, ingestHolderDigits, ingestPassport} {
			if strings.Contains(text, secret) {
				t.Errorf("%s shows %q:\n%s", where, secret, text)
			}
		}
	}
}

const ingestHeader = "files,holder_kind,holder_number,type_code,title,source,issuing_authority,issued_on,valid_until,long_term,original_verified\n"

// TestIngestUploadsResumesAndReports is a batch of four rows, one a text file named like a
// scan: the three good rows are stored once however often the batch is run, the bad one
// is reported with its reason until its file is replaced.
func TestIngestUploadsResumesAndReports(t *testing.T) {
	dbURL := dbtest.URL(t)
	srv := startServe(t, dbURL, t.TempDir())
	// The first upload meets a server error, the second an expired token: both pass on
	// a second try.
	proxy, server := startIngestProxy(t, srv, map[int]int{1: http.StatusServiceUnavailable, 2: http.StatusUnauthorized})

	dir := t.TempDir()
	ingestFiles(t, dir, map[string][]byte{
		"id/front.png":        testkit.PageImage(t, "png", 420, 594, 1),
		"id/back.jpg":         testkit.PageImage(t, "jpeg", 594, 420, 2),
		"id/stamp.png":        testkit.PageImage(t, "png", 300, 300, 3),
		ingestHolder + ".jpg": testkit.PageImage(t, "jpeg", 500, 700, 4), // filed under the holder's number
		"passport.pdf":        ingestPDF(t),
		"scan.png":            []byte("notes from the window, not a scan\n"),
		"unlisted.jpeg":       testkit.PageImage(t, "jpeg", 200, 200, 6),
	})
	manifest := filepath.Join(t.TempDir(), "batch.csv")
	ingestFiles(t, filepath.Dir(manifest), map[string][]byte{"batch.csv": []byte("\uFEFF" + ingestHeader +
		"id/front.png;id/back.jpg;id/stamp.png,id_card," + ingestHolder + ",RESIDENCE-PERMIT,居民身份证,scan,北京市公安局西城分局,2020-01-02,2040-01-02,false,true\n" +
		ingestHolder + ".jpg,id_card," + ingestHolder + ",HUKOU,户口簿,scan,,2019-05-06,,true,是\n" +
		"passport.pdf,passport," + ingestPassport + ",PASSPORT,护照,upload,,,,,\n" +
		"scan.png,id_card," + ingestHolder + ",ID-COPY,身份证复印件,scan,,,,,no\n")})
	report := filepath.Join(filepath.Dir(manifest), "ingest-report.csv")
	state := filepath.Join(dir, ".sealvault-ingest.state")
	passwordFile := filepath.Join(t.TempDir(), "password")
	ingestFiles(t, filepath.Dir(passwordFile), map[string][]byte{"password": []byte(ingestPassword + "\n")})
	args := []string{dir, "--manifest", manifest, "--server", server, "--username", "window"}

	var ids map[string]string // manifest line → material id
	t.Run("first run stores the good rows and reports the bad one", func(t *testing.T) {
		run := runIngestCLI(t, append(args, "--password-file", passwordFile, "--parallel", "2")...)
		noSecrets(t, run, report, state)
		if run.err == nil || !strings.Contains(run.err.Error(), "1 of 4 rows failed") {
			t.Fatalf("ingest returned %v, want an error saying 1 of 4 rows failed\n%s", run.err, run.stderr)
		}
		rows := readReport(t, report)
		stored := storedMaterials(t, dbURL)
		ids = map[string]string{}
		if f := rows["3"].files; f != "1101**********002X.jpg" {
			t.Errorf("report line 3 names the file %q, want it with the holder number masked", f)
		}
		for line, pagesWant := range map[string]int{"2": 3, "3": 1, "4": 1} {
			r := rows[line]
			if r.status != "created" || r.reason != "" {
				t.Errorf("report line %s: %+v, want created", line, r)
			}
			if n, ok := stored[r.id]; !ok || n != pagesWant {
				t.Errorf("report line %s names material %q: stored %v with %d pages, want %d pages", line, r.id, ok, n, pagesWant)
			}
			ids[line] = r.id
		}
		if len(stored) != 3 {
			t.Errorf("%d materials stored, want 3", len(stored))
		}
		bad := rows["5"]
		if bad.status != "failed" || bad.files != "scan.png" || bad.id != "" ||
			!strings.Contains(bad.reason, `"scan.png"`) || !strings.Contains(bad.reason, "text file") {
			t.Errorf("report line 5: %+v, want failed naming scan.png as a text file", bad)
		}
		if !strings.Contains(run.stderr, "line 5: failed: ") || !strings.Contains(run.stderr, "files 4/4") {
			t.Errorf("stderr lacks the failed row or the finished progress bar:\n%s", run.stderr)
		}
		if !strings.Contains(run.stdout, "uploaded 3, already stored 0, failed 1 (of 4 rows)") ||
			!strings.Contains(run.stdout, "; 4 page images, ") || !strings.Contains(run.stdout, " pages/s\n") ||
			!strings.Contains(run.stdout, "report: "+report) {
			t.Errorf("summary:\n%s", run.stdout)
		}
		if logins, _ := proxy.counts(); logins != 2 {
			t.Errorf("%d logins, want 2: one at the start, one after the token was refused", logins)
		}
	})

	t.Run("a re-run sends only the failed row", func(t *testing.T) {
		t.Setenv(ingestPasswordEnv, ingestPassword)
		_, before := proxy.counts()
		run := runIngestCLI(t, args...)
		noSecrets(t, run, report, state)
		if run.err == nil {
			t.Fatalf("ingest returned nil with scan.png still bad\n%s", run.stderr)
		}
		if _, after := proxy.counts(); after-before != 1 {
			t.Errorf("%d uploads, want 1 (scan.png only)", after-before)
		}
		rows := readReport(t, report)
		for line, id := range ids {
			if r := rows[line]; r.status != "skipped" || r.id != id {
				t.Errorf("report line %s: %+v, want skipped with material %s", line, r, id)
			}
			if !strings.Contains(run.stderr, fmt.Sprintf("line %s: skipped (already stored as material %s)", line, id)) {
				t.Errorf("stderr does not say line %s was skipped:\n%s", line, run.stderr)
			}
		}
		if rows["5"].status != "failed" {
			t.Errorf("report line 5: %+v, want failed", rows["5"])
		}
		if n := len(storedMaterials(t, dbURL)); n != 3 {
			t.Errorf("%d materials stored, want still 3", n)
		}
		if !strings.Contains(run.stdout, "uploaded 0, already stored 3, failed 1 (of 4 rows)") {
			t.Errorf("summary:\n%s", run.stdout)
		}
	})

	t.Run("without the state file the server recognises every stored row", func(t *testing.T) {
		// As after a crash between the server's answer and the state file's write.
		if err := os.Remove(state); err != nil {
			t.Fatal(err)
		}
		run := runIngestCLI(t, append(args, "--password", ingestPassword)...)
		noSecrets(t, run, report, state)
		if run.err == nil {
			t.Fatalf("ingest returned nil with scan.png still bad\n%s", run.stderr)
		}
		rows := readReport(t, report)
		for line, id := range ids {
			if r := rows[line]; r.status != "existing" || r.id != id {
				t.Errorf("report line %s: %+v, want existing with material %s", line, r, id)
			}
		}
		if n := len(storedMaterials(t, dbURL)); n != 3 {
			t.Errorf("%d materials stored, want still 3", n)
		}
	})

	t.Run("with the bad file replaced the batch completes", func(t *testing.T) {
		ingestFiles(t, dir, map[string][]byte{"scan.png": testkit.PageImage(t, "png", 400, 400, 7)})
		run := runIngestCLI(t, append(args, "--password-file", passwordFile)...)
		noSecrets(t, run, report, state)
		if run.err != nil {
			t.Fatalf("ingest: %v\n%s", run.err, run.stderr)
		}
		rows := readReport(t, report)
		stored := storedMaterials(t, dbURL)
		if r := rows["5"]; r.status != "created" || stored[r.id] != 1 {
			t.Errorf("report line 5: %+v, want created as a stored one-page material", r)
		}
		for line, id := range ids {
			if r := rows[line]; r.status != "skipped" || r.id != id {
				t.Errorf("report line %s: %+v, want skipped with material %s", line, r, id)
			}
		}
		if len(stored) != 4 {
			t.Errorf("%d materials stored, want 4", len(stored))
		}
		if !strings.Contains(run.stdout, "uploaded 1, already stored 3, failed 0 (of 4 rows)") {
			t.Errorf("summary:\n%s", run.stdout)
		}
	})
}

// TestIngestRejectsInvalidManifest checks that a manifest with wrong lines, or a wrong
// password, stores nothing and says what is wrong without showing the holder number.
func TestIngestRejectsInvalidManifest(t *testing.T) {
	dbURL := dbtest.URL(t)
	srv := startServe(t, dbURL, t.TempDir())
	dir := t.TempDir()
	ingestFiles(t, dir, map[string][]byte{"a.png": testkit.PageImage(t, "png", 300, 400, 1)})
	t.Setenv(ingestPasswordEnv, ingestPassword)

	t.Run("every wrong line is listed and nothing is sent", func(t *testing.T) {
		ingestFiles(t, dir, map[string][]byte{"manifest.csv": []byte(ingestHeader +
			"a.png,id_card," + ingestHolder + ",RESIDENCE-PERMIT,身份证,scan,,2020-01-02,,true,true\n" +
			"a.png,id_card," + ingestHolder + ",RESIDENCE-PERMIT,身份证,scan,,2020-13-45,,true,true\n" +
			"a.png,ssn," + ingestHolder + ",RESIDENCE-PERMIT,身份证,scan,,,,,\n" +
			"missing.png,id_card," + ingestHolder + ",RESIDENCE-PERMIT,身份证,scan,,,,,\n" +
			"a.png,id_card,110105194912310021,RESIDENCE-PERMIT,身份证,scan,,,,maybe,\n" +
			ingestHolder + ".jpg,id_card," + ingestHolder + ",RESIDENCE-PERMIT,身份证,scan,,,,,\n" +
			"a.png,other,12\"34,RESIDENCE-PERMIT,身份证,scan,,,,,\n")})
		report := filepath.Join(dir, "ingest-report.csv")
		run := runIngestCLI(t, dir, "--server", srv.base, "--username", "window")
		noSecrets(t, run, report)
		if run.err == nil {
			t.Fatalf("ingest returned nil for a manifest with wrong lines")
		}
		msg := run.err.Error()
		for _, want := range []string{
			"6 of 7 rows are invalid; nothing was uploaded",
			"line 3: issued_on must be a date YYYY-MM-DD",
			"line 4: holder_kind must be id_card, credit_code, passport or other",
			`line 5: file "missing.png" does not exist`,
			"line 6: holder_number ",
			"long_term must be true or false",
			`line 7: file "1101**********002X.jpg" does not exist`,
			"line 8: is not valid CSV",
		} {
			if !strings.Contains(msg, want) {
				t.Errorf("error lacks %q:\n%s", want, msg)
			}
		}
		if strings.Contains(msg, "line 2:") {
			t.Errorf("error lists the valid line 2:\n%s", msg)
		}
		if n := len(storedMaterials(t, dbURL)); n != 0 {
			t.Errorf("%d materials stored, want none", n)
		}
		rows := readReport(t, report)
		if rows["2"].status != "not-sent" || rows["5"].status != "invalid" || !strings.Contains(rows["5"].reason, "missing.png") {
			t.Errorf("report: %+v", rows)
		}
	})

	t.Run("a wrong password stops the run before any upload", func(t *testing.T) {
		ingestFiles(t, dir, map[string][]byte{"manifest.csv": []byte(ingestHeader +
			"a.png,id_card," + ingestHolder + ",RESIDENCE-PERMIT,身份证,scan,,2020-01-02,,true,true\n")})
		wrong := "not-the-password-42"
		run := runIngestCLI(t, dir, "--server", srv.base, "--username", "window", "--password", wrong)
		noSecrets(t, run)
		if run.err == nil || !strings.Contains(run.err.Error(), "login as window") {
			t.Fatalf("ingest returned %v, want a failed login", run.err)
		}
		if strings.Contains(run.all(), wrong) {
			t.Errorf("the output shows the password:\n%s", run.all())
		}
		if n := len(storedMaterials(t, dbURL)); n != 0 {
			t.Errorf("%d materials stored, want none", n)
		}
	})
}
