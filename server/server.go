// Package server serves paw functions over HTTP: the official PAW REST API
// under /api/v1 (so the official SDKs work against it), an
// OpenAI-compatible API under /v1 where the model is a program, health
// checks and Prometheus metrics. Programs load lazily; an LRU bounds how
// many stay loaded, and a bounded queue answers 429 when full.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/paw-dev/paw"
	"github.com/paw-dev/paw/hub"
	"github.com/paw-dev/paw/registry"
)

// Defaults for zero Config fields.
const (
	DefaultAddr          = "127.0.0.1:8100" // loopback: serving beyond the host is a choice
	DefaultMaxLoaded     = 8
	DefaultQueueDepth    = 64
	DefaultMaxBodyBytes  = 1 << 20
	DefaultMaxInputBytes = 64 << 10
	DefaultTimeout       = 2 * time.Minute
	DefaultRetryAfter    = time.Second
)

// Config configures a Server. Engine is required; every other zero field
// takes its default.
type Config struct {
	// Engine runs the programs.
	Engine *paw.Engine
	// Hub is the cache the engine uses (the same hub.Client): it lists,
	// resolves and serves cached programs and runtime manifests. nil serves
	// only Programs.
	Hub *hub.Client
	// Programs are loaded at start, in the background (GET /ready says
	// when they are). Local paths are servable only when listed here.
	Programs []string
	// BaseModels are names of the base model (its path, file name, runtime
	// id): naming one as an OpenAI model is refused, since the server runs
	// programs, never the bare base. Interpreter names and official runtime
	// ids are always refused.
	BaseModels []string
	// MaxLoaded bounds the functions loaded on demand, besides Programs
	// which stay loaded (DefaultMaxLoaded); the least recently used is
	// closed once its calls finish.
	MaxLoaded int
	// QueueDepth bounds the inference requests admitted at once, running or
	// waiting for the engine (DefaultQueueDepth); beyond it a request gets
	// 429 with Retry-After at once. A batch takes one place per input.
	QueueDepth int
	// MaxBodyBytes bounds a request body (DefaultMaxBodyBytes; 413 beyond).
	MaxBodyBytes int64
	// MaxInputBytes bounds one input (DefaultMaxInputBytes; 413 beyond).
	MaxInputBytes int
	// Timeout is each request's deadline for its calls (DefaultTimeout).
	Timeout time.Duration
	// RetryAfter is what a 429 or 202 tells the client to wait (DefaultRetryAfter).
	RetryAfter time.Duration
	// Logger receives one JSON-able access record per request; nil discards.
	Logger *slog.Logger
	// Registry is the registry the Engine resolves function names through
	// (paw.Options.Registry), or nil. The server polls it every
	// RegistryPoll (DefaultRegistryPoll): when a name's live version
	// changes, new requests get the new version without a restart, and
	// calls in flight finish on the version they started on. GET
	// /api/v1/programs/{id} and the playground show each function's owner,
	// scope, live version and last test. The caller closes it.
	Registry     *registry.Registry
	RegistryPoll time.Duration
	// Routes gives functions a fallback or shadow route (ReadRoutes reads
	// them from a file), keyed by the program reference clients use or the
	// program id; a function not listed answers locally.
	Routes map[string]Route
	// APIKeys, when set, are the keys requests must carry (X-API-Key or
	// Authorization: Bearer), each with its rate limit (ReadAPIKeys reads
	// them from a file); only health checks and the playground's page are
	// served without one. nil serves every request.
	APIKeys []APIKey
	// CORSOrigins are the origins browsers may call the API from ("*" for
	// any); none sends no CORS headers, so browsers refuse cross-origin
	// calls.
	CORSOrigins []string
	// ShadowWorkers run shadow calls (DefaultShadowWorkers); ShadowQueue
	// bounds those waiting (DefaultShadowQueue), beyond which they are
	// dropped and counted.
	ShadowWorkers int
	ShadowQueue   int
	// Compiler, when set, serves the compile routes by compiling on this
	// machine, one job at a time; CompileQueue bounds the jobs waiting
	// (DefaultCompileQueue), beyond which a compile gets 429. nil answers
	// them 501.
	Compiler     *LocalCompiler
	CompileQueue int
	// StatsFlush is how often, with a Registry, the calls, fallbacks and
	// shadow agreement counted for registry names are added to the registry
	// (DefaultStatsFlush); the rest are added on Close.
	StatsFlush time.Duration
}

// Server is an http.Handler serving paw functions. Close it when done.
type Server struct {
	cfg     Config
	mux     *http.ServeMux
	funcs   *funcs
	queue   *queue
	metrics *metrics
	log     *slog.Logger
	shadow  *shadowPool
	keys    *keyring // nil: no keys checked
	stats   stats
	jobs    *compileJobs

	// call runs one input; tests replace it to block or observe calls.
	call func(ctx context.Context, fn *paw.Function, input string, opts ...paw.Option) (paw.Result, error)

	ctx       context.Context // cancelled by Close: stops preloads and loads
	cancel    context.CancelFunc
	preloaded chan struct{} // closed when Programs are loaded (or failed)
	preloadMu sync.Mutex
	preloadEr map[string]error
	watched   chan struct{} // closed when the registry watcher stops
	statsDone chan struct{} // closed when the stats writer stops
}

// New returns a server and starts loading cfg.Programs.
func New(cfg Config) (*Server, error) {
	s, err := newServer(cfg)
	if err != nil {
		return nil, err
	}
	go s.preload()
	return s, nil
}

// newServer is New without the preloads started, so that tests can replace
// the loader or the call first.
func newServer(cfg Config) (*Server, error) {
	if cfg.Engine == nil {
		return nil, errors.New("server: Config.Engine is required")
	}
	cfg = withDefaults(cfg)
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{cfg: cfg, mux: http.NewServeMux(), queue: newQueue(cfg.QueueDepth), metrics: newMetrics(),
		log: log, ctx: ctx, cancel: cancel, preloaded: make(chan struct{}), preloadEr: map[string]error{},
		watched: make(chan struct{}), statsDone: make(chan struct{}), stats: stats{counts: map[statKey]*registry.ServeStats{}}}
	s.call = func(ctx context.Context, fn *paw.Function, input string, opts ...paw.Option) (paw.Result, error) {
		return fn.Call(ctx, input, opts...)
	}
	s.funcs = newFuncs(cfg.MaxLoaded, func(ctx context.Context, ref string) (*paw.Function, error) {
		return cfg.Engine.Function(ctx, ref)
	})
	s.shadow = newShadowPool(ctx, cfg.ShadowWorkers, cfg.ShadowQueue, s.runShadow, func(j shadowJob, outcome string) {
		s.metrics.shadow.WithLabelValues(j.ref, outcome).Inc()
		if outcome == shadowAgree || outcome == shadowDisagree {
			s.count(j.name, j.ref, func(st *registry.ServeStats) {
				st.ShadowCompared++
				if outcome == shadowAgree {
					st.ShadowAgreed++
				}
			})
		}
	})
	s.jobs = newCompileJobs(ctx, cfg.Compiler, cfg.CompileQueue, cfg.Hub)
	if len(cfg.APIKeys) > 0 {
		s.keys = newKeyring(cfg.APIKeys)
	}
	s.metrics.queue(s.queue.len)
	s.metrics.loaded(s.funcs.len)
	s.metrics.engine(cfg.Engine.Stats)
	s.routes()
	if cfg.Registry != nil {
		go s.watchRegistry()
		go s.writeStats()
	} else {
		close(s.watched)
		close(s.statsDone)
	}
	return s, nil
}

func withDefaults(c Config) Config {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.MaxLoaded, DefaultMaxLoaded)
	def(&c.QueueDepth, DefaultQueueDepth)
	def(&c.MaxInputBytes, DefaultMaxInputBytes)
	def(&c.ShadowWorkers, DefaultShadowWorkers)
	def(&c.ShadowQueue, DefaultShadowQueue)
	def(&c.CompileQueue, DefaultCompileQueue)
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.StatsFlush <= 0 {
		c.StatsFlush = DefaultStatsFlush
	}
	if c.RegistryPoll <= 0 {
		c.RegistryPoll = DefaultRegistryPoll
	}
	if c.RetryAfter <= 0 {
		c.RetryAfter = DefaultRetryAfter
	}
	return c
}

// preload loads cfg.Programs, pinning each under its reference so that
// local paths listed there stay servable. A failure is logged and leaves
// that program to fail on use.
func (s *Server) preload() {
	defer close(s.preloaded)
	for _, ref := range s.cfg.Programs {
		err := s.funcs.pin(s.ctx, ref)
		s.preloadMu.Lock()
		s.preloadEr[ref] = err
		s.preloadMu.Unlock()
		if err != nil {
			s.log.Error("preload failed", "program", ref, "err", err)
		}
	}
}

// preloading reports whether ref is a program still being preloaded.
func (s *Server) preloading(ref string) bool {
	select {
	case <-s.preloaded:
		return false
	default:
	}
	s.preloadMu.Lock()
	defer s.preloadMu.Unlock()
	_, done := s.preloadEr[ref]
	for _, p := range s.cfg.Programs {
		if p == ref && !done {
			return true
		}
	}
	return false
}

// ServeHTTP serves the API, answering CORS preflights first.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.cors(w, r) {
		return
	}
	s.mux.ServeHTTP(w, r)
}

// Close stops preloading, writes the serve stats still counted to the
// registry and closes every loaded function; calls in flight fail with
// paw.ErrFuncClosed. Shut the http.Server down first to drain.
func (s *Server) Close() error {
	s.cancel()
	<-s.preloaded
	<-s.watched
	s.shadow.wait()
	s.jobs.wait()
	<-s.statsDone
	if s.cfg.Registry != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		s.flushStats(ctx) // what the last requests and shadow calls counted
		cancel()
	}
	return s.funcs.close()
}

// Ready reports whether the preloads are done.
func (s *Server) Ready() bool {
	select {
	case <-s.preloaded:
		return true
	default:
		return false
	}
}

// routes registers every route; each goes through the access log, the
// body limit and the metrics.
func (s *Server) routes() {
	h := func(pattern string, f func(http.ResponseWriter, *http.Request)) {
		s.mux.Handle(pattern, s.wrap(pattern, http.HandlerFunc(f)))
	}
	for _, p := range []string{"", "/api/v1"} {
		h("GET "+p+"/health", s.handleHealth)
		h("GET "+p+"/ready", s.handleReady)
	}
	h("POST /api/v1/infer", s.handleInfer)
	h("POST /api/v1/infer/batch", s.handleInferBatch)
	// One pattern for every program path: a slug has a slash, so
	// "/programs/{id}/download" and "/programs/resolve/{slug...}" would
	// overlap (resolve/download); programPath tells them apart.
	h("GET /api/v1/programs/{ref...}", s.handleProgramPath)
	h("GET /api/v1/models/runtimes/{id}", s.handleRuntime)
	h("GET /api/v1/models/compilers", s.handleCompilers)
	h("POST /api/v1/compile", s.handleCompile)
	h("POST /api/v1/compile/async", s.handleCompileAsync)
	h("POST /api/v1/compile/precheck", s.handlePrecheck)
	h("GET /api/v1/compile/{job}", s.handleCompileJob)
	h("DELETE /api/v1/compile/{job}", s.handleCompileCancel)
	h("POST /v1/chat/completions", s.handleChat)
	h("POST /v1/completions", s.handleCompletion)
	h("GET /v1/models", s.handleModels)
	h("GET /metrics", s.metrics.handler().ServeHTTP)
	h("GET /{$}", s.handlePlayground)
	h("GET /static/{file}", s.handleStatic)
	h("/", s.handleNoRoute)
}

// handleNoRoute answers what no route matches: 405 with Allow when the
// path has routes for other methods (the catch-all hides the mux's own
// 405), else 404; both with an error body.
func (s *Server) handleNoRoute(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodDelete} {
		r2 := r.Clone(r.Context())
		r2.Method = m
		if _, pattern := s.mux.Handler(r2); pattern != "/" && pattern != "" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		s.writeError(w, r, fmt.Errorf("%w: %s %s (allowed: %s)", ErrMethod, r.Method, r.URL.Path, strings.Join(allow, ", ")))
		return
	}
	s.writeError(w, r, fmt.Errorf("%w: %s %s", ErrNoRoute, r.Method, r.URL.Path))
}
