package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"sealvault/internal/dbtest"
	"sealvault/internal/testkit"
)

const (
	// readyTimeout bounds a start with demo data: under the race detector each demo
	// account's argon2id hash takes seconds on a busy 2-core machine.
	readyTimeout = 120 * time.Second
	stopTimeout  = 60 * time.Second
)

// freeAddr returns a loopback address whose port was free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// service is one `sealvault serve` running in-process, as a user starts it.
type service struct {
	addr   string
	base   string
	out    *testkit.SyncBuffer // what serve printed: the banner
	client *http.Client

	cancel context.CancelFunc // what SIGINT or SIGTERM does in main
	done   chan error
	once   sync.Once
	err    error
}

// startServe runs `sealvault serve --demo` on a fresh loopback port against dbURL, keeping
// its state in dataDir, and waits until /readyz answers 200. The service is stopped at
// cleanup at the latest.
func startServe(t testing.TB, dbURL, dataDir string, extra ...string) *service {
	t.Helper()
	clearEnv(t)
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(t.Context())
	s := &service{
		addr:   addr,
		base:   "http://" + addr,
		out:    &testkit.SyncBuffer{},
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{}},
		cancel: cancel,
		done:   make(chan error, 1),
	}
	root := newRoot()
	root.SetOut(s.out)
	root.SetArgs(append([]string{"serve", "--demo", "--database-url", dbURL, "--listen", addr, "--data-dir", dataDir}, extra...))
	go func() { s.done <- root.ExecuteContext(ctx) }()
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Errorf("serve on %s: %v", addr, err)
		}
		s.client.CloseIdleConnections()
	})

	deadline := time.Now().Add(readyTimeout)
	for {
		select {
		case err := <-s.done:
			s.once.Do(func() { s.err = err })
			t.Fatalf("serve exited before it was ready: %v", err)
		default:
		}
		resp, err := s.client.Get(s.base + "/readyz")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve on %s not ready after %v (last: %v)", addr, readyTimeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// wait returns what ExecuteContext returned, waiting at most stopTimeout for it.
func (s *service) wait() error {
	s.once.Do(func() {
		select {
		case s.err = <-s.done:
		case <-time.After(stopTimeout):
			s.err = fmt.Errorf("serve did not return within %v", stopTimeout)
		}
	})
	return s.err
}

// stop does what Ctrl-C does and returns what ExecuteContext returned.
func (s *service) stop() error {
	s.cancel()
	return s.wait()
}

// do sends a request with an optional bearer token and JSON body and returns the status and
// the response body.
func (s *service) do(t *testing.T, method, path, token string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, s.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the response: %v", method, path, err)
	}
	return resp.StatusCode, b
}

type tokenBody struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
}

// login logs in and returns the access token, failing the test unless the answer is 200.
func (s *service) login(t *testing.T, username, password string) string {
	t.Helper()
	status, body := s.do(t, http.MethodPost, "/api/v1/auth/login", "",
		map[string]string{"username": username, "password": password})
	if status != http.StatusOK {
		t.Fatalf("login %s: status %d, want 200: %s", username, status, body)
	}
	return accessToken(t, body)
}

func accessToken(t *testing.T, body []byte) string {
	t.Helper()
	var tok tokenBody
	if err := json.Unmarshal(body, &tok); err != nil {
		t.Fatalf("login answer is not JSON: %v: %s", err, body)
	}
	if tok.AccessToken == "" || tok.TokenType != "Bearer" || tok.ExpiresIn <= 0 {
		t.Fatalf("login answer lacks a usable bearer token: %s", body)
	}
	return tok.AccessToken
}

type meBody struct {
	Username    string   `json:"username"`
	DisplayName string   `json:"display_name"`
	Roles       []string `json:"roles"`
	Department  struct {
		Code string `json:"code"`
	} `json:"department"`
}

// me returns the status of GET /api/v1/me with token and, when it is 200, the account.
func (s *service) me(t *testing.T, token string) (int, meBody) {
	t.Helper()
	status, body := s.do(t, http.MethodGet, "/api/v1/me", token, nil)
	var m meBody
	if status == http.StatusOK {
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatalf("GET /api/v1/me answer is not JSON: %v: %s", err, body)
		}
	}
	return status, m
}

// refused fails the test unless a new TCP connection to addr is refused.
func refused(t *testing.T, addr string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err == nil {
		_ = c.Close()
		t.Fatalf("a new connection to %s was accepted, want it refused", addr)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("connecting to %s: %v, want connection refused", addr, err)
	}
}

func TestServeDemoAccounts(t *testing.T) {
	srv := startServe(t, dbtest.URL(t), t.TempDir())

	for _, u := range demoUsers {
		t.Run(u.username, func(t *testing.T) {
			token := srv.login(t, u.username, u.password)
			status, me := srv.me(t, token)
			if status != http.StatusOK {
				t.Fatalf("GET /api/v1/me: status %d, want 200", status)
			}
			want(t, "username", me.Username, u.username)
			want(t, "display_name", me.DisplayName, u.name)
			want(t, "roles", strings.Join(me.Roles, ","), string(u.role))
			want(t, "department", me.Department.Code, u.dept)
		})
	}

	t.Run("wrong password", func(t *testing.T) {
		status, body := srv.do(t, http.MethodPost, "/api/v1/auth/login", "",
			map[string]string{"username": demoUsers[0].username, "password": demoUsers[0].password + "x"})
		if status != http.StatusUnauthorized || bytes.Contains(body, []byte("access_token")) {
			t.Fatalf("login with a wrong password: status %d, want 401 without a token: %s", status, body)
		}
	})
	t.Run("no token", func(t *testing.T) {
		if status, _ := srv.me(t, ""); status != http.StatusUnauthorized {
			t.Fatalf("GET /api/v1/me without a token: status %d, want 401", status)
		}
	})

	if err := srv.stop(); err != nil {
		t.Fatalf("serve returned %v after Ctrl-C, want nil", err)
	}
	banner := srv.out.String()
	for _, s := range []string{"http://" + srv.addr, "http://" + srv.addr + "/readyz", "Press Ctrl-C to stop."} {
		if !strings.Contains(banner, s) {
			t.Errorf("banner lacks %q:\n%s", s, banner)
		}
	}
	for _, u := range demoUsers {
		if !bannerLists(banner, u.username, u.password) {
			t.Errorf("banner does not list the login %s / %s:\n%s", u.username, u.password, banner)
		}
	}
}

// bannerLists reports whether one line of the banner shows both the username and password.
func bannerLists(banner, username, password string) bool {
	for l := range strings.Lines(banner) {
		f := strings.Fields(l)
		if len(f) >= 3 && f[1] == username && f[2] == password {
			return true
		}
	}
	return false
}

func TestServeDrainsInFlightRequestOnShutdown(t *testing.T) {
	srv := startServe(t, dbtest.URL(t), t.TempDir())
	u := demoUsers[0]
	body, err := json.Marshal(map[string]string{"username": u.username, "password": u.password})
	if err != nil {
		t.Fatal(err)
	}
	half := len(body) / 2

	pr, pw := io.Pipe()
	t.Cleanup(func() { _ = pw.Close() })
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.base+"/api/v1/auth/login", pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	type result struct {
		status int
		body   []byte
		err    error
	}
	// A connection of its own: one left idle by the readiness checks would count as idle,
	// and be closed, if shutdown began before the server had read this request's headers.
	client := &http.Client{Timeout: stopTimeout, Transport: &http.Transport{DisableKeepAlives: true}}
	resc := make(chan result, 1)
	go func() {
		resp, err := client.Do(req)
		if err != nil {
			resc <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		resc <- result{status: resp.StatusCode, body: b, err: err}
	}()

	// Write returns once the client has taken the bytes, after it sent the headers.
	if _, err := pw.Write(body[:half]); err != nil {
		t.Fatalf("sending the first half of the body: %v", err)
	}
	time.Sleep(100 * time.Millisecond) // let the server read the request line and headers

	srv.cancel()
	time.Sleep(300 * time.Millisecond)

	select {
	case err := <-srv.done:
		srv.once.Do(func() { srv.err = err })
		t.Fatalf("serve returned (%v) while a request was still in flight", err)
	case r := <-resc:
		t.Fatalf("the in-flight request ended before its body was complete: status %d, err %v: %s", r.status, r.err, r.body)
	default:
	}
	// Draining: the listener is closed already.
	refused(t, srv.addr)

	if _, err := pw.Write(body[half:]); err != nil {
		t.Fatalf("sending the rest of the body: %v", err)
	}
	if err := pw.Close(); err != nil {
		t.Fatal(err)
	}

	select {
	case r := <-resc:
		if r.err != nil {
			t.Fatalf("in-flight request: %v", r.err)
		}
		if r.status != http.StatusOK {
			t.Fatalf("in-flight request: status %d, want 200: %s", r.status, r.body)
		}
		accessToken(t, r.body)
	case <-time.After(stopTimeout):
		t.Fatalf("the in-flight request got no answer within %v", stopTimeout)
	}
	if err := srv.wait(); err != nil {
		t.Fatalf("serve returned %v after draining, want nil", err)
	}
	refused(t, srv.addr)
}

// countRows returns the rows of users and departments, and a digest of every account that
// changes if any is rewritten.
func countRows(t *testing.T, dbURL string) (users, departments int, accounts string) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	err = conn.QueryRow(t.Context(), `
		SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM departments),
		       (SELECT coalesce(string_agg(id::text || username || password_hash || updated_at::text, ',' ORDER BY id), '') FROM users)`).
		Scan(&users, &departments, &accounts)
	if err != nil {
		t.Fatal(err)
	}
	return users, departments, accounts
}

// keyFiles lists the token signing keys under dataDir.
func keyFiles(t *testing.T, dataDir string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dataDir, "keys", "jwt", "*.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func TestServeTwiceOnTheSameState(t *testing.T) {
	dbURL := dbtest.URL(t)
	dataDir := t.TempDir()

	first := startServe(t, dbURL, dataDir)
	token := first.login(t, "admin", demoUsers[0].password)
	if err := first.stop(); err != nil {
		t.Fatalf("first serve: %v", err)
	}
	users, depts, accounts := countRows(t, dbURL)
	if users != len(demoUsers) || depts != len(demoDepartments) {
		t.Fatalf("after the first run: %d users and %d departments, want %d and %d",
			users, depts, len(demoUsers), len(demoDepartments))
	}
	keys := keyFiles(t, dataDir)
	if len(keys) == 0 {
		t.Fatalf("no token signing key under %s", filepath.Join(dataDir, "keys", "jwt"))
	}

	second := startServe(t, dbURL, dataDir)
	t.Run("demo data is seeded once", func(t *testing.T) {
		u, d, a := countRows(t, dbURL)
		if u != users || d != depts {
			t.Errorf("after the second run: %d users and %d departments, want %d and %d as after the first",
				u, d, users, depts)
		}
		if a != accounts {
			t.Errorf("the second run changed existing demo accounts")
		}
	})
	t.Run("a token of the first run is accepted", func(t *testing.T) {
		status, me := second.me(t, token)
		if status != http.StatusOK {
			t.Fatalf("GET /api/v1/me with the first run's token: status %d, want 200", status)
		}
		want(t, "username", me.Username, "admin")
	})
	t.Run("the signing key is reused", func(t *testing.T) {
		if got := keyFiles(t, dataDir); strings.Join(got, " ") != strings.Join(keys, " ") {
			t.Errorf("signing keys after the second run: %v, want %v", got, keys)
		}
	})
	if err := second.stop(); err != nil {
		t.Fatalf("second serve: %v", err)
	}

	// The same database with other token keys: the token must not be accepted, or the check
	// above proves nothing. (The seal key-encryption key must be the same: the CA's key in
	// the database is sealed under it, and serve refuses to start without it.)
	kek, err := os.ReadFile(filepath.Join(dataDir, "keys", "seal-kek.key"))
	if err != nil {
		t.Fatal(err)
	}
	other := startServe(t, dbURL, t.TempDir(), "--seal-kek", strings.TrimSpace(string(kek)))
	if status, _ := other.me(t, token); status != http.StatusUnauthorized {
		t.Errorf("GET /api/v1/me on a service with other signing keys: status %d, want 401", status)
	}
}

func TestServeRejectsInvalidConfig(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"token lifetime too short", []string{"--token-ttl", "1s"}, "--token-ttl (SEALVAULT_TOKEN_TTL)"},
		{"listen address without port", []string{"--listen", "localhost"}, "--listen (SEALVAULT_LISTEN)"},
		{"body limit not a size", []string{"--body-limit", "lots"}, "--body-limit (SEALVAULT_BODY_LIMIT)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			dataDir := t.TempDir()
			ctx, cancel := context.WithTimeout(t.Context(), stopTimeout)
			defer cancel()
			var out bytes.Buffer
			root := newRoot()
			root.SetOut(&out)
			// No server listens at this URL: nothing may try to reach it. The bad setting
			// comes last, so it wins over the good one given before it.
			args := append([]string{"serve", "--demo", "--database-url", "postgres://nobody@127.0.0.1:1/none",
				"--listen", freeAddr(t), "--data-dir", dataDir}, tt.args...)
			root.SetArgs(args)
			err := root.ExecuteContext(ctx)
			if err == nil {
				t.Fatalf("serve %v returned nil, want an error", args)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error does not name %s:\n%v", tt.want, err)
			}
			if out.Len() != 0 {
				t.Errorf("serve printed a banner despite the bad setting:\n%s", out.String())
			}
			entries, rerr := os.ReadDir(dataDir)
			if rerr != nil {
				t.Fatal(rerr)
			}
			if len(entries) != 0 {
				t.Errorf("serve created %v in the data directory despite the bad setting", entries)
			}
		})
	}
}
