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
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
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
		return fmt.Errorf("%w (see 'paw %s --help')", err, cmd.Name())
	})
	root.AddCommand(
		newVersionCmd(),
		newInfoCmd(cfg),
		newGenerateCmd(cfg),
		newRunCmd(cfg),
		newBenchCmd(cfg),
		newFixtureCmd(),
		newPackCmd(),
		newPullCmd(cfg), newLsCmd(cfg), newRmCmd(cfg), newCompileCmd(cfg), newLoginCmd(),
		newFnCmd(cfg),
	)
	root.SetHelpCommand(newHelpCmd(root))
	return root
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
			target, _, err := root.Find(args)
			if err != nil || target == nil {
				return fmt.Errorf("unknown help topic %q", args)
			}
			return target.Help()
		},
	}
	return help
}

func writeJSON(w io.Writer, v any) error {
	enc := jsonLines(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// jsonLines encodes one JSON value per line with <, > and & as they are:
// prompts and outputs are full of them, and \u003c helps no reader.
func jsonLines(w io.Writer) *json.Encoder {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc
}
