package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"sealvault/internal/dbtest"
	"sealvault/migrations"
)

// emptyDatabase creates a database with no tables on the test server and returns its URL. It
// is dropped at cleanup.
func emptyDatabase(t *testing.T) string {
	t.Helper()
	serverURL := dbtest.URL(t)
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	name := "empty_" + hex.EncodeToString(b[:])
	ident := pgx.Identifier{name}.Sanitize()

	conn, err := pgx.Connect(t.Context(), serverURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(t.Context(), "CREATE DATABASE "+ident+" TEMPLATE template0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, serverURL)
		if err != nil {
			t.Errorf("dropping %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
			t.Errorf("dropping %s: %v", name, err)
		}
	})

	if u, err := url.Parse(serverURL); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		u.Path, u.RawPath = "/"+name, ""
		return u.String()
	}
	return serverURL + " dbname=" + name
}

// newestMigration is the highest version among the embedded migration files.
func newestMigration(t *testing.T) int {
	t.Helper()
	names, err := fs.Glob(migrations.FS(), "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	newest := 0
	for _, n := range names {
		v, err := strconv.Atoi(strings.SplitN(n, "_", 2)[0])
		if err != nil {
			t.Fatalf("migration %s has no version number: %v", n, err)
		}
		newest = max(newest, v)
	}
	if newest == 0 {
		t.Fatal("no migrations embedded")
	}
	return newest
}

// tablesExist reports which of tables exist in the public schema of dbURL.
func tablesExist(t *testing.T, dbURL string, tables ...string) map[string]bool {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	out := map[string]bool{}
	for _, tbl := range tables {
		var ok bool
		if err := conn.QueryRow(t.Context(), "SELECT to_regclass($1) IS NOT NULL", "public."+tbl).Scan(&ok); err != nil {
			t.Fatal(err)
		}
		out[tbl] = ok
	}
	return out
}

func TestMigrateOnEmptyDatabase(t *testing.T) {
	clearEnv(t)
	dbURL := emptyDatabase(t)
	newest := newestMigration(t)
	tables := []string{"departments", "users"}

	steps := []struct {
		args   []string
		output string // what the command prints
		exist  bool   // whether the tables exist afterwards
	}{
		{[]string{"migrate", "status"}, fmt.Sprintf("applied 0, newest %d\n", newest), false},
		{[]string{"migrate", "up"}, "", true},
		{[]string{"migrate", "status"}, fmt.Sprintf("applied %d, newest %d\n", newest, newest), true},
		{[]string{"migrate", "up"}, "", true}, // nothing pending: still fine
		{[]string{"migrate", "status"}, fmt.Sprintf("applied %d, newest %d\n", newest, newest), true},
	}
	for i, st := range steps {
		t.Run(fmt.Sprintf("%d %s", i+1, strings.Join(st.args, " ")), func(t *testing.T) {
			out, err := runRoot(t, append(st.args, "--database-url", dbURL, "--data-dir", t.TempDir())...)
			if err != nil {
				t.Fatalf("sealvault %s: %v", strings.Join(st.args, " "), err)
			}
			if out != st.output {
				t.Errorf("sealvault %s printed %q, want %q", strings.Join(st.args, " "), out, st.output)
			}
			for tbl, ok := range tablesExist(t, dbURL, tables...) {
				if ok != st.exist {
					t.Errorf("table %s exists: %v, want %v", tbl, ok, st.exist)
				}
			}
		})
	}
}
