package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// TestDataDir: a relative --data-dir is resolved against the current directory, and every
// path derived from it is absolute; a directory that does not look like a sealvault data
// directory is refused before anything is made in it, unless --foreign-data-dir.
func TestDataDir(t *testing.T) {
	clearEnv(t)
	work := t.TempDir()
	t.Chdir(work)
	c := Config{}
	fs := pflag.NewFlagSet("sealvault", pflag.ContinueOnError)
	c.bindFlags(fs)
	if err := fs.Parse([]string{"--data-dir", "state/../var"}); err != nil {
		t.Fatal(err)
	}
	if err := c.validate(); err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(work, "var"); c.DataDir != want || c.PGDir != filepath.Join(want, "pg") || c.BlobDir != filepath.Join(want, "blobs") {
		t.Errorf("resolved %q, pg %q, blobs %q; want under %q", c.DataDir, c.PGDir, c.BlobDir, want)
	}

	foreign := filepath.Join(work, "project")
	os.MkdirAll(foreign, 0o755)
	os.WriteFile(filepath.Join(foreign, "notes.txt"), []byte("not sealvault's"), 0o600)
	for _, args := range [][]string{{"migrate", "status"}, {"localdb", "start"}, {"keys", "rotate"}} {
		out, err := runRoot(t, append(args, "--data-dir", "project")...)
		if err == nil || !strings.Contains(err.Error(), "does not look like a sealvault data directory") ||
			!strings.Contains(err.Error(), foreign) || !strings.Contains(err.Error(), "--foreign-data-dir") {
			t.Errorf("%v in a foreign directory: %v\n%s", args, err, out)
		}
	}
	if entries, _ := os.ReadDir(foreign); len(entries) != 1 {
		t.Errorf("the foreign directory has %d entries, want its one file", len(entries))
	}
	// What is accepted: a new or empty directory, one holding sealvault's entries, and a
	// foreign one when told to.
	c.DataDir = filepath.Join(work, "new")
	if err := c.checkDataDir(); err != nil {
		t.Errorf("a new directory: %v", err)
	}
	c.DataDir = t.TempDir()
	if err := c.checkDataDir(); err != nil {
		t.Errorf("an empty directory: %v", err)
	}
	os.MkdirAll(filepath.Join(foreign, "..", "used", "keys"), 0o700)
	os.WriteFile(filepath.Join(work, "used", "sealvault.log"), nil, 0o600)
	c.DataDir = filepath.Join(work, "used")
	if err := c.checkDataDir(); err != nil {
		t.Errorf("a data directory with keys/: %v", err)
	}
	c.DataDir, c.ForeignDataDir = foreign, true
	if err := c.checkDataDir(); err != nil {
		t.Errorf("a foreign directory with --foreign-data-dir: %v", err)
	}
	// Commands that need no local state run anywhere.
	if _, err := runRoot(t, "config", "--data-dir", "project"); err != nil {
		t.Errorf("config in a foreign directory: %v", err)
	}
}
