package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHardening11_LocalDBTakesTheGlobalSettings: localdb starts the cluster serve would, at
// --pg-dir (or pg under --data-dir) on --pg-port; its own --dir and --port are gone, so a
// setting has one name across subcommands.
func TestHardening11_LocalDBTakesTheGlobalSettings(t *testing.T) {
	// Under /tmp and open to others: as root the cluster runs as the postgres user.
	data, err := os.MkdirTemp("/tmp", "sealvault-localdb-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(data) })
	if err := os.Chmod(data, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, old := range [][]string{{"localdb", "start", "--dir", data}, {"localdb", "start", "--port", "0"}} {
		if out, err := runRoot(t, old...); err == nil || !strings.Contains(out+err.Error(), "unknown flag") {
			t.Errorf("%v: %v %s, want unknown flag", old, err, out)
		}
	}
	out, err := runRoot(t, "--data-dir", data, "--pg-port", "0", "localdb", "start", "--fsync=false")
	if err != nil {
		t.Fatalf("localdb start: %v\n%s", err, out)
	}
	t.Cleanup(func() { runRoot(t, "--data-dir", data, "localdb", "stop") })
	if !strings.HasPrefix(strings.TrimSpace(out), "postgres://") {
		t.Errorf("localdb start printed %q, want the cluster's URL", out)
	}
	if _, err := os.Stat(filepath.Join(data, "pg", "PG_VERSION")); err != nil {
		t.Errorf("the cluster is not in pg under --data-dir: %v", err)
	}
	if out, err := runRoot(t, "--data-dir", data, "localdb", "stop"); err != nil {
		t.Fatalf("localdb stop: %v\n%s", err, out)
	}
	// --pg-dir names the directory itself.
	other := filepath.Join(data, "elsewhere")
	if out, err := runRoot(t, "--pg-dir", other, "--pg-port", "0", "localdb", "start", "--fsync=false"); err != nil {
		t.Fatalf("localdb start --pg-dir: %v\n%s", err, out)
	}
	defer runRoot(t, "--pg-dir", other, "localdb", "stop")
	if _, err := os.Stat(filepath.Join(other, "PG_VERSION")); err != nil {
		t.Errorf("the cluster is not in --pg-dir: %v", err)
	}
}

// TestSubcommandHelpListsItsOwnFlags (new-user point 5): a subcommand's --help lists its own
// flags and points to `sealvault config` for the global settings instead of listing them.
func TestSubcommandHelpListsItsOwnFlags(t *testing.T) {
	out, err := runRoot(t, "gc", "--help")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"--dry-run", "--grace", `run "sealvault config"`} {
		if !strings.Contains(out, want) {
			t.Errorf("gc --help does not show %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "--audit-checkpoint-dir") {
		t.Errorf("gc --help lists the global settings:\n%s", out)
	}
}
