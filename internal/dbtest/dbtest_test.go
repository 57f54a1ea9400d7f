package dbtest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

func tableExists(t *testing.T, ctx context.Context, pool *pgxpool.Pool, table string) bool {
	t.Helper()
	var ok bool
	if err := pool.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", table).Scan(&ok); err != nil {
		t.Fatalf("looking for %s: %v", table, err)
	}
	return ok
}

// TestIsolation runs two parallel subtests, each on its own database: each creates a table,
// and once both have, each checks that it cannot see the other's.
func TestIsolation(t *testing.T) {
	names := []string{"a", "b"}
	created := map[string]chan struct{}{}
	for _, n := range names {
		created[n] = make(chan struct{})
	}
	var mu sync.Mutex
	dbs := map[string]string{}

	t.Run("group", func(t *testing.T) {
		for i, n := range names {
			other := names[1-i]
			t.Run(n, func(t *testing.T) {
				t.Parallel()
				var once sync.Once
				signal := func() { once.Do(func() { close(created[n]) }) }
				defer signal() // never leave the other subtest waiting

				ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
				defer cancel()
				pool := Pool(t)
				var db string
				if err := pool.QueryRow(ctx, "SELECT current_database()").Scan(&db); err != nil {
					t.Fatal(err)
				}
				mu.Lock()
				dbs[n] = db
				mu.Unlock()

				if !tableExists(t, ctx, pool, "public.departments") {
					t.Fatal("migrated table departments is missing from the clone")
				}
				if _, err := pool.Exec(ctx, "CREATE TABLE probe_"+n+" (id int)"); err != nil {
					t.Fatal(err)
				}
				signal()
				select {
				case <-created[other]:
				case <-ctx.Done():
					t.Fatal("timed out waiting for the other subtest")
				}
				if !tableExists(t, ctx, pool, "probe_"+n) {
					t.Fatalf("own table probe_%s missing", n)
				}
				if tableExists(t, ctx, pool, "probe_"+other) {
					t.Fatalf("table probe_%s of the other test's database is visible in %s", other, db)
				}
			})
		}
	})
	if t.Failed() {
		return
	}
	if dbs["a"] == "" || dbs["a"] == dbs["b"] {
		t.Fatalf("subtests shared or lacked a database: %v", dbs)
	}
	// Both clones are dropped once their subtests have finished.
	h, err := get()
	if err != nil {
		t.Fatal(err)
	}
	var left int
	if err := h.admin.QueryRow(t.Context(), "SELECT count(*) FROM pg_database WHERE datname = ANY($1)",
		[]string{dbs["a"], dbs["b"]}).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Fatalf("%d test databases of %v still exist after cleanup", left, dbs)
	}
}

// TestURL checks that URL gives a connectable, migrated database whose open connections do
// not stop it from being dropped.
func TestURL(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	var conn *pgx.Conn
	var db string
	t.Run("inner", func(t *testing.T) {
		u := URL(t)
		var err error
		conn, err = pgx.Connect(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		if err := conn.QueryRow(ctx, "SELECT current_database()").Scan(&db); err != nil {
			t.Fatal(err)
		}
		var applied int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM goose_db_version WHERE version_id > 0").Scan(&applied); err != nil {
			t.Fatal(err)
		}
		if applied == 0 {
			t.Fatal("no migrations recorded in goose_db_version")
		}
		// conn is deliberately left open: the drop must force it closed.
	})
	if conn != nil {
		defer conn.Close(context.Background())
	}
	if t.Failed() {
		return
	}
	h, err := get()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := h.admin.QueryRow(ctx, "SELECT count(*) FROM pg_database WHERE datname = $1", db).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("database %s still exists after cleanup", db)
	}
}

// TestTemplateIsFinished checks that the template is marked complete and closed to
// connections, so that clones never wait for it.
func TestTemplateIsFinished(t *testing.T) {
	t.Parallel()
	Pool(t)
	h, err := get()
	if err != nil {
		t.Fatal(err)
	}
	var isTemplate, allowConn bool
	var comment string
	err = h.admin.QueryRow(t.Context(), `
		SELECT datistemplate, datallowconn, coalesce(shobj_description(oid, 'pg_database'), '')
		FROM pg_database WHERE datname = $1`, h.template).Scan(&isTemplate, &allowConn, &comment)
	if err != nil {
		t.Fatal(err)
	}
	if !isTemplate || allowConn || comment != templateMarker {
		t.Fatalf("template %s: istemplate=%v allowconn=%v comment=%q", h.template, isTemplate, allowConn, comment)
	}
}

func TestWithDatabase(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:p@127.0.0.1:5432/postgres?sslmode=disable": "postgres://u:p@127.0.0.1:5432/t_1?sslmode=disable",
		"postgresql://u@h/":             "postgresql://u@h/t_1",
		"host=h user=u dbname=postgres": "host=h user=u dbname=postgres dbname='t_1'",
	} {
		if got := withDatabase(in, "t_1"); got != want {
			t.Errorf("withDatabase(%q) = %q, want %q", in, got, want)
		}
	}
}
