package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"sealvault/seal"
)

// errVerifyFailed makes `sealvault verify` exit 1 when a file is not validly sealed.
var errVerifyFailed = errors.New("not every signature is valid")

func (a *app) verifyCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "verify FILE.pdf...",
		Short: "Check every seal signature of PDFs against this service's CA and its seal-use register (exit 1 unless all valid)",
		Long: `Checks each signature of each file: the digest of the signed bytes, the signature, the
certificate chain to this service's root, whether bytes were added after signing, the seal
that signed, and the seal-use register entry of the signed revision. Reads the database
(and the seal key-encryption key, to open the CA) as serve does.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			ctx := cmd.Context()
			db, err := a.openDB(ctx, false, false)
			if err != nil {
				return err
			}
			defer db.close(context.WithoutCancel(ctx))
			blobs, err := a.blobStore(ctx)
			if err != nil {
				return err
			}
			seals, err := a.sealService(ctx, db.pool, blobs)
			if err != nil {
				return err
			}
			allValid := true
			for _, f := range files {
				data, err := os.ReadFile(f)
				if err != nil {
					return err
				}
				v, err := seals.Verify(ctx, data)
				if err != nil {
					return fmt.Errorf("%s: %w", f, err)
				}
				allValid = allValid && v.Valid
				if asJSON {
					enc := json.NewEncoder(cmd.OutOrStdout())
					if err := enc.Encode(map[string]any{"file": f, "verification": v}); err != nil {
						return err
					}
					continue
				}
				printVerification(cmd.OutOrStdout(), f, v)
			}
			if !allValid {
				cmd.SilenceUsage = true
				return errVerifyFailed
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "one JSON object per file instead of text")
	return cmd
}

func printVerification(w io.Writer, file string, v seal.Verification) {
	verdict := "VALID"
	if !v.Valid {
		verdict = "NOT VALID"
	}
	fmt.Fprintf(w, "%s: %s (%d signatures, sha256 %s)\n", file, verdict, len(v.Signatures), v.Digest)
	if len(v.Signatures) == 0 {
		fmt.Fprintln(w, "  no signatures")
	}
	for i, s := range v.Signatures {
		fmt.Fprintf(w, "  #%d %s: %s\n", i+1, s.Field, map[bool]string{true: "valid", false: "NOT valid"}[s.Valid])
		fmt.Fprintf(w, "     signer:    %s (certificate %s)\n", s.Signer, s.CertSerial)
		if s.SealRef != "" {
			fmt.Fprintf(w, "     seal:      %s, now %s\n", s.SealRef, s.SealStatus)
		}
		fmt.Fprintf(w, "     digest:    %s; chain to the root: %s\n", okText(s.DigestValid), okText(s.ChainValid))
		fmt.Fprintf(w, "     covers:    %s\n", map[bool]string{true: "the whole file", false: fmt.Sprintf("not the whole file (%d bytes follow)", s.AppendedBytes)}[s.CoversWholeFile])
		if s.RegisterEntry != nil {
			u := s.RegisterEntry
			fmt.Fprintf(w, "     register:  %s, case %s, item %s, applied %s\n", u.Ref, u.CaseRef, u.ItemCode, u.AppliedAt.Format("2006-01-02 15:04:05 MST"))
		}
		if len(s.Problems) > 0 {
			fmt.Fprintf(w, "     problems:  %s\n", strings.Join(s.Problems, "; "))
		}
	}
}

func okText(ok bool) string {
	if ok {
		return "ok"
	}
	return "FAILED"
}
