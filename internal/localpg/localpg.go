// Package localpg runs a project-local PostgreSQL cluster: a data directory inside the
// project (var/pg for `sealvault serve`, var/testpg for the test harness) served by the
// machine's PostgreSQL binaries on a loopback port, with its Unix socket inside the data
// directory so nothing outside the project is touched.
//
// Next to the data directory <dir>/<base> the package keeps three files:
//
//	<dir>/<base>.log   the server log (pg_ctl -l)
//	<dir>/<base>.port  the port chosen when Cluster.Port is 0
//	<dir>/<base>.lock  an flock taken while initialising, starting or stopping
//
// PostgreSQL refuses to run as root. When the calling process is root, the data directory
// is owned by the system user "postgres" and initdb and pg_ctl run as that user; every
// directory above the data directory must then be traversable by it.
package localpg

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// User is the superuser role created by initdb; clients connect as it without a password
// (trust authentication, loopback only).
const User = "sealvault"

// Database is the application database that Start creates if it is missing.
const Database = "sealvault"

// AdminDatabase is the maintenance database every cluster has.
const AdminDatabase = "postgres"

// BinDirEnv is the environment variable that overrides where BinDir looks for the server
// binaries.
const BinDirEnv = "SEALVAULT_PG_BINDIR"

const (
	startTimeout   = 60 * time.Second // pg_ctl -w -t, and the wait for the first connection
	stopTimeout    = 60 * time.Second
	maxSocketPath  = 107 // sizeof(sockaddr_un.sun_path) - 1 on Linux
	logTailBytes   = 4096
	serverUserName = "postgres"
)

// Cluster is a project-local PostgreSQL cluster in Dir, listening on 127.0.0.1:Port.
//
// The zero values of Port and MaxConnections mean "choose" and "server default". A
// Cluster's methods may be called from several goroutines; several processes may use
// Clusters with the same Dir at once.
type Cluster struct {
	// Dir is the data directory, e.g. "var/pg". A relative Dir is made absolute against
	// the working directory when a method is first called.
	Dir string
	// Port is the loopback TCP port. 0 picks a free port on first start and remembers it
	// in <Dir>.port; later starts reuse it (a new one is picked only if something else has
	// taken it meanwhile). A running server is always reused on whatever port it has.
	Port int
	// Fsync enables durable writes. It is false only for test clusters, which run with
	// fsync, synchronous_commit and full_page_writes off.
	Fsync bool
	// MaxConnections sets max_connections when the server is started; 0 keeps
	// PostgreSQL's default (100).
	MaxConnections int
	// Logger receives progress messages; it may be nil.
	Logger *slog.Logger

	mu      sync.Mutex
	absDir  string
	curPort int // port of the server as last started or found running
}

// paths names the files of a cluster.
type paths struct {
	data   string // absolute data directory
	parent string // directory holding data, log, port and lock files
	log    string
	port   string
	lock   string
	initdb string // scratch directory initdb writes into before it is renamed to data
}

func (c *Cluster) paths() (paths, error) {
	if c.absDir == "" {
		if c.Dir == "" {
			return paths{}, errors.New("localpg: Cluster.Dir is empty")
		}
		abs, err := filepath.Abs(c.Dir)
		if err != nil {
			return paths{}, fmt.Errorf("localpg: data directory %q: %w", c.Dir, err)
		}
		c.absDir = abs
	}
	data := c.absDir
	parent, base := filepath.Dir(data), filepath.Base(data)
	if base == "/" || base == "." || parent == data {
		return paths{}, fmt.Errorf("localpg: %q cannot be a data directory", data)
	}
	return paths{
		data:   data,
		parent: parent,
		log:    filepath.Join(parent, base+".log"),
		port:   filepath.Join(parent, base+".port"),
		lock:   filepath.Join(parent, base+".lock"),
		initdb: filepath.Join(parent, "."+base+".initdb"),
	}, nil
}

func (c *Cluster) log() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// DataDir returns the absolute data directory.
func (c *Cluster) DataDir() (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, err := c.paths()
	return p.data, err
}

// LogFile returns the path of the server log, next to the data directory.
func (c *Cluster) LogFile() (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, err := c.paths()
	return p.log, err
}

// BinDir finds the PostgreSQL server binaries (initdb, pg_ctl): $SEALVAULT_PG_BINDIR if
// set, else the highest-versioned /usr/lib/postgresql/*/bin containing initdb, else the
// directory of initdb on PATH.
func BinDir() (string, error) {
	const hint = "install the Debian package `postgresql` (apt-get install postgresql) or set " +
		BinDirEnv + " to the directory holding initdb and pg_ctl"
	if d := os.Getenv(BinDirEnv); d != "" {
		if err := hasServerBinaries(d); err != nil {
			return "", fmt.Errorf("localpg: %s=%s: %w; %s", BinDirEnv, d, err, hint)
		}
		return d, nil
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	type cand struct {
		dir string
		ver []int
	}
	var cands []cand
	for _, m := range matches {
		if hasServerBinaries(m) != nil {
			continue
		}
		var ver []int
		for _, part := range strings.Split(filepath.Base(filepath.Dir(m)), ".") {
			n, err := strconv.Atoi(part)
			if err != nil {
				n = -1
			}
			ver = append(ver, n)
		}
		cands = append(cands, cand{m, ver})
	}
	sort.Slice(cands, func(i, j int) bool {
		a, b := cands[i].ver, cands[j].ver
		for k := 0; k < len(a) && k < len(b); k++ {
			if a[k] != b[k] {
				return a[k] > b[k]
			}
		}
		return len(a) > len(b)
	})
	if len(cands) > 0 {
		return cands[0].dir, nil
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		d := filepath.Dir(p)
		if err := hasServerBinaries(d); err == nil {
			return d, nil
		}
	}
	return "", fmt.Errorf("localpg: PostgreSQL server binaries (initdb, pg_ctl) not found in /usr/lib/postgresql/*/bin or on PATH; %s", hint)
}

func hasServerBinaries(dir string) error {
	for _, name := range []string{"initdb", "pg_ctl"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			return fmt.Errorf("no %s in %s", name, dir)
		}
		if fi.IsDir() || fi.Mode()&0o111 == 0 {
			return fmt.Errorf("%s is not executable", filepath.Join(dir, name))
		}
	}
	return nil
}

// serverUser is the account PostgreSQL runs as when the caller is root; nil otherwise.
type serverUser struct {
	name   string
	uid    int
	gid    int
	groups []int // primary and supplementary
}

func lookupServerUser() (*serverUser, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup(serverUserName)
	if err != nil {
		return nil, fmt.Errorf("localpg: running as root, PostgreSQL must run as the system user %q, which was not found (install the Debian package `postgresql`): %w", serverUserName, err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("localpg: user %q has non-numeric uid/gid %q/%q", serverUserName, u.Uid, u.Gid)
	}
	su := &serverUser{name: u.Username, uid: uid, gid: gid, groups: []int{gid}}
	if ids, err := u.GroupIds(); err == nil {
		for _, s := range ids {
			if g, err := strconv.Atoi(s); err == nil && g != gid {
				su.groups = append(su.groups, g)
			}
		}
	}
	return su, nil
}

func (su *serverUser) credential() *syscall.Credential {
	groups := make([]uint32, len(su.groups))
	for i, g := range su.groups {
		groups[i] = uint32(g)
	}
	return &syscall.Credential{Uid: uint32(su.uid), Gid: uint32(su.gid), Groups: groups}
}

// checkTraversable reports an error naming the first of dir and its ancestors that a
// process with the given uid and groups could not search (no x permission).
func checkTraversable(dir string, uid int, groups []int, who string) error {
	for p := dir; ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("localpg: %w", err)
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if ok && !canSearch(st, uid, groups) {
			return fmt.Errorf("localpg: directory %s (mode %s, owner uid %d) is not traversable by user %s; "+
				"PostgreSQL runs as %s when started by root and must be able to traverse every directory leading to %s: "+
				"run `chmod o+x %s` (or a+rx), or put the project somewhere %s can reach",
				p, fi.Mode().Perm(), st.Uid, who, who, dir, p, who)
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}

func canSearch(st *syscall.Stat_t, uid int, groups []int) bool {
	if uid == 0 {
		return true
	}
	mode := st.Mode
	if int(st.Uid) == uid {
		return mode&0o100 != 0
	}
	for _, g := range groups {
		if int(st.Gid) == g {
			return mode&0o010 != 0
		}
	}
	return mode&0o001 != 0
}

// lockFile takes an exclusive flock on path, polling so that ctx can cancel the wait.
func lockFile(ctx context.Context, path string, log *slog.Logger) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("localpg: lock file: %w", err)
	}
	fd := int(f.Fd())
	began := time.Now()
	logged := false
	for {
		err := syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() {
				_ = syscall.Flock(fd, syscall.LOCK_UN)
				_ = f.Close()
			}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			_ = f.Close()
			return nil, fmt.Errorf("localpg: lock %s: %w", path, err)
		}
		if !logged && time.Since(began) > time.Second {
			log.Info("waiting for another process holding the cluster lock", "lock", path)
			logged = true
		}
		select {
		case <-ctx.Done():
			_ = f.Close()
			return nil, fmt.Errorf("localpg: waiting for lock %s: %w", path, ctx.Err())
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// runner runs the PostgreSQL tools, as the postgres user when the caller is root.
type runner struct {
	bin string
	su  *serverUser
	cwd string
}

func (r *runner) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(r.bin, name), args...)
	cmd.Dir = r.cwd
	cmd.Env = cleanEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{}
	if r.su != nil {
		cmd.SysProcAttr.Credential = r.su.credential()
	}
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// run runs cmd and returns its combined output.
func run(cmd *exec.Cmd) (string, error) {
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	cmd.Stdin = nil
	err := cmd.Run()
	return strings.TrimSpace(out.String()), err
}

// cleanEnv is the environment without libpq's PG* variables (PGDATA, PGPORT, ...), which
// would otherwise change what the tools and the server do.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PG") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

func (c *Cluster) runner(p paths) (*runner, *serverUser, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, nil, err
	}
	su, err := lookupServerUser()
	if err != nil {
		return nil, nil, err
	}
	return &runner{bin: bin, su: su, cwd: p.parent}, su, nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// Start initialises the cluster if Dir has no PG_VERSION, starts it if it is not running
// (a running server is reused), waits until it accepts connections, creates the database
// "sealvault" if it is missing, and returns that database's connection URL, e.g.
// postgres://sealvault@127.0.0.1:55432/sealvault?sslmode=disable. started reports whether
// this call started the server, so the caller knows whether it should Stop it.
//
// The server runs in its own session and process group: a Ctrl-C in the caller's terminal
// does not reach it, and it keeps running after the caller exits until Stop is called.
func (c *Cluster) Start(ctx context.Context) (url string, started bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	log := c.log()

	p, err := c.paths()
	if err != nil {
		return "", false, err
	}
	r, su, err := c.runner(p)
	if err != nil {
		return "", false, err
	}
	if err := os.MkdirAll(p.parent, 0o755); err != nil {
		return "", false, fmt.Errorf("localpg: %w", err)
	}
	if su != nil {
		if err := checkTraversable(p.parent, su.uid, su.groups, su.name); err != nil {
			return "", false, err
		}
	}
	unlock, err := lockFile(ctx, p.lock, log)
	if err != nil {
		return "", false, err
	}
	defer unlock()

	if !exists(filepath.Join(p.data, "PG_VERSION")) {
		if err := c.initdb(ctx, r, p); err != nil {
			return "", false, err
		}
	} else if su != nil {
		if err := chownTree(p.data, su); err != nil {
			return "", false, err
		}
	}

	running, err := c.running(ctx, r, p)
	if err != nil {
		return "", false, err
	}
	if running {
		port, err := pidFilePort(p.data)
		if err != nil {
			return "", false, err
		}
		c.curPort = port
		log.Debug("postgres already running", "dir", p.data, "port", port)
	} else {
		port, err := c.choosePort(p)
		if err != nil {
			return "", false, err
		}
		if err := c.startServer(ctx, r, su, p, port); err != nil {
			return "", false, err
		}
		c.curPort = port
		started = true
	}

	fail := func(err error) (string, bool, error) {
		if started {
			if out, serr := run(r.command(context.Background(), "pg_ctl", "stop", "-D", p.data, "-m", "fast", "-w")); serr != nil {
				log.Warn("stopping postgres after failed start", "err", serr, "output", out)
			}
		}
		return "", false, err
	}
	if err := waitReady(ctx, c.urlFor(AdminDatabase, c.curPort)); err != nil {
		return fail(fmt.Errorf("localpg: server in %s on port %d does not accept connections: %w%s", p.data, c.curPort, err, logTail(p.log)))
	}
	if err := ensureDatabase(ctx, c.urlFor(AdminDatabase, c.curPort), Database); err != nil {
		return fail(err)
	}
	return c.urlFor(Database, c.curPort), started, nil
}

// initdb creates the cluster in a scratch directory and renames it into place, so a crash
// part way never leaves a half-initialised data directory behind.
func (c *Cluster) initdb(ctx context.Context, r *runner, p paths) error {
	log := c.log()
	if entries, err := os.ReadDir(p.data); err == nil && len(entries) > 0 {
		return fmt.Errorf("localpg: %s exists but is not a PostgreSQL data directory (no PG_VERSION); remove it or choose another directory", p.data)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("localpg: %w", err)
	}
	log.Info("initialising postgres cluster", "dir", p.data, "bin", r.bin)

	var lastOut string
	var lastErr error
	for _, locale := range []string{"C.UTF-8", "C"} {
		if err := os.RemoveAll(p.initdb); err != nil {
			return fmt.Errorf("localpg: %w", err)
		}
		if err := os.Mkdir(p.initdb, 0o700); err != nil {
			return fmt.Errorf("localpg: %w", err)
		}
		if r.su != nil {
			if err := os.Chown(p.initdb, r.su.uid, r.su.gid); err != nil {
				return fmt.Errorf("localpg: %w", err)
			}
		}
		args := []string{"-D", p.initdb, "-A", "trust", "-U", User, "-E", "UTF8", "--locale=" + locale}
		if !c.Fsync {
			args = append(args, "--no-sync")
		}
		lastOut, lastErr = run(r.command(ctx, "initdb", args...))
		if lastErr == nil {
			break
		}
		if ctx.Err() != nil {
			break
		}
		log.Warn("initdb failed", "locale", locale, "err", lastErr)
	}
	if lastErr != nil {
		_ = os.RemoveAll(p.initdb)
		return fmt.Errorf("localpg: initdb %s: %w\n%s", p.data, lastErr, lastOut)
	}
	if err := os.Remove(p.data); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("localpg: %w", err)
	}
	if err := os.Rename(p.initdb, p.data); err != nil {
		return fmt.Errorf("localpg: %w", err)
	}
	return nil
}

// chownTree gives the data directory to the server user if something else owns it.
func chownTree(dir string, su *serverUser) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("localpg: %w", err)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) == su.uid {
		return nil
	}
	err = filepath.WalkDir(dir, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, su.uid, su.gid)
	})
	if err != nil {
		return fmt.Errorf("localpg: chown %s to %s: %w", dir, su.name, err)
	}
	return nil
}

// running asks pg_ctl whether a server is running on the data directory.
func (c *Cluster) running(ctx context.Context, r *runner, p paths) (bool, error) {
	cmd := r.command(ctx, "pg_ctl", "status", "-D", p.data)
	out, err := run(cmd)
	if err == nil {
		return true, nil
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 3 {
		return false, nil
	}
	return false, fmt.Errorf("localpg: pg_ctl status -D %s: %w: %s", p.data, err, out)
}

// pidFilePort reads the port of a running server from postmaster.pid (its fourth line).
func pidFilePort(data string) (int, error) {
	b, err := os.ReadFile(filepath.Join(data, "postmaster.pid"))
	if err != nil {
		return 0, fmt.Errorf("localpg: reading port of running server: %w", err)
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) < 4 {
		return 0, fmt.Errorf("localpg: %s/postmaster.pid has no port line", data)
	}
	port, err := strconv.Atoi(strings.TrimSpace(lines[3]))
	if err != nil || port <= 0 {
		return 0, fmt.Errorf("localpg: %s/postmaster.pid: bad port %q", data, lines[3])
	}
	return port, nil
}

// choosePort decides the port for starting a stopped cluster and records it in the port
// file.
func (c *Cluster) choosePort(p paths) (int, error) {
	if c.Port != 0 {
		if err := writePortFile(p.port, c.Port); err != nil {
			return 0, err
		}
		return c.Port, nil
	}
	if port, ok := readPortFile(p.port); ok {
		if portFree(port) {
			return port, nil
		}
		c.log().Warn("remembered postgres port is taken by another process; choosing a new one", "port", port, "file", p.port)
	}
	port, err := freePort()
	if err != nil {
		return 0, err
	}
	if err := writePortFile(p.port, port); err != nil {
		return 0, err
	}
	return port, nil
}

func readPortFile(path string) (int, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	port, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || port <= 0 || port > 65535 {
		return 0, false
	}
	return port, true
}

func writePortFile(path string, port int) error {
	if old, ok := readPortFile(path); ok && old == port {
		return nil
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(port)+"\n"), 0o644); err != nil {
		return fmt.Errorf("localpg: port file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("localpg: port file: %w", err)
	}
	return nil
}

func portFree(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("localpg: finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startServer runs pg_ctl start -w in its own process group.
func (c *Cluster) startServer(ctx context.Context, r *runner, su *serverUser, p paths, port int) error {
	log := c.log()
	// pg_ctl opens the log file as the server user.
	f, err := os.OpenFile(p.log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("localpg: log file: %w", err)
	}
	_ = f.Close()
	if su != nil {
		if err := os.Chown(p.log, su.uid, su.gid); err != nil {
			return fmt.Errorf("localpg: log file: %w", err)
		}
	}
	logStart, _ := os.Stat(p.log)

	// The socket lives in the data directory unless its path would be too long for a Unix
	// socket, in which case the server listens on TCP only.
	sockDir := p.data
	if len(sockDir)+len("/.s.PGSQL.65535") > maxSocketPath {
		sockDir = ""
	}
	opts := []string{
		"-p", strconv.Itoa(port),
		"-k", sockDir,
		"-c", "listen_addresses=127.0.0.1",
	}
	if !c.Fsync {
		opts = append(opts, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	if c.MaxConnections > 0 {
		opts = append(opts, "-c", "max_connections="+strconv.Itoa(c.MaxConnections))
	}
	quoted := make([]string, len(opts))
	for i, o := range opts {
		quoted[i] = shellQuote(o)
	}
	cmd := r.command(ctx, "pg_ctl", "start", "-D", p.data, "-l", p.log, "-w",
		"-t", strconv.Itoa(int(startTimeout/time.Second)), "-o", strings.Join(quoted, " "))
	// Keep the server out of the caller's process group so a terminal's SIGINT to the
	// foreground group does not stop it; its owner stops it with Stop.
	cmd.SysProcAttr.Setpgid = true
	log.Info("starting postgres", "dir", p.data, "port", port, "log", p.log)
	out, err := run(cmd)
	if err != nil {
		var since int64
		if logStart != nil {
			since = logStart.Size()
		}
		return fmt.Errorf("localpg: pg_ctl start -D %s (port %d): %w\n%s%s", p.data, port, err, out, logTailSince(p.log, since))
	}
	return nil
}

// shellQuote quotes s for /bin/sh, which pg_ctl uses to run the server with -o options.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_=./:,@+", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// waitReady polls until the server accepts a connection and answers a query.
func waitReady(ctx context.Context, adminURL string) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	var last error
	for {
		cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
		conn, err := pgx.Connect(cctx, adminURL)
		if err == nil {
			var one int
			err = conn.QueryRow(cctx, "SELECT 1").Scan(&one)
			_ = conn.Close(context.Background())
		}
		ccancel()
		if err == nil {
			return nil
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// ensureDatabase creates database name if it does not exist.
func ensureDatabase(ctx context.Context, adminURL, name string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("localpg: connecting to %s: %w", AdminDatabase, err)
	}
	defer conn.Close(context.Background())
	var found bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&found); err != nil {
		return fmt.Errorf("localpg: looking for database %s: %w", name, err)
	}
	if found {
		return nil
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P04" { // duplicate_database
		return nil
	}
	if err != nil {
		return fmt.Errorf("localpg: creating database %s: %w", name, err)
	}
	return nil
}

func (c *Cluster) urlFor(db string, port int) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User(User),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// port returns the best known port: the one this Cluster started or found, then Port, then
// a running server's, then the remembered one. 0 if none is known.
func (c *Cluster) port() int {
	if c.curPort != 0 {
		return c.curPort
	}
	if c.Port != 0 {
		return c.Port
	}
	p, err := c.paths()
	if err != nil {
		return 0
	}
	if port, err := pidFilePort(p.data); err == nil {
		return port
	}
	if port, ok := readPortFile(p.port); ok {
		return port
	}
	return 0
}

// AdminURL returns the URL of the "postgres" maintenance database of the cluster. Call it
// after Start; before, it uses Port, the running server's port or the remembered port.
func (c *Cluster) AdminURL() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.urlFor(AdminDatabase, c.port())
}

// URL returns the URL of the "sealvault" database of the cluster, as Start does.
func (c *Cluster) URL() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.urlFor(Database, c.port())
}

// Stop stops the cluster cleanly (pg_ctl stop -m fast -w). Stopping a cluster that is not
// running, or that was never initialised, is not an error.
func (c *Cluster) Stop(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, err := c.paths()
	if err != nil {
		return err
	}
	if !exists(filepath.Join(p.data, "PG_VERSION")) {
		return nil
	}
	r, _, err := c.runner(p)
	if err != nil {
		return err
	}
	unlock, err := lockFile(ctx, p.lock, c.log())
	if err != nil {
		return err
	}
	defer unlock()
	running, err := c.running(ctx, r, p)
	if err != nil || !running {
		return err
	}
	c.log().Info("stopping postgres", "dir", p.data)
	out, err := run(r.command(ctx, "pg_ctl", "stop", "-D", p.data, "-m", "fast", "-w",
		"-t", strconv.Itoa(int(stopTimeout/time.Second))))
	if err != nil {
		if still, serr := c.running(ctx, r, p); serr == nil && !still {
			return nil
		}
		return fmt.Errorf("localpg: pg_ctl stop -D %s: %w\n%s%s", p.data, err, out, logTail(p.log))
	}
	return nil
}

// logTail returns the end of the server log, formatted for appending to an error.
func logTail(path string) string {
	return logTailSince(path, 0)
}

// logTailSince is logTail limited to what was written after offset since.
func logTailSince(path string, since int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return ""
	}
	start := max(since, fi.Size()-logTailBytes)
	if start > fi.Size() || start < 0 {
		start = 0
	}
	if _, err := f.Seek(start, io.SeekStart); err != nil {
		return ""
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return ""
	}
	s := string(b)
	if start > since {
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			s = s[i+1:]
		}
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	return "\nserver log " + path + ":\n" + s
}
