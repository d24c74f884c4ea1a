package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/paw-dev/paw/compile"
	"github.com/paw-dev/paw/internal/config"
	"github.com/paw-dev/paw/library"
)

func newBuildCmd(cfg *config.Config) *cobra.Command {
	var (
		dir     string
		offline bool
		force   []string
		all     bool
	)
	cmd := &cobra.Command{
		Use:   "build [--offline] [--force NAME]... [--force-all] [--dir DIR]",
		Short: "Compile the functions of paw.yaml that changed and pin them in paw.lock",
		Long: "Compile, with the hosted PAW service, each function of DIR/paw.yaml that is new or whose\n" +
			"spec, contract, compiler or interpreter changed (its spec hash), fetch the programs into the\n" +
			"cache and pin them in DIR/paw.lock; commit both files. A function that fails to compile keeps\n" +
			"its previous lock entry. Editing the contents of a function's examples or pseudo_program file\n" +
			"rebuilds it too; --force NAME (repeatable) or --force-all rebuilds functions regardless\n" +
			"(after changing a model file in place, say). --offline (or PAW_OFFLINE) compiles nothing and checks that every\n" +
			"function is locked at its current spec and its program is in the cache.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := library.Load(dir)
			if err != nil {
				return err
			}
			lockPath := filepath.Join(m.Dir, library.LockFile)
			lock, err := library.ReadLock(lockPath)
			if err != nil {
				return err
			}
			if (offline || cfg.Offline) && (len(force) > 0 || all) {
				return usagef("--offline compiles nothing; drop --force/--force-all")
			}
			if offline || cfg.Offline {
				h := newHubClient(cmd, cfg)
				h.Offline = true
				if err := library.Verify(cmd.Context(), m, lock, h.PullProgram); err != nil {
					return fmt.Errorf("paw.lock does not match the cache:\n%w", err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%d functions locked and cached\n", len(m.Functions))
				return nil
			}
			plan := library.NewPlan(m, lock)
			switch {
			case all:
				err = plan.Force()
			case len(force) > 0:
				err = plan.Force(force...)
			}
			if err != nil {
				return &usageError{err}
			}
			return build(cmd, cfg, plan, lock, lockPath)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", ".", "the project directory (holding paw.yaml)")
	cmd.Flags().BoolVar(&offline, "offline", false, "compile nothing; check that paw.lock is complete and its programs are cached")
	cmd.Flags().StringArrayVar(&force, "force", nil, "rebuild this function even if unchanged (repeatable)")
	cmd.Flags().BoolVar(&all, "force-all", false, "rebuild every function")
	return cmd
}

// build runs the plan and writes the lock, with what was built on stdout.
func build(cmd *cobra.Command, cfg *config.Config, plan *library.Plan, lock *library.Lock, lockPath string) error {
	c, err := newHostedCompiler(cfg)
	if err != nil {
		return err
	}
	stderr := cmd.ErrOrStderr()
	b := &library.Builder{Compiler: &unreachable{c: c}, Fetch: newHubClient(cmd, cfg).PullProgram, Local: localBuilder(cmd, cfg)}
	if !cfg.Quiet {
		b.Progress = func(s library.Step, done bool, err error) {
			if !done {
				fmt.Fprintf(stderr, "compiling %s (%s)\n", s.Function.Name, s.Reason)
			}
		}
	}
	next, outs, buildErr := b.Build(cmd.Context(), plan)
	if err := writeLockIfChanged(lockPath, lock, next); err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	for _, o := range outs {
		if o.Err == nil {
			fmt.Fprintf(out, "built %s: %s\n", o.Name, o.Entry.ProgramID)
		}
	}
	for _, name := range plan.Removed {
		fmt.Fprintf(out, "removed %s from %s\n", name, library.LockFile)
	}
	fmt.Fprintf(out, "%d built, %d unchanged, %d failed\n", len(outs)-countFailed(outs), len(plan.Unchanged), countFailed(outs))
	if isUnreachable(buildErr) {
		return fmt.Errorf("cannot reach the PAW service at %s: %w\n"+
			"(paw.lock keeps what it had for those functions; `paw build --offline` checks the lock against the cache without the service)",
			cfg.APIURL, buildErr)
	}
	return buildErr
}

func countFailed(outs []library.Outcome) int {
	n := 0
	for _, o := range outs {
		if o.Err != nil {
			n++
		}
	}
	return n
}

// writeLockIfChanged writes next unless it is what old already says, so an
// empty build leaves the file alone.
func writeLockIfChanged(path string, old, next *library.Lock) error {
	a, err := old.Marshal()
	if err != nil {
		return err
	}
	b, err := next.Marshal()
	if err != nil {
		return err
	}
	if _, statErr := os.Stat(path); statErr == nil && bytes.Equal(a, b) {
		return nil
	}
	return library.WriteLock(path, next)
}

// isUnreachable reports whether err is a failure to reach a host at all.
func isUnreachable(err error) bool {
	var netErr *net.OpError
	var dnsErr *net.DNSError
	return errors.As(err, &netErr) || errors.As(err, &dnsErr)
}

// unreachable stops compiling after the service could not be reached once:
// the next functions would each wait through the same retries. (The
// builder compiles one function at a time.)
type unreachable struct {
	c   compile.Compiler
	err error
}

func (u *unreachable) Compile(ctx context.Context, req compile.Request) (*compile.Result, error) {
	if u.err != nil {
		return nil, u.err
	}
	res, err := u.c.Compile(ctx, req)
	if isUnreachable(err) {
		u.err = err
	}
	return res, err
}
