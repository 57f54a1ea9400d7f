package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
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
// database, two active seals of D1, one ECDSA P-256 and one RSA-3072, delegated to the
// center for item 440100-01-001 with approval required, and a one-page A4 scan (a noisy
// 1500×2120 JPEG, about 600 KB, like seal/pades's scan-1p) uploaded by the center's window
// user, the result of a decided case of that item which every request names. It is built
// with testing.TB, since setup and newSealWorld take *testing.T.
type benchWorld struct {
	pool      *pgxpool.Pool
	logs      *testkit.SyncBuffer
	base      string // URL of the listener
	client    *http.Client
	window    string               // token of the center's window user, who requests and applies
	custodian string               // token of a custodian of the seal, who approves
	seals     map[string]uuid.UUID // by key algorithm: benchAlgorithms
	doc       string               // digest of the window user's document
	caseID    uuid.UUID            // a decided case of benchItem whose result is doc
	blobs     *fsstore.Store
}

// benchItem is the item the letter of benchWorld covers.
const benchItem = "440100-01-001"

// benchAlgorithms are the key algorithms of benchWorld's seals, with the names of their
// sub-benchmarks: the issue's target is for the ECDSA seal.
var benchAlgorithms = []struct{ name, alg string }{{"ecdsa", "ecdsa-p256"}, {"rsa-3072", "rsa-3072"}}

// noisyScan is a gray w×h JPEG of noise (quality 60), which does not compress: a scanned
// page's size without a scanner.
func noisyScan(tb testing.TB, w, h int, seed uint64) []byte {
	tb.Helper()
	rng := mrand.New(mrand.NewPCG(seed, 1))
	img := image.NewGray(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = uint8(200 + rng.IntN(56))
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 60}); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func newBenchWorld(tb testing.TB) *benchWorld {
	tb.Helper()
	ctx := tb.Context()
	w := &benchWorld{pool: countingPool(tb, &benchTrips), logs: &testkit.SyncBuffer{}}
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

	// Each request runs under a pprof label naming its operation, so that a CPU profile
	// (-cpuprofile) can be narrowed to the applications and the goroutines they start
	// (-tagfocus=op=apply), without the setup's requests.
	ts := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		op := "other"
		if strings.HasSuffix(r.URL.Path, "/apply") {
			op = "apply"
		}
		pprof.Do(r.Context(), pprof.Labels("op", op), func(ctx context.Context) { srv.ServeHTTP(rw, r.WithContext(ctx)) })
	}))
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

	w.seals = map[string]uuid.UUID{}
	var ids []uuid.UUID
	for _, a := range benchAlgorithms {
		var sl seal.Seal
		w.call(tb, http.MethodPost, "/api/v1/seals", admin, map[string]any{
			"name": "天河区市场监督管理局行政审批专用章（" + a.name + "）", "type": "business", "department_id": dept.ID,
			"supervisor_id": supervisor, "custodian_ids": []uuid.UUID{custodian}, "valid_from": day(-10), "valid_until": day(365),
			"key_algorithm": a.alg}, http.StatusCreated, &sl)
		w.send(tb, http.MethodPost, "/api/v1/seals/"+sl.ID.String()+"/image", admin, "image/png", seal.DemoImage(), http.StatusOK, nil)
		w.call(tb, http.MethodPost, "/api/v1/seals/"+sl.ID.String()+"/status", admin,
			map[string]any{"status": "active", "reason": "经审批启用"}, http.StatusOK, &sl)
		w.seals[a.name] = sl.ID
		ids = append(ids, sl.ID)
	}
	w.call(tb, http.MethodPost, "/api/v1/authorizations", admin, map[string]any{
		"grantor_department_id": dept.ID, "grantee_department_id": center.ID, "items": []string{benchItem},
		"powers": []string{"receive", "seal"}, "seal_ids": ids, "valid_from": day(-1), "valid_until": day(30),
		"approval_required": true, "note": "食品经营许可即办件"}, http.StatusCreated, nil)

	pdf, err := pages.Assemble([]pages.Page{{Name: "1.jpg", Data: noisyScan(tb, 1500, 2120, 1)}})
	fatal(err)
	tb.Logf("document: one page, %d bytes", len(pdf))
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

// requestBody is a seal-use request of seal sealID for the world's document: page 1, x 380,
// y 60, size 120.
func (w *benchWorld) requestBody(sealID uuid.UUID) []byte {
	js, _ := json.Marshal(map[string]any{
		"seal_id": sealID, "case_id": w.caseID, "document_digest": w.doc,
		"placement": map[string]any{"page": 1, "x": 380, "y": 60, "size": 120}, "reason": "准予食品经营许可"})
	return js
}

// approved files a request of seal sealID as the window user and approves it as the
// custodian.
func (w *benchWorld) approved(sealID uuid.UUID) (uuid.UUID, error) {
	var r seal.Request
	if err := w.expect(http.MethodPost, "/api/v1/seal-requests", w.window, "application/json", w.requestBody(sealID), http.StatusCreated, &r); err != nil {
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

// benchTrips counts the statements and batches sent on the pools of countingPool: each is
// one round trip to PostgreSQL.
var benchTrips atomic.Int64

// tripCounter is a pgx tracer that adds one to n for each query, exec (BEGIN and COMMIT
// included) and batch.
type tripCounter struct{ n *atomic.Int64 }

func (t tripCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	t.n.Add(1)
	return ctx
}
func (tripCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (t tripCounter) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	t.n.Add(1)
	return ctx
}
func (tripCounter) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (tripCounter) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}

// countingPool is dbtest.Pool (pgxpool's defaults) with a tripCounter on n.
func countingPool(tb testing.TB, n *atomic.Int64) *pgxpool.Pool {
	tb.Helper()
	cfg, err := pgxpool.ParseConfig(dbtest.URL(tb))
	if err != nil {
		tb.Fatal(err)
	}
	cfg.ConnConfig.Tracer = tripCounter{n}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(pool.Close)
	return pool
}

// cpuSample is the CPU time used so far by this process (the server and its HTTP clients)
// and, when it runs on this machine, by the PostgreSQL server of the world's pool: its
// postmaster and children, exited children included.
type cpuSample struct {
	self, pg time.Duration
	pgKnown  bool
}

// clockTick is Linux's USER_HZ, the unit of /proc/<pid>/stat's times.
const clockTick = 10 * time.Millisecond

// procStat returns the parent pid and the utime, stime, cutime and cstime of process pid.
func procStat(pid int) (ppid int, times [4]time.Duration, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, times, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, times, false
	}
	f := strings.Fields(string(b[i+1:])) // state ppid ... utime(11) stime cutime cstime
	if len(f) < 15 {
		return 0, times, false
	}
	ppid, _ = strconv.Atoi(f[1])
	for k := range times {
		t, _ := strconv.ParseInt(f[11+k], 10, 64)
		times[k] = time.Duration(t) * clockTick
	}
	return ppid, times, true
}

func (w *benchWorld) sampleCPU(tb testing.TB) cpuSample {
	tb.Helper()
	var s cpuSample
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		s.self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	var backend int
	if err := w.pool.QueryRow(tb.Context(), `SELECT pg_backend_pid()`).Scan(&backend); err != nil {
		tb.Fatal(err)
	}
	postmaster, _, ok := procStat(backend)
	if !ok {
		return s // a server elsewhere
	}
	_, t, ok := procStat(postmaster)
	if !ok {
		return s
	}
	s.pg, s.pgKnown = t[0]+t[1]+t[2]+t[3], true
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		if ppid, t, ok := procStat(pid); ok && ppid == postmaster {
			s.pg += t[0] + t[1]
		}
	}
	return s
}

// BenchmarkSealApplyHTTP times POST /api/v1/seal-requests/{id}/apply over a real HTTP
// connection, with the ECDSA seal and with the RSA one, on c clients at once, each
// application using its own approved request prepared before the timer starts. The
// database pool is dbtest's: pgxpool's default of max(4, GOMAXPROCS) connections. Besides
// the rate and latencies it reports, per application, the SQL round trips (sql/op), the CPU
// of this process, server and clients (go-cpu-ms/op), and, when PostgreSQL runs on this
// machine, the CPU of its processes (pg-cpu-ms/op).
func BenchmarkSealApplyHTTP(b *testing.B) {
	w := newBenchWorld(b)
	for _, a := range benchAlgorithms {
		for _, c := range []int{1, 8} {
			b.Run(a.name+"/c="+strconv.Itoa(c), func(b *testing.B) {
				ids := make([]uuid.UUID, b.N)
				for i := range ids {
					var err error
					if ids[i], err = w.approved(w.seals[a.name]); err != nil {
						b.Fatal(err)
					}
				}
				uses := w.count(b, `SELECT count(*) FROM seal_uses`)
				events := w.count(b, `SELECT count(*) FROM audit_events WHERE action = 'seal.apply'`)
				cpu0 := w.sampleCPU(b)
				trips0 := benchTrips.Load()
				testkit.RunConcurrent(b, c, "applies/s", func(_, i int) error { return w.apply(ids[i]) })
				trips := benchTrips.Load() - trips0
				cpu := w.sampleCPU(b)
				perOp := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) / float64(b.N) }
				b.ReportMetric(float64(trips)/float64(b.N), "sql/op")
				b.ReportMetric(perOp(cpu.self-cpu0.self), "go-cpu-ms/op")
				if cpu.pgKnown && cpu0.pgKnown {
					b.ReportMetric(perOp(cpu.pg-cpu0.pg), "pg-cpu-ms/op")
				}
				if got := w.count(b, `SELECT count(*) FROM seal_uses`) - uses; got != b.N {
					b.Fatalf("%d new register rows, want %d", got, b.N)
				}
				if got := w.count(b, `SELECT count(*) FROM audit_events WHERE action = 'seal.apply'`) - events; got != b.N {
					b.Fatalf("%d new seal.apply events, want %d", got, b.N)
				}
			})
		}
	}
}

// BenchmarkSealRequestApproveApplyHTTP times the whole front-desk path per op over real
// HTTP with the ECDSA seal: the window user files a request, the custodian approves it, the
// window user applies.
func BenchmarkSealRequestApproveApplyHTTP(b *testing.B) {
	w := newBenchWorld(b)
	b.Run("c=8", func(b *testing.B) {
		uses := w.count(b, `SELECT count(*) FROM seal_uses`)
		testkit.RunConcurrent(b, 8, "ops/s", func(_, i int) error {
			id, err := w.approved(w.seals["ecdsa"])
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
