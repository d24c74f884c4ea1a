package main

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/paw-dev/paw/internal/config"
	"github.com/paw-dev/paw/library"
	"github.com/paw-dev/paw/registry"
)

// fnFlags are the flags every `paw fn` command shares.
type fnFlags struct {
	cfg      *config.Config
	registry string
	actor    string
}

// with opens the registry, runs f on it and closes it.
func (ff *fnFlags) with(cmd *cobra.Command, f func(r *registry.Registry) error) error {
	dsn := ff.registry
	if dsn == "" {
		dsn = ff.cfg.Registry
	}
	r, err := registry.Open(cmd.Context(), dsn)
	if err != nil {
		return err
	}
	err = f(r)
	if cerr := r.Close(); err == nil {
		err = cerr
	}
	return err
}

func newFnCmd(cfg *config.Config) *cobra.Command {
	ff := &fnFlags{cfg: cfg}
	fn := &cobra.Command{
		Use:   "fn",
		Short: "Manage the function registry: versions, the live one, owners, expiry, the audit log",
		Long: `Manage the function registry: each function's owner, scope and expiry,
its versions with their last test, the live version, and an audit log of
every change.

The registry is a SQLite file (PAW_REGISTRY, default
PAW_CACHE_DIR/registry.db) or, shared by several servers, a PostgreSQL
database given as a postgres:// DSN.`,
	}
	fn.PersistentFlags().StringVar(&ff.registry, "registry", "", "registry file or postgres:// DSN (default PAW_REGISTRY)")
	fn.PersistentFlags().StringVar(&ff.actor, "actor", defaultActor(), "who makes the change, for the audit log")
	fn.AddCommand(newFnAddCmd(ff), newFnListCmd(ff), newFnShowCmd(ff), newFnPromoteCmd(ff), newFnRollbackCmd(ff),
		newFnRetireCmd(ff), newFnLogCmd(ff), newFnImportCmd(ff))
	return fn
}

func newFnAddCmd(ff *fnFlags) *cobra.Command {
	var f registry.Function
	var expires, gates string
	cmd := &cobra.Command{
		Use:   "add NAME",
		Short: "Register a function with its owner, scope, expiry, cases and gates",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f.Name, f.Gates = args[0], json.RawMessage(gates)
			if expires != "" {
				t, err := parseDate(expires)
				if err != nil {
					return fmt.Errorf("--expires: %w", err)
				}
				f.Expires = t
			}
			if f.CasesPath != "" {
				b, err := os.ReadFile(f.CasesPath)
				if err != nil {
					return fmt.Errorf("--cases: %w", err)
				}
				sum := sha256.Sum256(b)
				f.CasesHash = hex.EncodeToString(sum[:])
			}
			return ff.with(cmd, func(r *registry.Registry) error {
				if err := r.AddFunction(cmd.Context(), f, ff.actor); err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), "added", f.Name)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&f.Owner, "owner", "", "who answers for it")
	cmd.Flags().StringVar(&f.Scope, "scope", "", "intended use, and what it must not be used for")
	cmd.Flags().StringVar(&expires, "expires", "", "when it must go: a date (2027-06-30) or an RFC 3339 time")
	cmd.Flags().StringVar(&f.RetireWhen, "retire-when", "", "deletion criteria, as text")
	cmd.Flags().StringVar(&f.CasesPath, "cases", "", "its test set file (its sha256 is recorded)")
	cmd.Flags().StringVar(&gates, "gates", "", `gates as JSON, e.g. '{"min_accuracy":0.9}'`)
	return cmd
}

// defaultActor is who makes a registry change unless --actor says: $USER.
func defaultActor() string { return cmp.Or(os.Getenv("USER"), "unknown") }

// parseDate reads a date or an RFC 3339 time; a date means its start, UTC.
func parseDate(s string) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Parse(time.RFC3339, s)
}

func newFnListCmd(ff *fnFlags) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the functions with their live version, owner and expiry; marks expired and retired ones",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return ff.with(cmd, func(r *registry.Registry) error {
				fs, err := r.List(cmd.Context())
				if err != nil {
					return err
				}
				return printList(cmd.OutOrStdout(), asJSON, fs, "NAME\tLIVE\tOWNER\tEXPIRES\tSTATUS", func(f registry.Function) string {
					return fmt.Sprintf("%s\t%s\t%s\t%s\t%s", f.Name, liveText(f.Live), f.Owner, dateText(f.Expires), status(f))
				})
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON line per item")
	return cmd
}

// printList writes items as JSON lines, one per item (as `paw ls --json`
// does), or as a table of header and one row per item.
func printList[T any](w io.Writer, asJSON bool, items []T, header string, row func(T) string) error {
	if asJSON {
		for _, it := range items {
			if err := writeJSON(w, it); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, it := range items {
		fmt.Fprintln(tw, row(it))
	}
	return tw.Flush()
}

func liveText(v int) string {
	if v == 0 {
		return "-"
	}
	return "v" + strconv.Itoa(v)
}

func dateText(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Format(time.DateOnly)
}

// status is how list and show flag a function that should not be served.
func status(f registry.Function) string {
	var s []string
	if f.Retired {
		s = append(s, "retired")
	}
	if f.Expired {
		s = append(s, "EXPIRED")
	}
	return strings.Join(s, ",")
}

func newFnShowCmd(ff *fnFlags) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show NAME",
		Short: "Show a function and its versions with their last tests",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return ff.with(cmd, func(r *registry.Registry) error {
				d, err := r.Show(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				if asJSON {
					if d.Versions == nil {
						d.Versions = []registry.Version{}
					}
					return writeJSON(cmd.OutOrStdout(), d)
				}
				return printDetail(cmd.OutOrStdout(), d)
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	return cmd
}

func printDetail(w io.Writer, d registry.Detail) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, kv := range [][2]string{
		{"name", d.Name}, {"owner", d.Owner}, {"scope", d.Scope}, {"live", liveText(d.Live)},
		{"expires", dateText(d.Expires)}, {"retire when", d.RetireWhen}, {"cases", d.CasesPath},
		{"gates", string(d.Gates)}, {"status", status(d.Function)},
	} {
		if kv[1] != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", kv[0], kv[1])
		}
	}
	fmt.Fprintln(tw, "\nVERSION\tPROGRAM\tTEST\tCREATED\tBY\tCALLS\tFALLBACK\tSHADOW AGREEMENT")
	for _, v := range d.Versions {
		test := "untested"
		if v.Test != nil && v.Test.Passed {
			test = "passed"
		} else if v.Test != nil {
			test = "FAILED"
		}
		mark := ""
		if v.Number == d.Live {
			mark = " (live)"
		}
		fmt.Fprintf(tw, "v%d%s\t%s\t%s\t%s\t%s\t%s\n", v.Number, mark, v.ProgramID, test,
			v.Created.Format(time.DateTime), v.CreatedBy, serveText(v.Serve))
	}
	return tw.Flush()
}

// serveText is a version's serve stats as show's last three columns: calls,
// fallback rate, shadow agreement rate (of how many comparisons).
func serveText(s *registry.ServeStats) string {
	if s == nil {
		return "-\t-\t-"
	}
	fallback, agree := "-", "-"
	if s.Calls > 0 {
		fallback = fmt.Sprintf("%.1f%%", 100*s.FallbackRate)
	}
	if s.ShadowCompared > 0 {
		agree = fmt.Sprintf("%.1f%% of %d", 100*s.AgreementRate, s.ShadowCompared)
	}
	return fmt.Sprintf("%d\t%s\t%s", s.Calls, fallback, agree)
}

func newFnPromoteCmd(ff *fnFlags) *cobra.Command {
	var opts registry.PromoteOptions
	cmd := &cobra.Command{
		Use:   "promote NAME@vN",
		Short: "Make a version live; refuses one untested or failing its gates unless --force --reason",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, v, err := registry.ParseRef(args[0])
			if err != nil {
				return err
			}
			if v == 0 {
				return fmt.Errorf("promote %s: name the version, as %s@vN", args[0], name)
			}
			opts.Actor = ff.actor
			return ff.with(cmd, func(r *registry.Registry) error {
				err := r.Promote(cmd.Context(), name, v, opts)
				if errors.Is(err, registry.ErrUntested) || errors.Is(err, registry.ErrGatesFailed) {
					return fmt.Errorf("%w (--force --reason TEXT promotes it anyway, logged)", err)
				}
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s@v%d is live\n", name, v)
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&opts.Force, "force", false, "promote past the gates (needs --reason)")
	cmd.Flags().StringVar(&opts.Reason, "reason", "", "why, for the audit log")
	return cmd
}

// newFnChangeCmd is a command that changes one function with a reason.
func newFnChangeCmd(ff *fnFlags, use, short string, change func(cmd *cobra.Command, r *registry.Registry, name string, opts registry.ChangeOptions) error) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return ff.with(cmd, func(r *registry.Registry) error {
				return change(cmd, r, args[0], registry.ChangeOptions{Actor: ff.actor, Reason: reason})
			})
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why, for the audit log")
	return cmd
}

func newFnRollbackCmd(ff *fnFlags) *cobra.Command {
	return newFnChangeCmd(ff, "rollback NAME", "Make the previously live version live again",
		func(cmd *cobra.Command, r *registry.Registry, name string, opts registry.ChangeOptions) error {
			v, err := r.Rollback(cmd.Context(), name, opts)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s@v%d is live\n", name, v)
			return nil
		})
}

func newFnRetireCmd(ff *fnFlags) *cobra.Command {
	return newFnChangeCmd(ff, "retire NAME", "Stop serving a function: calls get an error naming its owner",
		func(cmd *cobra.Command, r *registry.Registry, name string, opts registry.ChangeOptions) error {
			if err := r.Retire(cmd.Context(), name, opts); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "retired", name)
			return nil
		})
}

func newFnLogCmd(ff *fnFlags) *cobra.Command {
	var asJSON bool
	var limit int
	cmd := &cobra.Command{
		Use:   "log [NAME]",
		Short: "Show the audit log: who changed what, when, from which live version to which, and why",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := ""
			if len(args) == 1 {
				name = args[0]
			}
			return ff.with(cmd, func(r *registry.Registry) error {
				es, err := r.Log(cmd.Context(), name, limit)
				if err != nil {
					return err
				}
				return printList(cmd.OutOrStdout(), asJSON, es, "ID\tAT\tFUNCTION\tACTION\tVERSION\tLIVE\tBY\tREASON",
					func(e registry.Entry) string {
						live := "" // only changes of the live version are shown
						if e.From != e.To {
							live = liveText(e.From) + " -> " + liveText(e.To)
						}
						return fmt.Sprintf("%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s", e.ID, e.At.Format(time.DateTime), e.Function,
							e.Action, liveText(e.Version), live, e.Actor, e.Reason)
					})
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON line per item")
	cmd.Flags().IntVar(&limit, "limit", 0, "only the last N entries (0: all)")
	return cmd
}

func newFnImportCmd(ff *fnFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "import [LOCK]",
		Short: "Register the builds a paw.lock pins as versions (default ./paw.lock)",
		Long: `Register the builds a lock file pins as versions of their functions; a build
already registered is not added again, and a function the registry lacks is
added without an owner (paw fn add sets one first).

The lock is YAML or JSON with a functions list or map:

  functions:
    triage:                      # or a list of entries with a name: field
      program_id: 3f2a…
      adapter_sha256: 9c1e…
      compiler_snapshot: paw-compiler-2026-11
      spec_hash: 51b0…
      built_at: 2026-11-30T10:00:00Z

Other keys are ignored.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := "paw.lock"
			if len(args) == 1 {
				path = args[0]
			}
			entries, err := readLock(path)
			if err != nil {
				return err
			}
			return ff.with(cmd, func(r *registry.Registry) error {
				ims, err := r.ImportLock(cmd.Context(), entries, ff.actor)
				if err != nil {
					return err
				}
				for _, im := range ims {
					what := "already registered"
					if im.Added {
						what = "registered"
					}
					fmt.Fprintf(cmd.OutOrStdout(), "%s@v%d %s\n", im.Function, im.Version, what)
				}
				return nil
			})
		},
	}
}

// readLock reads the builds of a paw.lock (written by paw build), sorted by
// function name.
func readLock(path string) ([]registry.LockEntry, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	lock, err := library.ParseLock(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var entries []registry.LockEntry
	for _, name := range slices.Sorted(maps.Keys(lock.Functions)) {
		e := lock.Functions[name]
		entries = append(entries, registry.LockEntry{Name: name, ProgramID: e.ProgramID, AdapterSHA256: e.AdapterSHA256,
			CompilerSnapshot: cmp.Or(e.CompilerSnapshot, e.Compiler), SpecHash: e.SpecHash, BuiltAt: e.BuiltAt})
	}
	return entries, nil
}
