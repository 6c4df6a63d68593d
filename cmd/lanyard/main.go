// Command lanyard is the Lanyard identity server: a Kratos-compatible API
// in one binary, on embedded SQLite or PostgreSQL.
package main

import (
	"fmt"
	"os"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = ""

func buildVersion() string {
	if version != "" {
		return version
	}
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
		return info.Main.Version
	}
	return "v0.1.0-dev"
}

func main() {
	if err := rootCommand().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
}

// globalFlags are accepted by every command, as Kratos's -c is.
type globalFlags struct {
	configFiles []string
}

func rootCommand() *cobra.Command {
	g := &globalFlags{}
	root := &cobra.Command{
		Use:           "lanyard",
		Short:         "Lanyard: identity and user management with the Ory Kratos API",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringSliceVarP(&g.configFiles, "config", "c", nil, "config file in Kratos format (repeatable; later files override earlier ones)")
	root.AddCommand(serveCommand(g), migrateCommand(g), courierCommand(g), versionCommand())
	root.AddCommand(identityCommands()...)
	root.AddCommand(cleanupCommand(g))
	root.AddCommand(hashersCommand())
	root.AddCommand(healthCommand())
	return root
}

func versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			info, _ := debug.ReadBuildInfo()
			goVersion := ""
			if info != nil {
				goVersion = info.GoVersion
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Version:    %s\nGo version: %s\n", buildVersion(), goVersion)
		},
	}
}
