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

// usageTemplate is cobra's, with the global settings (some sixty flags) left out of a
// subcommand's help: it lists its own flags and points to `sealvault config`, which lists
// every global setting with its environment variable, default and meaning.
const usageTemplate = `Usage:{{if .Runnable}}
  {{.UseLine}}{{end}}{{if .HasAvailableSubCommands}}
  {{.CommandPath}} [command]{{end}}{{if gt (len .Aliases) 0}}

Aliases:
  {{.NameAndAliases}}{{end}}{{if .HasExample}}

Examples:
{{.Example}}{{end}}{{if .HasAvailableSubCommands}}

Available Commands:{{range .Commands}}{{if (or .IsAvailableCommand (eq .Name "help"))}}
  {{rpad .Name .NamePadding }} {{.Short}}{{end}}{{end}}{{end}}{{if .HasAvailableLocalFlags}}

Flags:
{{.LocalFlags.FlagUsages | trimTrailingWhitespaces}}{{end}}{{if .HasAvailableInheritedFlags}}

Global settings (--data-dir, --database-url, --pg-port, keys, limits …): run "sealvault config"
for every one of them, with its environment variable and default.{{end}}{{if .HasAvailableSubCommands}}

Use "{{.CommandPath}} [command] --help" for more information about a command.{{end}}
`

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
			if statelessCommands[cmd.CommandPath()] {
				return nil
			}
			return a.useDataDir()
		},
	}
	a.cfg.bindFlags(root.PersistentFlags())
	root.SetUsageTemplate(usageTemplate)
	root.AddCommand(a.serveCmd(), a.migrateCmd(), a.keysCmd(), a.configCmd(), a.localDBCmd(), a.auditCmd(), a.scrubCmd(), a.gcCmd(), a.ingestCmd(), a.verifyCmd(), a.catalogCmd(), a.sealCmd())
	return root
}

// statelessCommands neither read nor make local state under --data-dir (verify does only
// with a configured database, and then calls useDataDir itself).
var statelessCommands = map[string]bool{"sealvault config": true, "sealvault verify": true, "sealvault help": true,
	"sealvault completion": true, "sealvault seal inspect": true}

// useDataDir prints the resolved --data-dir and refuses one that does not look like a
// sealvault data directory (Config.checkDataDir).
func (a *app) useDataDir() error {
	if err := a.cfg.checkDataDir(); err != nil {
		return err
	}
	a.log.Info("data directory", "dir", a.cfg.DataDir)
	return nil
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
