package main

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

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
			// Objects named by rows will be checked for presence once material records exist;
			// until then scrub checks every stored object's bytes against its name.
			var expected iter.Seq2[vault.Digest, error]
			bar := progressbar.NewOptions64(-1, progressbar.OptionSetWriter(cmd.ErrOrStderr()),
				progressbar.OptionSetDescription("scrubbing objects"), progressbar.OptionShowBytes(true),
				progressbar.OptionThrottle(100e6), progressbar.OptionClearOnFinish())
			progress := func(p vault.Progress) { bar.ChangeMax64(p.TotalBytes); _ = bar.Set64(p.Bytes) }
			if !asJSON {
				err = vault.RunScrub(ctx, b, expected, cmd.OutOrStdout(), progress)
				_ = bar.Finish()
				return err
			}
			rep, err := vault.Scrub(ctx, b, expected, progress)
			_ = bar.Finish()
			if err != nil {
				return err
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
