package localpg

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// tempDir returns a fresh directory that the postgres user can traverse when the test runs
// as root (t.TempDir creates its directories with mode 0700).
func tempDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func query(t *testing.T, ctx context.Context, url, sql string, args ...any) int {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func TestStartStopRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	dir := tempDir(t)
	c := &Cluster{Dir: filepath.Join(dir, "pg")}
	t.Cleanup(func() {
		if err := c.Stop(context.Background()); err != nil {
			t.Errorf("cleanup stop: %v", err)
		}
	})

	url, started, err := c.Start(ctx)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if !started {
		t.Fatal("first Start reported started=false")
	}
	if !strings.HasPrefix(url, "postgres://sealvault@127.0.0.1:") || !strings.HasSuffix(url, "/sealvault?sslmode=disable") {
		t.Fatalf("unexpected URL %q", url)
	}
	if n := query(t, ctx, url, "SELECT 1"); n != 1 {
		t.Fatalf("SELECT 1 = %d", n)
	}
	if got := query(t, ctx, c.AdminURL(), "SELECT count(*)::int FROM pg_database WHERE datname = 'sealvault'"); got != 1 {
		t.Fatalf("database sealvault missing from %s", c.AdminURL())
	}
	if _, err := os.Stat(filepath.Join(dir, "pg.log")); err != nil {
		t.Fatalf("server log not next to the data directory: %v", err)
	}
	port, ok := readPortFile(filepath.Join(dir, "pg.port"))
	if !ok || !strings.Contains(url, ":"+strconv.Itoa(port)+"/") {
		t.Fatalf("port file pg.port = %d, %v; URL %s", port, ok, url)
	}
	func() {
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(ctx, "CREATE TABLE persisted (v int); INSERT INTO persisted VALUES (42)"); err != nil {
			t.Fatal(err)
		}
	}()

	// A second Start, as from another process, reuses the running server.
	other := &Cluster{Dir: c.Dir}
	url2, started2, err := other.Start(ctx)
	if err != nil {
		t.Fatalf("second Start: %v", err)
	}
	if started2 || url2 != url {
		t.Fatalf("second Start = %q, started=%v; want %q, false", url2, started2, url)
	}

	if err := c.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if _, err := os.Stat(filepath.Join(c.Dir, "postmaster.pid")); !os.IsNotExist(err) {
		t.Fatalf("postmaster.pid still present after Stop: %v", err)
	}
	if err := c.Stop(ctx); err != nil {
		t.Fatalf("Stop of a stopped cluster: %v", err)
	}

	url3, started3, err := c.Start(ctx)
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	if !started3 || url3 != url {
		t.Fatalf("restart = %q, started=%v; want %q (same port), true", url3, started3, url)
	}
	if v := query(t, ctx, url3, "SELECT v FROM persisted"); v != 42 {
		t.Fatalf("persisted value = %d, want 42", v)
	}
}

func TestConcurrentStart(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	dir := filepath.Join(tempDir(t), "pg")
	first := &Cluster{Dir: dir, Fsync: false}
	t.Cleanup(func() {
		if err := first.Stop(context.Background()); err != nil {
			t.Errorf("cleanup stop: %v", err)
		}
	})
	type result struct {
		url     string
		started bool
		err     error
	}
	const n = 4
	results := make(chan result, n)
	for i := range n {
		c := first
		if i > 0 {
			c = &Cluster{Dir: dir, Fsync: false}
		}
		go func() {
			u, s, err := c.Start(ctx)
			results <- result{u, s, err}
		}()
	}
	var startedCount int
	var url string
	for range n {
		r := <-results
		if r.err != nil {
			t.Fatalf("Start: %v", r.err)
		}
		if r.started {
			startedCount++
		}
		if url == "" {
			url = r.url
		} else if r.url != url {
			t.Fatalf("different URLs %q and %q", url, r.url)
		}
	}
	if startedCount != 1 {
		t.Fatalf("%d Start calls reported starting the server, want 1", startedCount)
	}
	if n := query(t, ctx, url, "SELECT 1"); n != 1 {
		t.Fatalf("SELECT 1 = %d", n)
	}
}

func TestCheckTraversable(t *testing.T) {
	dir := t.TempDir()
	closed := filepath.Join(dir, "closed")
	inner := filepath.Join(closed, "inner")
	if err := os.MkdirAll(inner, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(closed, 0o700); err != nil {
		t.Fatal(err)
	}
	// A uid and gid that own nothing here.
	const stranger = 54321
	if err := checkTraversable(dir, stranger, []int{stranger}, "postgres"); err != nil {
		t.Fatalf("open directory reported: %v", err)
	}
	err := checkTraversable(inner, stranger, []int{stranger}, "postgres")
	if err == nil || !strings.Contains(err.Error(), "directory "+closed+" ") || !strings.Contains(err.Error(), "chmod o+x "+closed) {
		t.Fatalf("want an error naming %s and the fix, got %v", closed, err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(closed, &st); err != nil {
		t.Fatal(err)
	}
	if err := checkTraversable(inner, int(st.Uid), []int{stranger}, "postgres"); err != nil {
		t.Fatalf("owner cannot traverse: %v", err)
	}
}

func TestBinDir(t *testing.T) {
	d, err := BinDir()
	if err != nil {
		t.Fatalf("BinDir: %v", err)
	}
	if err := hasServerBinaries(d); err != nil {
		t.Fatal(err)
	}
	t.Setenv(BinDirEnv, t.TempDir())
	if _, err := BinDir(); err == nil || !strings.Contains(err.Error(), "postgresql") {
		t.Fatalf("BinDir with an empty %s: %v", BinDirEnv, err)
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"listen_addresses=127.0.0.1": "listen_addresses=127.0.0.1",
		"":                           "''",
		"/a b/c":                     "'/a b/c'",
		"it's":                       `'it'\''s'`,
	} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}
