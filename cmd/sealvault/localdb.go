package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"sealvault/internal/localpg"
)

// localDBCmd manages a project-local PostgreSQL cluster by hand; make test uses it to stop
// the test cluster after the run.
func (a *app) localDBCmd() *cobra.Command {
	var dir string
	var port, maxConns int
	var fsync bool
	cluster := func() *localpg.Cluster {
		return &localpg.Cluster{Dir: dir, Port: port, Fsync: fsync, MaxConnections: maxConns, Logger: a.log}
	}
	cmd := &cobra.Command{Use: "localdb", Short: "Start or stop a project-local PostgreSQL cluster"}
	cmd.PersistentFlags().StringVar(&dir, "dir", "var/pg", "data directory of the cluster")
	cmd.PersistentFlags().IntVar(&port, "port", 55432, "port of the cluster; 0 picks a free one (a running cluster keeps its own)")
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
