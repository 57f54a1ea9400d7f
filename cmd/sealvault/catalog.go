package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"

	"sealvault/reuse"
	"sealvault/reuse/catalogfile"
)

// catalogCmd groups the commands that maintain the material catalog and service items.
func (a *app) catalogCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "catalog",
		Short: "Maintain the material catalog (材料目录) and the service items that require its materials",
	}
	cmd.AddCommand(a.catalogImportCmd())
	return cmd
}

func (a *app) catalogImportCmd() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "import FILE",
		Short: "Check a catalog file (YAML or CSV) and write its material types and service items in one transaction",
		Long: `Check a catalog file (YAML or CSV; FILE "-" reads standard input) and, if every entry is
valid, write all its material types and then all its service items in one transaction. An entry
with the code of one already stored replaces it. If any entry is bad, every problem is printed
as FILE:LINE: field: reason and nothing is written.

The CSV header must be exactly:
` + catalogfile.CSVHeader,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			file := args[0]
			c, err := readCatalog(file, format, cmd.InOrStdin(), cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			db, err := a.openDB(ctx, true, false)
			if err != nil {
				return err
			}
			defer db.close(context.WithoutCancel(ctx))
			err = pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
				for _, t := range c.Types {
					if err := reuse.PutType(ctx, tx, t); err != nil {
						return &importError{what: "material type " + t.Code, err: err}
					}
				}
				for _, it := range c.Items {
					if err := reuse.PutItem(ctx, tx, it); err != nil {
						return &importError{what: "service item " + it.Code, err: err}
					}
				}
				return nil
			})
			if err != nil {
				return fmt.Errorf("catalog import %s: %w (nothing was imported)", file, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "imported %d material types and %d service items\n", len(c.Types), len(c.Items))
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "", "yaml or csv; empty guesses from the content")
	return cmd
}

// readCatalog parses file and, if any entry is bad, prints every problem to stderr and
// returns an error.
func readCatalog(file, format string, stdin io.Reader, stderr io.Writer) (catalogfile.Catalog, error) {
	if format != "" && format != "yaml" && format != "csv" {
		return catalogfile.Catalog{}, fmt.Errorf("--format %q: want yaml or csv", format)
	}
	r := stdin
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return catalogfile.Catalog{}, fmt.Errorf("catalog import: %w", err)
		}
		defer f.Close()
		r = f
	}
	c, errs, err := catalogfile.Parse(r, format)
	if err != nil {
		return c, fmt.Errorf("catalog import %s: %w", file, err)
	}
	for _, e := range errs {
		if e.Field == "" {
			fmt.Fprintf(stderr, "%s:%d: %s\n", file, e.Line, e.Reason)
		} else {
			fmt.Fprintf(stderr, "%s:%d: %s: %s\n", file, e.Line, e.Field, e.Reason)
		}
	}
	if len(errs) > 0 {
		return c, fmt.Errorf("catalog import %s: %d problems; nothing was imported", file, len(errs))
	}
	return c, nil
}

// importError is a catalog entry the database refused. It spells out the fields of a
// validation error (say, an unknown department code), which its own message only names.
type importError struct {
	what string
	err  error
}

func (e *importError) Error() string {
	var fe interface{ FieldErrors() map[string]string }
	if !errors.As(e.err, &fe) {
		return e.what + ": " + e.err.Error()
	}
	var parts []string
	for f, reason := range fe.FieldErrors() {
		parts = append(parts, f+": "+reason)
	}
	sort.Strings(parts)
	return e.what + ": " + strings.Join(parts, "; ")
}

func (e *importError) Unwrap() error { return e.err }
