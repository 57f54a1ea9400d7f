// Package dbtest gives each test its own migrated PostgreSQL database.
//
// Once per test binary a template database named sealvault_tmpl_<migrations.Fingerprint()>
// is created and migrated (or reused, if an earlier run finished it); every Pool or URL call
// then clones it with CREATE DATABASE ... TEMPLATE, which takes milliseconds, and drops the
// clone when the test ends.
//
// The server is the one at $SEALVAULT_TEST_DATABASE_URL (an admin URL, e.g. of the
// "postgres" database, for a role allowed to create databases) if that is set. Otherwise
// it is a project-local cluster in <module root>/var/testpg, started on first use with
// fsync off and left running for the next test binary; `make test` stops it afterwards.
package dbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"sealvault/internal/localpg"
	"sealvault/internal/testkit"
	"sealvault/migrations"
)

// EnvURL names the environment variable holding the admin URL of an existing server to
// use instead of the project-local test cluster.
const EnvURL = "SEALVAULT_TEST_DATABASE_URL"

// templateMarker is the comment set on a template database once it is fully migrated; a
// template without it is left over from an interrupted run and is rebuilt.
const templateMarker = "sealvault dbtest template: migrated"

// templateLockKey is the pg_advisory_lock key serialising template builds across processes.
const templateLockKey int64 = 0x5ea1_7a01_7e57

const (
	setupTimeout = 3 * time.Minute
	cloneTimeout = time.Minute
	dropTimeout  = 30 * time.Second
)

// harness is the per-process state, built once.
type harness struct {
	adminURL string        // maintenance database of the server
	admin    *pgxpool.Pool // connections to adminURL, for CREATE/DROP DATABASE
	template string        // name of the migrated template database
}

var (
	setupOnce sync.Once
	shared    *harness
	setupErr  error
)

// errNoServer marks failures to reach a server at all, which get a hint on how to get one.
var errNoServer = errors.New("no PostgreSQL server for tests")

func get() (*harness, error) {
	setupOnce.Do(func() {
		shared, setupErr = setup()
	})
	return shared, setupErr
}

func setup() (*harness, error) {
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()

	adminURL := os.Getenv(EnvURL)
	if adminURL == "" {
		root, err := testkit.ModuleRoot()
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errNoServer, err)
		}
		cl := &localpg.Cluster{
			Dir:            filepath.Join(root, "var", "testpg"),
			Fsync:          false,
			MaxConnections: 500,
		}
		if _, _, err := cl.Start(ctx); err != nil {
			return nil, fmt.Errorf("%w: %w", errNoServer, err)
		}
		adminURL = cl.AdminURL()
	}

	cfg, err := pgxpool.ParseConfig(adminURL)
	if err != nil {
		return nil, fmt.Errorf("%w: %s is not a valid connection URL: %w", errNoServer, EnvURL, err)
	}
	cfg.MaxConnIdleTime = 30 * time.Second
	admin, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errNoServer, err)
	}
	if err := admin.Ping(ctx); err != nil {
		admin.Close()
		return nil, fmt.Errorf("%w: connecting to %s: %w", errNoServer, redact(adminURL), err)
	}

	h := &harness{adminURL: adminURL, admin: admin, template: "sealvault_tmpl_" + migrations.Fingerprint()}
	if err := h.ensureTemplate(ctx); err != nil {
		admin.Close()
		return nil, err
	}
	return h, nil
}

// ensureTemplate makes sure the template database exists and is completely migrated,
// holding an advisory lock so that concurrent test binaries build it only once.
func (h *harness) ensureTemplate(ctx context.Context) error {
	// A dedicated session: closing it releases the advisory lock whatever happens.
	conn, err := pgx.Connect(ctx, h.adminURL)
	if err != nil {
		return fmt.Errorf("%w: connecting to %s: %w", errNoServer, redact(h.adminURL), err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", templateLockKey); err != nil {
		return fmt.Errorf("dbtest: locking template build: %w", err)
	}

	ident := pgx.Identifier{h.template}.Sanitize()
	var isTemplate bool
	var comment string
	err = conn.QueryRow(ctx, `
		SELECT datistemplate, coalesce(shobj_description(oid, 'pg_database'), '')
		FROM pg_database WHERE datname = $1`, h.template).Scan(&isTemplate, &comment)
	switch {
	case err == nil && isTemplate && comment == templateMarker:
		return nil // built by an earlier run or a concurrent test binary
	case err == nil:
		// Left over from a run that died while migrating: rebuild it.
		if isTemplate {
			if _, err := conn.Exec(ctx, "ALTER DATABASE "+ident+" WITH IS_TEMPLATE false"); err != nil {
				return fmt.Errorf("dbtest: unmarking stale template %s: %w", h.template, err)
			}
		}
		if _, err := conn.Exec(ctx, "DROP DATABASE "+ident+" WITH (FORCE)"); err != nil {
			return fmt.Errorf("dbtest: dropping stale template %s: %w", h.template, err)
		}
	case errors.Is(err, pgx.ErrNoRows):
	default:
		return fmt.Errorf("dbtest: looking for template %s: %w", h.template, err)
	}

	if _, err := conn.Exec(ctx, "CREATE DATABASE "+ident+" TEMPLATE template0 ENCODING 'UTF8'"); err != nil {
		return fmt.Errorf("dbtest: creating template %s: %w", h.template, err)
	}
	if err := h.migrate(ctx); err != nil {
		return err
	}
	// No connections are allowed to the finished template, so none can ever block cloning.
	for _, stmt := range []string{
		"COMMENT ON DATABASE " + ident + " IS '" + templateMarker + "'",
		"ALTER DATABASE " + ident + " WITH ALLOW_CONNECTIONS false",
		"ALTER DATABASE " + ident + " WITH IS_TEMPLATE true",
	} {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("dbtest: finishing template %s: %w", h.template, err)
		}
	}
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_unlock($1)", templateLockKey); err != nil {
		return fmt.Errorf("dbtest: unlocking template build: %w", err)
	}
	return nil
}

// migrate applies the migrations to the template database and closes every connection to it.
func (h *harness) migrate(ctx context.Context) error {
	cfg, err := pgx.ParseConfig(withDatabase(h.adminURL, h.template))
	if err != nil {
		return fmt.Errorf("dbtest: %w", err)
	}
	db := stdlib.OpenDB(*cfg)
	_, err = migrations.Up(ctx, db, nil)
	if cerr := db.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("dbtest: migrating template %s: %w", h.template, err)
	}
	return nil
}

// clone creates a fresh database from the template and returns its name.
func (h *harness) clone(ctx context.Context) (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	name := "t_" + hex.EncodeToString(b[:])
	stmt := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize() + " TEMPLATE " + pgx.Identifier{h.template}.Sanitize()
	ctx, cancel := context.WithTimeout(ctx, cloneTimeout)
	defer cancel()
	for attempt := 1; ; attempt++ {
		_, err := h.admin.Exec(ctx, stmt)
		if err == nil {
			return name, nil
		}
		// "source database ... is being accessed by other users": someone is connected to
		// the template; wait for them to leave.
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "55006" {
			return "", fmt.Errorf("dbtest: cloning template %s: %w", h.template, err)
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("dbtest: cloning template %s: %w (last error: %w)", h.template, ctx.Err(), err)
		case <-time.After(time.Duration(min(attempt, 10)) * 50 * time.Millisecond):
		}
	}
}

func (h *harness) drop(name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), dropTimeout)
	defer cancel()
	_, err := h.admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	if err != nil {
		return fmt.Errorf("dbtest: dropping test database %s: %w", name, err)
	}
	return nil
}

// withDatabase returns the connection string connStr pointing at database name instead.
// connStr is a postgres:// URL or a keyword=value string.
func withDatabase(connStr, name string) string {
	if strings.HasPrefix(connStr, "postgres://") || strings.HasPrefix(connStr, "postgresql://") {
		if u, err := url.Parse(connStr); err == nil {
			u.Path = "/" + name
			u.RawPath = ""
			return u.String()
		}
	}
	return connStr + " dbname='" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(name) + "'"
}

// redact hides the password of a URL for error messages.
func redact(connStr string) string {
	if u, err := url.Parse(connStr); err == nil && u.Scheme != "" {
		return u.Redacted()
	}
	return "the server"
}

func fatal(t testing.TB, err error) {
	t.Helper()
	if errors.Is(err, errNoServer) {
		t.Fatalf("dbtest: %v\n\nRun the tests with `make test`, which starts a project-local PostgreSQL "+
			"in var/testpg (it needs the Debian package postgresql; set SEALVAULT_PG_BINDIR if the "+
			"binaries live elsewhere), or set %s to the admin URL of a server whose role may create databases, "+
			"e.g. postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", err, EnvURL)
	}
	t.Fatalf("%v", err)
}

// URL returns the connection URL of a fresh database cloned from the migrated template,
// dropped (with any connections still open to it) when the test and its subtests finish.
// It is meant for tests that start server processes; Pool is simpler otherwise.
func URL(t testing.TB) string {
	t.Helper()
	h, err := get()
	if err != nil {
		fatal(t, err)
	}
	name, err := h.clone(t.Context())
	if err != nil {
		fatal(t, err)
	}
	t.Cleanup(func() {
		if err := h.drop(name); err != nil {
			t.Error(err)
		}
	})
	return withDatabase(h.adminURL, name)
}

// Pool returns a pgxpool.Pool on a fresh database cloned from the migrated template. The
// pool is closed and the database dropped at test cleanup.
func Pool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	connStr := URL(t) // registers the drop first, so it runs after the pool is closed
	pool, err := pgxpool.New(context.Background(), connStr)
	if err != nil {
		t.Fatalf("dbtest: opening pool: %v", err)
	}
	t.Cleanup(pool.Close)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := pool.Ping(ctx); err != nil {
		t.Fatalf("dbtest: connecting to test database: %v", err)
	}
	return pool
}

// Shared returns the URL of a fresh database cloned from the migrated template for a whole
// test binary (TestMain: one server per package), and the function that drops it.
func Shared(ctx context.Context) (string, func() error, error) {
	h, err := get()
	if err != nil {
		return "", nil, err
	}
	name, err := h.clone(ctx)
	if err != nil {
		return "", nil, err
	}
	return withDatabase(h.adminURL, name), func() error { return h.drop(name) }, nil
}
