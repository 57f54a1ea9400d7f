// Package softhsm makes SoftHSM2 tokens for tests of PKCS#11 key custody: one token
// directory per test process (SoftHSM reads its configuration when the module is first
// loaded), a new token in it for each caller. SoftHSM2 missing is a test failure, never a
// skip: make test installs it (tools/prereqs.sh).
package softhsm

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"sealvault/seal/keys"
)

// Modules are where Debian's softhsm2 puts the module library.
var Modules = []string{"/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so"}

// PIN is the user PIN of every test token.
const PIN = "246810"

var (
	once sync.Once
	dir  string
	err  error
	n    atomic.Int64
)

// Module returns the SoftHSM2 module library's path.
func Module(tb testing.TB) string {
	tb.Helper()
	for _, m := range Modules {
		if _, err := os.Stat(m); err == nil {
			return m
		}
	}
	tb.Fatalf("SoftHSM2 is not installed (none of %v): run tools/prereqs.sh test, or apt-get install softhsm2", Modules)
	return ""
}

// Token makes a new SoftHSM2 token and returns the custody configuration that opens it: the
// module, the token's label and a file with its PIN.
func Token(tb testing.TB) keys.PKCS11Config {
	tb.Helper()
	module := Module(tb)
	once.Do(func() {
		if dir, err = os.MkdirTemp("", "sealvault-softhsm-"); err != nil {
			return
		}
		conf := filepath.Join(dir, "softhsm2.conf")
		if err = os.Mkdir(filepath.Join(dir, "tokens"), 0o700); err != nil {
			return
		}
		if err = os.WriteFile(conf, []byte("directories.tokendir = "+filepath.Join(dir, "tokens")+"\nobjectstore.backend = file\nlog.level = ERROR\n"), 0o600); err != nil {
			return
		}
		err = os.Setenv("SOFTHSM2_CONF", conf)
	})
	if err != nil {
		tb.Fatal(err)
	}
	label := fmt.Sprintf("sealvault-test-%d-%d", os.Getpid(), n.Add(1))
	if out, err := exec.Command("softhsm2-util", "--init-token", "--free", "--label", label, "--pin", PIN, "--so-pin", "13579246").CombinedOutput(); err != nil {
		tb.Fatalf("softhsm2-util --init-token: %v\n%s", err, out)
	}
	pinFile := filepath.Join(tb.TempDir(), "pin")
	if err := os.WriteFile(pinFile, []byte(PIN+"\n"), 0o600); err != nil {
		tb.Fatal(err)
	}
	return keys.PKCS11Config{Module: module, Token: label, PINFile: pinFile}
}
