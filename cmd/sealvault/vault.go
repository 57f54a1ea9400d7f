package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"sealvault/casework"
	"sealvault/seal"
	"sealvault/seal/keys"
	"sealvault/vault"
	"sealvault/vault/fsstore"
	"sealvault/vault/s3store"
)

// blobStore opens the configured blob backend.
func (a *app) blobStore(ctx context.Context) (vault.Backend, error) {
	switch a.cfg.BlobStore {
	case "fs":
		return fsstore.New(a.cfg.BlobDir)
	case "s3":
		return s3store.New(ctx, s3store.Config{Endpoint: a.cfg.S3Endpoint, Secure: !a.cfg.S3Insecure, Region: a.cfg.S3Region,
			AccessKey: a.cfg.S3AccessKey, SecretKey: a.cfg.S3SecretKey, Bucket: a.cfg.S3Bucket, Prefix: a.cfg.S3Prefix,
			SpoolDir: a.cfg.S3SpoolDir, DisableChecksum: a.cfg.S3DisableChecksum})
	}
	return nil, fmt.Errorf("--blob-store %q: want fs or s3", a.cfg.BlobStore)
}

func (a *app) scrubCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "scrub",
		Short: "Re-hash every stored object and report missing, corrupt and unreadable ones (exit 1 if any)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			b, err := a.blobStore(ctx)
			if err != nil {
				return err
			}
			db, err := a.openDB(ctx, false, false)
			if err != nil {
				return err
			}
			defer db.close(context.WithoutCancel(ctx))
			// Every object a material names must be present; every object present must
			// match its name.
			expected := vault.ReferencedDigests(ctx, db.pool)
			bar := progressbar.NewOptions64(-1, progressbar.OptionSetWriter(barWriter(cmd.ErrOrStderr(), "scrubbing objects")),
				progressbar.OptionSetDescription("scrubbing objects"), progressbar.OptionShowBytes(true),
				progressbar.OptionThrottle(100e6), progressbar.OptionClearOnFinish())
			progress := func(p vault.Progress) { bar.ChangeMax64(p.TotalBytes); _ = bar.Set64(p.Bytes) }
			rep, err := vault.Scrub(ctx, b, expected, progress)
			_ = bar.Finish()
			if err != nil {
				return err
			}
			if rep.Referrers, err = referrers(ctx, db.pool, rep.Damaged()); err != nil {
				return err
			}
			if !asJSON {
				if err := rep.WriteText(cmd.OutOrStdout()); err != nil {
					return err
				}
				return rep.Err()
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			if err := enc.Encode(rep); err != nil {
				return err
			}
			return rep.Err()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}

func (a *app) gcCmd() *cobra.Command {
	var grace time.Duration
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "gc",
		Short: "Delete stored objects no record names, older than the grace period (never a referenced or recently uploaded one)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if grace < time.Hour {
				return fmt.Errorf("--grace %s is too short: an upload in flight could lose its bytes (at least 1h)", grace)
			}
			b, err := a.blobStore(ctx)
			if err != nil {
				return err
			}
			db, err := a.openDB(ctx, false, false)
			if err != nil {
				return err
			}
			defer db.close(context.WithoutCancel(ctx))
			run := vault.GC
			if dryRun {
				run = vault.GCDryRun
			}
			rep, err := run(ctx, b, vault.NewPins(db.pool), vault.References(db.pool), grace, time.Now())
			if err != nil {
				return err
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(rep)
		},
	}
	cmd.Flags().DurationVar(&grace, "grace", vault.DefaultGrace, "keep unreferenced objects younger than this")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "list what would be deleted (deleted, freed, stale_pins) and delete nothing")
	return cmd
}

// referrers names the records that name each of ds: what an operator restores from backup,
// and whose holder or department to tell.
func referrers(ctx context.Context, db *pgxpool.Pool, ds []vault.Digest) (map[vault.Digest][]string, error) {
	out := map[vault.Digest][]string{}
	for _, d := range ds {
		rows, err := db.Query(ctx, `
			SELECT 'material ' || id || ' (' || type_code || ', ' || title || ')' FROM materials
				WHERE content_digest = $1 OR thumbnail_digest = $1
			UNION ALL SELECT 'material ' || material_id || ' page ' || page_no FROM material_pages WHERE digest = $1
			UNION ALL SELECT 'seal use U-' || no || ' (' || CASE WHEN output_digest = $1 THEN 'sealed output' ELSE 'input' END || ')'
				FROM seal_uses WHERE input_digest = $1 OR output_digest = $1
			UNION ALL SELECT 'seal use U-' || u.no || ' (archive version ' || a.version || ')'
				FROM seal_use_archives a JOIN seal_uses u ON u.id = a.use_id WHERE a.digest = $1 AND a.version > 1
			UNION ALL SELECT 'seal request R-' || no FROM seal_requests WHERE document_digest = $1
			UNION ALL SELECT 'document ' || name FROM seal_documents WHERE digest = $1
			UNION ALL SELECT 'case ' || c.case_no || ' (' || cd.kind || ')' FROM case_documents cd JOIN cases c ON c.id = cd.case_id WHERE cd.digest = $1
			UNION ALL SELECT 'seal S-' || s.no || ' image' FROM seal_images i JOIN seals s ON s.id = i.seal_id WHERE i.digest = $1
			ORDER BY 1`, d.String())
		if err != nil {
			return nil, fmt.Errorf("scrub: referrers: %w", err)
		}
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return nil, fmt.Errorf("scrub: referrers: %w", err)
		}
		if len(names) > 0 {
			out[d] = names
		}
	}
	return out, nil
}

// holderKeys returns the configured holder-number keys, or those in <data-dir>/keys/holder.key,
// made on first start (exclusive create: processes starting together agree on one).
func (a *app) holderKeys() (*vault.HolderKeys, error) {
	if a.cfg.HolderKey != "" {
		return vault.ParseHolderKeys(a.cfg.HolderKey)
	}
	dir := filepath.Join(a.cfg.DataDir, "keys")
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return nil, fmt.Errorf("holder key: %w", err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("holder key: %w", err)
	}
	file := filepath.Join(dir, "holder.key")
	for range 50 {
		if b, err := os.ReadFile(file); err == nil && len(bytes.TrimSpace(b)) > 0 {
			return vault.ParseHolderKeys(string(bytes.TrimSpace(b)))
		} else if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("holder key: %w", err)
		}
		f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, os.ErrExist) {
			time.Sleep(20 * time.Millisecond) // another process is writing it
			continue
		} else if err != nil {
			return nil, fmt.Errorf("holder key: %w", err)
		}
		key := vault.GenerateHolderKeys()
		_, err = f.WriteString(key + "\n")
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, fmt.Errorf("holder key: %w", err)
		}
		a.log.Info("holder key created", "file", file)
		return vault.ParseHolderKeys(key)
	}
	return nil, fmt.Errorf("holder key: %s stays empty", file)
}

// sealService opens key custody under the seal key-encryption key (--seal-kek, or the file
// keys/seal-kek.key under --data-dir, made on first start) and, with --pkcs11-module, in a
// PKCS#11 token for the ECDSA and RSA keys it makes from then on, the internal CA and the seal
// maker (its SM2 root) and the timestamping authority, all made on first start.
func (a *app) sealService(ctx context.Context, pool *pgxpool.Pool, blobs vault.Backend) (*seal.Service, error) {
	var kek *keys.KEK
	var err error
	if a.cfg.SealKEK != "" {
		kek, err = keys.ParseKEK(a.cfg.SealKEK)
	} else {
		file := filepath.Join(a.cfg.DataDir, "keys", "seal-kek.key")
		_, statErr := os.Stat(file)
		if kek, err = keys.LoadKEK(file, true); err == nil && errors.Is(statErr, os.ErrNotExist) {
			a.log.Info("seal key-encryption key created", "file", file)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("seal key-encryption key: %w", err)
	}
	var custody keys.Custody = keys.NewSoftCustody(kek)
	if a.cfg.PKCS11Module != "" {
		hsm, err := keys.OpenPKCS11(keys.PKCS11Config{Module: a.cfg.PKCS11Module, Token: a.cfg.PKCS11Token, PINFile: a.cfg.PKCS11PINFile}, custody)
		if err != nil {
			return nil, err
		}
		a.log.Info("key custody: PKCS#11 token", "module", a.cfg.PKCS11Module, "token", a.cfg.PKCS11Token)
		custody = hsm
	}
	root, err := seal.OpenCA(ctx, pool, custody, a.cfg.CAName, time.Now())
	if err != nil {
		return nil, err
	}
	maker, err := seal.OpenMaker(ctx, pool, custody, a.cfg.CAName+"（SM2 制章）", time.Now())
	if err != nil {
		return nil, err
	}
	policy, _ := parseOID(a.cfg.TSAPolicy) // validated with the configuration
	ts, err := seal.OpenTSA(ctx, pool, custody, root, "sealvault 时间戳服务", policy, a.cfg.TSAAccuracy, time.Now())
	if err != nil {
		return nil, err
	}
	return &seal.Service{DB: pool, Blobs: blobs, Pins: vault.NewPins(pool), Custody: custody, CA: root, Maker: maker, TSA: ts,
		FontPath: a.cfg.SealFont, SignerTTL: a.cfg.SignerTTL, PublicURL: a.cfg.PublicURL,
		DefaultKeyAlgorithm: a.cfg.SealAlgorithm}, nil
}

// holidayCalendar is the working-day calendar of the time limits: --holiday-calendar, or the
// one shipped.
func (a *app) holidayCalendar() (*casework.Calendar, error) {
	if a.cfg.HolidayCalendar == "" {
		return casework.DefaultCalendar(), nil
	}
	data, err := os.ReadFile(a.cfg.HolidayCalendar)
	if err != nil {
		return nil, fmt.Errorf("holiday calendar: %w", err)
	}
	return casework.ParseCalendar(data)
}
