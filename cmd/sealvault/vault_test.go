package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"sealvault/internal/dbtest"
	"sealvault/internal/identity"
	"sealvault/vault"
	"sealvault/vault/fsstore"
)

// TestScrubFindsAFlippedByte stores two objects, flips one byte of one stored file, and runs
// `sealvault scrub` as an operator would: it exits non-zero and names the corrupt digest.
func TestScrubFindsAFlippedByte(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "blobs")
	dbURL := dbtest.URL(t)
	st, err := fsstore.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	good, _, err := vault.Put(t.Context(), st, strings.NewReader("第一页 page one"), nil)
	if err != nil {
		t.Fatal(err)
	}
	bad, _, err := vault.Put(t.Context(), st, strings.NewReader("第二页 page two"), nil)
	if err != nil {
		t.Fatal(err)
	}
	run := func() (string, error) {
		root := newRoot()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs([]string{"scrub", "--blob-dir", dir, "--data-dir", t.TempDir(), "--database-url", dbURL})
		err := root.ExecuteContext(t.Context())
		return out.String(), err
	}
	if out, err := run(); err != nil {
		t.Fatalf("scrub of a clean store failed: %v\n%s", err, out)
	}
	var path string
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Name() == bad.String() {
			path = p
		}
		return nil
	})
	if path == "" {
		t.Fatalf("stored file of %s not found under %s", bad, dir)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[3] ^= 0x01
	if err := os.WriteFile(path, b, 0o444); err != nil {
		t.Fatal(err)
	}
	// A record names the damaged object: the report says which.
	pool, err := pgxpool.New(t.Context(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	dept, err := identity.CreateDepartment(t.Context(), pool, identity.NewDepartment{Code: "SCRUB-1", Name: "测试政务服务中心", Kind: identity.KindCenter, Level: "district"})
	if err != nil {
		t.Fatal(err)
	}
	u, err := identity.CreateUser(t.Context(), pool, identity.NewUser{Username: "scrub-window", DisplayName: "窗口", DepartmentID: dept.ID,
		Roles: []identity.Role{identity.RoleWindow}, Password: "a long enough password"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(t.Context(), `INSERT INTO seal_documents (digest, department_id, name, size, page_count, uploaded_by) VALUES ($1, $2, '营业执照.pdf', 10, 1, $3)`,
		bad.String(), dept.ID, u.ID); err != nil {
		t.Fatal(err)
	}
	out, err := run()
	if err == nil {
		t.Fatalf("scrub found nothing after a byte was flipped:\n%s", out)
	}
	if !strings.Contains(out, "named by document 营业执照.pdf") {
		t.Errorf("scrub does not name the record of the damaged object:\n%s", out)
	}
	if !strings.Contains(out, bad.String()) || strings.Contains(out, "corrupt: "+good.String()) {
		t.Errorf("scrub report does not name exactly the corrupt object %s:\n%s", bad, out)
	}
}
