// Package api is sealvault's HTTP layer: routing, authentication, the role table, request
// and response types, problem responses and the OpenAPI document. It holds no business
// rule; handlers translate HTTP to calls into the domain packages and errors to problems.
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
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
}

// Server is the HTTP handler tree of the API.
type Server struct {
	deps Deps
	spec *spec
	e    *echo.Echo
}

// New builds the echo instance with every route of the route table.
func New(d Deps) (*Server, error) {
	sp, err := loadSpec()
	if err != nil {
		return nil, err
	}
	s := &Server{deps: d, spec: sp, e: echo.New()}
	e := s.e
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = errorHandler(d.Log)
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
	e.Use(withRequestID, observe(d.Log, newMetrics(d.Registry), known), secureHeaders)
	for _, r := range s.routes() {
		limit := d.BodyLimit
		if r.Upload {
			limit = d.UploadLimit
		}
		mw := []echo.MiddlewareFunc{middleware.BodyLimit(limit)}
		if !r.Public {
			mw = append(mw, authenticate(d.Tokens, s, r.Roles))
		}
		mw = append(mw, s.spec.validate)
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

func (s *Server) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	if err := s.deps.DB.Ping(ctx); err != nil {
		return &apiError{kind: probUnavailable, detailZh: "数据库不可达", detailEn: "The database is unreachable",
			cause: fmt.Errorf("readyz: %w", err)}
	}
	if s.deps.Blobs != nil {
		// A missing object answers ErrNotFound from a reachable store; anything else means
		// the store cannot be used.
		if _, err := s.deps.Blobs.Stat(ctx, vault.Digest{}); err != nil && !errors.Is(err, vault.ErrNotFound) {
			return &apiError{kind: probUnavailable, detailZh: "文件存储不可达", detailEn: "The blob store is unreachable",
				cause: fmt.Errorf("readyz: %w", err)}
		}
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ready", "database": "ok", "blob_store": "ok"})
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
