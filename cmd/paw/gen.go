package main

import (
	"fmt"
	"go/token"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/paw-dev/paw/internal/fsutil"
	"github.com/paw-dev/paw/library"
)

func newGenCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "gen",
		Short: "Generate code for the functions of paw.yaml",
		Args:  cobra.NoArgs,
	}
	var dir, out, pkg string
	goCmd := &cobra.Command{
		Use:   "go -o DIR [--package NAME] [--dir DIR]",
		Short: "Write a typed Go library for the functions of paw.yaml",
		Long: "Write Go code for the functions of paw.yaml, as built in paw.lock, into the output directory:\n" +
			"a Library opened from a *paw.Engine and paw.lock with one typed method per function (a label\n" +
			"type with constants, bool for labels true and false, structs for a JSON Schema, string for\n" +
			"free text). Check the file in; regenerating from the same manifest changes no byte. The\n" +
			"package name defaults to the output directory's name.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if pkg == "" {
				pkg = packageName(out)
			}
			m, err := library.Load(dir)
			if err != nil {
				return err
			}
			lock, err := library.ReadLock(filepath.Join(m.Dir, library.LockFile))
			if err != nil {
				return err
			}
			files, err := library.Generate(m, lock, library.GenOptions{Package: pkg})
			if err != nil {
				return err
			}
			for _, name := range slices.Sorted(maps.Keys(files)) {
				path := filepath.Join(out, name)
				if err := fsutil.WriteFileAtomic(path, files[name], 0o644); err != nil {
					return fmt.Errorf("write %s: %w", path, err)
				}
				fmt.Fprintln(cmd.OutOrStdout(), path)
			}
			return nil
		},
	}
	goCmd.Flags().StringVar(&dir, "dir", ".", "the project directory (holding paw.yaml and paw.lock)")
	goCmd.Flags().StringVarP(&out, "out", "o", "", "the directory to write the Go package into (required)")
	goCmd.Flags().StringVar(&pkg, "package", "", "the Go package name (default: the output directory's name)")
	_ = goCmd.MarkFlagRequired("out")
	cmd.AddCommand(goCmd)
	return cmd
}

// packageName derives a package name from the output directory, or falls
// back to library.DefaultPackage.
func packageName(out string) string {
	abs, err := filepath.Abs(out)
	if err != nil {
		return library.DefaultPackage
	}
	name := strings.ToLower(strings.Map(func(r rune) rune {
		if r == '-' || r == '.' {
			return -1
		}
		return r
	}, filepath.Base(abs)))
	if !token.IsIdentifier(name) || token.IsKeyword(name) {
		return library.DefaultPackage
	}
	return name
}
