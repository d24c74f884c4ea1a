package main

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/paw-dev/paw/internal/config"
)

func newLoginCmd() *cobra.Command {
	var key string
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Save a PAW API key (read from stdin, or --key) for later commands",
		Long: "Save a PAW API key in the user config dir (mode 0600), where paw reads it when\n" +
			"PAW_API_KEY is unset. The key is read from the first line of stdin unless --key is given.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if key == "" {
				line, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
				if err != nil && err != io.EOF {
					return fmt.Errorf("read key from stdin: %w", err)
				}
				key = strings.TrimSpace(line)
			}
			p, err := config.SaveAPIKey(key)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "saved API key to", p)
			return nil
		},
	}
	cmd.Flags().StringVar(&key, "key", "", "the API key (visible in the process list; prefer stdin)")
	return cmd
}
