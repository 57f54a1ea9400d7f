package identity

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/uuid"

	"sealvault/internal/dbtest"
)

func TestPasswordHash(t *testing.T) {
	h, err := HashPassword("窗口密码 2026")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=65536,t=3,p=2$") {
		t.Errorf("hash %q is not argon2id with the house parameters", h)
	}
	h2, _ := HashPassword("窗口密码 2026")
	if h == h2 {
		t.Error("two hashes of one password are equal: no salt")
	}
	for pw, want := range map[string]bool{"窗口密码 2026": true, "窗口密码 2027": false, "": false} {
		if ok, err := CheckPassword(h, pw); err != nil || ok != want {
			t.Errorf("CheckPassword(%q) = %v, %v; want %v", pw, ok, err, want)
		}
	}
	for _, bad := range []string{"", "plain", "$2a$10$bcrypt", "$argon2id$v=19$m=x$salt$hash"} {
		if _, err := CheckPassword(bad, "x"); err == nil {
			t.Errorf("CheckPassword accepted stored hash %q", bad)
		}
	}
}

func TestDepartmentTreeAndUsers(t *testing.T) {
	ctx := t.Context()
	db := dbtest.Pool(t)
	center, err := CreateDepartment(ctx, db, NewDepartment{Code: "TH-ZWFW", Name: "天河区政务服务中心", Kind: KindCenter, Level: "district"})
	if err != nil {
		t.Fatal(err)
	}
	dept, err := CreateDepartment(ctx, db, NewDepartment{Code: "TH-SCJG", Name: "天河区市场监督管理局", Kind: KindDepartment, Level: "district", ParentID: &center.ID})
	if err != nil {
		t.Fatal(err)
	}
	var ie *InvalidError
	_, err = CreateDepartment(ctx, db, NewDepartment{Code: "bad code!", Name: " ", Kind: "office", Level: "galaxy"})
	if !errors.As(err, &ie) || len(ie.Fields) != 4 {
		t.Fatalf("every invalid field at once: %v", err)
	}
	if _, err := UpdateDepartment(ctx, db, center.ID, DepartmentPatch{ParentID: &dept.ID}); !errors.As(err, &ie) || ie.Fields["parent_id"] == "" {
		t.Errorf("cycle accepted: %v", err)
	}
	if _, err := UpdateDepartment(ctx, db, center.ID, DepartmentPatch{ParentID: &center.ID}); !errors.As(err, &ie) {
		t.Errorf("self-parent accepted: %v", err)
	}
	if _, err := GetDepartment(ctx, db, uuid.New()); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing department: %v", err)
	}

	u, err := CreateUser(ctx, db, NewUser{Username: " Zhang.San ", DisplayName: "张三", DepartmentID: dept.ID, Roles: []Role{RoleSealer}, Password: "密码密码密码密码密码"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := UserByUsername(ctx, db, "ZHANG.SAN")
	if err != nil || got.ID != u.ID || got.DisplayName != "张三" {
		t.Fatalf("lookup is not case-insensitive: %+v %v", got, err)
	}
	var ce *ConflictError
	if _, err := CreateUser(ctx, db, NewUser{Username: "zhang.san", DisplayName: "另一个张三", DepartmentID: dept.ID, Roles: []Role{RoleWindow}, Password: "0123456789"}); !errors.As(err, &ce) || ce.Field != "username" {
		t.Errorf("duplicate username: %v", err)
	}
	disabled := true
	if u, err = UpdateUser(ctx, db, u.ID, UserPatch{Disabled: &disabled}); err != nil || !u.Disabled {
		t.Errorf("disable: %+v %v", u, err)
	}
	if _, err := UpdateUser(ctx, db, u.ID, UserPatch{Roles: &[]Role{"emperor"}}); !errors.As(err, &ie) || ie.Fields["roles"] == "" {
		t.Errorf("unknown role accepted: %v", err)
	}
}

func writeJWKS(t *testing.T, keys ...jose.JSONWebKey) string {
	t.Helper()
	js, err := json.Marshal(jose.JSONWebKeySet{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(f, js, 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestLoadExternalIssuer(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ec384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	if _, err := LoadExternalIssuer("iss", "aud", writeJWKS(t, jose.JSONWebKey{Key: &ec.PublicKey, KeyID: "p256", Algorithm: "ES256"})); err != nil {
		t.Errorf("P-256 key refused: %v", err)
	}
	for name, k := range map[string]jose.JSONWebKey{
		"RSA":         {Key: &rk.PublicKey, KeyID: "rsa", Algorithm: "RS256"},
		"P-384":       {Key: &ec384.PublicKey, KeyID: "p384", Algorithm: "ES384"},
		"private key": {Key: ec, KeyID: "priv", Algorithm: "ES256"},
		"no kid":      {Key: &ec.PublicKey, Algorithm: "ES256"},
	} {
		if _, err := LoadExternalIssuer("iss", "aud", writeJWKS(t, k)); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
}
