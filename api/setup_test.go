package api

import (
	"bytes"
	"encoding/asn1"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"sealvault/audit"
	"sealvault/casework"
	"sealvault/internal/dbtest"
	"sealvault/internal/identity"
	"sealvault/internal/testkit"
	"sealvault/reuse"
	"sealvault/seal"
	"sealvault/seal/ca"
	"sealvault/seal/keys"
	"sealvault/seal/tsa"
	"sealvault/vault"
	"sealvault/vault/fsstore"
	"sealvault/vault/pages"
)

// bundle is what a test needs: a server on its own database, a center and a department,
// and one signed-in user per role.
type bundle struct {
	srv     *Server
	pool    *pgxpool.Pool
	keys    *identity.Keyring
	tokens  *identity.Tokens
	audit   *audit.Log
	blobs   *fsstore.Store
	keysH   *vault.HolderKeys
	logs    testkit.SyncBuffer // the server's JSON log lines
	work    string             // where uploads are spooled and worked on
	seals   *seal.Service
	custody keys.Custody
	ca      *ca.CA
	maker   *ca.Maker
	tsa     *tsa.TSA
	cases   *casework.Service
	center  identity.Department
	dept    identity.Department
	users   map[identity.Role]identity.User
	token   map[identity.Role]string
}

const testPassword = "correct horse battery"

// testTSAPolicy is the policy of the tests' timestamping authority.
var testTSAPolicy = asn1.ObjectIdentifier{2, 999, 3161, 1}

func setup(t *testing.T) *bundle {
	t.Helper()
	ctx := t.Context()
	b := &bundle{pool: dbtest.Pool(t), users: map[identity.Role]identity.User{}, token: map[identity.Role]string{}}
	var err error
	if b.keys, err = identity.OpenKeyring(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	b.tokens = identity.NewTokens(b.keys, identity.TokenConfig{Issuer: "sealvault-test", Audience: "sealvault-api", TTL: 15 * time.Minute})
	dir := t.TempDir()
	if b.audit, err = audit.Open(b.pool, audit.Config{Origin: "test.sealvault/audit", KeyDir: dir + "/keys", CheckpointDir: dir + "/checkpoints"}); err != nil {
		t.Fatal(err)
	}
	if b.blobs, err = fsstore.New(dir + "/blobs"); err != nil {
		t.Fatal(err)
	}
	if b.keysH, err = vault.ParseHolderKeys(vault.GenerateHolderKeys()); err != nil {
		t.Fatal(err)
	}
	custody := keys.NewSoftCustody(mustKEK(t))
	root, err := seal.OpenCA(ctx, b.pool, custody, "测试电子印章根证书", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	maker, err := seal.OpenMaker(ctx, b.pool, custody, "测试电子印章制章根证书", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if b.tsa, err = seal.OpenTSA(ctx, b.pool, custody, root, "测试时间戳服务", testTSAPolicy, time.Second, time.Now()); err != nil {
		t.Fatal(err)
	}
	b.custody, b.ca, b.maker = custody, root, maker
	b.work = t.TempDir()
	d := b.deps(b.pool, b.blobs, b.audit)
	b.seals, b.cases = d.Seals, d.Cases
	if b.srv, err = New(d); err != nil {
		t.Fatal(err)
	}
	if b.center, err = identity.CreateDepartment(ctx, b.pool, identity.NewDepartment{Code: "C1", Name: "测试政务服务中心", Kind: identity.KindCenter, Level: "district"}); err != nil {
		t.Fatal(err)
	}
	if b.dept, err = identity.CreateDepartment(ctx, b.pool, identity.NewDepartment{Code: "D1", Name: "市场监督管理局", Kind: identity.KindDepartment, Level: "district", ParentID: &b.center.ID}); err != nil {
		t.Fatal(err)
	}
	for _, r := range identity.Roles() {
		u, err := identity.CreateUser(ctx, b.pool, identity.NewUser{Username: "u-" + string(r), DisplayName: "用户 " + string(r),
			DepartmentID: b.center.ID, Roles: []identity.Role{r}, Password: testPassword})
		if err != nil {
			t.Fatal(err)
		}
		b.users[r] = u
		if b.token[r], _, err = b.tokens.Issue(u.ID); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// deps are the server's dependencies on pool, blobs and alog, built as cmd/sealvault
// builds them.
func (b *bundle) deps(pool *pgxpool.Pool, blobs vault.Backend, alog *audit.Log) Deps {
	seals := &seal.Service{DB: pool, Blobs: blobs, Pins: vault.NewPins(pool), Custody: b.custody, CA: b.ca, Maker: b.maker, TSA: b.tsa}
	reuses := &reuse.Service{DB: pool, Keys: b.keysH}
	cases := &casework.Service{DB: pool, Reuse: reuses, Audit: alog}
	seals.Cases = casework.Sealing{S: cases}
	lim := pages.DefaultLimits()
	lim.MaxPages = 5
	lim.MaxFileBytes = 256 << 10 // a page image; PDFs keep the default
	return Deps{DB: pool, Tokens: b.tokens, Audit: alog, Log: slog.New(slog.NewJSONHandler(&b.logs, nil)),
		Registry: prometheus.NewRegistry(), BodyLimit: "64K", UploadLimit: "30M",
		Blobs: blobs, HolderKeys: b.keysH, PageLimits: lim, Seals: seals, Reuse: reuses, Cases: cases,
		Ingester: &vault.Ingester{DB: pool, Blobs: blobs, Pins: vault.NewPins(pool), Keys: b.keysH, Limits: lim, WorkDir: b.work}}
}

// do sends a request with an optional bearer token and JSON body (a string is sent as is).
func (b *bundle) do(t *testing.T, method, path, token string, body any) *httptest.ResponseRecorder {
	t.Helper()
	var rd io.Reader
	switch v := body.(type) {
	case nil:
	case string:
		rd = bytes.NewBufferString(v)
	case []byte:
		rd = bytes.NewReader(v)
	default:
		js, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(js)
	}
	req := httptest.NewRequest(method, path, rd)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	b.srv.ServeHTTP(rec, req)
	b.logInternal(t, rec)
	return rec
}

// logInternal shows the server's log with a 500, whose cause the client never sees.
func (b *bundle) logInternal(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	if rec.Code == http.StatusInternalServerError {
		t.Logf("server log at the 500:\n%s", b.logs.String())
	}
}

// doRaw sends body with the given content type and extra header pairs.
func (b *bundle) doRaw(t *testing.T, method, path, contentType, body string, headers ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, bytes.NewBufferString(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	b.srv.ServeHTTP(rec, req)
	b.logInternal(t, rec)
	return rec
}

// problemOf decodes a problem response, failing the test if it is not one.
func problemOf(t *testing.T, rec *httptest.ResponseRecorder) Problem {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("status %d: Content-Type %q, want application/problem+json; body %s", rec.Code, ct, rec.Body)
	}
	var p Problem
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatalf("problem body: %v: %s", err, rec.Body)
	}
	if p.Status != rec.Code || p.Type == "" || p.Title == "" || p.Detail == "" || p.RequestID == "" {
		t.Fatalf("incomplete problem for status %d: %+v", rec.Code, p)
	}
	return p
}

func decode[T any](t *testing.T, rec *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatalf("decode %T: %v: %s", v, err, rec.Body)
	}
	return v
}

func count(t *testing.T, pool *pgxpool.Pool, table string) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(t.Context(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func mustKEK(t *testing.T) *keys.KEK {
	t.Helper()
	k, err := keys.ParseKEK(keys.GenerateKEK())
	if err != nil {
		t.Fatal(err)
	}
	return k
}
