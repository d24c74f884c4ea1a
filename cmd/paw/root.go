package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/paw-dev/paw/internal/config"
)

// version is set at link time (-ldflags "-X main.version=...").
var version = "dev"

func newRootCmd() *cobra.Command {
	cfg := new(config.Config)
	root := &cobra.Command{
		Use:           "paw",
		Short:         "Run fuzzy functions compiled to weights, locally",
		SilenceUsage:  true,
		SilenceErrors: true, // main prints the error once
		// paw alone prints the help; a word that names no command is a
		// usage error (cobra would print the help and succeed).
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("unknown command %q (see 'paw --help')", args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			// cobra checks these only after this hook, as plain errors; here
			// they become usage errors.
			if err := cmd.ValidateRequiredFlags(); err != nil {
				return asUsage(err)
			}
			if err := cmd.ValidateFlagGroups(); err != nil {
				return asUsage(err)
			}
			c, err := config.FromEnv()
			if err != nil {
				return err
			}
			*cfg = c
			slog.SetDefault(slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: c.LogLevel})))
			return nil
		},
	}
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return usagef("%w (see '%s --help')", err, cmd.CommandPath())
	})
	root.AddCommand(
		newVersionCmd(),
		newInfoCmd(cfg),
		newGenerateCmd(cfg),
		newRunCmd(cfg),
		newBenchCmd(cfg),
		newFixtureCmd(),
		newQuantizeCmd(cfg),
		newPackCmd(cfg), newPushCmd(cfg),
		newPullCmd(cfg), newLsCmd(cfg), newRmCmd(cfg), newCompileCmd(cfg), newLoginCmd(),
		newFnCmd(cfg),
		newInitCmd(), newBuildCmd(cfg), newGenCmd(),
		newTestCmd(cfg), newDiffCmd(cfg),
		newDiscoverCmd(),
		newServeCmd(cfg),
	)
	root.SetHelpCommand(newHelpCmd(root))
	usageArgs(root)
	return root
}

// usageArgs makes every argument check in the tree return a usage error.
func usageArgs(cmd *cobra.Command) {
	if check := cmd.Args; check != nil {
		cmd.Args = func(cmd *cobra.Command, args []string) error { return asUsage(check(cmd, args)) }
	}
	for _, c := range cmd.Commands() {
		usageArgs(c)
	}
}

// newHelpCmd keeps cobra's help and adds `paw help environment`.
func newHelpCmd(root *cobra.Command) *cobra.Command {
	help := &cobra.Command{
		Use:   "help [command]",
		Short: "Help about any command, or 'paw help environment'",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 && args[0] == "environment" {
				for _, v := range config.Vars {
					fmt.Fprintf(cmd.OutOrStdout(), "%s (default %q)\n    %s\n", v.Name, v.Default, v.Doc)
				}
				return nil
			}
			target, rest, err := root.Find(args)
			if err != nil || target == nil || len(rest) > 0 {
				return usagef("unknown help topic %q", args)
			}
			return target.Help()
		},
	}
	return help
}

// writeJSON writes v as one compact line: every --json output is JSON Lines
// (see the package doc).
func writeJSON(w io.Writer, v any) error { return jsonLines(w).Encode(v) }

// jsonLines encodes one JSON value per line with <, > and & as they are:
// prompts and outputs are full of them, and \u003c helps no reader.
func jsonLines(w io.Writer) *json.Encoder {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc
}
