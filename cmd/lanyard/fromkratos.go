package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/lanyard-id/lanyard/internal/cipher"
	"github.com/lanyard-id/lanyard/internal/config"
	"github.com/lanyard-id/lanyard/internal/kratosimport"
	"github.com/lanyard-id/lanyard/internal/store"
)

func fromKratosCommand(g *globalFlags) *cobra.Command {
	var (
		kratosDSN    string
		fromEnv, yes bool
		batchSize    int
	)
	cmd := &cobra.Command{
		Use:   "from-kratos [dsn]",
		Short: "Copy identities, credentials, addresses and sessions from an Ory Kratos database",
		Long: `Read the Kratos database named by --dsn (SQLite or PostgreSQL; it is only
read) and copy into Lanyard's database its identities with their ids, their
credentials (password hashes, TOTP apps, backup codes, security keys,
passkeys, social sign-in links), their addresses with their verification
state, and the sessions that are still valid, so that people keep their
passwords, second factors and signed-in apps.

Lanyard's database is the argument, or with -e the DSN environment variable
or the config's dsn (-c); it must be migrated first (lanyard migrate sql).
TOTP keys, backup codes and social sign-in tokens are stored encrypted with
the config's secrets.cipher: give Lanyard the config with Kratos's
secrets.cipher, which also opens what Kratos encrypted with it.

Each batch of --batch-size rows is one transaction. Running it again is
safe: what is already the same is skipped, what changed in Kratos since is
updated, nothing is duplicated.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if kratosDSN == "" {
				return errors.New("--dsn: name the Kratos database (its DSN, as in Kratos's config)")
			}
			if batchSize <= 0 {
				return fmt.Errorf("--batch-size: %d is not a positive number", batchSize)
			}
			dsn, c, err := fromKratosTarget(g, fromEnv, args)
			if err != nil {
				return err
			}
			if !yes && !confirm(cmd, "Copy the Kratos database's users into Lanyard's database? [y/N] ") {
				return errors.New("import aborted")
			}
			ctx := cmd.Context()
			src, err := kratosimport.OpenSource(ctx, kratosDSN)
			if err != nil {
				return err
			}
			defer src.Close()
			db, err := store.Open(ctx, dsn)
			if err != nil {
				return err
			}
			defer db.Close()
			counts, err := (&kratosimport.Importer{From: src, To: db, Cipher: c, BatchSize: batchSize}).Run(ctx)
			printCounts(cmd, counts)
			if err != nil {
				return fmt.Errorf("import stopped (the batches counted above are in): %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Imported from Kratos into %s.\n", db)
			return nil
		},
	}
	cmd.Flags().StringVar(&kratosDSN, "dsn", "", "DSN of the Kratos database to read (required)")
	cmd.Flags().BoolVarP(&fromEnv, "read-from-env", "e", false, "read Lanyard's DSN from the DSN environment variable or the config")
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	cmd.Flags().IntVar(&batchSize, "batch-size", kratosimport.DefaultBatchSize, "rows per transaction")
	return cmd
}

// fromKratosTarget picks Lanyard's DSN as migrationDSN does, and the
// cipher of the config's secrets.cipher (nil without one).
func fromKratosTarget(g *globalFlags, fromEnv bool, args []string) (string, cipher.Cipher, error) {
	if len(g.configFiles) == 0 && !fromEnv {
		if len(args) == 1 {
			return args[0], nil, nil
		}
		return "", nil, errors.New("name Lanyard's database: pass a DSN argument, or -e to read it from the DSN environment variable or the config (-c)")
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
	cfg, err := loadConfig(config.LoadOptions{Files: g.configFiles, LookupEnv: lookup, Dev: true})
	if err != nil {
		return "", nil, err
	}
	dsn := cfg.DSN
	if len(args) == 1 {
		dsn = args[0]
	}
	if dsn == "" {
		return "", nil, errors.New("no DSN: set the DSN environment variable or the dsn key")
	}
	if len(cfg.Secrets.Cipher) == 0 {
		return dsn, nil, nil
	}
	c, err := cipher.New(cfg.Ciphers.Algorithm, cfg.Secrets.Cipher)
	if err != nil {
		return "", nil, err
	}
	return dsn, c, nil
}

func printCounts(cmd *cobra.Command, c kratosimport.Counts) {
	out := cmd.OutOrStdout()
	for _, row := range []struct {
		kind  string
		count kratosimport.Count
	}{
		{"identities", c.Identities},
		{"credentials", c.Credentials},
		{"verifiable addresses", c.VerifiableAddresses},
		{"recovery addresses", c.RecoveryAddresses},
		{"sessions", c.Sessions},
	} {
		fmt.Fprintf(out, "%-21s %6d read, %6d written, %6d skipped\n", row.kind+":", row.count.Read, row.count.Written, row.count.Skipped)
	}
}
