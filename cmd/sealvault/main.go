// Command sealvault is the electronic-seal and material-reuse vault of a government service
// center: one binary for the server and its operations commands.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"sealvault/vault/pages"

	"github.com/spf13/cobra"
)

func main() {
	// Uploads are checked in worker processes: this executable, started again (see
	// pages.Run). A worker does its job and exits here.
	pages.WorkerMain()
	// A closed stdout or stderr (e.g. `make run | tee` after Ctrl-C) must not kill the
	// process before it has shut down cleanly.
	signal.Ignore(syscall.SIGPIPE)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRoot().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "sealvault:", err)
		os.Exit(1)
	}
}

// app is what every subcommand shares: the configuration and the logger built from it.
type app struct {
	cfg Config
	log *slog.Logger
}

func newRoot() *cobra.Command {
	a := &app{}
	root := &cobra.Command{
		Use:           "sealvault",
		Short:         "Electronic-seal and material-reuse vault of a government service center",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if err := loadEnv(cmd.Root().PersistentFlags()); err != nil {
				return err
			}
			if err := a.cfg.validate(); err != nil {
				return err
			}
			lvl, _ := a.cfg.level()
			a.log = slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
			return nil
		},
	}
	a.cfg.bindFlags(root.PersistentFlags())
	root.AddCommand(a.serveCmd(), a.migrateCmd(), a.keysCmd(), a.configCmd(), a.localDBCmd(), a.auditCmd(), a.scrubCmd(), a.gcCmd(), a.ingestCmd(), a.verifyCmd(), a.catalogCmd())
	return root
}

func (a *app) configCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "config",
		Short: "Print every setting with its environment variable and default, as a Markdown table",
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprint(cmd.OutOrStdout(), markdownTable(cmd.Root().PersistentFlags()))
			return nil
		},
	}
}
