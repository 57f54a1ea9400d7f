package main

import (
	"fmt"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/spf13/cobra"

	"sealvault/migrations"
)

func (a *app) migrateCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "migrate", Short: "Database migrations (forward only)"}
	cmd.AddCommand(&cobra.Command{
		Use:   "up",
		Short: "Apply every pending migration",
		RunE: func(cmd *cobra.Command, _ []string) error {
			db, err := a.openDB(cmd.Context(), true, false)
			if err != nil {
				return err
			}
			return db.close(cmd.Context())
		},
	}, &cobra.Command{
		Use:   "status",
		Short: "Print the applied and the newest migration version",
		RunE: func(cmd *cobra.Command, _ []string) error {
			db, err := a.openDB(cmd.Context(), false, false)
			if err != nil {
				return err
			}
			defer db.close(cmd.Context())
			sqlDB := stdlib.OpenDBFromPool(db.pool)
			defer sqlDB.Close()
			cur, latest, err := migrations.Status(cmd.Context(), sqlDB)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "applied %d, newest %d\n", cur, latest)
			return nil
		},
	})
	return cmd
}
