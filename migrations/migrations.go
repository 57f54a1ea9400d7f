// Package migrations holds sealvault's numbered SQL migrations, embedded in the binary, and
// applies them with goose. Migrations are forward only: a landed file is never edited.
package migrations

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"log/slog"
	"sort"

	"github.com/pressly/goose/v3"
)

//go:embed *.sql
var files embed.FS

// FS is the embedded migration files, named NNNNN_name.sql.
func FS() fs.FS { return files }

// Up applies every pending migration to db and returns how many were applied.
func Up(ctx context.Context, db *sql.DB, log *slog.Logger) (int, error) {
	p, err := goose.NewProvider(goose.DialectPostgres, db, files)
	if err != nil {
		return 0, fmt.Errorf("migrations: %w", err)
	}
	res, err := p.Up(ctx)
	for _, r := range res {
		if log != nil && r.Error == nil {
			log.Info("migration applied", "version", r.Source.Version, "file", r.Source.Path)
		}
	}
	if err != nil {
		return len(res), fmt.Errorf("migrations: up: %w", err)
	}
	return len(res), nil
}

// Status reports the newest applied version and the newest embedded version.
func Status(ctx context.Context, db *sql.DB) (current, latest int64, err error) {
	p, err := goose.NewProvider(goose.DialectPostgres, db, files)
	if err != nil {
		return 0, 0, fmt.Errorf("migrations: %w", err)
	}
	current, err = p.GetDBVersion(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("migrations: version: %w", err)
	}
	srcs := p.ListSources()
	if len(srcs) > 0 {
		latest = srcs[len(srcs)-1].Version
	}
	return current, latest, nil
}

// Fingerprint is a short hash of every embedded migration's name and bytes. Test harnesses
// use it to name a migrated template database, so a changed migration set gets a new one.
func Fingerprint() string {
	names, _ := fs.Glob(files, "*.sql")
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		b, _ := files.ReadFile(n)
		fmt.Fprintf(h, "%s\x00%d\x00", n, len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}
