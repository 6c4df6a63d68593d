package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lanyard-id/lanyard/internal/config"
	"github.com/lanyard-id/lanyard/internal/store"
)

func migrateCommand(g *globalFlags) *cobra.Command {
	migrate := &cobra.Command{
		Use:   "migrate",
		Short: "Database migrations",
	}
	var fromEnv, yes bool
	up := func(cmd *cobra.Command, args []string) error {
		dsn, err := migrationDSN(g, fromEnv, args)
		if err != nil {
			return err
		}
		if !yes && !confirm(cmd, "Apply all pending migrations to the database? [y/N] ") {
			return errors.New("migration aborted")
		}
		db, err := store.Open(cmd.Context(), dsn)
		if err != nil {
			return err
		}
		defer db.Close()
		applied, err := db.Migrate(cmd.Context())
		if err != nil {
			return err
		}
		out := cmd.OutOrStdout()
		if len(applied) == 0 {
			fmt.Fprintf(out, "%s is up to date.\n", db)
			return nil
		}
		for _, v := range applied {
			fmt.Fprintf(out, "Applied %s\n", v)
		}
		fmt.Fprintf(out, "%s migrated (%d applied).\n", db, len(applied))
		return nil
	}
	status := func(cmd *cobra.Command, args []string) error {
		dsn, err := migrationDSN(g, fromEnv, args)
		if err != nil {
			return err
		}
		db, err := store.Open(cmd.Context(), dsn)
		if err != nil {
			return err
		}
		defer db.Close()
		list, err := db.MigrationStatus(cmd.Context())
		if err != nil {
			return err
		}
		for _, m := range list {
			state := "pending"
			if m.Applied {
				state = "applied"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%-40s %s\n", m.Version, state)
		}
		return nil
	}

	sql := &cobra.Command{
		Use:   "sql [dsn]",
		Short: "Apply all pending SQL migrations (same as `migrate sql up`)",
		Args:  cobra.MaximumNArgs(1),
		RunE:  up,
	}
	sql.PersistentFlags().BoolVarP(&fromEnv, "read-from-env", "e", false, "read the DSN from the DSN environment variable or the config")
	sql.PersistentFlags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	sql.AddCommand(
		&cobra.Command{Use: "up [dsn]", Short: "Apply all pending migrations", Args: cobra.MaximumNArgs(1), RunE: up},
		&cobra.Command{Use: "status [dsn]", Short: "List migrations and whether they were applied", Args: cobra.MaximumNArgs(1), RunE: status},
		&cobra.Command{
			Use:   "down",
			Short: "Not supported: restore a backup instead",
			RunE: func(*cobra.Command, []string) error {
				return errors.New("rolling migrations back is not supported; restore a database backup instead")
			},
		},
	)
	migrate.AddCommand(sql)
	migrate.AddCommand(fromKratosCommand(g))
	return migrate
}

// migrationDSN picks the DSN from the argument, or with -e from the
// environment and config files (DSN overrides the dsn key).
func migrationDSN(g *globalFlags, fromEnv bool, args []string) (string, error) {
	if len(args) == 1 {
		return args[0], nil
	}
	if !fromEnv && len(g.configFiles) == 0 {
		return "", errors.New("name the database: pass a DSN argument, or -e to read it from the DSN environment variable or the config (-c)")
	}
	lookup := os.LookupEnv
	if !fromEnv {
		lookup = func(k string) (string, bool) {
			if k == "DSN" {
				return "", false
			}
			return os.LookupEnv(k)
		}
	}
	// Migrations need only the DSN: leave out the secret checks by asking
	// for dev defaults when the config itself does not set them.
	cfg, err := loadConfig(config.LoadOptions{Files: g.configFiles, LookupEnv: lookup, Dev: true})
	if err != nil {
		return "", err
	}
	if cfg.DSN == "" {
		return "", errors.New("no DSN: set the DSN environment variable or the dsn key")
	}
	return cfg.DSN, nil
}

func confirm(cmd *cobra.Command, question string) bool {
	fmt.Fprint(cmd.OutOrStdout(), question)
	line, _ := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
	line = strings.ToLower(strings.TrimSpace(line))
	return line == "y" || line == "yes"
}
