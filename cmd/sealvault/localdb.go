package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"sealvault/internal/localpg"
)

// localDBCmd manages the project-local PostgreSQL cluster by hand, the one serve starts:
// the same --pg-dir (or pg under --data-dir) and --pg-port. make test uses it for a
// throw-away test cluster.
func (a *app) localDBCmd() *cobra.Command {
	var maxConns int
	var fsync bool
	cluster := func() *localpg.Cluster {
		return &localpg.Cluster{Dir: a.cfg.PGDir, Port: a.cfg.PGPort, Fsync: fsync, MaxConnections: maxConns, Logger: a.log}
	}
	cmd := &cobra.Command{Use: "localdb", Short: "Start or stop the project-local PostgreSQL cluster (--pg-dir, --pg-port)"}
	cmd.PersistentFlags().BoolVar(&fsync, "fsync", true, "durable writes; turn off only for a throw-away test cluster")
	cmd.PersistentFlags().IntVar(&maxConns, "max-connections", 0, "max_connections of the server (0: PostgreSQL's default)")
	cmd.AddCommand(&cobra.Command{
		Use:   "start",
		Short: "Start the cluster (creating it if needed) and print its URL",
		RunE: func(cmd *cobra.Command, _ []string) error {
			url, _, err := cluster().Start(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), url)
			return nil
		},
	}, &cobra.Command{
		Use:   "stop",
		Short: "Stop the cluster cleanly",
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cluster().Stop(cmd.Context())
		},
	})
	return cmd
}
