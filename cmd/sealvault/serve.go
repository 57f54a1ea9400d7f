package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"sealvault/api"
	"sealvault/casework"
	"sealvault/internal/identity"
	"sealvault/reuse"
	"sealvault/vault"
	"sealvault/vault/pages"
	"sealvault/web"
)

func (a *app) serveCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Run the HTTP API (starts the project-local PostgreSQL when no database URL is set)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.serve(cmd.Context(), cmd.OutOrStdout())
		},
	}
}

func (a *app) tokens() (*identity.Tokens, error) {
	keys, err := identity.OpenKeyring(a.cfg.TokenKeyDir)
	if err != nil {
		return nil, err
	}
	tc := identity.TokenConfig{Issuer: a.cfg.TokenIssuer, Audience: a.cfg.TokenAudience, TTL: a.cfg.TokenTTL}
	if a.cfg.SSOJWKSFile != "" {
		if tc.External, err = identity.LoadExternalIssuer(a.cfg.SSOIssuer, a.cfg.SSOAudience, a.cfg.SSOJWKSFile); err != nil {
			return nil, err
		}
	}
	return identity.NewTokens(keys, tc), nil
}

// serve runs until ctx is cancelled (SIGINT or SIGTERM), then stops accepting connections,
// drains in-flight requests, closes the pool and stops the local cluster it started. The
// banner goes to out.
func (a *app) serve(ctx context.Context, out io.Writer) (err error) {
	tokens, err := a.tokens()
	if err != nil {
		return err
	}
	db, err := a.openDB(ctx, a.cfg.Migrate, true)
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if cerr := db.close(cctx); cerr != nil {
			a.log.Error("stop local database", "error", cerr.Error())
			err = errors.Join(err, cerr)
		}
	}()
	var logins []demoLogin
	if a.cfg.Demo {
		if logins, err = seedDemo(ctx, db.pool, a.log); err != nil {
			return err
		}
	}
	alog, err := a.auditLog(db.pool)
	if err != nil {
		return err
	}
	blobs, err := a.blobStore(ctx)
	if err != nil {
		return err
	}
	hkeys, err := a.holderKeys()
	if err != nil {
		return err
	}
	seals, err := a.sealService(ctx, db.pool, blobs)
	if err != nil {
		return err
	}
	reuses := &reuse.Service{DB: db.pool, Keys: hkeys}
	cal, err := a.holidayCalendar()
	if err != nil {
		return err
	}
	cases := &casework.Service{DB: db.pool, Reuse: reuses, Audit: alog, Calendar: cal}
	seals.Cases = casework.Sealing{S: cases}
	if a.cfg.Demo {
		// The catalog first: a letter is checked against its items' kinds (受审分离).
		if err := seedDemoCatalog(ctx, db.pool, reuses, a.log); err != nil {
			return err
		}
		if err := seedDemoSeals(ctx, db.pool, seals, a.log); err != nil {
			return err
		}
	}
	limits := pages.DefaultLimits()
	ingester := &vault.Ingester{DB: db.pool, Blobs: blobs, Pins: vault.NewPins(db.pool), Keys: hkeys, Limits: limits, Log: a.log}
	var files demoFiles
	if a.cfg.Demo {
		if files, err = seedDemoFiles(ctx, ingester, db.pool, a.cfg.DataDir, a.log); err != nil {
			return err
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	srv, err := api.New(api.Deps{
		DB: db.pool, Tokens: tokens, Audit: alog, Log: a.log, Registry: reg,
		BodyLimit: a.cfg.BodyLimit, TrustedProxies: a.cfg.trustedProxies(),
		LoginMaxFailures: a.cfg.LoginMaxFails, LoginWindow: a.cfg.LoginWindow,
		UploadLimit: a.cfg.UploadLimit, Blobs: blobs, Ingester: ingester, HolderKeys: hkeys, PageLimits: limits, Seals: seals,
		Reuse: reuses, Cases: cases, DBTimeout: a.cfg.DBTimeout, DBExportTimeout: a.cfg.DBExportTimeout, ReadinessCache: 5 * time.Second,
	})
	if err != nil {
		return err
	}
	wb, err := web.New(web.Deps{API: srv, DB: db.pool, Tokens: tokens, Log: a.log, IdleTimeout: a.cfg.SessionIdle})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", a.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", a.cfg.Listen, err)
	}
	hs := &http.Server{
		Handler:           web.Mount(srv, wb),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       a.cfg.ReadTimeout,
		WriteTimeout:      a.cfg.WriteTimeout,
		IdleTimeout:       a.cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	// The integrator runs until the HTTP server has drained, then sequences what is left
	// and signs a final checkpoint.
	actx, stopAudit := context.WithCancel(context.WithoutCancel(ctx))
	auditDone := make(chan struct{})
	go func() { defer close(auditDone); alog.Run(actx, a.cfg.AuditIntegrateInterval) }()
	defer func() { stopAudit(); <-auditDone }()
	a.log.Info("listening", "addr", ln.Addr().String())
	printBanner(out, ln.Addr().String(), logins, files)

	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	a.log.Info("shutting down", "drain_timeout", a.cfg.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("http shutdown: %w", err)
	}
	a.log.Info("stopped")
	db.ranCleanly()
	return nil
}
