package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/mod/sumdb/note"

	"sealvault/audit"
)

func (a *app) auditLog(pool *pgxpool.Pool) (*audit.Log, error) {
	return audit.Open(pool, audit.Config{
		Origin: a.cfg.AuditOrigin, KeyDir: a.cfg.AuditKeyDir, CheckpointDir: a.cfg.AuditCheckpointDir,
		CheckpointEvery: a.cfg.AuditCheckpointEvery, CheckpointInterval: a.cfg.AuditCheckpointInterval, Log: a.log,
	})
}

// errDamage makes the command exit non-zero after the report has been printed.
var errDamage = errors.New("the audit log is damaged")

func (a *app) auditCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "The audit trail: verify, export, checkpoint"}
	var export, keyFile string
	var checkpoints []string
	var asJSON bool
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Verify the audit log: online against the database, or offline with --export, --checkpoint and --key",
		Long: `Online (no flags): recomputes the Merkle tree from the database rows and checks it against
every checkpoint stored in the database and in the checkpoint directory.

Offline (--export FILE --checkpoint FILE… --key FILE): needs no database; checks an export
(GET /api/v1/audit/export or 'sealvault audit export') against signed checkpoints with the
verifier key (audit-note.pub, or verifier_key of GET /api/v1/audit/checkpoint).

Both name the first damaged sequence number and the kind of damage (edited, deleted,
reordered, truncated, forged-checkpoint) and exit 1 when anything is found.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var rep *audit.Report
			var err error
			if export != "" {
				rep, err = verifyOffline(cmd, export, checkpoints, keyFile)
			} else {
				if len(checkpoints) > 0 || keyFile != "" {
					return errors.New("--checkpoint and --key go with --export (offline mode)")
				}
				rep, err = a.verifyOnline(cmd)
			}
			if err != nil {
				return err
			}
			printReport(cmd.OutOrStdout(), rep, asJSON)
			if !rep.OK() {
				return errDamage
			}
			return nil
		},
	}
	verify.Flags().StringVar(&export, "export", "", "JSON Lines export to verify offline")
	verify.Flags().StringSliceVar(&checkpoints, "checkpoint", nil, "signed checkpoint note file(s) (offline mode)")
	verify.Flags().StringVar(&keyFile, "key", "", "file holding the checkpoint verifier key (offline mode)")
	verify.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")

	var from, to int64
	exp := &cobra.Command{
		Use:   "export",
		Short: "Write sequenced events as JSON Lines to standard output",
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withLog(cmd.Context(), func(ctx context.Context, l *audit.Log) error {
				if _, err := l.IntegrateAll(ctx); err != nil {
					return err
				}
				return l.Export(ctx, cmd.OutOrStdout(), from, to)
			})
		},
	}
	exp.Flags().Int64Var(&from, "from", 0, "first seq")
	exp.Flags().Int64Var(&to, "to", 1<<62, "seq to stop before")

	cp := &cobra.Command{
		Use:   "checkpoint",
		Short: "Sequence pending events, sign a checkpoint now and print it",
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withLog(cmd.Context(), func(ctx context.Context, l *audit.Log) error {
				if _, err := l.IntegrateAll(ctx); err != nil {
					return err
				}
				c, err := l.Checkpoint(ctx, true)
				if err != nil {
					return err
				}
				fmt.Fprint(cmd.OutOrStdout(), c.Note)
				return nil
			})
		},
	}
	cmd.AddCommand(verify, exp, cp)
	return cmd
}

func (a *app) withLog(ctx context.Context, fn func(context.Context, *audit.Log) error) error {
	// Opening the log makes a key pair where none is found: here that would be a key other
	// than the server's, checkpoints signed with it, or every stored one reported forged.
	if _, err := os.Stat(filepath.Join(a.cfg.AuditKeyDir, "audit-note.key")); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("no checkpoint signing key audit-note.key in %s: set --data-dir (or --audit-key-dir) to the server's", a.cfg.AuditKeyDir)
	} else if err != nil {
		return fmt.Errorf("checkpoint signing key: %w", err)
	}
	db, err := a.openDB(ctx, false, false)
	if err != nil {
		return err
	}
	defer db.close(context.WithoutCancel(ctx))
	l, err := a.auditLog(db.pool)
	if err != nil {
		return err
	}
	return fn(ctx, l)
}

func (a *app) verifyOnline(cmd *cobra.Command) (*audit.Report, error) {
	var rep *audit.Report
	err := a.withLog(cmd.Context(), func(ctx context.Context, l *audit.Log) error {
		n, err := l.Size(ctx)
		if err != nil {
			return err
		}
		bar := progressbar.NewOptions64(n, progressbar.OptionSetWriter(barWriter(cmd.ErrOrStderr(), "verifying audit events")),
			progressbar.OptionSetDescription("verifying audit events"), progressbar.OptionShowCount(),
			progressbar.OptionThrottle(100e6), progressbar.OptionClearOnFinish())
		rep, err = l.Verify(ctx, func() { _ = bar.Add(1) })
		_ = bar.Finish()
		return err
	})
	return rep, err
}

func verifyOffline(cmd *cobra.Command, export string, checkpoints []string, keyFile string) (*audit.Report, error) {
	if len(checkpoints) == 0 || keyFile == "" {
		return nil, errors.New("offline verification needs --checkpoint (one or more) and --key")
	}
	kb, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("verifier key: %w", err)
	}
	v, err := note.NewVerifier(strings.TrimSpace(string(kb)))
	if err != nil {
		return nil, fmt.Errorf("verifier key %s: %w", keyFile, err)
	}
	var cps [][]byte
	for _, f := range checkpoints {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("checkpoint: %w", err)
		}
		cps = append(cps, b)
	}
	f, err := os.Open(export)
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	bar := progressbar.NewOptions64(st.Size(), progressbar.OptionSetWriter(barWriter(cmd.ErrOrStderr(), "verifying export")),
		progressbar.OptionSetDescription("verifying export"), progressbar.OptionShowBytes(true),
		progressbar.OptionThrottle(100e6), progressbar.OptionClearOnFinish())
	rep, err := audit.VerifyExport(f, cps, v, func(n int) { _ = bar.Add(n) })
	_ = bar.Finish()
	return rep, err
}

func printReport(w io.Writer, r *audit.Report, asJSON bool) {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(r)
		return
	}
	fmt.Fprintf(w, "events: %d\nroot:   %s\ncheckpoints checked: %d\n", r.Events, r.Root, r.Checkpoints)
	if r.Newest != nil {
		fmt.Fprintf(w, "newest valid checkpoint: size %d\n", r.Newest.Size)
	}
	if r.OK() {
		fmt.Fprintln(w, "OK: every event matches the tree and every checkpoint")
		return
	}
	first := r.First()
	fmt.Fprintf(w, "DAMAGED: first bad seq %d (%s)\n", first.Seq, first.Kind)
	for _, d := range r.Damage {
		fmt.Fprintf(w, "  - %s\n", d)
	}
}
