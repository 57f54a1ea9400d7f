package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"sealvault/internal/identity"
)

func (a *app) keysCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Short: "Access-token signing keys"}
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
