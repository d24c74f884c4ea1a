package server

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/paw-dev/paw"
)

// metrics are the server's Prometheus series, on a registry of its own so
// that two servers in one process (tests) do not collide.
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec   // route, function, path, status
	latency  *prometheus.HistogramVec // route, function, path
	tokens   *prometheus.CounterVec   // function, direction
	rejected prometheus.Counter
	reloads  *prometheus.CounterVec // function

	fallbacks      *prometheus.CounterVec // function, reason
	shadow         *prometheus.CounterVec // function, result
	upstreamErrors *prometheus.CounterVec // function
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "paw_requests_total",
			Help: "HTTP requests by route, function (program id), answering path and status."},
			[]string{"route", "function", "path", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "paw_request_duration_seconds",
			Help:    "HTTP request latency by route, function and answering path.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}},
			[]string{"route", "function", "path"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "paw_tokens_total",
			Help: "Tokens by function and direction: in (prompt) or out (generated)."},
			[]string{"function", "direction"}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{Name: "paw_queue_rejected_total",
			Help: "Requests refused with 429 because the queue was full."}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "paw_registry_reloads_total",
			Help: "Loaded functions dropped because the registry's live version of their name changed."},
			[]string{"function"}),
	}
	m.fallbacks = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "paw_fallbacks_total",
		Help: "Local answers sent to the upstream model, by function and reason: invalid or low_confidence."},
		[]string{"function", "reason"})
	m.shadow = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "paw_shadow_total",
		Help: "Shadow calls by function and result: agree or disagree with the upstream's answer, error, or dropped (queue full)."},
		[]string{"function", "result"})
	m.upstreamErrors = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "paw_upstream_errors_total",
		Help: "Upstream requests that failed (down, timed out, or an answer breaking the contract), by function."},
		[]string{"function"})
	m.reg.MustRegister(m.requests, m.latency, m.tokens, m.rejected, m.fallbacks, m.shadow, m.upstreamErrors, m.reloads,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// queue exports the queue depth, read at scrape time.
func (m *metrics) queue(depth func() int) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "paw_queue_depth",
		Help: "Inference inputs admitted now, running or waiting for the engine."},
		func() float64 { return float64(depth()) }))
}

// reloaded counts a function dropped for a new live version.
func (m *metrics) reloaded(name string) { m.reloads.WithLabelValues(name).Inc() }

// engine exports the engine's counters, read at scrape time: with
// paw_engine_decode_calls_total over paw_engine_decodes_total the mean
// batch, so batching across clients is visible.
func (m *metrics) engine(stats func() paw.Stats) {
	counter := func(name, help string, v func(paw.Stats) int) {
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(v(stats())) }))
	}
	counter("paw_engine_decodes_total", "Decode steps run by the engine.", func(s paw.Stats) int { return s.Decodes })
	counter("paw_engine_decode_calls_total", "Calls summed over decode steps: over paw_engine_decodes_total, the mean batch.",
		func(s paw.Stats) int { return s.DecodeCalls })
	counter("paw_engine_decode_tokens_total", "Tokens decoded: prompts, outputs and drafts.", func(s paw.Stats) int { return s.DecodeTokens })
	counter("paw_engine_adapter_switches_total", "Decode steps that first switched to another program's adapter.",
		func(s paw.Stats) int { return s.AdapterSwitches })
	counter("paw_engine_prefix_evaluated_total", "Program prefixes evaluated from scratch (prefix-cache misses).",
		func(s paw.Stats) int { return s.PrefixEvaluated })
	counter("paw_engine_prefix_restored_total", "Program prefixes restored from the prefix cache on disk.",
		func(s paw.Stats) int { return s.PrefixRestored })
	counter("paw_engine_drafted_total", "Tokens guessed ahead by speculative drafts.", func(s paw.Stats) int { return s.Drafted })
	counter("paw_engine_draft_accepted_total", "Drafted tokens that greedy decoding confirmed.", func(s paw.Stats) int { return s.DraftAccepted })
}

// loaded exports how many functions are loaded.
func (m *metrics) loaded(n func() int) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "paw_functions_loaded",
		Help: "Functions loaded now."}, func() float64 { return float64(n()) }))
}

// observe records one finished request.
func (m *metrics) observe(route string, rw *recorder, d time.Duration) {
	m.requests.WithLabelValues(route, rw.function, rw.path, strconv.Itoa(rw.status)).Inc()
	m.latency.WithLabelValues(route, rw.function, rw.path).Observe(d.Seconds())
	if rw.function != "" {
		m.tokens.WithLabelValues(rw.function, "in").Add(float64(rw.tokensIn))
		m.tokens.WithLabelValues(rw.function, "out").Add(float64(rw.tokens))
	}
	if rw.code == "queue_full" {
		m.rejected.Inc()
	}
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}
