// Package softhsm makes SoftHSM2 tokens for tests of PKCS#11 key custody: one token
// directory per test process, with all its tokens made on the first call (SoftHSM reads its
// configuration and its tokens when the module is loaded, and a process keeps it loaded
// while any custody is open), one token handed to each caller. SoftHSM2 missing is a test failure, never a
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
	once   sync.Once
	dir    string
	err    error
	labels []string
	n      atomic.Int64
)

// tokens is how many tokens a test process can have.
const tokens = 8

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
		if err = os.Setenv("SOFTHSM2_CONF", conf); err != nil {
			return
		}
		for i := range tokens {
			label := fmt.Sprintf("sealvault-test-%d-%d", os.Getpid(), i+1)
			out, cerr := exec.Command("softhsm2-util", "--init-token", "--free", "--label", label, "--pin", PIN, "--so-pin", "13579246").CombinedOutput()
			if cerr != nil {
				err = fmt.Errorf("softhsm2-util --init-token: %v\n%s", cerr, out)
				return
			}
			labels = append(labels, label)
		}
	})
	if err != nil {
		tb.Fatal(err)
	}
	i := int(n.Add(1)) - 1
	if i >= len(labels) {
		tb.Fatalf("softhsm: only %d tokens per test process", len(labels))
	}
	label := labels[i]
	pinFile := filepath.Join(tb.TempDir(), "pin")
	if err := os.WriteFile(pinFile, []byte(PIN+"\n"), 0o600); err != nil {
		tb.Fatal(err)
	}
	return keys.PKCS11Config{Module: module, Token: label, PINFile: pinFile}
}
