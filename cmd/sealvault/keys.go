package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"sealvault/internal/identity"
	"sealvault/seal/keys"
)

func (a *app) keysCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Short: "Access-token signing keys; moving seal keys into a PKCS#11 token"}
	cmd.AddCommand(a.keysMoveCmd())
	cmd.AddCommand(&cobra.Command{
		Use:   "rotate",
		Short: "Make a new token signing key; older keys keep verifying until their tokens expire, then are pruned",
		RunE: func(cmd *cobra.Command, _ []string) error {
			k, err := identity.OpenKeyring(a.cfg.TokenKeyDir)
			if err != nil {
				return err
			}
			now := time.Now()
			kid, err := k.Rotate(now)
			if err != nil {
				return err
			}
			// A retired key is kept for the longest token lifetime plus clock leeway.
			n, err := k.Prune(now, a.cfg.TokenTTL+time.Minute)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "new signing key %s; %d expired key(s) removed\n", kid, n)
			return nil
		},
	})
	return cmd
}

func (a *app) keysMoveCmd() *cobra.Command {
	var to, as string
	var all bool
	cmd := &cobra.Command{
		Use:   "move --to pkcs11 --as USERNAME (--all | S-1 S-2 ...)",
		Short: "Re-key seals whose keys are in software custody with new keys made in the PKCS#11 token (new certificate; earlier uses still verify)",
		Long: `Gives each named seal (or, with --all, every seal not revoked whose key is in software
custody and made by the service) a new key generated inside the PKCS#11 token that
--pkcs11-module, --pkcs11-token and --pkcs11-pin-file name, and a new certificate from the
internal CA with the same subject and validity. The old certificate is kept, so every
earlier use still verifies and finds its seal; the old key is no longer stored. The seal's
image is recorded again as a new version whose GB/T 38540 seal data names the new
certificate. Each seal is one transaction with its audit event (seal.rekey) naming --as, a
seal administrator. A key cannot be copied into the token (crypto11 writes no private keys),
so keys are replaced, not moved; imported seals (another CA's certificate) and revoked ones
are refused.`,
		RunE: func(cmd *cobra.Command, refs []string) error {
			ctx := cmd.Context()
			switch {
			case to != "pkcs11":
				return fmt.Errorf("--to %q: the only destination is pkcs11", to)
			case a.cfg.PKCS11Module == "":
				return errors.New("--to pkcs11 needs the token: --pkcs11-module, --pkcs11-token and --pkcs11-pin-file")
			case as == "":
				return errors.New("--as: name the seal administrator the audit trail records")
			case all == (len(refs) > 0):
				return errors.New("name the seals (S-1 S-2 ...) or give --all, not both")
			}
			db, seals, actor, err := a.asSealAdmin(ctx, as, "cli-keys-move")
			if err != nil {
				return err
			}
			defer db.close(context.WithoutCancel(ctx))
			var ids []uuid.UUID
			if all {
				rows, err := db.pool.Query(ctx, `SELECT id, key_ref FROM seals WHERE status <> 'revoked' AND key_alg NOT IN ('imported', 'sm2') ORDER BY no`)
				if err != nil {
					return err
				}
				for rows.Next() {
					var id uuid.UUID
					var ref []byte
					if err := rows.Scan(&id, &ref); err != nil {
						rows.Close()
						return err
					}
					if !keys.InToken(ref) {
						ids = append(ids, id)
					}
				}
				rows.Close()
				if err := rows.Err(); err != nil {
					return err
				}
			}
			for _, r := range refs {
				n, err := strconv.ParseInt(strings.TrimPrefix(strings.ToUpper(r), "S-"), 10, 64)
				if err != nil || !strings.HasPrefix(strings.ToUpper(r), "S-") {
					return fmt.Errorf("%q: not a seal reference such as S-1", r)
				}
				var id uuid.UUID
				if err := db.pool.QueryRow(ctx, `SELECT id FROM seals WHERE no = $1`, n).Scan(&id); err != nil {
					return fmt.Errorf("%s: no such seal", r)
				}
				ids = append(ids, id)
			}
			out := cmd.OutOrStdout()
			for _, id := range ids {
				r, err := seals.Rekey(ctx, actor, id)
				if err != nil {
					return err
				}
				fmt.Fprintf(out, "%s: new key in the token %t, certificate %s → %s, image version %d\n", r.Seal, r.InToken, r.OldSerial, r.NewSerial, r.ImageVersion)
			}
			fmt.Fprintf(out, "%d seals re-keyed\n", len(ids))
			return nil
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "where the new keys are made: pkcs11")
	cmd.Flags().StringVar(&as, "as", "", "the seal administrator (username) the audit trail records")
	cmd.Flags().BoolVar(&all, "all", false, "every seal not revoked whose key is in software custody")
	return cmd
}
