package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/lanyard-id/lanyard/internal/cleanup"
	"github.com/lanyard-id/lanyard/internal/store"
)

func cleanupCommand(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cleanup",
		Short: "Remove data that can no longer be used",
	}
	var (
		fromEnv   bool
		keepLast  time.Duration
		batchSize int
		sleep     time.Duration
	)
	sqlCmd := &cobra.Command{
		Use:   "sql [dsn]",
		Short: "Delete expired flows, sessions, codes and delivered messages from the database",
		Long: `Delete, in batches of --batch-size rows per transaction, what can no longer
be used: expired self-service flows, expired or revoked sessions, expired
one-time codes and session token exchanges, and courier messages that were
sent or abandoned. Rows that ended less than --keep-last ago stay. Safe to
run while servers are serving.

The database is the argument, or (-e, the default) the DSN environment
variable or the config's dsn (-c).`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if batchSize <= 0 {
				return fmt.Errorf("--batch-size: %d is not a positive number", batchSize)
			}
			if keepLast < 0 {
				return fmt.Errorf("--keep-last: %s is negative", keepLast)
			}
			dsn, err := cleanupDSN(g, fromEnv, args)
			if err != nil {
				return err
			}
			db, err := store.Open(cmd.Context(), dsn)
			if err != nil {
				return err
			}
			defer db.Close()
			pending, err := db.Pending(cmd.Context())
			if err != nil {
				return err
			}
			if pending {
				return fmt.Errorf("%s needs migrations: run `lanyard migrate sql` first", db)
			}
			bar := newProgress(cmd.ErrOrStderr())
			counts, err := cleanup.Run(cmd.Context(), db, cleanup.Options{
				KeepLast:           keepLast,
				BatchSize:          batchSize,
				PauseBetweenTables: sleep,
				Progress: func(table string, deleted int64) {
					bar.status(fmt.Sprintf("%s: %d deleted", table, deleted))
				},
			})
			bar.done()
			out := cmd.OutOrStdout()
			var total int64
			for _, c := range counts {
				fmt.Fprintf(out, "%-26s %d deleted\n", c.Table, c.Deleted)
				total += c.Deleted
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "Cleaned up %s: %d rows deleted.\n", db, total)
			return nil
		},
	}
	fl := sqlCmd.Flags()
	fl.BoolVarP(&fromEnv, "read-from-env", "e", true, "without a DSN argument, read it from the DSN environment variable or the config")
	fl.DurationVar(&keepLast, "keep-last", 0, "keep rows that ended less than this long ago, e.g. 168h")
	fl.IntVarP(&batchSize, "batch-size", "b", cleanup.DefaultBatchSize, "rows deleted per transaction")
	fl.DurationVar(&sleep, "sleep-tables", 0, "pause between tables, to spread the load")
	// Kratos's names for the same two flags.
	fl.IntVar(&batchSize, "database.cleanup.batch_size", cleanup.DefaultBatchSize, "same as --batch-size")
	fl.DurationVar(&sleep, "database.cleanup.sleep.tables", 0, "same as --sleep-tables")
	_ = fl.MarkHidden("database.cleanup.batch_size")
	_ = fl.MarkHidden("database.cleanup.sleep.tables")
	cmd.AddCommand(sqlCmd)
	return cmd
}

// cleanupDSN is migrationDSN without the dev-mode default: with neither a
// DSN nor a config, deleting from a database nobody named (and creating an
// empty one on the way) would help no one.
func cleanupDSN(g *globalFlags, fromEnv bool, args []string) (string, error) {
	if len(args) == 1 {
		return args[0], nil
	}
	if fromEnv {
		if dsn := os.Getenv("DSN"); dsn != "" {
			return dsn, nil
		}
		if len(g.configFiles) > 0 {
			return migrationDSN(g, true, nil)
		}
	}
	return "", errors.New("name the database: pass a DSN argument, set the DSN environment variable, or pass the config with -c")
}
