package main

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"sealvault/internal/dbtest"
	"sealvault/internal/softhsm"
	"sealvault/seal/keys"
)

// TestServeWithPKCS11: serve with --pkcs11-module, --pkcs11-token and --pkcs11-pin-file on
// a fresh database makes the CA's, the timestamping authority's and the demo seal's keys in
// the token (the seal maker's SM2 key stays in software custody: no PKCS#11 SM2); a wrong
// PIN stops the start with a message saying so.
func TestServeWithPKCS11(t *testing.T) {
	cfg := softhsm.Token(t)
	dbURL, dataDir := dbtest.URL(t), t.TempDir()
	wrong := filepath.Join(t.TempDir(), "wrong-pin")
	os.WriteFile(wrong, []byte("111111\n"), 0o600)
	clearEnv(t)
	root := newRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs([]string{"serve", "--demo", "--database-url", dbURL, "--listen", freeAddr(t), "--data-dir", dataDir,
		"--pkcs11-module", cfg.Module, "--pkcs11-token", cfg.Token, "--pkcs11-pin-file", wrong})
	if err := root.ExecuteContext(t.Context()); err == nil || !strings.Contains(err.Error(), "refused the PIN") {
		t.Fatalf("serve with a wrong PIN: %v\n%s", err, out.String())
	}

	srv := startServe(t, dbURL, dataDir, "--pkcs11-module", cfg.Module, "--pkcs11-token", cfg.Token, "--pkcs11-pin-file", cfg.PINFile)
	conn, err := pgx.Connect(t.Context(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	inToken := func(query string) bool {
		t.Helper()
		var ref []byte
		if err := conn.QueryRow(t.Context(), query).Scan(&ref); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		return keys.InToken(ref)
	}
	for _, c := range []struct {
		what, query string
		want        bool
	}{
		{"the CA root", `SELECT key_ref FROM seal_ca WHERE id = 1`, true},
		{"the timestamping authority", `SELECT key_ref FROM seal_ca WHERE id = 3`, true},
		{"the seal maker (SM2)", `SELECT key_ref FROM seal_ca WHERE id = 2`, false},
		{"the demo seal S-1", `SELECT key_ref FROM seals WHERE no = 1`, true},
	} {
		if got := inToken(c.query); got != c.want {
			t.Errorf("%s: key in the token %t, want %t", c.what, got, c.want)
		}
	}
	if status, _ := srv.do(t, http.MethodGet, "/readyz", "", nil); status != http.StatusOK {
		t.Errorf("readyz: %d", status)
	}
}

// TestKeysMoveToPKCS11: the demo seal, made in software custody, is re-keyed into a token
// by `sealvault keys move --to pkcs11 --all`, audited as the seal admin; the command refuses
// without the token's settings, without --as, and with a user who is not a seal admin.
func TestKeysMoveToPKCS11(t *testing.T) {
	cfg := softhsm.Token(t)
	dbURL, dataDir := dbtest.URL(t), t.TempDir()
	srv := startServe(t, dbURL, dataDir)
	if err := srv.stop(); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, error) {
		root := newRoot()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs(append([]string{"keys", "move", "--database-url", dbURL, "--data-dir", dataDir}, args...))
		err := root.ExecuteContext(t.Context())
		return out.String(), err
	}
	token := []string{"--pkcs11-module", cfg.Module, "--pkcs11-token", cfg.Token, "--pkcs11-pin-file", cfg.PINFile}
	for _, tc := range []struct {
		args []string
		says string
	}{
		{[]string{"--to", "pkcs11", "--as", "sealadmin", "--all"}, "needs the token"},
		{append([]string{"--to", "pkcs11", "--all"}, token...), "--as"},
		{append([]string{"--to", "pkcs11", "--as", "window", "--all"}, token...), "not a seal administrator"},
		{append([]string{"--to", "pkcs11", "--as", "sealadmin"}, token...), "or give --all"},
		{append([]string{"--to", "pkcs11", "--as", "sealadmin", "S-99"}, token...), "S-99: no such seal"},
	} {
		if out, err := run(tc.args...); err == nil || !strings.Contains(err.Error()+out, tc.says) {
			t.Errorf("keys move %q: %v, want %q\n%s", tc.args, err, tc.says, out)
		}
	}
	out, err := run(append([]string{"--to", "pkcs11", "--as", "sealadmin", "--all"}, token...)...)
	if err != nil || !strings.Contains(out, "S-1: new key in the token true") || !strings.Contains(out, "1 seals re-keyed") {
		t.Fatalf("keys move --all: %v\n%s", err, out)
	}
	conn, err := pgx.Connect(t.Context(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	var ref []byte
	var old int
	if err := conn.QueryRow(t.Context(), `SELECT key_ref, (SELECT count(*) FROM seal_certificates c WHERE c.seal_id = s.id) FROM seals s WHERE no = 1`).Scan(&ref, &old); err != nil {
		t.Fatal(err)
	}
	if !keys.InToken(ref) || old != 1 {
		t.Errorf("after keys move: key in token %t, %d earlier certificates kept", keys.InToken(ref), old)
	}
	// Nothing is left to move.
	if out, err := run(append([]string{"--to", "pkcs11", "--as", "sealadmin", "--all"}, token...)...); err != nil || !strings.Contains(out, "0 seals re-keyed") {
		t.Errorf("a second keys move --all: %v\n%s", err, out)
	}
}
