package main

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"sealvault/api"
	"sealvault/internal/localpg"
	"sealvault/migrations"
)

// database is an open pool and, when the project-local cluster was started for it, the
// function that stops the cluster again.
type database struct {
	pool *pgxpool.Pool
	stop func(context.Context) error
	// adopt, set when the local cluster was already running, makes close stop it too once
	// the caller says it ran to a clean end (a cluster left running by a crashed run).
	adopt func(context.Context) error
}

// ranCleanly tells close that the caller served and shut down normally, so an adopted
// local cluster is stopped as well. A run that fails at start (say, its port is taken by
// another run using the same cluster) leaves a cluster it did not start alone.
func (d *database) ranCleanly() {
	if d.stop == nil {
		d.stop = d.adopt
	}
}

func (d *database) close(ctx context.Context) error {
	d.pool.Close()
	if d.stop != nil {
		return d.stop(ctx)
	}
	return nil
}

// openDB connects to the configured database, starting the project-local cluster under
// <data-dir>/pg when no URL is configured, and applies migrations when migrate is set.
// close stops that cluster again if this call started it or, with owner set (serve) and
// ranCleanly called, in any case.
func (a *app) openDB(ctx context.Context, migrate, owner bool) (*database, error) {
	d := &database{}
	url := a.cfg.DatabaseURL
	if url == "" {
		cl := &localpg.Cluster{Dir: a.cfg.PGDir, Port: a.cfg.PGPort, Fsync: true, Logger: a.log}
		u, started, err := cl.Start(ctx)
		if err != nil {
			return nil, err
		}
		url = u
		if started {
			d.stop = cl.Stop
		} else if owner {
			d.adopt = cl.Stop
		}
		a.log.Info("local database", "dir", cl.Dir, "port", a.cfg.PGPort, "started", started)
	}
	pc, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("database url: %w", err)
	}
	pc.MaxConns = int32(a.cfg.DBMaxConns)
	// Calls made for an API request are held to its database deadline (--db-timeout); the
	// tracer leaves every other call alone.
	pc.ConnConfig.Tracer = api.DBDeadlines{}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err == nil {
		err = pool.Ping(ctx)
	}
	if err != nil {
		if d.stop != nil {
			_ = d.stop(context.WithoutCancel(ctx))
		}
		return nil, fmt.Errorf("database: cannot connect to %s:%d/%s: %w", pc.ConnConfig.Host, pc.ConnConfig.Port, pc.ConnConfig.Database, err)
	}
	d.pool = pool
	if migrate {
		db := stdlib.OpenDBFromPool(pool)
		n, err := migrations.Up(ctx, db, a.log)
		_ = db.Close()
		if err != nil {
			_ = d.close(context.WithoutCancel(ctx))
			return nil, err
		}
		a.log.Info("migrations", "applied", n)
	}
	return d, nil
}
