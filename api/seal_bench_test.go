package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"sealvault/audit"
	"sealvault/casework"
	"sealvault/internal/dbtest"
	"sealvault/internal/identity"
	"sealvault/internal/testkit"
	"sealvault/reuse"
	"sealvault/seal"
	"sealvault/seal/keys"
	"sealvault/vault"
	"sealvault/vault/fsstore"
	"sealvault/vault/pages"
)

// benchWorld is the world of newSealWorld behind a real HTTP listener: a server on its own
// database, an active RSA-3072 seal of D1 delegated to the center for item 440100-01-001
// with approval required, and a two-page A4 PDF uploaded by the center's window user, the
// result of a decided case of that item which every request names. It is built with testing.TB, since setup and newSealWorld take *testing.T.
type benchWorld struct {
	pool      *pgxpool.Pool
	logs      *testkit.SyncBuffer
	base      string // URL of the listener
	client    *http.Client
	window    string // token of the center's window user, who requests and applies
	custodian string // token of a custodian of the seal, who approves
	seal      uuid.UUID
	doc       string    // digest of the window user's document
	caseID    uuid.UUID // a decided case of benchItem whose result is doc
	blobs     *fsstore.Store
}

// benchItem is the item the letter of benchWorld covers.
const benchItem = "440100-01-001"

func newBenchWorld(tb testing.TB) *benchWorld {
	tb.Helper()
	ctx := tb.Context()
	w := &benchWorld{pool: dbtest.Pool(tb), logs: &testkit.SyncBuffer{}}
	fatal := func(err error) {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
	}
	ring, err := identity.OpenKeyring(tb.TempDir())
	fatal(err)
	tokens := identity.NewTokens(ring, identity.TokenConfig{Issuer: "sealvault-test", Audience: "sealvault-api", TTL: time.Hour})
	dir := tb.TempDir()
	trail, err := audit.Open(w.pool, audit.Config{Origin: "test.sealvault/audit", KeyDir: dir + "/keys", CheckpointDir: dir + "/checkpoints"})
	fatal(err)
	blobs, err := fsstore.New(dir + "/blobs")
	fatal(err)
	w.blobs = blobs
	holder, err := vault.ParseHolderKeys(vault.GenerateHolderKeys())
	fatal(err)
	kek, err := keys.ParseKEK(keys.GenerateKEK())
	fatal(err)
	custody := keys.NewSoftCustody(kek)
	root, err := seal.OpenCA(ctx, w.pool, custody, "测试电子印章根证书", time.Now())
	fatal(err)
	lim := pages.DefaultLimits()
	lim.MaxPages = 5
	tsaOf, err := seal.OpenTSA(ctx, w.pool, custody, root, "测试时间戳服务", testTSAPolicy, time.Second, time.Now())
	fatal(err)
	seals := &seal.Service{DB: w.pool, Blobs: blobs, Pins: vault.NewPins(w.pool), Custody: custody, CA: root, TSA: tsaOf}
	reuses := &reuse.Service{DB: w.pool, Keys: holder}
	cases := &casework.Service{DB: w.pool, Reuse: reuses, Audit: trail}
	seals.Cases = casework.Sealing{S: cases}
	srv, err := New(Deps{DB: w.pool, Tokens: tokens, Audit: trail, Log: slog.New(slog.NewJSONHandler(w.logs, nil)),
		Registry: prometheus.NewRegistry(), BodyLimit: "64K", UploadLimit: "30M",
		Blobs: blobs, HolderKeys: holder, PageLimits: lim, Seals: seals, Reuse: reuses, Cases: cases,
		Ingester: &vault.Ingester{DB: w.pool, Blobs: blobs, Pins: vault.NewPins(w.pool), Keys: holder, Limits: lim, WorkDir: tb.TempDir()}})
	fatal(err)

	ts := httptest.NewServer(srv)
	tb.Cleanup(ts.Close)
	tr := &http.Transport{MaxIdleConns: 64, MaxIdleConnsPerHost: 64}
	tb.Cleanup(tr.CloseIdleConnections)
	w.base, w.client = ts.URL, &http.Client{Transport: tr}

	center, err := identity.CreateDepartment(ctx, w.pool, identity.NewDepartment{Code: "C1", Name: "测试政务服务中心", Kind: identity.KindCenter, Level: "district"})
	fatal(err)
	dept, err := identity.CreateDepartment(ctx, w.pool, identity.NewDepartment{Code: "D1", Name: "市场监督管理局", Kind: identity.KindDepartment, Level: "district", ParentID: &center.ID})
	fatal(err)
	user := func(name string, dept uuid.UUID, role identity.Role) (uuid.UUID, string) {
		tb.Helper()
		u, err := identity.CreateUser(ctx, w.pool, identity.NewUser{Username: name, DisplayName: "用户 " + name,
			DepartmentID: dept, Roles: []identity.Role{role}, Password: testPassword})
		fatal(err)
		tok, _, err := tokens.Issue(u.ID)
		fatal(err)
		return u.ID, tok
	}
	_, admin := user("c1-seal-admin", center.ID, identity.RoleSealAdmin)
	_, catalogAdmin := user("c1-admin", center.ID, identity.RoleAdmin)
	_, sealer := user("d1-sealer", dept.ID, identity.RoleSealer)
	_, w.window = user("c1-window", center.ID, identity.RoleWindow)
	custodian, custodianToken := user("d1-custodian", dept.ID, identity.RoleCustodian)
	supervisor, _ := user("d1-supervisor", dept.ID, identity.RoleCustodian)
	w.custodian = custodianToken

	var sl seal.Seal
	w.call(tb, http.MethodPost, "/api/v1/seals", admin, map[string]any{
		"name": "天河区市场监督管理局行政审批专用章", "type": "business", "department_id": dept.ID, "supervisor_id": supervisor,
		"custodian_ids": []uuid.UUID{custodian}, "valid_from": day(-10), "valid_until": day(365),
		"key_algorithm": "rsa-3072"}, http.StatusCreated, &sl)
	w.send(tb, http.MethodPost, "/api/v1/seals/"+sl.ID.String()+"/image", admin, "image/png", seal.DemoImage(), http.StatusOK, nil)
	w.call(tb, http.MethodPost, "/api/v1/seals/"+sl.ID.String()+"/status", admin,
		map[string]any{"status": "active", "reason": "经审批启用"}, http.StatusOK, &sl)
	w.seal = sl.ID
	w.call(tb, http.MethodPost, "/api/v1/authorizations", admin, map[string]any{
		"grantor_department_id": dept.ID, "grantee_department_id": center.ID, "items": []string{benchItem},
		"powers": []string{"receive", "seal"}, "seal_ids": []uuid.UUID{sl.ID}, "valid_from": day(-1), "valid_until": day(30),
		"approval_required": true, "note": "食品经营许可即办件"}, http.StatusCreated, nil)

	pdf, err := pages.Assemble([]pages.Page{
		{Name: "1.jpg", Data: testkit.PageImage(tb, "jpeg", 1654, 2339, 1)},
		{Name: "2.jpg", Data: testkit.PageImage(tb, "jpeg", 1654, 2339, 2)},
	})
	fatal(err)
	var doc seal.Document
	w.send(tb, http.MethodPost, "/api/v1/documents?name=许可证.pdf", w.window, "application/pdf", pdf, http.StatusCreated, &doc)
	w.doc = doc.Digest

	// The case the requests name: an instant item of D1, opened at the center's window,
	// accepted and decided by D1's sealer with the document as its result.
	w.call(tb, http.MethodPost, "/api/v1/catalog/types", catalogAdmin, map[string]any{
		"code": "T-FORM", "name": "申请书", "holder_kind": "person", "validity": "long_term"}, http.StatusOK, nil)
	w.call(tb, http.MethodPost, "/api/v1/catalog/items", catalogAdmin, map[string]any{
		"code": benchItem, "name": "食品经营许可", "department_code": "D1", "kind": "instant",
		"materials": []map[string]any{{"type_code": "T-FORM", "required": false, "reuse_accepted": false}}}, http.StatusOK, nil)
	var c casework.Case
	w.call(tb, http.MethodPost, "/api/v1/cases", w.window, map[string]any{
		"item_code": benchItem, "holder_kind": "id_card", "holder_number": "11010519491231002X"}, http.StatusCreated, &c)
	w.call(tb, http.MethodPost, "/api/v1/cases/"+c.ID.String()+"/accept", sealer, nil, http.StatusOK, nil)
	w.send(tb, http.MethodPost, "/api/v1/documents?name=许可证.pdf", sealer, "application/pdf", pdf, http.StatusCreated, nil)
	w.call(tb, http.MethodPost, "/api/v1/cases/"+c.ID.String()+"/decide", sealer, map[string]any{
		"decision": "approved", "text": "准予", "document": map[string]any{"digest": w.doc, "kind": "result"}}, http.StatusOK, nil)
	w.caseID = c.ID
	return w
}

// do sends one request and reads the whole response, so that the connection is reused.
func (w *benchWorld) do(method, path, token, contentType string, body []byte) (int, []byte, error) {
	req, err := http.NewRequest(method, w.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := w.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	return resp.StatusCode, out, err
}

// expect is do that wants status and decodes the answer into v unless v is nil. It is safe
// to call from any goroutine: it returns its failure instead of stopping the benchmark.
func (w *benchWorld) expect(method, path, token, contentType string, body []byte, status int, v any) error {
	code, out, err := w.do(method, path, token, contentType, body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if code != status {
		if code == http.StatusInternalServerError {
			return fmt.Errorf("%s %s: status %d, want %d: %s\nserver log:\n%s", method, path, code, status, out, w.logs.String())
		}
		return fmt.Errorf("%s %s: status %d, want %d: %s", method, path, code, status, out)
	}
	if v != nil {
		if err := json.Unmarshal(out, v); err != nil {
			return fmt.Errorf("%s %s: decoding %T: %w", method, path, v, err)
		}
	}
	return nil
}

func (w *benchWorld) send(tb testing.TB, method, path, token, contentType string, body []byte, status int, v any) {
	tb.Helper()
	if err := w.expect(method, path, token, contentType, body, status, v); err != nil {
		tb.Fatal(err)
	}
}

func (w *benchWorld) call(tb testing.TB, method, path, token string, body any, status int, v any) {
	tb.Helper()
	js, err := json.Marshal(body)
	if err != nil {
		tb.Fatal(err)
	}
	w.send(tb, method, path, token, "application/json", js, status, v)
}

// requestBody is a seal-use request for the world's document: page 2, x 380, y 60, size 120.
func (w *benchWorld) requestBody() []byte {
	js, _ := json.Marshal(map[string]any{
		"seal_id": w.seal, "case_id": w.caseID, "document_digest": w.doc,
		"placement": map[string]any{"page": 2, "x": 380, "y": 60, "size": 120}, "reason": "准予食品经营许可"})
	return js
}

// approved files a request as the window user and approves it as the custodian.
func (w *benchWorld) approved(n int) (uuid.UUID, error) {
	var r seal.Request
	if err := w.expect(http.MethodPost, "/api/v1/seal-requests", w.window, "application/json", w.requestBody(), http.StatusCreated, &r); err != nil {
		return uuid.Nil, err
	}
	err := w.expect(http.MethodPost, "/api/v1/seal-requests/"+r.ID.String()+"/approve", w.custodian, "application/json",
		[]byte(`{"note":"同意"}`), http.StatusOK, nil)
	return r.ID, err
}

// apply applies an approved request as the window user; 201 means the signed PDF is in the
// vault and the register row and its audit event are committed.
func (w *benchWorld) apply(id uuid.UUID) error {
	return w.expect(http.MethodPost, "/api/v1/seal-requests/"+id.String()+"/apply", w.window, "", nil, http.StatusCreated, nil)
}

func (w *benchWorld) count(tb testing.TB, query string) int {
	tb.Helper()
	var n int
	if err := w.pool.QueryRow(tb.Context(), query).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}

// BenchmarkSealApplyHTTP times POST /api/v1/seal-requests/{id}/apply over a real HTTP
// connection, on c clients at once, each application using its own approved request
// prepared before the timer starts. The database pool is dbtest's: pgxpool's default of
// max(4, GOMAXPROCS) connections.
func BenchmarkSealApplyHTTP(b *testing.B) {
	w := newBenchWorld(b)
	for _, c := range []int{1, 8} {
		b.Run("c="+strconv.Itoa(c), func(b *testing.B) {
			ids := make([]uuid.UUID, b.N)
			for i := range ids {
				var err error
				if ids[i], err = w.approved(i); err != nil {
					b.Fatal(err)
				}
			}
			uses := w.count(b, `SELECT count(*) FROM seal_uses`)
			events := w.count(b, `SELECT count(*) FROM audit_events WHERE action = 'seal.apply'`)
			testkit.RunConcurrent(b, c, "applies/s", func(_, i int) error { return w.apply(ids[i]) })
			if got := w.count(b, `SELECT count(*) FROM seal_uses`) - uses; got != b.N {
				b.Fatalf("%d new register rows, want %d", got, b.N)
			}
			if got := w.count(b, `SELECT count(*) FROM audit_events WHERE action = 'seal.apply'`) - events; got != b.N {
				b.Fatalf("%d new seal.apply events, want %d", got, b.N)
			}
		})
	}
}

// BenchmarkSealRequestApproveApplyHTTP times the whole front-desk path per op over real
// HTTP: the window user files a request, the custodian approves it, the window user applies.
func BenchmarkSealRequestApproveApplyHTTP(b *testing.B) {
	w := newBenchWorld(b)
	b.Run("c=8", func(b *testing.B) {
		uses := w.count(b, `SELECT count(*) FROM seal_uses`)
		testkit.RunConcurrent(b, 8, "ops/s", func(_, i int) error {
			id, err := w.approved(i)
			if err != nil {
				return err
			}
			return w.apply(id)
		})
		if got := w.count(b, `SELECT count(*) FROM seal_uses`) - uses; got != b.N {
			b.Fatalf("%d new register rows, want %d", got, b.N)
		}
	})
}
