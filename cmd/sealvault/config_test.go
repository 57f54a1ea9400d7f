package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// clearEnv unsets every variable sealvault reads, for the duration of the test, so that the
// environment of whoever runs the tests cannot leak into them.
func clearEnv(t testing.TB) {
	t.Helper()
	fs := pflag.NewFlagSet("sealvault", pflag.ContinueOnError)
	(&Config{}).bindFlags(fs)
	names := []string{"DATABASE_URL"}
	fs.VisitAll(func(f *pflag.Flag) {
		names = append(names, envName(f.Name), envName(f.Name)+"_FILE")
	})
	for _, n := range names {
		t.Setenv(n, "") // restores the original value at cleanup
		if err := os.Unsetenv(n); err != nil {
			t.Fatalf("unset %s: %v", n, err)
		}
	}
}

// loadConfig resolves the settings the way the root command does: command-line flags, then
// the environment, then validation.
func loadConfig(t *testing.T, args ...string) (*Config, error) {
	t.Helper()
	c := &Config{}
	fs := pflag.NewFlagSet("sealvault", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.bindFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse %q: %v", args, err)
	}
	if err := loadEnv(fs); err != nil {
		return c, err
	}
	return c, c.validate()
}

// writeFile writes content to a new file in a temporary directory and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigSources(t *testing.T) {
	const (
		envURL    = "postgres://env@db.example:5432/sealvault"
		plainURL  = "postgres://plain@db.example:5432/sealvault"
		fileURL   = "postgres://file@db.example:5432/sealvault?sslmode=verify-full"
		flagURL   = "postgres://flag@db.example:5432/sealvault"
		secretTxt = "  " + fileURL + "\n\n"
	)
	tests := []struct {
		name  string
		env   map[string]string
		files map[string]string // variable -> file content; the variable is set to the file's path
		args  []string
		check func(t *testing.T, c *Config)
	}{
		{
			name: "defaults without flags or environment",
			check: func(t *testing.T, c *Config) {
				want(t, "listen", c.Listen, "127.0.0.1:8080")
				want(t, "token-ttl", c.TokenTTL, 15*time.Minute)
				want(t, "database-url", c.DatabaseURL, "")
				// The relative default is resolved against the current directory.
				cwd, _ := os.Getwd()
				want(t, "data-dir", c.DataDir, filepath.Join(cwd, "var"))
				want(t, "token-key-dir", c.TokenKeyDir, filepath.Join(cwd, "var", "keys", "jwt"))
				want(t, "migrate", c.Migrate, true)
				want(t, "demo", c.Demo, false)
			},
		},
		{
			name: "environment fills settings",
			env: map[string]string{
				"SEALVAULT_LISTEN":          "0.0.0.0:9000",
				"SEALVAULT_TOKEN_TTL":       "45m",
				"SEALVAULT_DEMO":            "true",
				"SEALVAULT_MIGRATE":         "false",
				"SEALVAULT_TRUSTED_PROXIES": "10.0.0.0/8,192.168.0.0/16",
				"SEALVAULT_DB_MAX_CONNS":    "25",
				"SEALVAULT_DB_TIMEOUT":      "3s",
				"SEALVAULT_DATA_DIR":        "/srv/sealvault",
			},
			check: func(t *testing.T, c *Config) {
				want(t, "listen", c.Listen, "0.0.0.0:9000")
				want(t, "token-ttl", c.TokenTTL, 45*time.Minute)
				want(t, "demo", c.Demo, true)
				want(t, "migrate", c.Migrate, false)
				want(t, "trusted-proxies", strings.Join(c.TrustedProxies, " "), "10.0.0.0/8 192.168.0.0/16")
				want(t, "db-max-conns", c.DBMaxConns, 25)
				want(t, "db-timeout", c.DBTimeout, 3*time.Second)
				want(t, "db-export-timeout", c.DBExportTimeout, 5*time.Minute)
				want(t, "token-key-dir", c.TokenKeyDir, filepath.Join("/srv/sealvault", "keys", "jwt"))
			},
		},
		{
			name: "a flag beats the environment",
			env:  map[string]string{"SEALVAULT_LISTEN": "0.0.0.0:9000", "SEALVAULT_TOKEN_TTL": "45m"},
			args: []string{"--listen", "127.0.0.1:7000", "--token-ttl", "2h"},
			check: func(t *testing.T, c *Config) {
				want(t, "listen", c.Listen, "127.0.0.1:7000")
				want(t, "token-ttl", c.TokenTTL, 2*time.Hour)
			},
		},
		{
			name: "DATABASE_URL is read for --database-url",
			env:  map[string]string{"DATABASE_URL": plainURL},
			check: func(t *testing.T, c *Config) {
				want(t, "database-url", c.DatabaseURL, plainURL)
			},
		},
		{
			name: "SEALVAULT_DATABASE_URL beats DATABASE_URL",
			env:  map[string]string{"DATABASE_URL": plainURL, "SEALVAULT_DATABASE_URL": envURL},
			check: func(t *testing.T, c *Config) {
				want(t, "database-url", c.DatabaseURL, envURL)
			},
		},
		{
			name:  "SEALVAULT_DATABASE_URL_FILE is read and trimmed",
			files: map[string]string{"SEALVAULT_DATABASE_URL_FILE": secretTxt},
			check: func(t *testing.T, c *Config) {
				want(t, "database-url", c.DatabaseURL, fileURL)
			},
		},
		{
			name:  "SEALVAULT_DATABASE_URL_FILE beats the generic DATABASE_URL",
			env:   map[string]string{"DATABASE_URL": plainURL},
			files: map[string]string{"SEALVAULT_DATABASE_URL_FILE": secretTxt},
			check: func(t *testing.T, c *Config) {
				want(t, "database-url", c.DatabaseURL, fileURL)
			},
		},
		{
			name:  "the flag beats every database variable",
			env:   map[string]string{"DATABASE_URL": plainURL, "SEALVAULT_DATABASE_URL": envURL},
			files: map[string]string{"SEALVAULT_DATABASE_URL_FILE": secretTxt},
			args:  []string{"--database-url", flagURL},
			check: func(t *testing.T, c *Config) {
				want(t, "database-url", c.DatabaseURL, flagURL)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			for k, content := range tt.files {
				t.Setenv(k, writeFile(t, "secret", content))
			}
			c, err := loadConfig(t, tt.args...)
			if err != nil {
				t.Fatalf("configuration rejected: %v", err)
			}
			tt.check(t, c)
		})
	}
}

func want[T comparable](t *testing.T, setting string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", setting, got, want)
	}
}

func TestConfigEnvironmentErrors(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		missing string // SEALVAULT_DATABASE_URL_FILE is set to a file that does not exist
		names   []string
	}{
		{
			name:  "values that do not parse are all named",
			env:   map[string]string{"SEALVAULT_TOKEN_TTL": "soon", "SEALVAULT_DB_MAX_CONNS": "many", "SEALVAULT_DEMO": "perhaps"},
			names: []string{"SEALVAULT_TOKEN_TTL", "SEALVAULT_DB_MAX_CONNS", "SEALVAULT_DEMO", `"soon"`, `"many"`},
		},
		{
			name:    "an unreadable secret file is named",
			missing: "SEALVAULT_DATABASE_URL_FILE",
			names:   []string{"SEALVAULT_DATABASE_URL_FILE", "no-such-file"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			if tt.missing != "" {
				t.Setenv(tt.missing, filepath.Join(t.TempDir(), "no-such-file"))
			}
			_, err := loadConfig(t)
			if err == nil {
				t.Fatal("configuration accepted, want an error")
			}
			for _, n := range tt.names {
				if !strings.Contains(err.Error(), n) {
					t.Errorf("error does not name %s:\n%v", n, err)
				}
			}
		})
	}
}

// runRoot runs the sealvault command line with args and returns what it printed and its error.
func runRoot(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	root := newRoot()
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&out)
	err := root.ExecuteContext(t.Context())
	return out.String(), err
}

func TestConfigReportsEveryProblemAtOnce(t *testing.T) {
	// Every problem line names the flag and its environment variable.
	problems := []string{
		"--listen (SEALVAULT_LISTEN)",
		"--token-ttl (SEALVAULT_TOKEN_TTL)",
		"--body-limit (SEALVAULT_BODY_LIMIT)",
		`--trusted-proxies (SEALVAULT_TRUSTED_PROXIES): "1.2.3.4"`,
		"--log-level (SEALVAULT_LOG_LEVEL)",
		"--db-export-timeout (SEALVAULT_DB_EXPORT_TIMEOUT)",
	}
	tests := []struct {
		name string
		env  map[string]string
		args []string
	}{
		{
			name: "flags",
			args: []string{"--listen", "nope", "--token-ttl", "10s", "--body-limit", "lots",
				"--trusted-proxies", "1.2.3.4", "--log-level", "loud", "--db-timeout", "10s", "--db-export-timeout", "2s"},
		},
		{
			name: "environment",
			env: map[string]string{"SEALVAULT_LISTEN": "nope", "SEALVAULT_TOKEN_TTL": "10s",
				"SEALVAULT_BODY_LIMIT": "lots", "SEALVAULT_TRUSTED_PROXIES": "1.2.3.4", "SEALVAULT_LOG_LEVEL": "loud",
				"SEALVAULT_DB_TIMEOUT": "10s", "SEALVAULT_DB_EXPORT_TIMEOUT": "2s"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			out, err := runRoot(t, append([]string{"config"}, tt.args...)...)
			if err == nil {
				t.Fatalf("sealvault config accepted the settings and printed:\n%s", out)
			}
			msg := err.Error()
			for _, p := range problems {
				if !strings.Contains(msg, p) {
					t.Errorf("error does not report %s:\n%s", p, msg)
				}
			}
			var lines int
			for l := range strings.Lines(msg) {
				if strings.HasPrefix(l, "  --") {
					lines++
				}
			}
			if lines != len(problems) {
				t.Errorf("error has %d problem lines, want %d (one per bad setting):\n%s", lines, len(problems), msg)
			}
			if out != "" {
				t.Errorf("the command ran despite the bad settings and printed:\n%s", out)
			}
		})
	}
}

func TestConfigTableListsEverySetting(t *testing.T) {
	clearEnv(t)
	out, err := runRoot(t, "config")
	if err != nil {
		t.Fatalf("sealvault config: %v", err)
	}
	rows := map[string]string{}
	for l := range strings.Lines(out) {
		if name, ok := strings.CutPrefix(l, "| `--"); ok {
			rows[name[:strings.Index(name, "`")]] = l
		}
	}
	fs := pflag.NewFlagSet("sealvault", pflag.ContinueOnError)
	(&Config{}).bindFlags(fs)
	fs.VisitAll(func(f *pflag.Flag) {
		row, ok := rows[f.Name]
		if !ok {
			t.Errorf("no row for --%s in:\n%s", f.Name, out)
			return
		}
		if !strings.Contains(row, "`"+envName(f.Name)+"`") {
			t.Errorf("row of --%s does not name %s: %s", f.Name, envName(f.Name), row)
		}
	})
	if len(rows) != countFlags(fs) {
		t.Errorf("%d rows for %d settings:\n%s", len(rows), countFlags(fs), out)
	}
	db := rows["database-url"]
	for _, env := range []string{"`SEALVAULT_DATABASE_URL`", "`SEALVAULT_DATABASE_URL_FILE`", "`DATABASE_URL`"} {
		if !strings.Contains(db, env) {
			t.Errorf("row of --database-url does not name %s: %s", env, db)
		}
	}
	if !strings.Contains(rows["token-ttl"], "`15m0s`") {
		t.Errorf("row of --token-ttl does not show its default 15m0s: %s", rows["token-ttl"])
	}
}

func countFlags(fs *pflag.FlagSet) int {
	var n int
	fs.VisitAll(func(*pflag.Flag) { n++ })
	return n
}

// TestReadmeConfigTable keeps the README's configuration table equal to what
// `sealvault config` prints.
func TestReadmeConfigTable(t *testing.T) {
	clearEnv(t)
	table, err := runRoot(t, "config")
	if err != nil {
		t.Fatalf("sealvault config: %v", err)
	}
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatalf("reading the README: %v", err)
	}
	if !strings.Contains(string(readme), table) {
		var missing []string
		for l := range strings.Lines(table) {
			if !strings.Contains(string(readme), l) {
				missing = append(missing, strings.TrimSpace(l))
			}
		}
		t.Errorf("README.md does not contain the output of `go run ./cmd/sealvault config` verbatim; "+
			"rows missing or changed:\n%s\n\ncurrent table:\n%s", strings.Join(missing, "\n"), table)
	}
}
