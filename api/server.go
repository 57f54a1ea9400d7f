// Package api is sealvault's HTTP layer: routing, authentication, the role table, request
// and response types, problem responses and the OpenAPI document. It holds no business
// rule; handlers translate HTTP to calls into the domain packages and errors to problems.
package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"sealvault/audit"
	"sealvault/casework"
	"sealvault/internal/identity"
	"sealvault/reuse"
	"sealvault/seal"
	"sealvault/vault"
	"sealvault/vault/pages"
)

// Deps is everything the HTTP layer needs; cmd/sealvault builds it.
type Deps struct {
	DB     *pgxpool.Pool
	Tokens *identity.Tokens
	// Audit is the audit trail every action writes to and auditors read.
	Audit *audit.Log
	Log   *slog.Logger
	// Registry receives the HTTP and database pool metrics and is served at /metrics.
	Registry *prometheus.Registry
	// BodyLimit is the largest request body accepted, e.g. "1M"; beyond it the answer is 413.
	BodyLimit string
	// LoginMaxFailures failed logins for one username within LoginWindow make further
	// attempts wait (429) until the oldest of them leaves the window; 0 means 10 in 15 minutes.
	LoginMaxFailures int
	LoginWindow      time.Duration
	// UploadLimit is the largest body of an upload route (materials), e.g. "100M".
	UploadLimit string
	// Blobs holds the documents' bytes; Ingester records new materials; HolderKeys hash and
	// encrypt holder numbers; PageLimits bound one uploaded file.
	Blobs      vault.Backend
	Ingester   *vault.Ingester
	HolderKeys *vault.HolderKeys
	PageLimits pages.Limits
	// Seals is the seal registry and regime.
	Seals *seal.Service
	// Reuse is the material-reuse regime: catalog, rules, reuse plans.
	Reuse *reuse.Service
	// Cases is the case regime: the case life cycle both regimes hang on.
	Cases *casework.Service
	// TrustedProxies are the networks whose X-Forwarded-For is believed for the client
	// address; empty means the TCP peer address is the client address.
	TrustedProxies []*net.IPNet
	// DBTimeout is how long one request may wait for the database in all (exports:
	// DBExportTimeout); beyond it the request is answered 503 database-unavailable. Zero
	// means no deadline. With a deadline the pool must have DBDeadlines as its tracer.
	DBTimeout       time.Duration
	DBExportTimeout time.Duration
	// ReadinessCache is how long /readyz reuses its verdict on the blob store (whose probe
	// writes an object) before probing again; zero probes on every call.
	ReadinessCache time.Duration
}

// Server is the HTTP handler tree of the API.
type Server struct {
	deps Deps
	spec *spec
	e    *echo.Echo

	readyMu    sync.Mutex
	readyUntil time.Time // the blob store verdict below holds until then
	readyErr   error
}

// New builds the echo instance with every route of the route table.
func New(d Deps) (*Server, error) {
	sp, err := loadSpec()
	if err != nil {
		return nil, err
	}
	if d.DBTimeout > 0 {
		if _, ok := d.DB.Config().ConnConfig.Tracer.(DBDeadlines); !ok {
			return nil, errors.New("api: a database deadline needs a pool built with api.DBDeadlines as its tracer")
		}
		if d.DBExportTimeout < d.DBTimeout {
			d.DBExportTimeout = d.DBTimeout
		}
	}
	s := &Server{deps: d, spec: sp, e: echo.New()}
	e := s.e
	e.HideBanner, e.HidePort = true, true
	m := newMetrics(d.Registry)
	e.HTTPErrorHandler = errorHandler(d.Log, m)
	e.IPExtractor = echo.ExtractIPDirect()
	if len(d.TrustedProxies) > 0 {
		opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
		for _, n := range d.TrustedProxies {
			opts = append(opts, echo.TrustIPRange(n))
		}
		e.IPExtractor = echo.ExtractIPFromXFFHeader(opts...)
	}
	if d.Registry != nil {
		d.Registry.MustRegister(poolCollector{d.DB})
	}
	known := map[string]bool{}
	for _, r := range s.routes() {
		known[r.Method+" "+r.Path] = true
	}
	e.Use(withRequestID, observe(d.Log, m, known), secureHeaders, s.withServer)
	for _, r := range s.routes() {
		limit := d.BodyLimit
		if r.Upload {
			limit = d.UploadLimit
		}
		var mw []echo.MiddlewareFunc
		if d.DBTimeout > 0 {
			mw = append(mw, withDBDeadline(map[bool]time.Duration{false: d.DBTimeout, true: d.DBExportTimeout}[r.Export]))
		}
		mw = append(mw, middleware.BodyLimit(limit))
		if !r.Public {
			mw = append(mw, authenticate(d.Tokens, s, r.Roles))
		}
		mw = append(mw, refuseBadText, s.spec.validate)
		e.Add(r.Method, r.Path, r.Handler, mw...)
	}
	return s, nil
}

// ServeHTTP makes Server an http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.e.ServeHTTP(w, r) }

// Echo returns the echo instance, for tests that enumerate its routes.
func (s *Server) Echo() *echo.Echo { return s.e }

// user loads the account named by verified claims.
func (s *Server) user(ctx context.Context, c identity.Claims) (identity.User, error) {
	if c.Username != "" {
		return identity.UserByUsername(ctx, s.deps.DB, c.Username)
	}
	return identity.GetUser(ctx, s.deps.DB, c.UserID)
}

func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// readinessProbe is the object /readyz writes to the blob store, put-if-absent: after the
// first time nothing new is stored, but the write path (staging, commit) is exercised. Like
// any unreferenced object, gc removes it after its grace period; the next probe puts it back.
var readinessProbe = []byte("sealvault readiness probe: the blob store accepts writes\n")

// readyz answers 200 when the database answers and the blob store takes a write; a store
// that only reads (read-only, full, refusing writes) is not ready, for every upload would
// fail.
func (s *Server) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	if err := s.deps.DB.Ping(ctx); err != nil {
		return &apiError{kind: probDBDown, detailZh: "数据库不可达", detailEn: "The database is unreachable",
			cause: fmt.Errorf("readyz: %w", err), retryAfter: retryAfter}
	}
	if s.deps.Blobs != nil {
		if err := s.probeBlobs(ctx); err != nil {
			return &apiError{kind: probStoreDown, detailZh: "文件存储无法写入", detailEn: "The blob store does not accept writes",
				cause: fmt.Errorf("readyz: %w", err), retryAfter: retryAfter}
		}
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ready", "database": "ok", "blob_store": "ok"})
}

// probeBlobs writes the readiness probe object, or reuses the verdict of a probe less than
// Deps.ReadinessCache ago. Concurrent calls wait for one probe.
func (s *Server) probeBlobs(ctx context.Context) error {
	s.readyMu.Lock()
	defer s.readyMu.Unlock()
	if time.Now().Before(s.readyUntil) {
		return s.readyErr
	}
	_, _, err := vault.Put(ctx, s.deps.Blobs, bytes.NewReader(readinessProbe), nil)
	s.readyErr, s.readyUntil = err, time.Now().Add(s.deps.ReadinessCache)
	return err
}

func (s *Server) metrics(c echo.Context) error {
	promhttp.HandlerFor(s.deps.Registry, promhttp.HandlerOpts{}).ServeHTTP(c.Response(), c.Request())
	return nil
}

func (s *Server) openapi(c echo.Context) error {
	return c.JSONBlob(http.StatusOK, s.spec.json)
}

// poolCollector exports pgxpool statistics.
type poolCollector struct{ pool *pgxpool.Pool }

var (
	poolConns = prometheus.NewDesc("sealvault_db_pool_connections",
		"Database pool connections by state.", []string{"state"}, nil)
	poolMax = prometheus.NewDesc("sealvault_db_pool_max_connections",
		"Largest number of connections the pool may open.", nil, nil)
	poolAcquires = prometheus.NewDesc("sealvault_db_pool_acquires_total",
		"Connections acquired from the pool.", nil, nil)
	poolWaits = prometheus.NewDesc("sealvault_db_pool_empty_acquires_total",
		"Acquires that had to wait for a connection.", nil, nil)
	poolWaitSeconds = prometheus.NewDesc("sealvault_db_pool_acquire_wait_seconds_total",
		"Total time spent waiting for a connection.", nil, nil)
)

func (poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{poolConns, poolMax, poolAcquires, poolWaits, poolWaitSeconds} {
		ch <- d
	}
}

func (p poolCollector) Collect(ch chan<- prometheus.Metric) {
	st := p.pool.Stat()
	ch <- prometheus.MustNewConstMetric(poolConns, prometheus.GaugeValue, float64(st.AcquiredConns()), "acquired")
	ch <- prometheus.MustNewConstMetric(poolConns, prometheus.GaugeValue, float64(st.IdleConns()), "idle")
	ch <- prometheus.MustNewConstMetric(poolConns, prometheus.GaugeValue, float64(st.ConstructingConns()), "constructing")
	ch <- prometheus.MustNewConstMetric(poolMax, prometheus.GaugeValue, float64(st.MaxConns()))
	ch <- prometheus.MustNewConstMetric(poolAcquires, prometheus.CounterValue, float64(st.AcquireCount()))
	ch <- prometheus.MustNewConstMetric(poolWaits, prometheus.CounterValue, float64(st.EmptyAcquireCount()))
	ch <- prometheus.MustNewConstMetric(poolWaitSeconds, prometheus.CounterValue, st.AcquireDuration().Seconds())
}
