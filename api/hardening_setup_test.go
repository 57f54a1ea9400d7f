package api

import (
	"context"
	"errors"
	"net"
	"os"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"sealvault/audit"
	"sealvault/vault"
)

// tcpProxy forwards connections to a real server (PostgreSQL, the S3 test server) and
// breaks the way networks and servers break: Cut closes every connection and the listening
// port (what a stopped server looks like: refused), Stall stops forwarding bytes on every
// connection, old and new (a server or network that hangs).
type tcpProxy struct {
	target string
	ln     net.Listener
	addr   string

	mu      sync.Mutex
	conns   map[net.Conn]bool
	stalled bool
	resume  chan struct{} // closed when a stall ends
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{target: target, ln: ln, addr: ln.Addr().String(), conns: map[net.Conn]bool{}, resume: make(chan struct{})}
	go p.accept(ln)
	t.Cleanup(p.Cut)
	return p
}

func (p *tcpProxy) accept(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[up] = true, true
		p.mu.Unlock()
		go p.pipe(c, up)
		go p.pipe(up, c)
	}
}

// pipe copies src to dst, holding each chunk while the proxy is stalled.
func (p *tcpProxy) pipe(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			stalled, resume := p.stalled, p.resume
			p.mu.Unlock()
			if stalled {
				<-resume
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// Cut closes the port and every connection through it: new connections are refused and
// established ones are lost.
func (p *tcpProxy) Cut() {
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
	p.conns = map[net.Conn]bool{}
	if p.stalled {
		p.stalled = false
		close(p.resume)
	}
}

// Stall stops all forwarding until Resume.
func (p *tcpProxy) Stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.stalled {
		p.stalled, p.resume = true, make(chan struct{})
	}
}

// Resume forwards again what was held.
func (p *tcpProxy) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stalled {
		p.stalled = false
		close(p.resume)
	}
}

// poolVia opens a pool on the bundle's database through addr (host:port), with the
// database deadline tracer the service's pool has.
func (b *bundle) poolVia(t *testing.T, addr string) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(b.pool.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(port)
	cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Fallbacks = host, uint16(n), nil
	cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	cfg.ConnConfig.Tracer = DBDeadlines{}
	cfg.MaxConns = 4
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// useServer replaces the bundle's server with one on pool and blobs (nil: the bundle's),
// as cmd/sealvault builds it, after mod has changed its dependencies.
func (b *bundle) useServer(t *testing.T, pool *pgxpool.Pool, blobs vault.Backend, mod func(*Deps)) {
	t.Helper()
	if pool == nil {
		pool = b.pool
	}
	if blobs == nil {
		blobs = b.blobs
	}
	dir := t.TempDir()
	alog, err := audit.Open(pool, audit.Config{Origin: "test.sealvault/audit", KeyDir: dir + "/keys", CheckpointDir: dir + "/checkpoints"})
	if err != nil {
		t.Fatal(err)
	}
	d := b.deps(pool, blobs, alog)
	if mod != nil {
		mod(&d)
	}
	if b.srv, err = New(d); err != nil {
		t.Fatal(err)
	}
}

// tmpfs mounts a small tmpfs of size bytes on a new directory, unmounted when the test
// ends. It is how these tests make a blob store read-only or full for real: the tests run
// as root (CI does), for whom permission bits do not stop writes, but a read-only or full
// filesystem does. Without the privilege to mount the test is skipped, except under CI,
// where it fails.
func tmpfs(t *testing.T, size int) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+strconv.Itoa(size)); err != nil {
		msg := "mounting a tmpfs (needs root, as in CI): " + err.Error()
		if os.Getenv("CI") != "" || os.Geteuid() == 0 {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmounting %s: %v", dir, err)
		}
	})
	return dir
}

// remount makes the tmpfs at dir read-only or writable again.
func remount(t *testing.T, dir string, readOnly bool) {
	t.Helper()
	flags := uintptr(syscall.MS_REMOUNT)
	if readOnly {
		flags |= syscall.MS_RDONLY
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", flags, ""); err != nil {
		t.Fatalf("remounting %s (read-only %v): %v", dir, readOnly, err)
	}
}

// fill writes into dir until its filesystem is full.
func fill(t *testing.T, dir string) {
	t.Helper()
	f, err := os.Create(dir + "/filler")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling %s: %v", dir, err)
			}
			return
		}
	}
}
