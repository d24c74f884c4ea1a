package main

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/paw-dev/paw"
	"github.com/paw-dev/paw/compile"
	"github.com/paw-dev/paw/compile/lora"
	"github.com/paw-dev/paw/internal/config"
	"github.com/paw-dev/paw/program"
	"github.com/paw-dev/paw/server"
)

func newServeCmd(cfg *config.Config) *cobra.Command {
	var (
		addr, model      string
		routesFile       string
		keysFile         string
		registryDSN      string
		corsOrigins      []string
		programs         []string
		maxLoaded, queue int
		shadowWorkers    int
		shadowQueue      int
		compileQueue     int
		compileRank      int
		compileEpochs    int
		threads          int
		maxInput         int
		maxBody          int64
		timeout, drain   time.Duration
		noDrafts         bool
		flash            bool
		registryPoll     time.Duration
	)
	cmd := &cobra.Command{
		Use:   "serve [--addr 127.0.0.1:8100] [--model BASE.gguf] [--program REF]... [--config FILE]",
		Short: "Serve programs over HTTP: the PAW REST API and an OpenAI-compatible API",
		Long: "Serve every cached program (and each --program, loaded at start) over HTTP on one shared base model:\n" +
			"  /api/v1/...           the official PAW REST API (point an official SDK's PAW_API_URL here)\n" +
			"  /v1/chat/completions  OpenAI-compatible; the model is a program, the last user message its input\n" +
			"  /v1/completions, /v1/models, /health, /ready, /metrics (Prometheus)\n" +
			"Programs load on first use; --max-loaded bounds how many stay loaded. Requests beyond --queue get\n" +
			"429 with Retry-After. SIGTERM or Ctrl-C stops accepting and drains requests in flight (--drain).\n" +
			"Access logs go to stderr as JSON lines. The address is loopback unless --addr says otherwise.\n" +
			"With a registry (--registry, PAW_REGISTRY), a function's name serves its live version; a promote or\n" +
			"rollback reaches new requests within --registry-poll, and calls in flight finish on their version.\n" +
			"--config routes functions: fallback answers from an OpenAI-compatible upstream when the local answer\n" +
			"is invalid or below its confidence threshold; shadow answers from the upstream and measures agreement;\n" +
			"with a registry, each version's calls, fallback rate and shadow agreement go to `paw fn show`.\n" +
			"With --model, POST /api/v1/compile trains a program on the request's examples (LoRA, one job at a time).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkServeSizes(map[string]int64{"--max-loaded": int64(maxLoaded), "--queue": int64(queue),
				"--shadow-workers": int64(shadowWorkers), "--shadow-queue": int64(shadowQueue), "--max-body": maxBody,
				"--max-input": int64(maxInput), "--compile-queue": int64(compileQueue), "--compile-rank": int64(compileRank),
				"--compile-epochs": int64(compileEpochs)}); err != nil {
				return err
			}
			if threads == 0 {
				threads = cfg.Threads
			}
			routes, keys, err := readServeFiles(routesFile, keysFile)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			h := newHubClient(cmd, cfg)
			h.Trace = nil // stderr carries JSON access logs: no progress bars in between
			reg, closeReg, err := openRunRegistry(ctx, cfg, registryDSN)
			if err != nil {
				return err
			}
			defer closeReg()
			eng, err := paw.Open(ctx, paw.Options{Model: model, Threads: threads, NoDrafts: noDrafts, FlashAttn: flash, Hub: h, KVCacheMax: cfg.KVCacheMax,
				Registry: reg})
			if err != nil {
				return err
			}
			defer eng.Close()
			// The base model loads before the server listens, so that /ready
			// means it is loaded (a pod's readiness), not on the first call.
			if model != "" {
				if _, err := eng.Base(ctx, model); err != nil {
					return err
				}
			}
			// Access logs are the server's output: at info level, whatever
			// PAW_LOG_LEVEL says for the rest.
			logger := slog.New(slog.NewJSONHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: min(cfg.LogLevel, slog.LevelInfo)}))
			h.Trace = logPublishes(logger)
			srv, err := server.New(server.Config{Engine: eng, Hub: h, Programs: programs, BaseModels: baseNames(model),
				MaxLoaded: maxLoaded, QueueDepth: queue, MaxBodyBytes: maxBody, MaxInputBytes: maxInput, Timeout: timeout, Logger: logger,
				Routes: routes, APIKeys: keys, CORSOrigins: corsOrigins, ShadowWorkers: shadowWorkers, ShadowQueue: shadowQueue,
				Registry: reg, RegistryPoll: registryPoll, CompileQueue: compileQueue,
				Compiler: localCompiler(model, threads, compileRank, compileEpochs)})
			if err != nil {
				return err
			}
			defer srv.Close()
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return fmt.Errorf("serve: %w", err)
			}
			logger.Info("serving", "addr", ln.Addr().String())
			return server.Serve(ctx, ln, srv, drain)
		},
	}
	f := cmd.Flags()
	f.StringVar(&addr, "addr", server.DefaultAddr, "address to listen on (host:port)")
	f.StringVar(&routesFile, "config", "", "routing file (YAML or JSON): per function, route local, fallback or shadow, threshold, upstream")
	f.StringVar(&keysFile, "api-keys", "", "file of accepted API keys, one \"SHA256HEX [NAME] [RATE]\" a line (RATE: N/s, N/m, N/h); unset: no key checked")
	f.StringArrayVar(&corsOrigins, "cors-origin", nil, "origin browsers may call the API from (repeatable; \"*\" for any); unset: no CORS")
	f.StringVar(&model, "model", "", "base model GGUF to run every program on, instead of each program's runtime")
	f.StringArrayVar(&programs, "program", nil, "program to load at start: id, slug or .paw path (repeatable; local paths are servable only this way)")
	f.IntVar(&maxLoaded, "max-loaded", server.DefaultMaxLoaded, "programs kept loaded on demand besides --program ones")
	f.IntVar(&queue, "queue", server.DefaultQueueDepth, "inference inputs admitted at once; beyond, 429")
	f.IntVar(&shadowWorkers, "shadow-workers", server.DefaultShadowWorkers, "shadow calls run at once, off the request path")
	f.IntVar(&shadowQueue, "shadow-queue", server.DefaultShadowQueue, "shadow calls waiting; beyond, they are dropped and counted")
	f.IntVar(&compileQueue, "compile-queue", server.DefaultCompileQueue, "compile jobs waiting behind the running one; beyond, 429")
	f.IntVar(&compileRank, "compile-rank", lora.DefaultRank, "LoRA rank of programs compiled by POST /api/v1/compile")
	f.IntVar(&compileEpochs, "compile-epochs", lora.DefaultEpochs, "training passes of programs compiled by POST /api/v1/compile")
	f.Int64Var(&maxBody, "max-body", server.DefaultMaxBodyBytes, "request body limit in bytes (413 beyond)")
	f.IntVar(&maxInput, "max-input", server.DefaultMaxInputBytes, "input limit in bytes (413 beyond)")
	f.DurationVar(&timeout, "timeout", server.DefaultTimeout, "deadline of each request's calls")
	f.DurationVar(&drain, "drain", server.DefaultDrain, "how long shutdown waits for requests in flight")
	f.IntVar(&threads, "threads", 0, "compute threads (0 = PAW_THREADS, else one per core)")
	f.StringVar(&registryDSN, "registry", "", "function registry file or postgres:// DSN: names resolve to their live version, reloaded when it changes; program details and the playground show owner, scope and last test (default PAW_REGISTRY, if that file exists)")
	f.DurationVar(&registryPoll, "registry-poll", server.DefaultRegistryPoll, "how often to check the registry for a new live version")
	f.BoolVar(&noDrafts, "no-drafts", false, "decode without speculative drafts (answers bit-identical to serial ones)")
	f.BoolVar(&flash, "flash-attn", false, "flash attention (faster prompts and label calls on this build; answers differ from the default in the last digits, so concurrent calls are no longer bit-identical to serial ones)")
	return cmd
}

// localCompiler serves the compile routes by LoRA training on the base
// model (--model); none without one.
func localCompiler(model string, threads, rank, epochs int) *server.LocalCompiler {
	if model == "" {
		return nil
	}
	return &server.LocalCompiler{Name: lora.CompilerName, Compile: func(ctx context.Context, spec string, exs []server.Example,
		progress func(done, total int)) (*program.Program, error) {
		c := &lora.Compiler{Options: lora.Options{Base: model, Rank: rank, Epochs: epochs, Threads: threads,
			Progress: func(p lora.Progress) { progress(p.Step, p.Steps) }}}
		for _, e := range exs {
			c.Examples = append(c.Examples, lora.Example{Input: e.Input, Output: e.Output})
		}
		res, err := c.Compile(ctx, compile.Request{Spec: spec})
		if err != nil {
			return nil, err
		}
		return res.Program, nil
	}}
}

// checkServeSizes refuses sizes below 1 (the server would silently take
// its default for them).
func checkServeSizes(sizes map[string]int64) error {
	names := slices.Sorted(maps.Keys(sizes))
	for _, name := range names {
		if v := sizes[name]; v < 1 {
			return usagef("%s %d: want at least 1", name, v)
		}
	}
	return nil
}

// baseNames are the names a client might give the base model: its path,
// its file name, and that without .gguf.
func baseNames(model string) []string {
	if model == "" {
		return nil
	}
	name := filepath.Base(model)
	return []string{model, name, strings.TrimSuffix(name, ".gguf")}
}

// readServeFiles reads the routing file and the API key file, when given,
// before any model is opened.
func readServeFiles(routesFile, keysFile string) (map[string]server.Route, []server.APIKey, error) {
	var routes map[string]server.Route
	var keys []server.APIKey
	var err error
	if routesFile != "" {
		if routes, err = server.ReadRoutes(routesFile, os.LookupEnv); err != nil {
			return nil, nil, err
		}
	}
	if keysFile != "" {
		if keys, err = server.ReadAPIKeys(keysFile); err != nil {
			return nil, nil, err
		}
	}
	return routes, keys, nil
}
